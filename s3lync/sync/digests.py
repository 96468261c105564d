"""The digests-and-layouts stage: what comparing same-size pairs needs, gathered before deciding.

Three steps, each callable alone: :func:`local_digests` (the hash cache, else one read of each
file), :func:`gather_evidence` (what the listing, a HEAD and the layout cache say about each
object; pure) and :func:`learn_layouts` (one ``HEAD ?partNumber=1`` per multipart object no
known layout explains). The executor verifies transfers with the same helpers
(:func:`learn_layout`, :func:`fill_digest`, :func:`etag_for_part_sizes`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping as TMapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from s3lync.errors import S3lyncError, S3ObjectError
from s3lync.hashing import Digest, Layout, digest_file, multipart_parts
from s3lync.localfs.hashcache import HashCache, racily_clean
from s3lync.store.evidence import Evidence
from s3lync.store.objects import ObjectInfo
from s3lync.store.remote import Remote
from s3lync.sync import integrity
from s3lync.sync.integrity import Status
from s3lync.sync.pairing import Pairing

log = logging.getLogger(__name__)


def local_digests(
    pairing: Pairing,
    cache: HashCache,
    layouts: TMapping[str, Layout] | None = None,
    scanned_at: int = 0,
    preloaded: bool = False,
) -> dict[str, Digest]:
    """Digests of the local files that need comparing: from the cache, else hashed once.

    ``scanned_at`` (``time.time_ns()`` before the files were stat'ed): a digest of a file whose
    mtime is that recent is used but not cached (racily clean, see hashcache). ``preloaded``:
    the cache's rows under the root were read for this plan already (the scan stage's thread).
    """
    need = pairing.needs_digest(layouts)
    out: dict[str, Digest] = {}
    if len(need) > 1 and not preloaded:
        cache.preload(pairing.local_root)
    misses: list[tuple[str, list[int]]] = []
    for rel, parts in need.items():
        lf = pairing.local[rel]
        d = cache.get(lf.path, lf.fingerprint)
        if d is not None and all(ps in d.etags for ps in parts):
            out[rel] = d
        else:
            misses.append((rel, parts))
    if not misses:
        return out
    log.debug("hashing %d local file(s)", len(misses))
    rows = []
    for rel, d in _hash_all(pairing, misses):
        lf = pairing.local[rel]
        old = cache.get(lf.path, lf.fingerprint)
        if old is not None:
            d.seen_etags = list(old.seen_etags)
        out[rel] = d
        if not racily_clean(lf.fingerprint, scanned_at):
            rows.append((lf.path, lf.fingerprint, d))
    cache.put_many(rows)
    return out


def _hash_all(pairing: Pairing, misses: list[tuple[str, list[int]]]) -> list[tuple[str, Digest]]:
    """Hash ``misses`` (rel, part sizes) on a few threads: one read of each file."""

    def work(item: tuple[str, list[int]]) -> tuple[str, Digest]:
        rel, parts = item
        return rel, digest_file(pairing.local[rel].path, parts)

    workers = min(len(misses), os.cpu_count() or 2, 8)
    try:
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="s3lync-hash") as pool:
                return list(pool.map(work, misses))
        return [work(m) for m in misses]
    except OSError as exc:
        raise S3ObjectError(f"cannot read local file: {exc}") from exc


def gather_evidence(
    pairing: Pairing,
    digests: TMapping[str, Digest],
    layouts: TMapping[str, Layout],
    heads: TMapping[str, Evidence],
) -> dict[str, Evidence]:
    """What is known about each same-size object: ``heads`` (a HEAD's answer), else the listing,
    with a cached layout; pairs a plain-MD5 ETag already decides get none (nothing to add)."""
    evidence = dict(heads)
    for rel in pairing.needs_digest():
        d = digests.get(rel)
        if rel not in heads and d is not None and pairing.remote[rel].etag == d.md5:
            continue  # a plain-MD5 ETag equal to the local MD5 decides alone
        ev = heads.get(rel) or pairing.evidence(rel, layouts)
        if ev.layout is None and rel in heads:
            known = pairing.evidence(rel, layouts).layout
            ev = ev.with_layout(known) if known is not None else ev
        evidence[rel] = ev
    return evidence


def complete(
    pairing: Pairing, digests: TMapping[str, Digest], evidence: TMapping[str, Evidence]
) -> None:
    """Add to each digest what judging its evidence still needs (a capped layout, a checksum)."""
    for rel, ev in evidence.items():
        if rel in digests:
            fill_digest(pairing.local[rel].path, digests[rel], integrity.needs(digests[rel], ev))


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


def learn_layouts(
    remote: Remote,
    cache: HashCache,
    pairing: Pairing,
    digests: TMapping[str, Digest],
    evidence: dict[str, Evidence],
    workers: int,
) -> None:
    """One concurrent ``HEAD ?partNumber=1`` per :func:`undecided` object; ``evidence`` and
    ``digests`` take what was learned.

    The layout is cached per ETag (it never changes), so a later plan pays nothing.
    """
    todo = undecided(pairing, digests, evidence)
    if not todo:
        return
    log.debug("learning the part layout of %d multipart object(s)", len(todo))

    def learn(rel: str) -> tuple[str, Layout | None, ObjectInfo | None]:
        ro = pairing.remote[rel]
        try:
            info = remote.head(pairing.bucket, ro.key, part_number=1)
        except S3lyncError as exc:
            log.debug("HEAD ?partNumber=1 of %s failed: %s", ro.key, exc)
            return rel, None, None
        layout = learn_layout(remote, pairing.bucket, ro.key, evidence[rel], first=info)
        return rel, layout, info

    workers = min(len(todo), workers)
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="s3lync-head") as pool:
            learned = list(pool.map(learn, todo))
    else:
        learned = [learn(r) for r in todo]
    for rel, layout, info in learned:
        ev = evidence[rel]
        if info is not None and info.metadata_md5:
            ev = replace(ev, metadata_md5=info.metadata_md5)
        if layout is not None and ev.etag is not None:
            cache.put_layout(ev.etag, layout)
            ev = ev.with_layout(layout)
        evidence[rel] = ev
        complete(pairing, {rel: digests[rel]}, {rel: ev})


def learn_layout(
    remote: Remote, bucket: str, key: str, ev: Evidence, *, first: ObjectInfo | None = None
) -> Layout | None:
    """Ask the store how a multipart object was cut: ``HEAD ?partNumber=1`` gives the first
    part's size and the part count (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).

    None when the store does not answer per part or the answer does not fit the object.
    """
    parts = multipart_parts(ev.etag)
    if parts is None:
        return None
    if first is None:
        try:
            first = remote.head(bucket, key, part_number=1)
        except S3lyncError as exc:
            log.debug("cannot learn the part layout of s3://%s/%s: %s", bucket, key, exc)
            return None
    if first.parts_count != parts or first.size <= 0:
        return None
    layout = Layout(first.size, parts)
    if parts > 1 and first.size * (parts - 1) >= ev.size:
        return None
    if parts > 1 and not layout.uniform_for(ev.size):
        # The last part is larger than the others: confirm it rather than guess.
        try:
            last = remote.head(bucket, key, part_number=parts)
        except S3lyncError:
            return None
        if last.size != ev.size - first.size * (parts - 1):
            return None
    return layout


def etag_for_part_sizes(path: str, sizes: Sequence[int]) -> str:
    """The multipart ETag of a file cut at exactly these part sizes."""
    digests = []
    with open(path, "rb") as f:
        for n in sizes:
            h = hashlib.md5()
            left = n
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
            digests.append(h.digest())
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def fill_digest(path: str, digest: Digest, need: integrity.Needs) -> None:
    """Add to ``digest`` what ``need`` asks for, in one more read of ``path`` (none if nothing)."""
    if not need:
        return
    more = digest_file(
        path,
        need.part_sizes,
        whole=False,
        checksums=need.checksums,
        layouts=need.layouts,
        composite=need.composite,
    )
    digest.etags.update(more.etags)
    digest.layout_etags.update(more.layout_etags)
    digest.checksums.update(more.checksums)
    digest.composite.update(more.composite)
