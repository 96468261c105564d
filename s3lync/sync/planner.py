"""The decide stage (pure): a Pairing, its digests and its evidence -> MappingPlan.

No hashing or HEAD happens here: the earlier stages (``stages.py``, ``pairing.py``,
``digests.py``) have gathered everything. :func:`decide` is three decisions, each its own
function: what to copy (:func:`decide_copies`), which folder markers to make
(:func:`decide_folders`) and what to delete (:func:`decide_deletes`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field, replace
from typing import Any

from s3lync.hashing import Digest
from s3lync.localfs.scan import LocalFile
from s3lync.mapping import Direction
from s3lync.store.evidence import Evidence
from s3lync.store.objects import RemoteObject
from s3lync.sync import integrity
from s3lync.sync.integrity import Status
from s3lync.sync.pairing import Pairing
from s3lync.sync.plan import Comparison, MappingPlan, Operation, OpKind, Problem

Side = dict[str, LocalFile] | dict[str, RemoteObject]


@dataclass
class Copies:
    """What :func:`decide_copies` decided: operations, refusals and the files already current."""

    ops: list[Operation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unchanged_bytes: int = 0


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
    copies = decide_copies(p, digests, evidence or {}, metadata_md5 or {})
    problems = [*p.problems, *copies.problems]
    folder_ops, folder_problems = decide_folders(p)
    problems += folder_problems
    delete_ops, delete_problems = decide_deletes(p, problems, allow_empty_source)
    problems += delete_problems
    return MappingPlan(
        mapping=p.mapping,
        bucket=p.bucket,
        root_key=p.root_key,
        is_dir=p.is_dir,
        comparison=comparison(p),
        operations=(*copies.ops, *folder_ops, *delete_ops),
        unchanged=len(copies.unchanged),
        unchanged_bytes=copies.unchanged_bytes,
        unchanged_paths=tuple(copies.unchanged) if verbose else (),
        problems=tuple(problems),
        remote_etag=None if p.is_dir or "" not in p.remote else p.remote[""].etag,
    )


def comparison(p: Pairing) -> Comparison:
    """How this mapping's files are compared: by content, or by size and time without ETags."""
    if any(ro.etag is None for ro in p.remote.values()):
        return Comparison.SIZE_AND_TIME
    return Comparison.CONTENT


def sides(p: Pairing) -> tuple[Side, Side]:
    """``(source, target)`` files of the pairing, by the mapping's direction."""
    if p.mapping.direction is Direction.DOWNLOAD:
        return p.remote, p.local
    return p.local, p.remote


def decide_copies(
    p: Pairing,
    digests: TMapping[str, Digest],
    known: TMapping[str, Evidence],
    meta: TMapping[str, str | None],
) -> Copies:
    """For each source file: create it, update it, or leave it (current), in path order."""
    download = p.mapping.direction is Direction.DOWNLOAD
    source, target = sides(p)
    out = Copies()
    for rel in sorted(source):
        src = source[rel]
        ro = p.remote[rel] if download else p.remote.get(rel)
        lf = p.local.get(rel)
        tgt = target.get(rel)
        facts = (rel, src.size, ro, lf, digests, download, tgt)
        if tgt is None:
            if download and rel in p.local_dirs:
                message = f"local folder {rel!r} stands where a file should be downloaded"
                out.problems.append(Problem(key=_key(p, rel), message=message, blocks=True))
                continue
            reason = _MISSING_LOCALLY if download else _MISSING_REMOTELY
            out.ops.append(_source_op(p, OpKind.CREATE, *facts, reason))
            continue
        why = change_reason(p, rel, src.size, tgt.size, digests, known, meta)
        if why is None:
            out.unchanged.append(rel)
            out.unchanged_bytes += src.size
        else:
            out.ops.append(_source_op(p, OpKind.UPDATE, *facts, why))
    return out


def change_reason(
    p: Pairing,
    rel: str,
    src_size: int,
    tgt_size: int,
    digests: TMapping[str, Digest],
    known: TMapping[str, Evidence],
    meta: TMapping[str, str | None],
) -> str | None:
    """Why a target that exists must be updated from its source; None when it is current."""
    download = p.mapping.direction is Direction.DOWNLOAD
    ro = p.remote.get(rel)
    lf = p.local.get(rel)
    if p.mapping.force_sync:
        return "force_sync"
    if tgt_size != src_size:
        return f"size differs ({tgt_size} -> {src_size} bytes)"
    if ro is not None and ro.etag is None and lf is not None:
        # The store gives no ETag: compare as `aws s3 sync` does, by size and time.
        return None if _same_by_time(lf, ro, download) else _time_reason(download)
    d = digests.get(rel)
    if d is None or ro is None:
        return "cannot compare content"
    if ro.etag == d.md5 and rel not in known:
        # The common case, a listed plain-MD5 ETag equal to the local MD5: the store's own
        # evidence, decided without building anything (a 20k-file no-op plan stays cheap).
        return None
    ev = known.get(rel) or Evidence(etag=ro.etag, size=ro.size)
    if rel in meta and ev.metadata_md5 is None:
        ev = replace(ev, metadata_md5=meta[rel])
    verdict = integrity.judge(d, ev)
    if verdict.verified:
        return None
    if verdict.status is Status.MISMATCH:
        return f"content differs ({verdict.evidence})"
    return f"cannot compare content ({verdict.detail})"


def decide_folders(p: Pairing) -> tuple[list[Operation], list[Problem]]:
    """Folder markers a download must make locally (an empty folder has no file to make it)."""
    ops: list[Operation] = []
    problems: list[Problem] = []
    if p.mapping.direction is not Direction.DOWNLOAD or not p.is_dir:
        return ops, problems
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
            message = f"local file {rel!r} stands where a folder should be created"
            problems.append(Problem(key=_key(p, rel) + "/", message=message, blocks=True))
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
    return ops, problems


def decide_deletes(
    p: Pairing, problems: list[Problem], allow_empty_source: bool
) -> tuple[list[Operation], list[Problem]]:
    """Target files the source no longer has: deleted when the mapping mirrors and it is safe.

    Nothing is deleted after an incomplete listing (``problems`` so far say whether a local path
    could not be read), nor from an empty source unless ``allow_empty_source``.
    """
    m = p.mapping
    if not ((m.force_sync or m.delete) and p.is_dir):
        return [], []
    source, target = sides(p)
    extra = sorted(set(target) - set(source))
    if not extra:
        return [], []
    unread = [x for x in problems if x.fatal and x.message.startswith("cannot read")]
    if unread or not p.listing_complete:
        message = f"{len(extra)} deletion(s) skipped because a listing was incomplete"
        return [], [Problem(key=p.root_key, message=message)]
    if not source and not allow_empty_source:
        message = f"the source side is empty; refusing to delete {len(extra)} target file(s)"
        return [], [Problem(key=p.root_key, message=message, allowed_by="allow_empty_source")]
    where = "locally" if m.direction is Direction.DOWNLOAD else "remotely"
    ops = [
        Operation(
            kind=OpKind.DELETE,
            rel=rel,
            key=_key(p, rel),
            local_path=_local_path(p, rel),
            size=target[rel].size,
            reason=f"only {where}",
            **_target_state(target[rel]),
        )
        for rel in extra
    ]
    return ops, []


def _local_path(p: Pairing, rel: str) -> str:
    return p.local_root if rel == "" else posixpath.join(p.local_root, rel)


def _key(p: Pairing, rel: str) -> str:
    return p.root_key if rel == "" else p.root_key + rel


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
