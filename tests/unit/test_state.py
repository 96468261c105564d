"""The persistent SQLite hash cache (s3lync.localfs.hashcache)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from s3lync.hashing import Digest
from s3lync.localfs.hashcache import HashCache, fingerprint

FP = (123, 1_700_000_000_000_000_001, 4242)


def _digest(n: int = 0) -> Digest:
    return Digest(
        size=123,
        md5=f"{n:032x}",
        etags={5 * 1024 * 1024: f"{n + 1:032x}-3", 8 * 1024 * 1024: f"{n + 2:032x}-2"},
        seen_etags=[f"{n + 3:032x}-7"],
    )


def test_put_get_hit(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state.sqlite3")
    d = _digest()
    cache.put_many([("/data/a.bin", FP, d)])
    got = cache.get("/data/a.bin", FP)
    assert got == d
    assert got is not None
    assert got.etags == d.etags  # int part sizes survive the JSON column
    assert got.seen_etags == d.seen_etags
    assert cache.get("/data/other.bin", FP) is None
    cache.close()


def test_miss_when_fingerprint_changes(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state.sqlite3")
    cache.put_many([("/data/a.bin", FP, _digest())])
    size, mtime_ns, inode = FP
    assert cache.get("/data/a.bin", (size + 1, mtime_ns, inode)) is None
    assert cache.get("/data/a.bin", (size, mtime_ns + 1, inode)) is None
    assert cache.get("/data/a.bin", (size, mtime_ns, inode + 1)) is None
    assert cache.get("/data/a.bin", FP) is not None
    cache.close()


def test_put_replaces_entry(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state.sqlite3")
    cache.put_many([("/a", FP, _digest(1))])
    new_fp = (FP[0], FP[1] + 10, FP[2])
    cache.put_many([("/a", new_fp, _digest(2))])
    assert cache.get("/a", FP) is None
    assert cache.get("/a", new_fp) == _digest(2)
    cache.close()


def test_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "state.sqlite3"  # parents are created
    cache = HashCache(path)
    cache.put_many([("/data/a.bin", FP, _digest(7)), ("/data/b.bin", FP, _digest(8))])
    cache.close()
    assert path.exists()
    reopened = HashCache(path)
    assert reopened.get("/data/a.bin", FP) == _digest(7)
    assert reopened.get("/data/b.bin", FP) == _digest(8)
    reopened.close()


def test_fingerprint_of_real_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    st = os.stat(f)
    assert fingerprint(st) == (5, st.st_mtime_ns, st.st_ino)
    cache = HashCache(tmp_path / "state.sqlite3")
    cache.put_many([(str(f), fingerprint(st), _digest())])
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cache.get(str(f), fingerprint(os.stat(f))) is None
    cache.close()


def test_corrupt_db_degrades_to_no_cache(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is definitely not an SQLite database \x00\xff" * 100)
    cache = HashCache(path)  # must not raise
    cache.put_many([("/a", FP, _digest())])  # must not raise
    assert cache.get("/a", FP) is None
    cache.close()


def test_unwritable_location_degrades_to_no_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = HashCache(blocker / "state.sqlite3")  # parent is a file: cannot be created
    cache.put_many([("/a", FP, _digest())])
    assert cache.get("/a", FP) is None
    cache.close()


def test_no_path_means_no_cache() -> None:
    cache = HashCache(None)
    cache.put_many([("/a", FP, _digest())])
    assert cache.get("/a", FP) is None
    cache.close()


def test_concurrent_get_put_from_8_threads(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state.sqlite3")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(40):
                path = f"/t{t}/f{i}"
                fp = (123, i, i * 8 + t)
                cache.put_many([(path, fp, _digest(t * 1000 + i))])
                got = cache.get(path, fp)
                assert got == _digest(t * 1000 + i), (path, got)
                cache.get(f"/t{(t + 1) % 8}/f{i}", (123, i, i * 8 + (t + 1) % 8))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not errors, errors[:3]
    for t in range(8):
        for i in range(40):
            assert cache.get(f"/t{t}/f{i}", (123, i, i * 8 + t)) == _digest(t * 1000 + i)
    cache.close()
