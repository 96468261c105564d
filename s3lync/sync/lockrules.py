"""The lock against the manifest and the remote: which mappings it must hold, what drifted, and
taking a fresh one.

:mod:`s3lync.sync.lockfile` is the lock as data and text; this module holds the rules that compare
it with the manifest (every selected download mapping locked, with the same s3 and exclude), with
the objects listed now (drift), and that list and pin a mapping's objects (``s3lync lock``).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from s3lync.mapping import Direction, Mapping
from s3lync.store.objects import RemoteObject
from s3lync.sync.lockfile import (
    LockedMapping,
    LockedObject,
    LockFile,
    LockFileError,
    manifest_digest,
    raise_at,
)
from s3lync.sync.lockwrite import LockStream
from s3lync.uri import S3Uri, parse_s3_uri

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- lock + manifest


def check_manifest(
    lf: LockFile,
    mappings: Sequence[Mapping],
    selected: Sequence[Mapping],
    manifest_path: str | os.PathLike[str],
) -> None:
    """The lock and the manifest together: every entry names a current download mapping with the
    same s3 and exclude, and every selected download mapping is locked."""
    problems = [
        p
        for i, lm in enumerate(lf.mappings)
        if (p := _entry_problem(i, lm, mappings, manifest_path)) is not None
    ]
    if problems:
        raise_at(lf, problems, "run 's3lync lock' to rewrite the lock")
    missing = [
        m.label for m in selected if m.direction is Direction.DOWNLOAD and lf.find(m) is None
    ]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise LockFileError(
            f"{manifest_path}: mapping {names} is not in {lf.path}; run 's3lync lock' to add it "
            "(or --no-lock to ignore the lock)"
        )
    everything_locked = all(
        lf.find(m) is not None for m in mappings if m.direction is Direction.DOWNLOAD
    )
    if everything_locked and manifest_digest(mappings) != lf.manifest_digest:
        raise_at(
            lf,
            [
                (
                    ("manifest_digest",),
                    f"manifest_digest does not match {manifest_path} (edited by hand?)",
                )
            ],
            "run 's3lync lock' to rewrite the lock",
        )


def _entry_problem(
    i: int, lm: LockedMapping, mappings: Sequence[Mapping], manifest_path: str | os.PathLike[str]
) -> tuple[tuple[str | int, ...], str] | None:
    """Why lock entry ``i`` no longer fits the manifest (its JSON path and the message), or None."""
    m = next(
        (
            x
            for x in mappings
            if (x.name == lm.name if lm.name is not None else x.name is None and x.s3_uri == lm.s3)
        ),
        None,
    )
    if m is None:
        return (
            "mappings",
            i,
            "name",
        ), f"mapping {lm.label!r} is locked but is not in {manifest_path}"
    if m.direction is not Direction.DOWNLOAD:
        return ("mappings", i, "name"), f"mapping {lm.label!r} is an upload; uploads are not locked"
    if m.s3_uri != lm.s3:
        return (
            ("mappings", i, "s3"),
            f"mapping {lm.label!r} was locked at {lm.s3}, the manifest now says {m.s3_uri}",
        )
    if m.filter_key != lm.exclude:
        return (
            ("mappings", i, "exclude"),
            f"mapping {lm.label!r}: exclude changed since the lock was written",
        )
    return None


def drift(
    lm: LockedMapping, current: Iterable[RemoteObject]
) -> tuple[list[str], list[str], list[str]]:
    """(changed, removed, added) keys between a locked mapping and the objects now listed."""
    now = {o.key: o for o in current}
    changed, removed = [], []
    for o in lm.objects:
        c = now.pop(o.key, None)
        if c is None:
            removed.append(o.key)
        elif (
            c.size != o.size or c.etag != o.etag or (lm.versioned and c.version_id != o.version_id)
        ):
            changed.append(o.key)
    return changed, removed, sorted(now)


def drift_message(lf: LockFile, lm: LockedMapping, changed: list[str], removed: list[str]) -> str:
    """``N objects changed since s3lync.lock was written: ...; run 's3lync lock' to accept``."""
    keys = [f"{k} (changed)" for k in changed] + [f"{k} (deleted)" for k in removed]
    shown = ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
    n = len(keys)
    return (
        f"mapping {lm.label!r}: {n} object{'s' if n != 1 else ''} changed since {lf.path.name} was "
        f"written: {shown}; nothing was changed. Run 's3lync lock' to accept the new objects"
    )


# --------------------------------------------------------------------------- taking a lock


def iter_scope(
    uri: S3Uri, listed: Iterable[Any], rules: Sequence[tuple[str, str]]
) -> Iterator[Any]:
    """The listed objects a download mapping syncs, in listing order: what its plan would see
    (same filters)."""
    from s3lync.filters import matcher

    match = matcher(rules)
    if uri.is_prefix:
        root = uri.key
        for o in listed:
            if o.key != root and (match is None or not match(o.key[len(root) :])):
                yield o
        return
    # A key without a trailing slash: the objects under "key/" if there are any, else the
    # object "key" itself.
    root = uri.key + "/"
    exact: list[Any] = []
    children = False
    for o in listed:
        if o.key.startswith(root):
            children = True
            if o.key != root and (match is None or not match(o.key[len(root) :])):
                yield o
        elif o.key == uri.key:
            exact.append(o)
    if not children:
        yield from exact


def scope(uri: S3Uri, listed: Iterable[Any], rules: Sequence[tuple[str, str]]) -> list[Any]:
    """The listed objects a download mapping syncs: what its plan would see (same filters)."""
    return list(iter_scope(uri, listed, rules))


#: Objects whose checksums are read together (one HEAD each, concurrently) while a lock is written.
CHECKSUM_BATCH = 1000


def pin(remote: Any, mapping: Mapping, *, checksums: bool = True, workers: int = 16) -> LockStream:
    """One download mapping to lock: its objects are listed and pinned as the lock is written.

    One ListObjectsV2 (ListObjectVersions on a versioned bucket), plus, with ``checksums``, one
    concurrent HEAD (checksum mode) per object whose listing names an additional checksum.
    """
    uri = parse_s3_uri(mapping.s3_uri)
    versioned = remote.is_versioned(uri.bucket)

    def listing() -> Iterator[LockedObject]:
        listed = iter_scope(
            uri, remote.list_for_lock(uri.bucket, uri.key, versioned), mapping.rules
        )
        return _pinned(remote, uri.bucket, listed, versioned, checksums, workers)

    return LockStream(
        name=mapping.name,
        s3=mapping.s3_uri,
        exclude=mapping.filter_key,
        versioned=versioned,
        listing=listing,
    )


def take(
    remote: Any, mapping: Mapping, *, checksums: bool = True, workers: int = 16
) -> LockedMapping:
    """List one download mapping's objects as they are now and pin them, held whole (sorted)."""
    stream = pin(remote, mapping, checksums=checksums, workers=workers)
    return LockedMapping(
        name=stream.name,
        s3=stream.s3,
        exclude=stream.exclude,
        versioned=stream.versioned,
        objects=tuple(sorted(stream.iter_objects(), key=lambda o: o.key)),
    )


def _pinned(
    remote: Any,
    bucket: str,
    listed: Iterator[Any],
    versioned: bool,
    checksums: bool,
    workers: int,
) -> Iterator[LockedObject]:
    """The listed objects as pinned objects, their checksums read a batch at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(o: Any) -> tuple[str, dict[str, str]]:
        return o.key, remote.checksum(bucket, o.key, o.version_id)

    pool: ThreadPoolExecutor | None = None
    read = 0
    try:
        while batch := list(itertools.islice(listed, CHECKSUM_BATCH)):
            todo = [o for o in batch if checksums and o.checksum_algorithm]
            sums: dict[str, dict[str, str]] = {}
            if todo:
                if pool is None:
                    log.info("reading the checksums of the objects whose listing names one")
                    pool = ThreadPoolExecutor(max(1, workers))
                sums = dict(pool.map(one, todo))
                read += len(todo)
            for o in batch:
                yield LockedObject(
                    key=o.key,
                    size=o.size,
                    etag=o.etag,
                    version_id=o.version_id if versioned else None,
                    checksum=tuple(sorted(sums.get(o.key, {}).items())),
                )
    finally:
        if pool is not None:
            pool.shutdown()
    if read:
        log.info("read the checksums of %d object(s)", read)
