"""A lean SigV4 client for the three hot S3 calls: ListObjectsV2, small GET and small PUT.

botocore spends about 2 ms of CPU per request (model-driven serialisation, event hooks, response
parsing), and under the GIL that caps small-file syncs near 500 files/s whatever the worker count.
These calls are simple enough to sign and parse directly; they are sent over urllib3 (see
transport.py), and where each bucket's requests go (host, addressing style, FIPS or dual-stack
endpoint, signing region) is asked of botocore once per bucket (clients.py), so the lean path
follows the whole boto3 configuration chain.

Anything unusual is not handled here: a response that is neither success nor a retryable fault
raises :class:`LeanFallback`, and the caller repeats the call through botocore, so every error keeps
exactly one meaning and one message. Signing follows
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import unquote_plus, urlsplit

from s3lync._version import __version__
from s3lync.errors import BadResponseError, WireError
from s3lync.hashing import normalize_etag
from s3lync.store import retry
from s3lync.store.objects import Meter, MeteredReader, OnBytes
from s3lync.store.sigv4 import Credentials, Signer, canonical_query, uri_encode

if TYPE_CHECKING:
    # Imported when a client is made: urllib3 and ssl cost ~30 ms, paid only once S3 is used.
    from s3lync.store.transport import Response, Transport

log = logging.getLogger(__name__)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK = 1024 * 1024
_USER_AGENT = f"s3lync/{__version__} (lean)"
# Answers that say "this bucket lives in another region" (with x-amz-bucket-region).
_REDIRECT_STATUS = (301, 307, 400)


class LeanFallback(Exception):
    """This call should be repeated through botocore (an error response, a redirect...)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LeanExhausted(Exception):
    """Every attempt failed with a transient fault: final, not worth repeating through botocore."""


class LeanRetryable(Exception):
    """A transient failure (5xx, throttling, short body) worth another attempt."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


class LeanCancelled(Exception):
    """The caller's cancel event was set mid-transfer."""


@dataclass(frozen=True)
class LeanObject:
    """One listed object (key, size, ETag without quotes, LastModified text)."""

    key: str
    size: int
    etag: str | None
    last_modified: str | None


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
class LeanHead:
    """A HEAD answer: ETag without quotes, size, md5chksum metadata, evidence headers."""

    etag: str | None
    size: int
    metadata: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LeanGet:
    """A finished GET: served ETag, user metadata (lower-case names), MD5 of the bytes written."""

    etag: str | None
    metadata: dict[str, str]
    md5: str
    size: int
    headers: dict[str, str] = field(default_factory=dict)


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


# locate(bucket, region or None) -> the bucket's target, or None when the lean client must not
# serve that bucket (botocore then does); ``region`` is a region learned from a redirect.
Locator = Callable[[str, "str | None"], "BucketTarget | None"]


class LeanClient:
    """Signs and sends ListObjectsV2 / GET / PUT with retries on a shared connection pool."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Callable[[], Credentials | None],
        *,
        virtual_host: bool = False,
        pool_size: int = 16,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        ca_bundle: str | None = None,
        locate: Locator | None = None,
        transport: Transport | None = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self.endpoint = Origin(parts.scheme or "https", parts.netloc)
        self.base_path = parts.path.rstrip("/")
        self.region = region
        self.credentials = credentials
        self.virtual_host = virtual_host
        self.max_attempts = max(1, max_attempts)
        self.signer = Signer(region)
        # Per worker thread: put_file's answer headers, read by the caller right after.
        self.last_put_headers = threading.local()
        self._locate: Locator = locate or self._fixed_target
        self._targets: dict[str, BucketTarget | None] = {}
        self._regions: dict[str, str] = {}
        self._targets_lock = threading.Lock()
        self._signers: dict[str, Signer] = {}
        if transport is None:
            from s3lync.store.transport import Transport

            transport = Transport(
                maxsize=pool_size,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                ca_bundle=ca_bundle,
            )
        self.transport = transport

    # -- where requests go -----------------------------------------------------------------

    def _fixed_target(self, bucket: str, region: str | None) -> BucketTarget:
        """The target for a fixed endpoint: virtual host when asked and DNS-safe, else path."""
        if self.virtual_host and dns_compatible(bucket):
            origin = Origin(self.endpoint.scheme, f"{bucket}.{self.endpoint.netloc}")
            return BucketTarget(origin, self.base_path, region or self.region, virtual=True)
        path = f"{self.base_path}/{uri_encode(bucket, '~')}"
        return BucketTarget(self.endpoint, path, region or self.region)

    def target(self, bucket: str) -> BucketTarget | None:
        """Where ``bucket``'s requests go (asked once per bucket, again after a redirect)."""
        try:
            return self._targets[bucket]
        except KeyError:
            pass
        found = self._locate(bucket, self._regions.get(bucket))
        with self._targets_lock:
            self._targets[bucket] = found
        return found

    def learn_region(self, bucket: str, region: str) -> None:
        """Remember that ``bucket`` lives in ``region``: later requests go there directly."""
        log.debug("bucket %s is in region %s; its requests now go there", bucket, region)
        with self._targets_lock:
            self._regions[bucket] = region
            self._targets.pop(bucket, None)

    def _target(self, bucket: str, key: str) -> tuple[BucketTarget, str]:
        """(bucket target, canonical path) for an object or, with key "", the bucket."""
        t = self.target(bucket)
        if t is None:
            raise LeanFallback(f"bucket {bucket}: its endpoint needs botocore")
        if key:
            return t, f"{t.base_path}/{uri_encode(key, '/~')}"
        # As botocore: "/bucket" path-style, "/" on a virtual host.
        return t, t.base_path or "/"

    # -- signing ---------------------------------------------------------------------------

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        payload_sha256: str,
        now: float | None = None,
        region: str | None = None,
    ) -> dict[str, str]:
        """Headers for a SigV4-signed request (adds host, x-amz-date, content hash, auth)."""
        creds = self.credentials()
        if creds is None:
            raise LeanFallback("no credentials")
        region = region or self.region
        signer = self._signers.get(region)
        if signer is None:
            signer = self._signers.setdefault(region, Signer(region))
        return signer.sign(creds, method, host, path, query, headers, payload_sha256, now)

    # -- transport ---------------------------------------------------------------------------

    def prepare(
        self,
        method: str,
        bucket: str,
        key: str,
        query: dict[str, str],
        headers: dict[str, str],
        payload_sha256: str,
        now: float | None = None,
    ) -> tuple[BucketTarget, str, dict[str, str]]:
        """(bucket target, request target "path?query", signed headers) for one request."""
        t, path = self._target(bucket, key)
        signed = self.sign(
            method, t.origin.netloc, path, query, headers, payload_sha256, now, region=t.region
        )
        signed["user-agent"] = _USER_AGENT  # unsigned: proxies may rewrite it
        qs = canonical_query(query)
        return t, f"{path}?{qs}" if qs else path, signed

    def request(
        self,
        method: str,
        bucket: str,
        key: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
        payload_sha256: str,
        also_ok: tuple[int, ...] = (),
    ) -> Response:
        """Send once; return the response on 2xx or ``also_ok`` (body unread), else raise.

        A redirect to the bucket's region is learned and followed once, without counting as an
        attempt; a transient answer raises :class:`LeanRetryable`, any other :class:`LeanFallback`.
        """
        for redirected in (False, True):
            t, target, signed = self.prepare(method, bucket, key, query, headers, payload_sha256)
            start = body.tell() if body is not None and not isinstance(body, bytes) else 0
            resp = self.transport.request(
                method,
                t.origin,
                target,
                signed,
                body,
                replayable=retry.replayable(method, query, headers),
            )
            if 200 <= resp.status < 300 or resp.status in also_ok:
                return resp
            try:
                data = resp.read() if method != "HEAD" else b""
            finally:
                resp.release()
            code = error_code(data)
            region = resp.header("x-amz-bucket-region")
            if not redirected and resp.status in _REDIRECT_STATUS and region and region != t.region:
                self.learn_region(bucket, region)
                if body is not None and not isinstance(body, bytes):
                    body.seek(start)
                continue
            if retry.is_retryable(resp.status, code):
                raise LeanRetryable(
                    f"{method} to {resp.where}: HTTP {resp.status} {code or ''}".strip(),
                    throttled=resp.status in (429, 503) or code in retry.THROTTLING_CODES,
                )
            raise LeanFallback(f"HTTP {resp.status} {code or ''}".strip(), code)
        raise AssertionError("unreachable")

    def with_retries(
        self,
        what: str,
        attempt_fn: Callable[[], Any],
        *,
        reconcile: Callable[[], Any] | None = None,
    ) -> Any:
        """Run ``attempt_fn`` under the retry policy (retry.py); LeanExhausted when all fail.

        ``reconcile`` is for a request that must not be resent blindly (a conditional write, a
        multipart create or complete): after a failure that may have reached the store it is
        asked what happened, and returns the request's result (it took effect), ``retry.RESEND``
        (it did not: send again) or raises (someone else's write stands in the way).
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return attempt_fn()
            except (LeanRetryable, WireError) as exc:
                if isinstance(exc, WireError) and exc.final:
                    # botocore then reports it in its own words (e.g. SSL validation failed).
                    raise LeanFallback(str(exc)) from exc
                throttled = isinstance(exc, LeanRetryable) and exc.throttled
                if reconcile is not None and not throttled and retry.reached_store(exc):
                    log.debug("%s: %s; asking the store whether it took effect", what, exc)
                    outcome = reconcile()
                    if outcome is not retry.RESEND:
                        return outcome
                if attempt == self.max_attempts:
                    raise LeanExhausted(f"{what} failed after {attempt} attempt(s): {exc}") from exc
                time.sleep(retry.backoff_delay(attempt, throttled=throttled))
                log.debug("retrying %s after %s (attempt %d)", what, exc, attempt)
        raise AssertionError("unreachable")

    # -- the three calls -------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str) -> Iterator[LeanObject]:
        """ListObjectsV2 over the whole prefix, page by page."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = {"list-type": "2", "encoding-type": "url", "max-keys": "1000"}
            if prefix:
                query["prefix"] = prefix
            if token:
                query["continuation-token"] = token
            where = f"list s3://{bucket}/{prefix}"
            data, origin = self.with_retries(
                where, functools.partial(self._read_all, bucket, query)
            )
            objects, token = parse_list(data, f"{where}: the answer of {origin}", seen)
            yield from objects
            if not token:
                return

    def _read_all(self, bucket: str, query: dict[str, str]) -> tuple[bytes, str]:
        resp = self.request("GET", bucket, "", query, {}, None, EMPTY_SHA256)
        try:
            return resp.read(), resp.where
        finally:
            resp.release()

    def get_to_file(
        self,
        bucket: str,
        key: str,
        dest: str,
        cancel: threading.Event | None = None,
        *,
        version_id: str | None = None,
        if_match: str | None = None,
        on_bytes: OnBytes | None = None,
    ) -> LeanGet:
        """GET one object (or one version) into ``dest``, hashing while streaming; retried whole.

        ``if_match`` (the listed ETag) makes every attempt conditional, so a retry after the
        object was replaced fails instead of writing another version. ``on_bytes`` hears each
        block as it is written (a failed attempt's blocks are taken back).
        """
        query = {"versionId": version_id} if version_id else {}
        headers = dict(_CHECKSUM_MODE)
        if if_match:
            headers["if-match"] = f'"{if_match}"'

        def attempt() -> LeanGet:
            resp = self.request("GET", bucket, key, query, headers, None, EMPTY_SHA256)
            meter = Meter(on_bytes)
            try:
                got = _stream_to_file(resp, dest, key, cancel, meter)
            except BaseException:
                meter.unwind()
                raise
            finally:
                resp.release()
            md5chksum = resp.header("x-amz-meta-md5chksum")
            etag = resp.header("etag")
            return LeanGet(
                etag=normalize_etag(etag),
                # Only the one metadata entry s3lync reads, instead of lower-casing every header.
                metadata={"md5chksum": md5chksum} if md5chksum else {},
                md5=got[0],
                size=got[1],
                headers=_evidence_headers(resp),
            )

        result: LeanGet = self.with_retries(f"download s3://{bucket}/{key}", attempt)
        return result

    def head(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
    ) -> LeanHead | None:
        """HEAD one object (or version, or one part of it): ETag, size, md5chksum, evidence
        headers; None when there is no such key."""
        query = {"versionId": version_id} if version_id else {}
        if part_number is not None:
            query["partNumber"] = str(part_number)

        def attempt() -> LeanHead | None:
            resp = self.request(
                "HEAD", bucket, key, query, dict(_CHECKSUM_MODE), None, EMPTY_SHA256, (404,)
            )
            resp.release()
            if resp.status == 404:
                return None
            etag = resp.header("etag")
            md5chksum = resp.header("x-amz-meta-md5chksum")
            return LeanHead(
                etag=normalize_etag(etag),
                size=int(resp.header("content-length") or 0),
                metadata={"md5chksum": md5chksum} if md5chksum else {},
                headers=_evidence_headers(resp),
            )

        result: LeanHead | None = self.with_retries(f"head s3://{bucket}/{key}", attempt)
        return result

    def put_file(
        self,
        bucket: str,
        key: str,
        body: bytes | str,
        md5_b64: str,
        size: int | None = None,
        *,
        if_match: str | None = None,
        content_type: str | None = None,
        if_none_match: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        on_bytes: OnBytes | None = None,
    ) -> str:
        """PUT one object with Content-MD5 and ``md5chksum`` metadata; returns its ETag.

        ``body`` is the bytes, or the path of a file of ``size`` bytes streamed from disk (sent
        as UNSIGNED-PAYLOAD: Content-MD5 already makes the store refuse damaged bytes). An answer
        without an ETag is no proof the object was stored: :class:`BadResponseError`.
        ``if_match`` (an ETag) makes it conditional; a refusal (412) is a LeanFallback.
        ``on_bytes`` hears the body's blocks as they are sent (a failed attempt's are taken back).
        """
        length = len(body) if isinstance(body, bytes) else size
        headers = {
            "content-md5": md5_b64,
            "x-amz-meta-md5chksum": md5_b64,
            "content-length": str(length),
        }
        if if_match:
            headers["if-match"] = f'"{if_match}"'
        if content_type:
            headers["content-type"] = content_type
        if if_none_match:
            headers["if-none-match"] = "*"
        headers.update(extra_headers or {})

        payload = (
            hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else "UNSIGNED-PAYLOAD"
        )
        what = f"upload s3://{bucket}/{key}"

        def attempt() -> str:
            meter = Meter(on_bytes)
            try:
                return sent(meter)
            except BaseException:
                meter.unwind()
                raise

        def sent(meter: Meter) -> str:
            if isinstance(body, bytes):
                # A small body goes in one write: counted when answered, sent as bytes.
                streamed = on_bytes is not None and len(body) > _CHUNK
                data = _metered(io.BytesIO(body), meter) if streamed else body
                resp = self.request("PUT", bucket, key, {}, headers, data, payload)
            else:
                with open(body, "rb") as f:
                    try:
                        resp = self.request(
                            "PUT", bucket, key, {}, headers, _metered(f, meter), payload
                        )
                    except LeanFallback as exc:
                        if exc.code == "BadDigest":
                            # The bytes read now are not the ones hashed before: the file is
                            # being written to. Uploading it anyway would store a wrong md5chksum.
                            raise LeanExhausted(
                                f"{what}: {body} changed while being "
                                "uploaded (the store refused it: BadDigest); run again"
                            ) from exc
                        raise
            try:
                resp.read()
            finally:
                resp.release()
            etag = normalize_etag(resp.header("etag"))
            self.last_put_headers.value = _evidence_headers(resp)
            if not etag:
                raise BadResponseError(
                    f"{what}: {resp.where} answered HTTP {resp.status} without an ETag, so "
                    "nothing proves the object was stored (is the endpoint an S3 service?)"
                )
            if isinstance(body, bytes) and meter.count == 0:
                meter.add(len(body))
            return etag

        reconcile = None
        if if_match or if_none_match:
            md5_hex = base64.b64decode(md5_b64).hex()

            def reconcile() -> Any:
                return self._reconcile_put(bucket, key, md5_hex, md5_b64, length, if_match)

        result: str = self.with_retries(what, attempt, reconcile=reconcile)
        return result

    def _reconcile_put(
        self,
        bucket: str,
        key: str,
        md5_hex: str,
        md5_b64: str,
        size: int | None,
        if_match: str | None,
    ) -> Any:
        """After a conditional PUT failed ambiguously: did it land, or may it be sent again?

        Ours when the key holds our bytes (the ETag is their MD5, or our md5chksum and size);
        resent while the condition still holds; otherwise another writer's object stands, and the
        store's own refusal (412) is what the caller reports.
        """
        now = self.head(bucket, key)
        if now is not None and (
            now.etag == md5_hex
            or (now.metadata.get("md5chksum") == md5_b64 and (size is None or now.size == size))
        ):
            self.last_put_headers.value = now.headers
            return now.etag
        holds = now is None if not if_match else now is not None and now.etag == if_match
        if holds:
            return retry.RESEND
        raise LeanFallback("HTTP 412 PreconditionFailed", "PreconditionFailed")

    def put_headers(self) -> dict[str, str]:
        """Evidence headers (encryption, checksums) of this thread's last ``put_file`` answer."""
        got: dict[str, str] = getattr(self.last_put_headers, "value", {})
        return got


# Ask for S3's additional checksums on GET/HEAD (stores that do not know it ignore it).
_CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}


def _evidence_headers(resp: Response) -> dict[str, str]:
    out = {}
    for name in EVIDENCE_HEADERS:
        value = resp.header(name)
        if value is not None:
            out[name] = value
    return out


def _metered(f: BinaryIO, meter: Meter) -> BinaryIO:
    """``f``, reporting its reads to ``meter`` when anyone listens."""
    if meter.on_bytes is None:
        return f
    return cast(BinaryIO, MeteredReader(f, meter))


def _stream_to_file(
    resp: Response, dest: str, key: str, cancel: threading.Event | None, meter: Meter
) -> tuple[str, int]:
    """Write the body to ``dest`` while hashing it; (MD5 hex, size). Short bodies are retryable."""
    length = resp.header("content-length")
    expected = int(length) if length is not None else None
    md5 = hashlib.md5()
    size = 0
    if cancel is not None and cancel.is_set():
        # Cancelled while the answer was on its way: create no temporary at all.
        resp.close()
        raise LeanCancelled(key)
    # Unbuffered: the data arrives in large blocks already, and a buffered open costs an
    # isatty ioctl and an lseek per file, which adds up over thousands of small objects.
    with open(dest, "wb", buffering=0) as f:
        if expected is not None and expected <= _CHUNK:
            # The common case, small objects: one read, one hash, one write.
            data = resp.read()
            md5.update(data)
            _write_all(f, memoryview(data))
            size = len(data)
            meter.add(size)
        else:
            while True:
                if cancel is not None and cancel.is_set():
                    resp.close()
                    raise LeanCancelled(key)
                block = resp.read(_CHUNK)
                if not block:
                    break
                # hashlib and write both release the GIL on large buffers, so streams overlap.
                md5.update(block)
                _write_all(f, memoryview(block))
                size += len(block)
                meter.add(len(block))
    if expected is not None and expected != size:
        raise LeanRetryable(f"GET {key} from {resp.where}: short body, {size} of {expected} bytes")
    return md5.hexdigest(), size


def _write_all(f: Any, data: memoryview) -> None:
    while data:
        data = data[f.write(data) :]


def xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def xml_text(data: bytes, tag: str) -> str | None:
    """Text of the first element named ``tag`` (any namespace), or None."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    for node in root.iter():
        if node.tag == tag or node.tag.endswith("}" + tag):
            return node.text
    return None


def root_tag(data: bytes) -> str | None:
    try:
        tag = ET.fromstring(data).tag
    except ET.ParseError:
        return None
    return tag.rsplit("}", 1)[-1]


def error_code(data: bytes) -> str | None:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    # Any namespace, or none, as for listings.
    return _text(_children(root), "Code")


def parse_list(
    data: bytes, where: str, seen_tokens: set[str] | None = None
) -> tuple[list[LeanObject], str | None]:
    """One ListObjectsV2 page: (objects, next continuation token or None).

    The root may carry any XML namespace, or none: stores differ (AWS's, the older
    ``http://doc.s3.amazonaws.com/2006-03-01/``), and elements are read by their local names.
    Anything but a ListBucketResult document (an HTML page from a captive portal or a web
    server, JSON, truncated XML), and a listing that cannot be what it claims (``KeyCount`` > 0
    or ``IsTruncated`` with nothing parsed, a continuation token seen before on this listing,
    kept in ``seen_tokens``), is :class:`BadResponseError`: read as an empty listing, it would
    make a download find nothing, an upload re-send everything and a mirror delete nothing.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise BadResponseError(f"{where} is not an S3 listing ({_snippet(data)}: {exc})") from None
    if _local(root.tag) != "ListBucketResult":
        raise BadResponseError(f"{where} is not an S3 listing (a <{_local(root.tag)}> document)")
    top = _children(root)
    url_encoded = (_text(top, "EncodingType") or "").lower() == "url"
    out = []
    contents = top.get("Contents", [])
    try:
        for c in contents:
            fields = _children(c)
            key = _text(fields, "Key") or ""
            if url_encoded:
                # S3's encoding-type=url, decoded as botocore does (spaces arrive as '+').
                key = unquote_plus(key)
            out.append(
                LeanObject(
                    key=key,
                    size=int(_text(fields, "Size") or 0),
                    etag=normalize_etag(_text(fields, "ETag")),
                    last_modified=_text(fields, "LastModified"),
                )
            )
        key_count = int(_text(top, "KeyCount") or 0)
    except ValueError as exc:
        raise BadResponseError(f"{where} is not a valid S3 listing ({exc})") from None
    truncated = (_text(top, "IsTruncated") or "").lower() == "true"
    parsed = len(contents) + len(top.get("CommonPrefixes", []))
    if parsed == 0 and (key_count > 0 or truncated):
        claim = f"KeyCount {key_count}" if key_count > 0 else "IsTruncated true"
        raise BadResponseError(
            f"{where} is not a listing s3lync can read: it says {claim} but holds no "
            "<Contents> or <CommonPrefixes> it could parse"
        )
    token = _text(top, "NextContinuationToken") if truncated else None
    if truncated and not token:
        raise LeanFallback("truncated listing without a continuation token")
    if token is not None and seen_tokens is not None:
        if token in seen_tokens:
            raise BadResponseError(
                f"{where} repeats the continuation token {token[:40]!r}: the listing never ends"
            )
        seen_tokens.add(token)
    return out, token


def _local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element) -> dict[str, list[ET.Element]]:
    """A node's children by local name, in document order."""
    out: dict[str, list[ET.Element]] = {}
    for child in node:
        out.setdefault(_local(child.tag), []).append(child)
    return out


def _text(children: dict[str, list[ET.Element]], name: str) -> str | None:
    found = children.get(name)
    return found[0].text if found else None


def _snippet(data: bytes) -> str:
    text = data[:60].decode("utf-8", "replace").replace("\n", " ").strip()
    return f"it starts {text!r}" if text else "an empty body"


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
