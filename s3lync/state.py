"""Persistent hash cache (SQLite): a digest stays valid while (size, mtime_ns, inode) hold."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path

from .hashing import Digest

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    etags TEXT NOT NULL,
    seen TEXT NOT NULL,
    version INTEGER NOT NULL
)
"""

Fingerprint = tuple[int, int, int]


def fingerprint(st: os.stat_result) -> Fingerprint:
    """The (size, mtime_ns, inode) triple that validates a cached digest."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class HashCache:
    """A path-keyed digest cache; a fingerprint mismatch is a miss. Thread-safe, one connection."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_DDL)
                conn.commit()
                self._conn = conn
            except (sqlite3.Error, OSError) as exc:
                # A broken or read-only cache must never stop a sync: it only costs re-hashing.
                log.warning("hash cache %s unavailable (%s); hashing without a cache", path, exc)
                self._conn = None

    def get(self, path: str, fp: Fingerprint) -> Digest | None:
        """The cached digest of ``path`` if its fingerprint still matches."""
        if self._conn is None:
            return None
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT size, mtime_ns, inode, md5, etags, seen, version FROM digests "
                    "WHERE path = ?",
                    (path,),
                ).fetchone()
            except sqlite3.Error as exc:
                log.debug("hash cache read failed: %s", exc)
                return None
        if row is None or (row[0], row[1], row[2]) != fp or row[6] != SCHEMA_VERSION:
            return None
        etags = {int(k): str(v) for k, v in json.loads(row[4]).items()}
        return Digest(size=row[0], md5=row[3], etags=etags, seen_etags=set(json.loads(row[5])))

    def put_many(self, rows: list[tuple[str, Fingerprint, Digest]]) -> None:
        """Store digests in one transaction."""
        if self._conn is None or not rows:
            return
        data = [
            (
                path,
                fp[0],
                fp[1],
                fp[2],
                d.md5,
                json.dumps({str(k): v for k, v in d.etags.items()}),
                json.dumps(sorted(d.seen_etags)[-8:]),
                SCHEMA_VERSION,
            )
            for path, fp, d in rows
        ]
        with self._lock:
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data
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
