"""The pair stage (pure): a local snapshot and a remote listing lined up by relative path.

The include/exclude filters apply here (and in the scan, which asks the same predicate), so
every later stage sees only the paths the mapping covers.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field

from s3lync import filters
from s3lync.errors import UnsafeKeyError
from s3lync.hashing import Layout, multipart_parts, needed_part_sizes
from s3lync.localfs.scan import LocalFile, LocalSnapshot
from s3lync.mapping import Mapping
from s3lync.store.evidence import Evidence
from s3lync.store.objects import RemoteObject
from s3lync.sync.plan import Problem
from s3lync.uri import is_folder_marker, key_to_rel


def exclude_matcher(mapping: Mapping) -> Callable[[str], bool] | None:
    """One predicate, "does the mapping's filters leave this relative path out?" (memoised: the
    scan, the pairing and a lock's scope all ask for it)."""
    return filters.matcher(mapping.rules)


@dataclass
class RemoteSide:
    """A listing mapped to relative paths, with what could not be mapped."""

    files: dict[str, RemoteObject] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


def map_remote(
    objects: Iterable[RemoteObject],
    prefix: str,
    exclude: Callable[[str], bool] | None = None,
) -> RemoteSide:
    """Turn listed keys under ``prefix`` into relative paths; refuse unsafe keys, find conflicts."""
    side = RemoteSide()
    for obj in objects:
        if obj.key == prefix:
            continue  # the root's own folder marker
        try:
            rel = key_to_rel(obj.key, prefix)
        except UnsafeKeyError as exc:
            side.problems.append(Problem(key=obj.key, message=str(exc), fatal=True))
            continue
        if exclude is not None and exclude(rel + "/" if is_folder_marker(obj.key) else rel):
            continue
        if is_folder_marker(obj.key):
            side.dirs.add(rel)
        else:
            side.files[rel] = obj
    implied: set[str] = set(side.dirs)
    for rel in side.files:
        parent = posixpath.dirname(rel)
        while parent and parent not in implied:
            implied.add(parent)
            parent = posixpath.dirname(parent)
    for rel in sorted(set(side.files) & implied):
        obj = side.files.pop(rel)
        side.problems.append(
            Problem(
                key=obj.key,
                message=f"key {obj.key!r} is both a file and a folder prefix; the folder wins "
                "and the file is skipped",
                fatal=False,
            )
        )
    side.dirs = implied
    return side


@dataclass
class Pairing:
    """Both sides lined up by relative path, ready for digests."""

    mapping: Mapping
    bucket: str
    root_key: str
    is_dir: bool
    local_root: str
    local: dict[str, LocalFile]
    local_dirs: set[str]
    remote: dict[str, RemoteObject]
    remote_dirs: set[str]
    problems: list[Problem]
    listing_complete: bool

    def needs_digest(self, layouts: TMapping[str, Layout] | None = None) -> dict[str, list[int]]:
        """Local files whose content must be compared: rel -> multipart part sizes to compute.

        A multipart ETag whose layout is known (``layouts``) costs one part size; otherwise the
        candidate sizes common tools use are tried.
        """
        if self.mapping.force_sync:
            return {}
        out: dict[str, list[int]] = {}
        for rel, lf in self.local.items():
            ro = self.remote.get(rel)
            # Without an ETag there is nothing to compare a digest with (see decide()).
            if ro is not None and ro.size == lf.size and ro.etag is not None:
                known = (layouts or {}).get(ro.etag or "")
                if known is not None and multipart_parts(ro.etag) == known.parts:
                    out[rel] = [known.part_size] if known.uniform_for(lf.size) else []
                else:
                    out[rel] = needed_part_sizes(lf.size, ro.etag)
        return out

    def evidence(self, rel: str, layouts: TMapping[str, Layout] | None = None) -> Evidence:
        """What the listing says about the remote side of ``rel`` (ETag, size, known layout)."""
        ro = self.remote[rel]
        known = (layouts or {}).get(ro.etag or "")
        if known is not None and multipart_parts(ro.etag) != known.parts:
            known = None
        return Evidence(etag=ro.etag, size=ro.size, layout=known)


def pair(
    mapping: Mapping,
    bucket: str,
    root_key: str,
    is_dir: bool,
    local: LocalSnapshot,
    remote_objects: Iterable[RemoteObject],
) -> Pairing:
    """Line up a local snapshot and a remote listing under one mapping."""
    exclude = exclude_matcher(mapping)
    problems: list[Problem] = [
        Problem(key=e, message=f"cannot read local path {e}", fatal=True) for e in local.errors
    ]
    if is_dir:
        side = map_remote(remote_objects, root_key, exclude)
        problems.extend(side.problems)
        remote_files, remote_dirs = side.files, side.dirs
    else:
        remote_files = {}
        for o in remote_objects:
            if o.key == root_key:
                remote_files[""] = o
        remote_dirs = set()
    return Pairing(
        mapping=mapping,
        bucket=bucket,
        root_key=root_key,
        is_dir=is_dir,
        local_root=local.root,
        local=dict(local.files),
        local_dirs=set(local.dirs),
        remote=remote_files,
        remote_dirs=remote_dirs,
        problems=problems,
        listing_complete=not local.errors,
    )
