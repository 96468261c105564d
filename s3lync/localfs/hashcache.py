"""Persistent hash cache (SQLite): a digest stays valid while (size, mtime_ns, ctime_ns, inode) hold.

ctime is in the fingerprint because it is the one timestamp ``utime`` cannot set back: a file
rewritten in place with its size kept and its mtime restored (``cp -p``, ``rsync -t --inplace``,
a ``SOURCE_DATE_EPOCH`` build) is a miss, as in restic and git. A digest of a file whose mtime lies
within the file system's timestamp granularity of the moment its stat was taken is never stored:
a write in that same tick would leave every field as it was ("racily clean", as git calls it).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import Any

from s3lync.hashing import Digest, Layout

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_DIGEST_COLUMNS = [
    "path",
    "size",
    "mtime_ns",
    "ctime_ns",
    "inode",
    "md5",
    "etags",
    "seen",
    "version",
]
_DDL = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    etags TEXT NOT NULL,
    seen TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS layouts (
    etag TEXT PRIMARY KEY,
    part_size INTEGER NOT NULL,
    parts INTEGER NOT NULL
)
"""

#: (size, mtime_ns, ctime_ns, inode): what validates a cached digest.
Fingerprint = tuple[int, int, int, int]

#: File-system timestamp granularity: Linux stamps files from a clock that ticks every 1-10 ms and
#: Windows every 15.6 ms; FAT keeps 2 s, and some network file systems whole seconds.
FINE_GRANULARITY_NS = 20_000_000
COARSE_GRANULARITY_NS = 2_000_000_000


# Before 0.6 the hash cache sat at the top of the cache folder, beside the default downloads.
LEGACY_STATE_NAME = ".s3lync-state.sqlite3"


def migrate_legacy_state(cache_dir: Path, new_path: Path) -> None:
    """Move a hash cache of the old layout (``<cache>/.s3lync-state.sqlite3``) to ``new_path`` once.

    The old lock folder (``<cache>/locks``) is left alone: it cannot be told apart from the
    default download folder of a bucket named ``locks``, and stale lock files are harmless.
    """
    old = cache_dir / LEGACY_STATE_NAME
    if not old.is_file() or new_path.exists():
        return
    try:
        new_path.parent.mkdir(parents=True, exist_ok=True)
        # The WAL and shared-memory files travel with the database, or committed rows are lost.
        for suffix in ("-wal", "-shm", ""):
            src = Path(str(old) + suffix)
            if src.exists():
                os.replace(src, str(new_path) + suffix)
        log.info("moved the hash cache from %s to %s", old, new_path)
    except OSError as exc:
        log.warning("could not move the hash cache %s to %s: %s", old, new_path, exc)


def fingerprint(st: os.stat_result) -> Fingerprint:
    """The (size, mtime_ns, ctime_ns, inode) fingerprint that validates a cached digest."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def granularity_ns(fp: Fingerprint) -> int:
    """How far apart two writes must be for the file system to stamp them differently.

    A ctime in whole seconds means a file system that keeps no fractions (ctime cannot be set by
    ``utime``, so it shows what the file system stores); otherwise the kernel's clock tick.
    """
    return COARSE_GRANULARITY_NS if fp[2] % 1_000_000_000 == 0 else FINE_GRANULARITY_NS


def racily_clean(fp: Fingerprint, taken_ns: int) -> bool:
    """True when a digest with this fingerprint, stat taken at ``taken_ns``, must not be cached.

    git's rule: a file whose mtime is within the file system's granularity of the moment it was
    looked at may be written again in the same tick, keeping size, mtime and ctime; its digest
    could then be stale with every field of the fingerprint matching. Such a file is hashed
    again next time (once its mtime is old enough, its digest is kept).
    """
    return fp[1] + granularity_ns(fp) > taken_ns


def _json_etags(etags: dict[int, str]) -> str:
    """``json.dumps`` of a row's part ETags; most rows are a small file's, with none: no encoder
    call for them."""
    return json.dumps({str(k): v for k, v in etags.items()}) if etags else "{}"


def _json_strings(items: list[str]) -> str:
    """``json.dumps(items)``: for a list of strings (every row's seen ETags) the same text at a
    fifth of the cost; anything else goes to ``json.dumps``."""
    if all(type(item) is str for item in items):
        return "[" + ", ".join(map(_quote, items)) + "]"
    return json.dumps(items)


class HashCache:
    """A path-keyed digest cache; a fingerprint mismatch is a miss. Thread-safe, one connection."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._preloaded: dict[str, tuple[Any, ...]] = {}
        self._preloaded_roots: list[str] = []
        self._layouts: dict[str, Layout] | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                columns = [r[1] for r in conn.execute("PRAGMA table_info(digests)").fetchall()]
                if columns and columns != _DIGEST_COLUMNS:
                    # An older layout (no ctime): its rows cannot be validated, so they go.
                    conn.execute("DROP TABLE digests")
                conn.executescript(_DDL)
                conn.commit()
                self._conn = conn
            except (sqlite3.Error, OSError) as exc:
                # A broken or read-only cache must never stop a sync: it only costs re-hashing.
                log.warning("hash cache %s unavailable (%s); hashing without a cache", path, exc)
                self._conn = None

    def preload(self, root: str) -> None:
        """Read every row under ``root`` in one query: a 20 000-file plan then does no per-file I/O."""
        if self._conn is None:
            return
        prefix = root.rstrip(os.sep) + os.sep
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT path, size, mtime_ns, ctime_ns, inode, md5, etags, seen, version "
                    "FROM digests "
                    "WHERE path = ? OR (path >= ? AND path < ?)",
                    (root, prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
                ).fetchall()
            except sqlite3.Error as exc:
                log.debug("hash cache read failed: %s", exc)
                return
            for r in rows:
                self._preloaded[r[0]] = r[1:]
            self._preloaded_roots.append(prefix)

    def _row(self, path: str) -> tuple[Any, ...] | None:
        row = self._preloaded.get(path)
        if row is not None or any(path.startswith(r) for r in self._preloaded_roots):
            return row
        if self._conn is None:
            return None
        with self._lock:
            try:
                found = self._conn.execute(
                    "SELECT size, mtime_ns, ctime_ns, inode, md5, etags, seen, version FROM digests "
                    "WHERE path = ?",
                    (path,),
                ).fetchone()
            except sqlite3.Error as exc:
                log.debug("hash cache read failed: %s", exc)
                return None
        return tuple(found) if found is not None else None

    def get(self, path: str, fp: Fingerprint) -> Digest | None:
        """The cached digest of ``path`` if its fingerprint still matches."""
        row = self._row(path)
        if row is None or tuple(row[:4]) != tuple(fp) or row[7] != SCHEMA_VERSION:
            return None
        # Most rows are a small file's: no multipart ETags ("{}"), read a thousand at a time.
        etags = {} if row[5] == "{}" else {int(k): str(v) for k, v in json.loads(row[5]).items()}
        # Only strings are ETags: a row another version (or a damaged file) wrote otherwise keeps
        # the rest of its digest, and is written back as strings only.
        seen = [e for e in json.loads(row[6]) if isinstance(e, str)]
        return Digest(size=row[0], md5=row[4], etags=etags, seen_etags=seen)

    def put_many(self, rows: list[tuple[str, Fingerprint, Digest]]) -> None:
        """Store digests in one transaction (callers leave out racily clean ones: racily_clean)."""
        if self._conn is None or not rows:
            return
        data = [
            (
                path,
                fp[0],
                fp[1],
                fp[2],
                fp[3],
                d.md5,
                _json_etags(d.etags),
                _json_strings(d.seen_etags[-8:]),  # most recent last
                SCHEMA_VERSION,
            )
            for path, fp, d in rows
        ]
        with self._lock:
            for row in data:
                self._preloaded[row[0]] = row[1:]
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data
                )
                self._conn.commit()
            except sqlite3.Error as exc:
                log.warning("hash cache write failed: %s", exc)

    def layouts(self) -> dict[str, Layout]:
        """Every multipart layout learned so far, by ETag (read once; a layout never changes)."""
        with self._lock:
            if self._layouts is None:
                self._layouts = {}
                if self._conn is not None:
                    try:
                        rows = self._conn.execute(
                            "SELECT etag, part_size, parts FROM layouts"
                        ).fetchall()
                    except sqlite3.Error as exc:
                        log.debug("hash cache read failed: %s", exc)
                        rows = []
                    self._layouts = {r[0]: Layout(int(r[1]), int(r[2])) for r in rows}
            return dict(self._layouts)

    def layout(self, etag: str | None) -> Layout | None:
        """The learned layout of a multipart ETag, if any."""
        return self.layouts().get(etag) if etag else None

    def put_layout(self, etag: str, layout: Layout) -> None:
        """Remember how the object with this multipart ETag was cut."""
        self.layouts()
        with self._lock:
            assert self._layouts is not None
            if self._layouts.get(etag) == layout:
                return
            self._layouts[etag] = layout
            if self._conn is None:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO layouts VALUES (?, ?, ?)",
                    (etag, layout.part_size, layout.parts),
                )
                self._conn.commit()
            except sqlite3.Error as exc:
                log.warning("hash cache write failed: %s", exc)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
