"""Every local file-system touch: scanning, temporary files, atomic replacement, removal."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalFile:
    """One regular file (or symlink to one) found under a local root."""

    rel: str
    path: str
    size: int
    mtime_ns: int
    inode: int
    # ctime: the one timestamp utime cannot set back (the hash cache's fingerprint holds it).
    ctime_ns: int = 0

    @property
    def fingerprint(self) -> tuple[int, int, int, int]:
        """(size, mtime_ns, ctime_ns, inode), the hash cache's validity key."""
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode)


@dataclass
class LocalSnapshot:
    """What a scan of a local root found; ``errors`` non-empty means the listing is incomplete."""

    root: str
    exists: bool
    is_dir: bool
    files: dict[str, LocalFile] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def scan(
    root: str,
    exclude: Callable[[str], bool] | None = None,
    follow_outside: bool = False,
    skip: AbstractSet[str] = frozenset(),
) -> LocalSnapshot:
    """Walk ``root`` with ``os.scandir``; follow symlinks, never loop through folder links.

    Symlinks that resolve outside ``root`` are skipped (with a warning) unless ``follow_outside``,
    so a stray link cannot publish ``~/.ssh`` to a bucket. Paths in ``skip`` (our registered
    temporaries, see tempreg) are neither listed nor touched: a scan never deletes anything.
    """
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return LocalSnapshot(root=root, exists=False, is_dir=False)
    except OSError as exc:
        return LocalSnapshot(root=root, exists=False, is_dir=False, errors=[f"{root}: {exc}"])
    if not stat.S_ISDIR(st.st_mode):
        f = LocalFile("", root, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        return LocalSnapshot(root=root, exists=True, is_dir=False, files={"": f})
    snap = LocalSnapshot(root=root, exists=True, is_dir=True)
    real_root = os.path.realpath(root)
    # A folder link is a loop only when it points at one of its own ancestors; a second path to
    # a folder elsewhere in the tree is an alias and is walked like any other folder.
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [
        (root, "", frozenset({(st.st_dev, st.st_ino)}))
    ]
    while stack:
        dir_path, dir_rel, ancestors = stack.pop()
        try:
            it = os.scandir(dir_path)
        except OSError as exc:
            snap.errors.append(f"{dir_path}: {exc.strerror or exc}")
            continue
        with it:
            for entry in it:
                name = entry.name
                rel = f"{dir_rel}/{name}" if dir_rel else name
                if skip and entry.path in skip:
                    continue
                if (
                    not follow_outside
                    and entry.is_symlink()
                    and not _inside(real_root, os.path.realpath(entry.path))
                ):
                    log.warning(
                        "skipping %s: symlink resolves outside %s (set follow_symlinks to follow)",
                        entry.path,
                        root,
                    )
                    continue
                try:
                    est = entry.stat(follow_symlinks=True)
                except FileNotFoundError:
                    if entry.is_symlink():
                        log.warning("skipping dangling symlink %s", entry.path)
                    continue
                except OSError as exc:
                    snap.errors.append(f"{entry.path}: {exc.strerror or exc}")
                    continue
                if stat.S_ISDIR(est.st_mode):
                    key = (est.st_dev, est.st_ino)
                    if key in ancestors:
                        log.warning("skipping %s: folder symlink loop", entry.path)
                        continue
                    if exclude is not None and exclude(rel + "/"):
                        continue
                    snap.dirs.add(rel)
                    stack.append((entry.path, rel, ancestors | {key}))
                elif stat.S_ISREG(est.st_mode):
                    if exclude is not None and exclude(rel):
                        continue
                    snap.files[rel] = LocalFile(
                        rel, entry.path, est.st_size, est.st_mtime_ns, est.st_ino, est.st_ctime_ns
                    )
    return snap


def _inside(real_root: str, real: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def ensure_parent(path: str) -> None:
    """Create the folders above ``path``."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


def ensure_dir(path: str) -> None:
    """Create a folder (and its parents)."""
    os.makedirs(path, exist_ok=True)


def replace(tmp: str, target: str) -> os.stat_result:
    """Atomically move a verified temporary onto ``target``; returns the new file's stat."""
    try:
        os.replace(tmp, target)
    except IsADirectoryError:
        # rename(2) never replaces a folder with a file; say so in the user's terms.
        raise IsADirectoryError(
            errno.EISDIR, "a folder stands where the file should go", target
        ) from None
    return os.stat(target)


def discard(path: str) -> None:
    """Remove a temporary, ignoring a missing one."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_file(path: str) -> None:
    """Delete one local file (a mirror deletion)."""
    os.unlink(path)


def in_root(root: str, path: str) -> bool:
    """True when ``path`` resolves inside ``root`` (the last guard before any write or delete)."""
    return _inside(os.path.realpath(root), os.path.realpath(os.path.dirname(path)))


def set_mtime(path: str, mtime_ns: int) -> None:
    """Set a file's modification time (access time: now); a refusal is logged, not raised."""
    try:
        os.utime(path, ns=(time.time_ns(), mtime_ns))
    except OSError as exc:
        log.debug("cannot set the mtime of %s: %s", path, exc)


def stat_path(path: str) -> os.stat_result | None:
    """``os.stat`` or None when missing."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def as_abs(path: str | os.PathLike[str]) -> str:
    """Absolute, user-expanded, normalised path."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


class LockBusyError(Exception):
    """Raised by :class:`FileLock` when another process holds the lock past the timeout."""

    def __init__(self, path: str, holder: str) -> None:
        super().__init__(path, holder)
        self.path = path
        self.holder = holder


class FileLock:
    """An exclusive advisory lock on a file (``flock``), released on exit or process death."""

    def __init__(self, path: str, timeout: float = 0.0) -> None:
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        import time

        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, run unlocked
            log.debug("file locks unavailable on this platform; %s not locked", self.path)
            return self
        ensure_parent(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, self.timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    os.close(fd)
                    raise LockBusyError(self.path, holder) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
