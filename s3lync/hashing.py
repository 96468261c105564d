"""MD5s, multipart ETags and the comparison of a local digest with a remote ETag (pure)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MiB = 1024 * 1024
_READ_SIZE = 1024 * 1024
# Part sizes worth trying when recomputing someone else's multipart ETag: ours and s3transfer's
# default (8 MiB), S3's minimum (5 MiB), and what common tools use (awscli/rclone/s5cmd/minio).
COMMON_PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 15 * MiB, 32 * MiB, 64 * MiB, 50 * MiB, 100 * MiB)
METADATA_MD5_KEY = "md5chksum"


def normalize_etag(etag: str | None) -> str | None:
    """Strip the quotes real S3 puts around ETags (rclone returns them bare) and lower-case."""
    if etag is None:
        return None
    return etag.strip().strip('"').lower() or None


def is_plain_md5_etag(etag: str | None) -> bool:
    """True when the ETag is a 32-hex MD5 (single-part, not SSE-KMS)."""
    e = normalize_etag(etag)
    if e is None or len(e) != 32:
        return False
    try:
        int(e, 16)
    except ValueError:
        return False
    return True


def multipart_parts(etag: str | None) -> int | None:
    """The part count of a ``<hex>-<parts>`` multipart ETag, else None."""
    e = normalize_etag(etag)
    if e is None or "-" not in e:
        return None
    head, _, tail = e.rpartition("-")
    if len(head) != 32 or not tail.isdigit():
        return None
    return int(tail)


def md5_to_metadata(md5_hex: str) -> str:
    """rclone's ``md5chksum`` convention: base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


def md5_from_metadata(metadata: Mapping[str, str] | None) -> str | None:
    """Read an MD5 hex from ``md5chksum`` metadata (base64, or hex as some tools write it)."""
    if not metadata:
        return None
    raw = None
    for k, v in metadata.items():
        if k.lower() == METADATA_MD5_KEY:
            raw = v.strip()
            break
    if not raw:
        return None
    if len(raw) == 32:
        try:
            int(raw, 16)
            return raw.lower()
        except ValueError:
            pass
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 16 else None


def candidate_part_sizes(size: int, parts: int) -> list[int]:
    """Part sizes that would cut ``size`` bytes into exactly ``parts`` parts, most likely first."""
    if parts < 1 or size < 0:
        return []
    if parts == 1:
        # One part holds the whole file whatever the part size: md5(md5(content))-1.
        return [max(size, 1)]
    out: list[int] = []
    guesses = list(COMMON_PART_SIZES)
    if parts > 1:
        # Tools that size parts as ceil(size/parts) rounded up to a whole MiB (awscli for huge files).
        exact = math.ceil(size / parts)
        guesses.append(exact)
        guesses.append(math.ceil(exact / MiB) * MiB)
    for ps in guesses:
        if ps > 0 and max(1, math.ceil(size / ps)) == parts and ps not in out:
            out.append(ps)
    return out


@dataclass
class Digest:
    """What one read of a file gave: its MD5 and its multipart ETags for some part sizes."""

    size: int
    md5: str
    etags: dict[int, str] = field(default_factory=dict)
    # ETags remote objects had when this exact content was last transferred by s3lync: lets an
    # object with an unguessable multipart layout be recognised without HEAD or re-transfer.
    seen_etags: set[str] = field(default_factory=set)


class _PartHasher:
    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.filled = 0
        self.current = hashlib.md5()
        self.digests: list[bytes] = []

    def update(self, data: memoryview) -> None:
        pos = 0
        while pos < len(data):
            take = min(self.part_size - self.filled, len(data) - pos)
            self.current.update(data[pos : pos + take])
            self.filled += take
            pos += take
            if self.filled == self.part_size:
                self.digests.append(self.current.digest())
                self.current = hashlib.md5()
                self.filled = 0

    def etag(self) -> str:
        if self.filled or not self.digests:
            self.digests.append(self.current.digest())
        joined = hashlib.md5(b"".join(self.digests)).hexdigest()
        return f"{joined}-{len(self.digests)}"


def digest_file(
    path: str | os.PathLike[str], part_sizes: Iterable[int] = (), *, whole: bool = True
) -> Digest:
    """Read a file once, computing its MD5 and the multipart ETag for each part size given.

    ``whole=False`` skips the whole-file MD5 (``md5`` is then empty) when only ETags are wanted.
    """
    md5 = hashlib.md5() if whole else None
    hashers = [_PartHasher(ps) for ps in sorted(set(part_sizes)) if ps > 0]
    size = 0
    buf = bytearray(_READ_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            chunk = view[:n]
            if md5 is not None:
                md5.update(chunk)
            for h in hashers:
                h.update(chunk)
            size += n
    return Digest(
        size=size,
        md5=md5.hexdigest() if md5 is not None else "",
        etags={h.part_size: h.etag() for h in hashers},
    )


def compare(
    digest: Digest, remote_etag: str | None, remote_metadata_md5: str | None = None
) -> bool | None:
    """Does the local content equal the remote object? None when this data cannot decide.

    Every available check must agree: the plain-MD5 ETag, the ``md5chksum`` metadata, and for a
    multipart ETag a locally recomputed ETag for a candidate part size or an ETag seen for this
    content at its last transfer.
    """
    verdicts: list[bool] = []
    etag = normalize_etag(remote_etag)
    if remote_metadata_md5:
        verdicts.append(remote_metadata_md5.lower() == digest.md5)
    if etag is not None and is_plain_md5_etag(etag):
        verdicts.append(etag == digest.md5)
    elif (
        etag is not None
        and multipart_parts(etag) is not None
        and (etag in digest.seen_etags or etag in digest.etags.values())
    ):
        verdicts.append(True)
    if not verdicts:
        return None
    return all(verdicts)


def needed_part_sizes(size: int, remote_etag: str | None) -> list[int]:
    """Part sizes whose multipart ETag must be computed locally to compare with ``remote_etag``."""
    parts = multipart_parts(remote_etag)
    return candidate_part_sizes(size, parts) if parts is not None else []


def mismatch_detail(
    digest: Digest, remote_etag: str | None, remote_metadata_md5: str | None
) -> str:
    """Which of the integrity checks disagree, for an error message."""
    bad = []
    etag = normalize_etag(remote_etag)
    if remote_metadata_md5 and remote_metadata_md5.lower() != digest.md5:
        bad.append(f"md5chksum metadata {remote_metadata_md5}")
    if etag is not None and is_plain_md5_etag(etag) and etag != digest.md5:
        bad.append(f"ETag {etag}")
    return f"content MD5 {digest.md5} does not match " + (" and ".join(bad) or f"ETag {etag}")
