"""Verifying one transfer: local bytes judged against the store's evidence (integrity.py), a
multipart layout learned or confirmed when the evidence needs one, and the verdict enforced."""

from __future__ import annotations

import logging

from s3lync.errors import HashMismatchError, UnverifiedError
from s3lync.hashing import Digest, Layout, multipart_parts
from s3lync.localfs.hashcache import HashCache
from s3lync.mapping import Direction
from s3lync.store.evidence import Evidence
from s3lync.store.objects import UploadResult
from s3lync.store.remote import Remote
from s3lync.sync import integrity
from s3lync.sync.digests import etag_for_part_sizes, fill_digest, learn_layout
from s3lync.sync.integrity import Status, Verdict
from s3lync.sync.plan import Comparison, MappingPlan

log = logging.getLogger(__name__)


def verify(
    remote: Remote,
    cache: HashCache,
    mplan: MappingPlan,
    key: str,
    path: str,
    digest: Digest,
    ev: Evidence,
) -> Verdict:
    """Judge local bytes against the store's evidence, learning the part layout if needed."""
    upload = mplan.mapping.direction is Direction.UPLOAD
    if ev.layout is None and multipart_parts(ev.etag) is not None:
        ev = ev.with_layout(cache.layout(ev.etag))
    fill_digest(path, digest, integrity.needs(digest, ev, upload=upload))
    if integrity.needs_layout(digest, ev):
        learned = learn_layout(remote, mplan.bucket, key, ev)
        if learned is not None:
            ev = ev.with_layout(learned)
            fill_digest(path, digest, integrity.needs(digest, ev, upload=upload))
    verdict = integrity.judge(digest, ev, upload=upload)
    if verdict.status is Status.MISMATCH and ev.layout is not None and ev.etag is not None:
        verdict = confirm_layout(remote, mplan.bucket, key, path, digest, ev, verdict)
    if verdict.verified and ev.layout is not None and ev.etag is not None:
        cache.put_layout(ev.etag, ev.layout)
    return verdict


def confirm_layout(
    remote: Remote,
    bucket: str,
    key: str,
    path: str,
    digest: Digest,
    ev: Evidence,
    verdict: Verdict,
) -> Verdict:
    """Before calling bytes bad at a learned layout, check every part's real size."""
    if not verdict.evidence.startswith("multipart ETag") or ev.layout is None:
        return verdict
    sizes = remote.part_sizes(bucket, key, ev.layout.parts)
    if sizes is None or sum(sizes) != digest.size:
        return verdict
    exact = etag_for_part_sizes(path, sizes)
    if exact == ev.etag:
        return Verdict(Status.VERIFIED, f"multipart ETag {ev.etag} at its exact part sizes")
    return Verdict(
        Status.MISMATCH,
        f"multipart ETag {ev.etag} at its exact part sizes",
        f"content gives multipart ETag {exact}, the store has {ev.etag}",
    )


def enforce(mplan: MappingPlan, verdict: Verdict, where: str, kept: str) -> None:
    """Raise for a mismatch (and, in strict mode, for unverified); warn for unverified."""
    if verdict.status is Status.MISMATCH:
        raise HashMismatchError(f"{where}: {verdict.detail}; {kept}")
    if verdict.verified and verdict.detail:
        log.warning("%s: verified by %s, but %s", where, verdict.evidence, verdict.detail)
    if verdict.status is Status.UNVERIFIED:
        if mplan.mapping.require_verified:
            raise UnverifiedError(
                f"{where}: could not be verified ({verdict.detail}); strict mode refuses it, {kept}"
            )
        if mplan.comparison is Comparison.SIZE_AND_TIME:
            # The mapping's one WARNING (engine) said so already; each file is counted.
            log.info("%s: not verified: %s", where, verdict.detail)
        else:
            log.warning("%s: not verified: %s", where, verdict.detail)


def upload_evidence(up: UploadResult) -> Evidence:
    """The store's answer to our upload as evidence, with the layout we cut it at."""
    ev = up.info.evidence(content_md5_checked=up.content_md5_checked)
    parts = multipart_parts(ev.etag)
    if up.part_size and parts is not None:
        ev = ev.with_layout(Layout(up.part_size, parts))
    return ev
