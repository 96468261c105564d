"""MD5s, multipart ETags and S3 checksums of local files (what integrity.py compares)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MiB = 1024 * 1024
_READ_SIZE = 1024 * 1024
# Part sizes worth trying when recomputing someone else's multipart ETag: ours and s3transfer's
# default (8 MiB), S3's minimum (5 MiB), and what common tools use (awscli/rclone/s5cmd/minio).
COMMON_PART_SIZES = (8 * MiB, 5 * MiB, 16 * MiB, 15 * MiB, 32 * MiB, 64 * MiB, 50 * MiB, 100 * MiB)
# A guess is only a shortcut: a match at a guessed size proves the layout (an MD5 collision
# would be needed otherwise); no match leaves the layout to be learned from the store.
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


def is_our_upload(found_size: int, found_md5_hex: str | None, size: int, md5_hex: str) -> bool:
    """True when a HEAD after a lost Complete (NoSuchUpload) shows our size and MD5 metadata."""
    return found_size == size and found_md5_hex == md5_hex


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
    """What one read of a file gave: its MD5, multipart ETags and S3 checksums where asked for."""

    size: int
    md5: str
    # Multipart ETags by part size (every part that size but the last, which holds the rest).
    etags: dict[int, str] = field(default_factory=dict)
    # ETags of remote objects this exact content was verified against at a transfer, oldest
    # first: an object whose ETag is opaque (SSE-KMS) or whose layout is unknown is then
    # recognised without a HEAD or a re-transfer.
    seen_etags: list[str] = field(default_factory=list)
    # Full-object S3 checksums by algorithm (base64, as S3 sends them); not persisted.
    checksums: dict[str, str] = field(default_factory=dict)
    # Multipart ETags and composite checksums for a layout of exactly ``parts`` parts whose
    # last part is larger than the others (part_size, parts) -> value; not persisted.
    layout_etags: dict[tuple[int, int], str] = field(default_factory=dict)
    composite: dict[tuple[str, int, int], str] = field(default_factory=dict)
    # The raw MD5 of each part by part size, as computed with ``etags``; not persisted. An
    # upload at that part size sends them as the parts' Content-MD5 (a file changed since is
    # then refused by the store, BadDigest, instead of hashed twice).
    part_md5s: dict[int, list[bytes]] = field(default_factory=dict, repr=False, compare=False)

    def add_seen(self, etag: str) -> None:
        """Record an ETag this content was verified against (most recent last, 8 kept)."""
        if etag in self.seen_etags:
            self.seen_etags.remove(etag)
        self.seen_etags.append(etag)
        del self.seen_etags[:-8]

    def etag_at(self, part_size: int, parts: int) -> str | None:
        """The multipart ETag for this layout, if computed."""
        if max(1, math.ceil(self.size / part_size)) == parts:
            return self.etags.get(part_size)
        return self.layout_etags.get((part_size, parts))


# S3's additional checksums, strongest-first for choosing which to verify.
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "crc64nvme", "crc32c", "crc32")


def checksum_available(algorithm: str) -> bool:
    """True when this machine can compute ``algorithm`` (CRC32C/CRC64NVME need awscrt)."""
    if algorithm in ("crc32", "sha1", "sha256"):
        return True
    if algorithm in ("crc32c", "crc64nvme"):
        try:
            import awscrt.checksums  # noqa: F401
        except ImportError:
            return False
        return True
    return False


class _Checksum:
    """One running S3 checksum, fed like a hashlib object."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.value = 0
        self._h: Any = None
        self._fn: Any = None
        if algorithm in ("sha1", "sha256"):
            self._h = hashlib.new(algorithm)
        elif algorithm == "crc32":
            self._fn = zlib.crc32
        else:
            import awscrt.checksums as crt

            self._fn = crt.crc32c if algorithm == "crc32c" else crt.crc64nvme

    def update(self, data: memoryview | bytes) -> None:
        if self._h is not None:
            self._h.update(data)
        else:
            self.value = self._fn(data, self.value)

    def digest(self) -> bytes:
        if self._h is not None:
            raw: bytes = self._h.digest()
            return raw
        return self.value.to_bytes(8 if self.algorithm == "crc64nvme" else 4, "big")


def checksum_bytes(algorithm: str, data: bytes) -> bytes:
    """The raw checksum of ``data`` (used to combine per-part checksums)."""
    c = _Checksum(algorithm)
    c.update(data)
    return c.digest()


class _PartHasher:
    """MD5s (and optionally checksums) of consecutive parts: ``parts - 1`` of ``part_size``
    bytes and a last one holding the rest (``parts`` None: as many as the size needs)."""

    def __init__(self, part_size: int, parts: int | None = None, algorithms: Iterable[str] = ()):
        self.part_size = part_size
        self.parts = parts
        self.algorithms = tuple(algorithms)
        self.filled = 0
        self.current = hashlib.md5()
        self.current_sums = [_Checksum(a) for a in self.algorithms]
        self.digests: list[bytes] = []
        self.part_sums: list[list[bytes]] = [[] for _ in self.algorithms]

    def _close_part(self) -> None:
        self.digests.append(self.current.digest())
        for i, c in enumerate(self.current_sums):
            self.part_sums[i].append(c.digest())
        self.current = hashlib.md5()
        self.current_sums = [_Checksum(a) for a in self.algorithms]
        self.filled = 0

    def update(self, data: memoryview) -> None:
        pos = 0
        while pos < len(data):
            last = self.parts is not None and len(self.digests) == self.parts - 1
            room = len(data) - pos if last else self.part_size - self.filled
            take = min(room, len(data) - pos)
            piece = data[pos : pos + take]
            self.current.update(piece)
            for c in self.current_sums:
                c.update(piece)
            self.filled += take
            pos += take
            if not last and self.filled == self.part_size:
                self._close_part()

    def finish(self) -> None:
        if self.filled or not self.digests:
            self._close_part()

    def etag(self) -> str:
        joined = hashlib.md5(b"".join(self.digests)).hexdigest()
        return f"{joined}-{len(self.digests)}"

    def composite(self) -> dict[str, str]:
        """S3 composite checksums: checksum of the concatenated part checksums, ``-N``."""
        out = {}
        for algorithm, sums in zip(self.algorithms, self.part_sums, strict=True):
            raw = checksum_bytes(algorithm, b"".join(sums))
            out[algorithm] = f"{base64.b64encode(raw).decode('ascii')}-{len(sums)}"
        return out


def digest_file(
    path: str | os.PathLike[str],
    part_sizes: Iterable[int] = (),
    *,
    whole: bool = True,
    checksums: Iterable[str] = (),
    layouts: Iterable[tuple[int, int]] = (),
    composite: Iterable[tuple[str, int, int]] = (),
) -> Digest:
    """Read a file once, computing its MD5 and whatever else is asked for (see Digester)."""
    digester = Digester(
        part_sizes, whole=whole, checksums=checksums, layouts=layouts, composite=composite
    )
    buf = bytearray(_READ_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digester.update(view[:n])
    return digester.result()


class Digester:
    """A Digest computed from bytes fed in order: a file read once, or a body as it arrives.

    ``part_sizes``: multipart ETags for uniform layouts (their part MD5s are kept too, so an
    upload at that part size sends them as Content-MD5 without hashing again); ``layouts``:
    (part_size, parts) layouts whose last part may be larger; ``checksums``: full-object S3
    checksums; ``composite``: (algorithm, part_size, parts) composite checksums. ``whole=False``
    skips the MD5.
    """

    def __init__(
        self,
        part_sizes: Iterable[int] = (),
        *,
        whole: bool = True,
        checksums: Iterable[str] = (),
        layouts: Iterable[tuple[int, int]] = (),
        composite: Iterable[tuple[str, int, int]] = (),
    ) -> None:
        self._md5 = hashlib.md5() if whole else None
        self._hashers = [_PartHasher(ps) for ps in sorted(set(part_sizes)) if ps > 0]
        self._capped = {(ps, n): _PartHasher(ps, n) for ps, n in set(layouts) if ps > 0 and n > 0}
        by_layout: dict[tuple[int, int], list[str]] = {}
        for algorithm, ps, n in set(composite):
            by_layout.setdefault((ps, n), []).append(algorithm)
        self._comp = {
            k: _PartHasher(k[0], k[1], sorted(v)) for k, v in by_layout.items() if k[0] > 0
        }
        self._sums = {a: _Checksum(a) for a in set(checksums)}
        self._feeders: list[_PartHasher | _Checksum] = [
            *self._hashers,
            *self._capped.values(),
            *self._comp.values(),
            *self._sums.values(),
        ]
        self.size = 0

    def update(self, chunk: memoryview | bytes) -> None:
        """Feed the next bytes (hashlib releases the GIL on large buffers)."""
        if self._md5 is not None:
            self._md5.update(chunk)
        for h in self._feeders:
            h.update(memoryview(chunk))
        self.size += len(chunk)

    def result(self) -> Digest:
        """The Digest of everything fed (call once, after the last byte)."""
        for h in (*self._hashers, *self._capped.values(), *self._comp.values()):
            h.finish()
        d = Digest(
            size=self.size,
            md5=self._md5.hexdigest() if self._md5 is not None else "",
            etags={h.part_size: h.etag() for h in self._hashers},
            checksums={
                a: base64.b64encode(c.digest()).decode("ascii") for a, c in self._sums.items()
            },
            layout_etags={k: h.etag() for k, h in self._capped.items()},
            part_md5s={h.part_size: list(h.digests) for h in self._hashers},
        )
        for (ps, n), h in self._comp.items():
            for algorithm, value in h.composite().items():
                d.composite[(algorithm, ps, n)] = value
        return d


def needed_part_sizes(size: int, remote_etag: str | None) -> list[int]:
    """Part sizes whose multipart ETag must be computed locally to compare with ``remote_etag``."""
    parts = multipart_parts(remote_etag)
    return candidate_part_sizes(size, parts) if parts is not None else []


@dataclass(frozen=True)
class Layout:
    """A multipart object's part layout: ``parts - 1`` parts of ``part_size``, the last the rest."""

    part_size: int
    parts: int

    def uniform_for(self, size: int) -> bool:
        """True when cutting ``size`` bytes at ``part_size`` gives exactly ``parts`` parts."""
        return max(1, -(-size // self.part_size)) == self.parts
