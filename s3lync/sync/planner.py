"""Pure diffing: (mapping, local snapshot, remote listing, digests) -> MappingPlan.

Planning is two steps so that no hashing or HEAD happens here: :func:`pair` lines both sides up and
says which files need a local digest (same size on both sides), the engine fetches digests (from the
cache, or by hashing) and HEADs the few objects a listing cannot decide, then :func:`decide` builds
the plan.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field, replace
from typing import Any

from s3lync import filters
from s3lync.errors import UnsafeKeyError
from s3lync.hashing import Digest, Layout, multipart_parts, needed_part_sizes
from s3lync.localfs.scan import LocalFile, LocalSnapshot
from s3lync.mapping import Direction, Mapping
from s3lync.store.evidence import Evidence
from s3lync.store.objects import RemoteObject
from s3lync.sync import integrity
from s3lync.sync.integrity import Status
from s3lync.sync.plan import Comparison, MappingPlan, Operation, OpKind, Problem
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


def undecided(
    pairing: Pairing,
    digests: TMapping[str, Digest],
    evidence: TMapping[str, Evidence],
) -> list[str]:
    """Relative paths whose multipart ETag no known or guessed layout explains: each is worth one
    ``HEAD ?partNumber=1`` to learn its layout (and its md5chksum)."""
    out = []
    for rel in pairing.needs_digest():
        d = digests.get(rel)
        ev = evidence.get(rel)
        if d is None or ev is None:
            continue
        if integrity.judge(d, ev).status is Status.UNVERIFIED and integrity.needs_layout(d, ev):
            out.append(rel)
    return out


def _local_path(p: Pairing, rel: str) -> str:
    return p.local_root if rel == "" else posixpath.join(p.local_root, rel)


def _key(p: Pairing, rel: str) -> str:
    return p.root_key if rel == "" else p.root_key + rel


def decide(
    p: Pairing,
    digests: TMapping[str, Digest],
    metadata_md5: TMapping[str, str | None] | None = None,
    *,
    evidence: TMapping[str, Evidence] | None = None,
    allow_empty_source: bool = False,
    verbose: bool = False,
) -> MappingPlan:
    """Build the plan: what to create, update and delete, and why.

    ``evidence`` (rel -> what a HEAD or the layout cache added to the listing) and
    ``metadata_md5`` (rel -> md5chksum) refine what the listing says about same-size pairs.
    """
    m = p.mapping
    meta = metadata_md5 or {}
    known = evidence or {}
    download = m.direction is Direction.DOWNLOAD
    source: dict[str, LocalFile] | dict[str, RemoteObject] = p.remote if download else p.local
    target: dict[str, LocalFile] | dict[str, RemoteObject] = p.local if download else p.remote
    ops: list[Operation] = []
    problems = list(p.problems)
    unchanged: list[str] = []
    unchanged_bytes = 0

    for rel in sorted(source):
        src = source[rel]
        ro = p.remote[rel] if download else p.remote.get(rel)
        lf = p.local.get(rel)
        tgt = target.get(rel)

        facts = (rel, src.size, ro, lf, digests, download, tgt)
        if tgt is None:
            if download and rel in p.local_dirs:
                problems.append(
                    Problem(
                        key=_key(p, rel),
                        message=f"local folder {rel!r} stands where a file should be downloaded",
                        blocks=True,
                    )
                )
                continue
            ops.append(
                _source_op(
                    p, OpKind.CREATE, *facts, _MISSING_LOCALLY if download else _MISSING_REMOTELY
                )
            )
            continue
        if m.force_sync:
            ops.append(_source_op(p, OpKind.UPDATE, *facts, "force_sync"))
            continue
        if tgt.size != src.size:
            ops.append(
                _source_op(
                    p, OpKind.UPDATE, *facts, f"size differs ({tgt.size} -> {src.size} bytes)"
                )
            )
            continue
        if ro is not None and ro.etag is None and lf is not None:
            # The store gives no ETag: compare as `aws s3 sync` does, by size and time.
            if _same_by_time(lf, ro, download):
                unchanged.append(rel)
                unchanged_bytes += src.size
            else:
                ops.append(_source_op(p, OpKind.UPDATE, *facts, _time_reason(download)))
            continue
        d = digests.get(rel)
        reason = "cannot compare content"
        if d is not None and ro is not None and ro.etag == d.md5 and rel not in known:
            # The common case, a listed plain-MD5 ETag equal to the local MD5: the store's own
            # evidence, decided without building anything (a 20k-file no-op plan stays cheap).
            unchanged.append(rel)
            unchanged_bytes += src.size
            continue
        if d is not None and ro is not None:
            ev = known.get(rel) or Evidence(etag=ro.etag, size=ro.size)
            if rel in meta and ev.metadata_md5 is None:
                ev = replace(ev, metadata_md5=meta[rel])
            verdict = integrity.judge(d, ev)
            if verdict.verified:
                unchanged.append(rel)
                unchanged_bytes += src.size
                continue
            if verdict.status is Status.MISMATCH:
                reason = f"content differs ({verdict.evidence})"
            else:
                reason = f"cannot compare content ({verdict.detail})"
        ops.append(_source_op(p, OpKind.UPDATE, *facts, reason))

    if download and p.is_dir:
        # Folders that hold a file, computed once: testing each folder against every file was
        # quadratic (minutes for a million keys in a thousand folders; see docs/scale.md).
        holders: set[str] = set()
        for r in p.remote:
            parent = posixpath.dirname(r)
            while parent and parent not in holders:
                holders.add(parent)
                parent = posixpath.dirname(parent)
        for rel in sorted(p.remote_dirs - p.local_dirs):
            if rel in p.local:
                problems.append(
                    Problem(
                        key=_key(p, rel) + "/",
                        message=f"local file {rel!r} stands where a folder should be created",
                        blocks=True,
                    )
                )
                continue
            if rel in holders:
                continue  # created implicitly by the files inside it
            ops.append(
                Operation(
                    kind=OpKind.MKDIR,
                    rel=rel,
                    key=_key(p, rel) + "/",
                    local_path=_local_path(p, rel),
                    size=0,
                    reason="folder marker",
                )
            )

    if (m.force_sync or m.delete) and p.is_dir:
        extra = sorted(set(target) - set(source))
        fatal = [x for x in problems if x.fatal and x.message.startswith("cannot read")]
        if extra and (fatal or not p.listing_complete):
            problems.append(
                Problem(
                    key=p.root_key,
                    message=f"{len(extra)} deletion(s) skipped because a listing was incomplete",
                )
            )
        elif extra and not source and not allow_empty_source:
            problems.append(
                Problem(
                    key=p.root_key,
                    message=f"the source side is empty; refusing to delete {len(extra)} target "
                    "file(s)",
                    allowed_by="allow_empty_source",
                )
            )
        else:
            for rel in extra:
                t = target[rel]
                ops.append(
                    Operation(
                        kind=OpKind.DELETE,
                        rel=rel,
                        key=_key(p, rel),
                        local_path=_local_path(p, rel),
                        size=t.size,
                        reason=f"only {'locally' if download else 'remotely'}",
                        **_target_state(t),
                    )
                )

    return MappingPlan(
        mapping=m,
        bucket=p.bucket,
        root_key=p.root_key,
        is_dir=p.is_dir,
        comparison=(
            Comparison.SIZE_AND_TIME
            if any(ro.etag is None for ro in p.remote.values())
            else Comparison.CONTENT
        ),
        operations=tuple(ops),
        unchanged=len(unchanged),
        unchanged_bytes=unchanged_bytes,
        unchanged_paths=tuple(unchanged) if verbose else (),
        problems=tuple(problems),
        remote_etag=None if p.is_dir or "" not in p.remote else p.remote[""].etag,
    )


# One string per reason shared by every such operation, not one per file.
_MISSING_LOCALLY = "missing locally"
_MISSING_REMOTELY = "missing remotely"
_NS = 1_000_000_000


def _same_by_time(lf: LocalFile, ro: RemoteObject, download: bool) -> bool:
    """Same size already: is the target current, by the timestamps alone (whole seconds)?

    A download sets the file's mtime to the object's LastModified, so an untouched file has
    exactly that mtime; an upload's object is written after the file last changed, so its
    LastModified is not older than the file (``aws s3 sync``'s rule).
    """
    remote = ro.mtime_ns
    if remote is None:
        return False
    if download:
        return lf.mtime_ns // _NS == remote // _NS
    return lf.mtime_ns // _NS <= remote // _NS


def _time_reason(download: bool) -> str:
    if download:
        return "modification time differs from LastModified (the store gives no ETag)"
    return "modified after the object was uploaded (the store gives no ETag)"


def _source_op(
    p: Pairing,
    kind: OpKind,
    rel: str,
    size: int,
    ro: RemoteObject | None,
    lf: LocalFile | None,
    digests: TMapping[str, Digest],
    download: bool,
    tgt: LocalFile | RemoteObject | None,
    reason: str,
) -> Operation:
    """An operation that copies the source's ``rel``, fingerprinting both sides as planned."""
    return Operation(
        kind=kind,
        rel=rel,
        # The listed key is the same string: shared, not rebuilt (a million keys, ~70 MB).
        key=ro.key if ro is not None else _key(p, rel),
        local_path=_local_path(p, rel),
        size=size,
        reason=reason,
        source_etag=ro.etag if (download and ro is not None) else None,
        version_id=ro.version_id if (download and ro is not None) else None,
        source_md5=digests[rel].md5 if (not download and rel in digests) else None,
        source_mtime_ns=(
            (ro.mtime_ns if ro is not None else None)
            if download
            else (lf.mtime_ns if lf is not None else None)
        ),
        **_target_state(tgt),
    )


def _target_state(tgt: LocalFile | RemoteObject | None) -> dict[str, Any]:
    """The target as planned, for the checks at apply time (see Operation)."""
    if isinstance(tgt, LocalFile):
        return {"target_size": tgt.size, "target_mtime_ns": tgt.mtime_ns, "target_inode": tgt.inode}
    if isinstance(tgt, RemoteObject):
        return {"target_etag": tgt.etag}
    return {}
