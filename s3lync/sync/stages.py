"""The list and scan stages of planning one mapping, and the lock filter on a listing.

A mapping is planned as a sequence of stages, each a function a test can call alone:

    list (lock filter) -> scan -> pair (include/exclude) -> shard -> digests and layouts -> decide

``list_*`` and :func:`scan` meet the outside world (a Remote, the file system); what they hand on
is plain data (:class:`Listing`, a ``LocalSnapshot``). The pair stage is ``pairing.py``, the shard
filter ``shard.py``, the digests and layouts ``digests.py``, the decision ``planner.py``; the
engine runs them in this order (``Engine.plan_mapping``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3lync.background import OnThread
from s3lync.errors import LocalPathNotFoundError, S3ObjectError
from s3lync.localfs import scan as local
from s3lync.localfs.scan import LocalSnapshot
from s3lync.mapping import Direction, Mapping
from s3lync.store.evidence import Evidence
from s3lync.store.objects import RemoteObject
from s3lync.store.remote import Remote
from s3lync.sync.pairing import exclude_matcher
from s3lync.sync.plan import Problem
from s3lync.uri import S3Uri, parse_s3_uri

if TYPE_CHECKING:
    # Imported where a lock is read: a run without one loads none of the lock modules.
    from s3lync.sync.lockfile import LockedMapping, LockFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listing:
    """What the list stage found: the remote side of one mapping and where it lands locally."""

    uri: S3Uri
    is_dir: bool
    root_key: str
    local_root: str
    objects: list[RemoteObject]
    problems: tuple[Problem, ...] = ()
    # rel -> what a HEAD said (the single object an upload would replace: key "").
    heads: dict[str, Evidence] = field(default_factory=dict)


def list_download(
    remote: Remote,
    mapping: Mapping,
    uri: S3Uri,
    lock: LockFile | None = None,
    verified: Collection[Mapping] = (),
) -> list[RemoteObject]:
    """A download's source as listed; with ``lock``, the objects it pins instead (the lock filter).

    A versioned pin is fetched by VersionId whatever the prefix holds now, and a mapping in
    ``verified`` was already compared with its listing; any other pin is checked here
    (LockDriftError on drift).
    """
    pinned = lock.find(mapping) if lock is not None else None
    if pinned is not None and (pinned.versioned or mapping in verified):
        return pinned.pinned()
    listed = list(remote.list_objects(uri.bucket, uri.key))
    if lock is not None and pinned is not None:
        check_pinned(lock, mapping, pinned, listed)
        return pinned.pinned()
    return listed


def check_pinned(
    lock: LockFile, mapping: Mapping, pinned: LockedMapping, listed: list[RemoteObject]
) -> None:
    """Raise LockDriftError when ``listed`` changed or lost an object ``pinned`` names."""
    from s3lync.sync import lockrules
    from s3lync.sync.lockfile import LockDriftError

    current = lockrules.scope(parse_s3_uri(mapping.s3_uri), listed, mapping.rules)
    changed, removed, added = lockrules.drift(pinned, current)
    if changed or removed:
        raise LockDriftError(lockrules.drift_message(lock, pinned, changed, removed))
    if added:
        log.info(
            "%s: %d object(s) added since %s are not pinned and are ignored",
            mapping.label,
            len(added),
            lock.path.name,
        )


def locate_download(mapping: Mapping, uri: S3Uri, listed: list[RemoteObject]) -> Listing:
    """Which of ``listed`` a download covers: a prefix, or one object (pure).

    A key that is both an object and a prefix is synced as the prefix, with a note.
    """
    local_root = local.as_abs(mapping.local)
    if uri.is_prefix:
        return Listing(uri, True, uri.key, local_root, listed)
    exact = [o for o in listed if o.key == uri.key]
    children = [o for o in listed if o.key.startswith(uri.key + "/")]
    if not children:
        return Listing(uri, False, uri.key, single_target(mapping.local, uri.key), exact)
    problems: tuple[Problem, ...] = ()
    if exact:
        message = (
            f"s3://{uri.bucket}/{uri.key} is both an object and a prefix; syncing the prefix "
            "(add a trailing '/' to say so)"
        )
        problems = (Problem(key=uri.key, message=message, fatal=False),)
    return Listing(uri, True, uri.key + "/", local_root, children, problems)


def missing_source(
    mapping: Mapping, uri: S3Uri, is_dir: bool, fed_by: str | None, allow_empty: bool
) -> Problem:
    """A download source that holds nothing: an error unless allowed or written earlier."""
    what = "nothing found at" if is_dir else "no such object:"
    if fed_by is not None:
        return Problem(
            key=uri.key,
            message=f"{what} {uri} yet; mapping {fed_by!r} writes it earlier in this run",
            fatal=False,
        )
    if mapping.allow_missing or allow_empty:
        # --allow-empty-source says an empty source is expected (and may even mirror deletions).
        why = "allow_missing: true" if mapping.allow_missing else "--allow-empty-source"
        return Problem(key=uri.key, message=f"{what} {uri} ({why})", fatal=False)
    return Problem(
        key=uri.key,
        message=f"the source is missing: {what} {uri}; check the bucket and prefix, or set "
        "`allow_missing: true` on the mapping (sync: --allow-missing) if that is expected",
        blocks=True,
    )


def list_upload(remote: Remote, mapping: Mapping, uri: S3Uri) -> Listing:
    """An upload's target: the objects under the folder's prefix, or a HEAD of the one key."""
    local_root = local.as_abs(mapping.local)
    if local.stat_path(local_root) is None:
        raise LocalPathNotFoundError(f"upload to {uri}: local path {local_root} does not exist")
    if os.path.isdir(local_root):
        root_key = uri.dir_prefix
        objects = list(remote.list_objects(uri.bucket, root_key))
        return Listing(uri, True, root_key, local_root, objects)
    root_key = uri.key + os.path.basename(local_root) if uri.is_prefix else uri.key
    info = remote.head_or_none(uri.bucket, root_key)
    if info is None:
        return Listing(uri, False, root_key, local_root, [])
    found = [RemoteObject(root_key, info.size, info.etag)]
    return Listing(uri, False, root_key, local_root, found, heads={"": info.evidence()})


def scan(
    listing: Listing, mapping: Mapping, skip: frozenset[str] = frozenset()
) -> tuple[LocalSnapshot, int]:
    """The local side of ``listing``, and ``time.time_ns()`` taken just before its stats.

    ``skip``: paths left out (download temporaries s3lync registered under the root).
    """
    return scan_root(listing.uri, listing.local_root, listing.is_dir, mapping, skip)


def scan_root(
    uri: S3Uri, root: str, is_dir: bool, mapping: Mapping, skip: frozenset[str] = frozenset()
) -> tuple[LocalSnapshot, int]:
    """:func:`scan` of ``root`` (a folder when ``is_dir``) for the mapping to ``uri``."""
    if is_dir and os.path.exists(root) and not os.path.isdir(root):
        raise S3ObjectError(
            f"{mapping.direction.value} {uri}: local path {root} is a file, but the "
            "remote side is a folder"
        )
    # Before the scan's stats: a file stamped within a clock tick of this is not cached.
    scanned_at = time.time_ns()
    snap = local.scan(
        root,
        exclude_matcher(mapping) if is_dir else None,
        follow_outside=mapping.follow_symlinks,
        skip=skip if is_dir else frozenset(),
    )
    return snap, scanned_at


def scan_target(mapping: Mapping, uri: S3Uri) -> tuple[str, bool] | None:
    """What the scan stage will read (local root, is a folder) when the listing cannot change
    it: an upload's source, a download of a prefix (``s3://b/p/``); None for a download of a
    key that may be an object or a prefix."""
    root = local.as_abs(mapping.local)
    if mapping.direction is Direction.DOWNLOAD:
        return (root, True) if uri.is_prefix else None
    if local.stat_path(root) is None:
        return None  # list_upload says so
    return root, os.path.isdir(root)


class ScanAhead:
    """The scan stage on a thread of its own while the list stage waits for the store.

    Only where the listing cannot change what is scanned (:func:`scan_target`); ``then`` runs on
    the same thread after the scan (the hash cache's rows for the root). The listing's error,
    if any, wins over the scan's, as when the stages ran one after the other.
    """

    def __init__(
        self,
        uri: S3Uri,
        target: tuple[str, bool],
        mapping: Mapping,
        skip: Callable[[str], frozenset[str]],
        then: Callable[[str], object],
    ) -> None:
        self.target = target
        # True once ``then`` ran to its end (the hash cache's rows for the root are read).
        self.warmed = False
        # What the scan warned of ("skipping dangling symlink ..."), said only once its result
        # is used: a run whose listing failed says nothing of the folder, as before.
        self._held: list[logging.LogRecord] = []

        def run() -> tuple[LocalSnapshot, int]:
            root, is_dir = target
            _HOLD.local.records = self._held
            try:
                out = scan_root(uri, root, is_dir, mapping, skip(root) if is_dir else frozenset())
                try:
                    then(root)
                    self.warmed = True
                except Exception as exc:  # only a head start: the digest stage reads for itself
                    log.debug("reading ahead for %s failed: %r", root, exc)
                return out
            finally:
                _HOLD.local.records = None

        self._scan = OnThread(run, "s3lync-scan")

    def wait(self) -> None:
        """Until the thread is done (its outcome and its warnings are dropped)."""
        self._scan.wait()

    def result(self, listing: Listing) -> tuple[LocalSnapshot, int] | None:
        """The scan, once done; None when ``listing`` landed elsewhere (scan again)."""
        self.wait()
        if (listing.local_root, listing.is_dir) != self.target:
            return None  # scanned again, and that scan says what it finds
        records, self._held = self._held, []
        for record in records:
            logging.getLogger(record.name).handle(record)
        return self._scan.result()


# What the scan ahead runs logs to: the scan, the temporaries' registry, the hash cache.
_AHEAD_LOGGERS = ("s3lync.localfs.scan", "s3lync.localfs.tempfiles", "s3lync.localfs.hashcache")


class _Hold(logging.Filter):
    """On the scan ahead's loggers for good (a filter removed while another thread logs can
    make that thread skip the next one): a thread that set ``local.records`` keeps its records
    there instead of saying them."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        held: list[logging.LogRecord] | None = getattr(self.local, "records", None)
        if held is None:
            return True
        held.append(record)
        return False


# Installed once, here: it passes every record of a thread that holds none.
_HOLD = _Hold()
for _name in _AHEAD_LOGGERS:
    logging.getLogger(_name).addFilter(_HOLD)


def single_target(local_path: str, key: str) -> str:
    """Where one downloaded object lands: inside ``local_path`` when that is a folder or ends in ``/``.

    As for ``aws s3 cp``: ``models/`` (or an existing folder ``models``) means ``models/<name>``.
    """
    into = local_path.endswith(("/", os.sep)) or os.path.isdir(local_path)
    target = local.as_abs(local_path)
    return os.path.join(target, key.rsplit("/", 1)[-1]) if into else target
