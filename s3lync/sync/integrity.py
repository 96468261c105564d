"""Integrity verdicts: what a store says about an object, and whether local bytes match it (pure).

Every transfer ends with a :class:`Verdict`: verified, mismatch or unverified, and the evidence used.
Evidence the store computed (a plain-MD5 ETag, a multipart ETag recomputed at the object's real
layout, an S3 additional checksum, Content-MD5 the store checked on upload) decides; the
``md5chksum`` metadata is only the uploader's claim and is used when nothing else can decide. An
ETag of an SSE-KMS or SSE-C object is not an MD5 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html)
and is ignored as evidence.

The work is two steps, as in the planner: :func:`needs` says what must be computed locally for a
given piece of evidence, the caller computes it (hashing.digest_file), then :func:`judge` decides.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from s3lync.hashing import (
    Digest,
    Layout,
    candidate_part_sizes,
    checksum_available,
    is_plain_md5_etag,
    multipart_parts,
)
from s3lync.store.evidence import Evidence


class Status(str, enum.Enum):
    """How a verification ended."""

    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing local bytes with a store's evidence, and which evidence decided."""

    status: Status
    evidence: str
    detail: str = ""

    @property
    def verified(self) -> bool:
        """True when the bytes were proven equal."""
        return self.status is Status.VERIFIED

    def to_dict(self) -> dict[str, str]:
        """JSON form (``--json`` output)."""
        out = {"status": self.status.value, "evidence": self.evidence}
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Needs:
    """What must be computed locally before :func:`judge` can decide."""

    part_sizes: tuple[int, ...] = ()
    layouts: tuple[tuple[int, int], ...] = ()
    checksums: tuple[str, ...] = ()
    composite: tuple[tuple[str, int, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.part_sizes or self.layouts or self.checksums or self.composite)


def _full_checksums(ev: Evidence) -> list[tuple[str, str]]:
    """Checksums of the whole object's bytes.

    For a multipart object only an explicit ``x-amz-checksum-type: FULL_OBJECT`` says so: AWS
    marks composite values ``-N``, but some stores (moto) send them bare and untyped.
    """
    multipart = (multipart_parts(ev.etag) or 1) > 1 and not ev.etag_opaque
    out = []
    for a, v in ev.checksums.items():
        if _is_composite(v) or ev.checksum_type == "COMPOSITE" or not checksum_available(a):
            continue
        if multipart and ev.checksum_type != "FULL_OBJECT":
            continue
        out.append((a, v))
    return out


def _composite_checksums(ev: Evidence, parts: int) -> list[tuple[str, str]]:
    """Checksums of the part checksums (value without its ``-N``) for a ``parts``-part layout."""
    out = []
    for a, v in ev.checksums.items():
        if not checksum_available(a) or ev.checksum_type == "FULL_OBJECT":
            continue
        head, _, tail = v.rpartition("-")
        if _is_composite(v):
            if int(tail) == parts:
                out.append((a, head))
        elif parts > 1 and (ev.checksum_type == "COMPOSITE" or not ev.etag_opaque):
            out.append((a, v))
    return out


def _is_composite(value: str) -> bool:
    head, sep, tail = value.rpartition("-")
    return bool(sep and head and tail.isdigit())


def needs(digest: Digest | None, ev: Evidence, *, upload: bool = False) -> Needs:
    """What to compute (beyond the MD5 every transfer has) to judge ``ev``."""
    size = ev.size if digest is None else digest.size
    part_sizes: list[int] = []
    layouts: list[tuple[int, int]] = []
    if not ev.etag_opaque and (parts := multipart_parts(ev.etag)) is not None:
        if ev.layout is not None:
            if ev.layout.uniform_for(size):
                part_sizes.append(ev.layout.part_size)
            else:
                layouts.append((ev.layout.part_size, ev.layout.parts))
        else:
            part_sizes.extend(candidate_part_sizes(size, parts))
    have = digest.etags if digest is not None else {}
    part_sizes = [p for p in part_sizes if p not in have]
    if digest is not None:
        layouts = [lo for lo in layouts if lo not in digest.layout_etags]
    checksums: list[str] = []
    composite: list[tuple[str, int, int]] = []
    if not upload or ev.etag_opaque:
        # Checksums are read only when the ETag cannot decide alone: a plain-MD5 ETag already
        # proves the bytes, and most objects have one.
        decided_by_etag = not ev.etag_opaque and is_plain_md5_etag(ev.etag)
        if not decided_by_etag:
            full = _full_checksums(ev)
            if full:
                checksums.append(full[0][0])
            if ev.layout is not None:
                for a, _ in _composite_checksums(ev, ev.layout.parts):
                    composite.append((a, ev.layout.part_size, ev.layout.parts))
                    break
    if digest is not None:
        checksums = [a for a in checksums if a not in digest.checksums]
        composite = [c for c in composite if c not in digest.composite]
    return Needs(tuple(part_sizes), tuple(layouts), tuple(checksums), tuple(composite))


def needs_layout(digest: Digest, ev: Evidence) -> bool:
    """True when only the store can say how a multipart ETag was cut (no guess explained it)."""
    if ev.layout is not None or ev.etag_opaque or ev.etag in digest.seen_etags:
        return False
    parts = multipart_parts(ev.etag)
    if parts is None or parts == 1:
        return False
    return ev.etag not in digest.etags.values()


def judge(digest: Digest, ev: Evidence, *, upload: bool = False) -> Verdict:
    """Compare local content with the store's evidence: every decisive check must agree.

    For an upload, ``md5chksum`` is our own echo and is not evidence; for a download it is the
    uploader's claim, used only when the store's own evidence cannot decide.
    """
    etag = ev.etag
    if etag is not None and etag in digest.seen_etags:
        # This exact content (the cache row is fingerprint-checked) was verified against this
        # exact object version at a transfer: an opaque ETag names a version, never reused.
        return Verdict(Status.VERIFIED, f"ETag {etag} verified at an earlier transfer")
    matched: list[str] = []
    failed: list[str] = []
    if etag is not None and not ev.etag_opaque:
        if is_plain_md5_etag(etag):
            (matched if etag == digest.md5 else failed).append(f"ETag {etag} (MD5)")
        elif (parts := multipart_parts(etag)) is not None:
            layout = ev.layout
            if layout is None and parts == 1:
                # One part holds the whole object whatever the part size: md5(md5(content))-1.
                layout = Layout(max(digest.size, 1), 1)
            if layout is not None and layout.parts == parts:
                got = digest.etag_at(layout.part_size, parts)
                label = f"multipart ETag {etag} at {_mib(layout.part_size)} parts"
                if got is not None:
                    (matched if got == etag else failed).append(label)
            elif etag in digest.etags.values():
                size = next(ps for ps, e in digest.etags.items() if e == etag)
                matched.append(f"multipart ETag {etag} at {_mib(size)} parts")
    for algorithm, value in _full_checksums(ev):
        got = digest.checksums.get(algorithm)
        if got is not None:
            (matched if got == value else failed).append(f"{algorithm.upper()} checksum {value}")
    if ev.layout is not None:
        n = ev.layout.parts
        for algorithm, value in _composite_checksums(ev, n):
            got = digest.composite.get((algorithm, ev.layout.part_size, n))
            if got is not None:
                (matched if got.rpartition("-")[0] == value else failed).append(
                    f"composite {algorithm.upper()} checksum {value}"
                )
    if upload and ev.content_md5_checked and not failed:
        matched.append("Content-MD5 checked by the store")
    if failed:
        return Verdict(
            Status.MISMATCH,
            failed[0],
            f"content MD5 {digest.md5} does not match {' and '.join(failed)}",
        )
    if matched:
        detail = ""
        if not upload and ev.metadata_md5 and ev.metadata_md5 != digest.md5:
            detail = f"md5chksum metadata {ev.metadata_md5} disagrees; the store's evidence wins"
        return Verdict(Status.VERIFIED, matched[0], detail)
    if not upload and ev.metadata_md5:
        if ev.metadata_md5 == digest.md5:
            return Verdict(Status.VERIFIED, "md5chksum metadata (the uploader's claim)")
        return Verdict(
            Status.MISMATCH,
            "md5chksum metadata",
            f"content MD5 {digest.md5} does not match md5chksum metadata {ev.metadata_md5}",
        )
    return Verdict(Status.UNVERIFIED, "none", _why_unverified(ev))


def _why_unverified(ev: Evidence) -> str:
    if ev.etag is None:
        why = "the store gave no ETag"
    elif ev.etag_opaque:
        why = f"the ETag of an {ev.encryption} object is not an MD5"
    elif multipart_parts(ev.etag) is not None:
        why = f"the part layout of multipart ETag {ev.etag} is unknown"
    else:
        why = f"ETag {ev.etag} is not an MD5"
    missing = [a for a in ev.checksums if not checksum_available(a)]
    tail = (
        f"; its {', '.join(a.upper() for a in missing)} checksum needs awscrt "
        "(pip install 's3lync[crt]')"
        if missing
        else "; no checksum or md5chksum metadata to check instead"
    )
    return why + tail


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n % 1024 == 0 else f"{n} B"
