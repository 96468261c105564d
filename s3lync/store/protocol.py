"""S3's HTTP protocol, as the fast implementation speaks it: where a bucket's requests go, the
headers a PUT carries, the evidence headers an answer carries, and how a GET body is read."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from s3lync.hashing import md5_from_metadata, normalize_etag
from s3lync.redact import redact, redact_url
from s3lync.store.objects import ObjectInfo
from s3lync.store.sigv4 import uri_encode
from s3lync.store.wire import PutArgs

if TYPE_CHECKING:
    from s3lync.store.transport import Response

log = logging.getLogger(__name__)

# Response headers integrity checks read (checksums, encryption, part counts): kept verbatim.
EVIDENCE_HEADERS = (
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-mp-parts-count",
    "x-amz-version-id",
)


@dataclass(frozen=True)
class Origin:
    """Where one bucket's requests go: scheme, host[:port] and the proxy to reach it through."""

    scheme: str
    netloc: str
    proxy: str | None = None
    proxy_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BucketTarget:
    """Where one bucket's requests go: origin, path prefix ("" or "/bucket") and signing region."""

    origin: Origin
    base_path: str
    region: str
    virtual: bool = False


# locate(bucket, region or None) -> the bucket's target, or None when this implementation must
# not serve that bucket; ``region`` is a region learned from a redirect.
Locator = Callable[[str, "str | None"], "BucketTarget | None"]


class Targets:
    """Each bucket's target, asked of a Locator once per bucket and again after a redirect."""

    def __init__(self, locate: Locator) -> None:
        self._locate = locate
        self._targets: dict[str, BucketTarget | None] = {}
        self._regions: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, bucket: str) -> BucketTarget | None:
        """Where ``bucket``'s requests go; None when this implementation must not serve it."""
        try:
            return self._targets[bucket]
        except KeyError:
            pass
        found = self._locate(bucket, self._regions.get(bucket))
        with self._lock:
            self._targets[bucket] = found
        return found

    def learn_region(self, bucket: str, region: str) -> None:
        """Remember that ``bucket`` lives in ``region``: its next target is asked for there."""
        log.debug("bucket %s is in region %s; its requests now go there", bucket, region)
        with self._lock:
            self._regions[bucket] = region
            self._targets.pop(bucket, None)


def object_path(t: BucketTarget, key: str) -> str:
    """The canonical path of an object or, with key "", of the bucket."""
    if key:
        return f"{t.base_path}/{uri_encode(key, '/~')}"
    # As botocore: "/bucket" path-style, "/" on a virtual host.
    return t.base_path or "/"


def log_request(
    logger: logging.Logger, method: str, t: BucketTarget, target: str, signed: dict[str, str]
) -> None:
    """Log a request as botocore logs what it sends, its secrets redacted here already (a
    library user's own handler has no redacting filter)."""
    lines = "\n".join(f"{k}:{v}" for k, v in signed.items())
    logger.debug(
        "sending %s %s://%s%s\n%s",
        method,
        t.origin.scheme,
        t.origin.netloc,
        redact_url(target),
        redact(lines),
    )


def evidence_headers(header: Callable[[str], str | None]) -> dict[str, str]:
    """The evidence headers of an answer, read with ``header(name)``."""
    out = {}
    for name in EVIDENCE_HEADERS:
        value = header(name)
        if value is not None:
            out[name] = value
    return out


def upload_headers(args: PutArgs, size: int | None) -> dict[str, str]:
    """The HTTP headers of a PUT (or, with ``size`` None, a CreateMultipartUpload)."""
    from s3lync.upload_args import UPLOAD_ARGS

    headers = {"content-length": str(size if size is not None else 0)}
    if args.content_md5 and size is not None:
        headers["content-md5"] = args.content_md5
    for name, value in args.metadata.items():
        headers[f"x-amz-meta-{name.lower()}"] = value
    if args.content_type:
        headers["content-type"] = args.content_type
    if args.if_match:
        headers["if-match"] = f'"{args.if_match}"'
    if args.if_none_match:
        headers["if-none-match"] = "*"
    for name, value in args.extra.items():
        headers[UPLOAD_ARGS[name]] = str(value)
    return headers


def object_info(resp: Response, size: int) -> ObjectInfo:
    md5chksum = resp.header("x-amz-meta-md5chksum")
    # Only the one metadata entry s3lync reads, instead of lower-casing every header.
    metadata = {"md5chksum": md5chksum} if md5chksum else {}
    return ObjectInfo(
        etag=normalize_etag(resp.header("etag")),
        size=size,
        metadata_md5=md5_from_metadata(metadata),
        metadata=metadata,
        headers=evidence_headers(resp.header),
    )


def dns_compatible(bucket: str) -> bool:
    """Buckets that can be a TLS-safe virtual host (no dots, lower case, 3-63 characters)."""
    return (
        3 <= len(bucket) <= 63
        and "." not in bucket
        and bucket == bucket.lower()
        and bucket.replace("-", "").isalnum()
        and bucket[0].isalnum()
        and bucket[-1].isalnum()
    )
