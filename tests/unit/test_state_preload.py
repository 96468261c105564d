"""HashCache.preload: one query per root, fresh writes stay visible, other paths still answered."""

from __future__ import annotations

import os
from pathlib import Path

from s3lync.hashing import Digest
from s3lync.localfs.hashcache import HashCache


def test_preload_serves_rows_under_root_and_sees_later_writes(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite3"
    root = str(tmp_path / "data")
    cache = HashCache(db)
    cache.put_many(
        [
            (os.path.join(root, "a"), (1, 10, 10, 100), Digest(size=1, md5="a" * 32)),
            (str(tmp_path / "data-other" / "x"), (2, 20, 20, 200), Digest(size=2, md5="b" * 32)),
        ]
    )
    cache.close()

    cache = HashCache(db)
    cache.preload(root)
    assert os.path.join(root, "a") in cache._preloaded
    # a sibling folder sharing the root's name as a string prefix is not "under" the root
    assert str(tmp_path / "data-other" / "x") not in cache._preloaded
    got = cache.get(os.path.join(root, "a"), (1, 10, 10, 100))
    assert got is not None and got.md5 == "a" * 32
    assert cache.get(os.path.join(root, "a"), (1, 11, 10, 100)) is None  # stale mtime is a miss
    assert cache.get(str(tmp_path / "data-other" / "x"), (2, 20, 20, 200)) is not None

    cache.put_many([(os.path.join(root, "new"), (3, 30, 30, 300), Digest(size=3, md5="c" * 32))])
    fresh = cache.get(os.path.join(root, "new"), (3, 30, 30, 300))
    assert fresh is not None and fresh.md5 == "c" * 32
