"""What a store says about an object's content: ETag, size, checksums, encryption (plain data).

Built from listings and response headers by the store layer; judged by ``s3lync.sync.integrity``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from s3lync.hashing import CHECKSUM_ALGORITHMS, Layout, md5_from_metadata, normalize_etag

OPAQUE_ENCRYPTION = ("aws:kms", "aws:kms:dsse", "sse-c")


@dataclass(frozen=True)
class Evidence:
    """What the store said about one object's content (from a listing, HEAD or GET)."""

    etag: str | None
    size: int
    metadata_md5: str | None = None
    # algorithm (lower case, e.g. "crc64nvme") -> base64 value; composite values end in "-N".
    checksums: Mapping[str, str] = field(default_factory=dict)
    checksum_type: str | None = None
    encryption: str | None = None
    layout: Layout | None = None
    # Upload only: the store accepted a Content-MD5 (whole object or every part) we computed
    # from the bytes we sent, i.e. it checked the MD5 of what it received.
    content_md5_checked: bool = False

    def __post_init__(self) -> None:
        # Quotes and case vary by store (rclone lists ETags bare, AWS quoted).
        object.__setattr__(self, "etag", normalize_etag(self.etag))
        if self.metadata_md5 is not None:
            object.__setattr__(self, "metadata_md5", self.metadata_md5.lower())

    @property
    def etag_opaque(self) -> bool:
        """True when the ETag says nothing about the bytes (SSE-KMS, SSE-C)."""
        return (self.encryption or "").lower() in OPAQUE_ENCRYPTION

    def with_layout(self, layout: Layout | None) -> Evidence:
        """The same evidence with a learned part layout."""
        return replace(self, layout=layout)


def evidence_from_headers(
    header: Callable[[str], str | None], size: int, *, metadata_md5: str | None = None
) -> Evidence:
    """Evidence from response headers (``header(name)`` looks a lower-case name up)."""
    checksums: dict[str, str] = {}
    for algorithm in CHECKSUM_ALGORITHMS:
        value = header(f"x-amz-checksum-{algorithm}")
        if value:
            checksums[algorithm] = value.strip()
    encryption = header("x-amz-server-side-encryption")
    if header("x-amz-server-side-encryption-customer-algorithm"):
        encryption = "sse-c"
    if metadata_md5 is None:
        raw = header("x-amz-meta-md5chksum")
        metadata_md5 = md5_from_metadata({"md5chksum": raw}) if raw else None
    return Evidence(
        etag=normalize_etag(header("etag")),
        size=size,
        metadata_md5=metadata_md5,
        checksums=checksums,
        checksum_type=(header("x-amz-checksum-type") or "").upper() or None,
        encryption=encryption.strip().lower() if encryption else None,
    )
