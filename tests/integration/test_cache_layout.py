"""The cache folder's layout: default downloads under ``objects/``, s3lync's own files under ``state/``.

A bucket's default local folder must never be one of s3lync's own folders (issue 15, bug 7), an old
cache is migrated, and an unusable cache folder stops ``apply`` with one line (issue 15, bug 5).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import Config, S3Object
from s3lync.cli.main import cli
from s3lync.errors import LockedError
from s3lync.hashing import Digest
from s3lync.localfs.hashcache import LEGACY_STATE_NAME, HashCache
from s3lync.sync.engine import Engine, run_lock


def _fresh_bucket(s3: Any, name: str) -> None:
    """Create ``name`` (fixed names like ``locks`` may exist from an earlier test), emptied."""
    try:
        s3.create_bucket(Bucket=name)
    except Exception as exc:
        if "BucketAlready" not in str(exc):
            raise
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for c in page.get("Contents", ()):
            s3.delete_object(Bucket=name, Key=c["Key"])


def test_default_paths_and_state_live_apart(tmp_path: Path) -> None:
    cache = Config.get_cache_dir()
    assert S3Object("s3://locks/a/b.txt").local_path == str(cache / "objects" / "locks" / "a/b.txt")
    assert S3Object("s3://state/").local_path == str(cache / "objects" / "state")
    assert Config.get_state_path() == cache / "state" / "hashes.sqlite3"
    assert Config.get_lock_dir() == cache / "state" / "locks"
    assert Config.get_objects_dir() not in Config.get_state_path().parents


@pytest.mark.parametrize("name", ["locks", "state"])
def test_bucket_named_like_a_state_folder_cannot_touch_the_lock_or_the_hash_cache(
    s3: Any, s3_server: Any, name: str, tmp_path: Path
) -> None:
    """A mirror download of bucket ``locks``/``state`` into its default path, during an apply."""
    _fresh_bucket(s3, name)
    s3.put_object(Bucket=name, Key="f.txt", Body=b"data")
    manifest = str(tmp_path / "s3lync.yaml")
    obj = S3Object(f"s3://{name}/", endpoint_url=s3_server.endpoint_url)
    obj.download()  # the hash cache now exists and holds a row
    state = Config.get_state_path()
    assert state.is_file()
    with run_lock(manifest):
        lock_files = list(Config.get_lock_dir().iterdir())
        assert lock_files
        # Local-only files in the bucket's folder are deleted by a mirror: none of them is ours.
        obj.download(force_sync=True)
        assert list(Config.get_lock_dir().iterdir()) == lock_files
        with pytest.raises(LockedError), run_lock(manifest):
            pass
    assert state.is_file()
    assert (Path(obj.local_path) / "f.txt").read_bytes() == b"data"
    assert sorted(p.name for p in Path(obj.local_path).iterdir()) == ["f.txt"]


def test_old_hash_cache_is_moved_into_state(tmp_path: Path) -> None:
    cache = Config.get_cache_dir()
    cache.mkdir(parents=True)
    old = HashCache(cache / LEGACY_STATE_NAME)
    old.put_many([("/data/a.bin", (3, 4, 5, 6), Digest(size=3, md5="0" * 32))])
    old.close()
    assert (cache / LEGACY_STATE_NAME).exists()
    with Engine() as engine:
        found = engine.cache.get("/data/a.bin", (3, 4, 5, 6))
    assert found is not None and found.md5 == "0" * 32
    assert not (cache / LEGACY_STATE_NAME).exists()
    with sqlite3.connect(Config.get_state_path()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM digests").fetchone() == (1,)


def test_apply_with_an_unusable_cache_folder_is_one_line_and_exit_1(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\ndefaults:\n  endpoint_url: {s3_server.endpoint_url}\nmappings:\n"
        f"  - s3: s3://{bucket}/p/\n    local: out\n    direction: download\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--yes"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot create the run lock")
    assert "XDG_CACHE_HOME" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing ran without the lock
