"""The registry of download temporaries s3lync created, kept in ``<cache>/state/temporaries.sqlite3``.

A file is one of our temporaries only when its exact path is registered here, never because of its
name: a user file named like one (``.data.csv.s3lync-tmp-999983-0123abcd``, or ``.s3lync-tmp-`` plus
16 hex digits) is an ordinary file, listed, uploaded and never swept. Each path is random (64 bits)
and registered with its owner's pid and host before a byte is written to it, so a sweep deletes only
files s3lync itself created for a run that is gone, and only the commands that write (apply,
``download()``) sweep. The names are short and sit beside the target (same folder, same file
system, so the final ``os.replace`` stays atomic): a temporary fits wherever the target name fits.

Paths are registered in one transaction per mapping rather than one per file (a commit costs about
half a millisecond here, a third of a small download), which is why the registry records paths and
not inodes: the inode is known only once the file exists, after the moment it must be registered.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_PREFIX = ".s3lync-tmp-"
SCHEMA_VERSION = 1
_DDL = """
CREATE TABLE IF NOT EXISTS temporaries (
    path TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    created REAL NOT NULL,
    version INTEGER NOT NULL
)
"""


# One seeded generator instead of a urandom syscall per name (1000 names cost ~20 ms that way);
# re-seeded in a forked child so two processes never draw the same names.
_names = random.Random(os.urandom(16))
if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=lambda: _names.seed(os.urandom(16)))


def new_temp_path(target: str) -> str:
    """A fresh random temporary beside ``target``: 28 bytes of name, whatever the target's length."""
    return os.path.join(os.path.dirname(target), f"{TEMP_PREFIX}{_names.getrandbits(64):016x}")


def _prefix_range(root: str) -> tuple[str, str, str]:
    prefix = root.rstrip(os.sep) + os.sep
    return root, prefix, prefix[:-1] + chr(ord(os.sep) + 1)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":
        # On Windows os.kill(pid, 0) sends CTRL_C_EVENT instead of probing: never sweep there.
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True  # e.g. EPERM: the process exists but is someone else's
    return True


class TempRegistry:
    """Registered temporaries: read by every scan, written and swept only by commands that write.

    A registry that cannot be opened costs only the sweep (a warning says so): downloads still run,
    their temporaries are then unregistered, and a crashed run's leftovers stay on disk.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._failed = path is None
        self._host = socket.gethostname()

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        """The connection; with ``create`` False a missing database is not created (read-only use)."""
        if self._conn is not None or self._failed or self.path is None:
            return self._conn
        if not create and not self.path.exists():
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_DDL)
            conn.commit()
        except (sqlite3.Error, OSError) as exc:
            log.warning(
                "temporaries registry %s unavailable (%s); a crashed download's temporary "
                "files will not be recognised or cleaned",
                self.path,
                exc,
            )
            self._failed = True
            return None
        self._conn = conn
        return conn

    def registered_under(self, root: str) -> frozenset[str]:
        """Every registered temporary at or under ``root`` (live or stale): scans skip exactly these."""
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return frozenset()
            try:
                rows = conn.execute(
                    "SELECT path FROM temporaries WHERE path = ? OR (path >= ? AND path < ?)",
                    _prefix_range(root),
                ).fetchall()
            except sqlite3.Error as exc:
                log.debug("temporaries registry read failed: %s", exc)
                return frozenset()
        return frozenset(r[0] for r in rows)

    def register(self, paths: Iterable[str]) -> None:
        """Record ``paths`` as ours (this pid and host) in one transaction, before they are written."""
        now = time.time()
        data = [(p, os.getpid(), self._host, now, SCHEMA_VERSION) for p in paths]
        if not data:
            return
        with self._lock:
            conn = self._connect(create=True)
            if conn is None:
                return
            try:
                with conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO temporaries VALUES (?, ?, ?, ?, ?)", data
                    )
            except sqlite3.Error as exc:
                log.warning("temporaries registry write failed: %s", exc)

    def unregister(self, paths: Iterable[str]) -> None:
        """Forget ``paths`` (renamed onto their targets or removed) in one transaction."""
        data = [(p,) for p in paths]
        if not data:
            return
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return
            try:
                with conn:
                    conn.executemany("DELETE FROM temporaries WHERE path = ?", data)
            except sqlite3.Error as exc:
                log.debug("temporaries registry write failed: %s", exc)

    def sweep(self, folder: str, *, recursive: bool = True) -> list[str]:
        """Delete the temporaries of dead s3lync runs on this host under ``folder``; returns them.

        Only registered paths are considered, and only regular files (a symlink or folder found
        there is not ours and is left alone). ``recursive`` False limits it to ``folder`` itself.
        """
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return []
            try:
                rows = conn.execute(
                    "SELECT path, pid, host FROM temporaries "
                    "WHERE path = ? OR (path >= ? AND path < ?)",
                    _prefix_range(folder),
                ).fetchall()
            except sqlite3.Error as exc:
                log.debug("temporaries registry read failed: %s", exc)
                return []
            stale = [
                p
                for p, pid, host in rows
                if host == self._host
                and not _pid_alive(int(pid))
                and (recursive or os.path.dirname(p) == folder)
            ]
            removed: list[str] = []
            forget: list[tuple[str]] = []
            for p in stale:
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    forget.append((p,))
                    continue
                except OSError as exc:
                    log.debug("cannot inspect temporary %s: %s", p, exc)
                    continue
                if stat.S_ISREG(st.st_mode):
                    try:
                        os.unlink(p)
                    except OSError as exc:
                        log.debug("could not remove stale temporary %s: %s", p, exc)
                        continue
                    removed.append(p)
                    log.info("removed stale temporary file %s", p)
                forget.append((p,))
            try:
                with conn:
                    conn.executemany("DELETE FROM temporaries WHERE path = ?", forget)
            except sqlite3.Error as exc:
                log.debug("temporaries registry write failed: %s", exc)
        return removed

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
