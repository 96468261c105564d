"""The persistent SQLite hash cache (s3lync.localfs.hashcache)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from s3lync.hashing import Digest
from s3lync.localfs.hashcache import HashCache, fingerprint, racily_clean

FP = (123, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002, 4242)


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
    size, mtime_ns, ctime_ns, inode = FP
    assert cache.get("/data/a.bin", (size + 1, mtime_ns, ctime_ns, inode)) is None
    assert cache.get("/data/a.bin", (size, mtime_ns + 1, ctime_ns, inode)) is None
    assert cache.get("/data/a.bin", (size, mtime_ns, ctime_ns + 1, inode)) is None
    assert cache.get("/data/a.bin", (size, mtime_ns, ctime_ns, inode + 1)) is None
    assert cache.get("/data/a.bin", FP) is not None
    cache.close()


def test_put_replaces_entry(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state.sqlite3")
    cache.put_many([("/a", FP, _digest(1))])
    new_fp = (FP[0], FP[1] + 10, FP[2], FP[3])
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
    assert fingerprint(st) == (5, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
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
                fp = (123, i, i, i * 8 + t)
                cache.put_many([(path, fp, _digest(t * 1000 + i))])
                got = cache.get(path, fp)
                assert got == _digest(t * 1000 + i), (path, got)
                cache.get(f"/t{(t + 1) % 8}/f{i}", (123, i, i, i * 8 + (t + 1) % 8))
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
            assert cache.get(f"/t{t}/f{i}", (123, i, i, i * 8 + t)) == _digest(t * 1000 + i)
    cache.close()


def test_a_same_size_rewrite_with_its_mtime_restored_is_a_miss(tmp_path: Path) -> None:
    """ctime is in the fingerprint: utime can put the mtime back, never the ctime."""
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    os.utime(f, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = os.stat(f)
    cache = HashCache(tmp_path / "state.sqlite3")
    cache.put_many([(str(f), fingerprint(before), _digest())])
    assert cache.get(str(f), fingerprint(os.stat(f))) is not None
    while os.stat(f).st_ctime_ns == before.st_ctime_ns:  # the next clock tick, whatever it is
        with open(f, "r+b") as fh:
            fh.write(b"HELLO")
        os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(f)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert cache.get(str(f), fingerprint(after)) is None
    cache.close()


def test_racily_clean_entries_are_those_stamped_within_the_granularity() -> None:
    now = 1_700_000_000_123_456_789
    fine = (1, now - 5_000_000, now - 5_000_000, 7)  # ns timestamps, 5 ms old
    assert racily_clean(fine, now)
    assert not racily_clean((1, now - 1_000_000_000, now, 7), now)  # mtime a second old
    coarse_ctime = (now // 1_000_000_000) * 1_000_000_000
    # A file system that keeps whole seconds: anything under 2 s old is racy.
    assert racily_clean((1, coarse_ctime - 1_000_000_000, coarse_ctime, 7), now)
    assert not racily_clean((1, coarse_ctime - 3_000_000_000, coarse_ctime, 7), now)


def test_a_cache_of_the_old_layout_is_dropped_not_trusted(tmp_path: Path) -> None:
    """Rows without a ctime cannot be validated: an old database starts empty."""
    import sqlite3

    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE digests (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns "
            "INTEGER NOT NULL, inode INTEGER NOT NULL, md5 TEXT NOT NULL, etags TEXT NOT NULL, "
            "seen TEXT NOT NULL, version INTEGER NOT NULL)"
        )
        conn.execute(
            "INSERT INTO digests VALUES ('/a', 123, 1, 4242, ?, '{}', '[]', 1)", ("0" * 32,)
        )
    cache = HashCache(path)
    assert cache.get("/a", FP) is None
    cache.put_many([("/a", FP, _digest())])
    assert cache.get("/a", FP) == _digest()
    cache.close()


def test_a_row_with_non_string_seen_etags_is_read_and_written_back(tmp_path: Path) -> None:
    """A row another version (or a damaged file) wrote with non-string seen ETags keeps the rest
    of its digest, and writing it back never fails a run."""
    import sqlite3

    db = tmp_path / "state.sqlite3"
    cache = HashCache(db)
    cache.put_many([("/data/a.bin", FP, _digest())])
    cache.close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE digests SET seen = ? WHERE path = ?", ('[1, null, "e1"]', "/data/a.bin")
        )
    cache = HashCache(db)
    got = cache.get("/data/a.bin", FP)
    assert got is not None and got.md5 == _digest().md5
    assert got.seen_etags == ["e1"]
    got.seen_etags.append(7)  # type: ignore[arg-type]  # whatever a caller holds
    cache.put_many([("/data/a.bin", FP, got)])
    again = cache.get("/data/a.bin", FP)
    assert again is not None and again.seen_etags == ["e1"]
    cache.close()


def test_the_rows_json_is_what_json_dumps_writes() -> None:
    import json

    from s3lync.localfs.hashcache import _json_etags, _json_strings

    for items in (
        [],
        ["a"],
        ["b2f983cd-3", 'q"uo\\te', "ünï\n\u2028\ud800", ""],
        ["x"] * 8,
        [1, "a"],
    ):
        assert _json_strings(items) == json.dumps(items)  # type: ignore[arg-type]
    for etags in ({}, {5: "a-2", 8 * 1024 * 1024: 'b"-3'}):
        assert _json_etags(etags) == json.dumps({str(k): v for k, v in etags.items()})
