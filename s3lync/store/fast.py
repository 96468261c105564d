"""The fast store implementation: S3 requests signed (SigV4) and sent by s3lync itself over urllib3.

botocore spends about 2 ms of CPU per request (model-driven serialisation, event hooks, response
parsing), and under the GIL that caps small-file syncs near 500 files/s whatever the worker count.
S3's object requests are simple enough to sign and parse directly; they are sent over urllib3
(transport.py), and where each bucket's requests go (host, addressing style, FIPS or dual-stack
endpoint, signing region) is resolved from the boto3 configuration chain (clients.py), so this
path follows it too. Every answer is read here, errors included (``AnswerError`` with the store's
code and message): nothing is repeated through botocore. Signing follows
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from s3lync._version import __version__
from s3lync.errors import BadResponseError, WireError
from s3lync.hashing import normalize_etag
from s3lync.store import retry, s3xml
from s3lync.store.objects import ObjectInfo
from s3lync.store.protocol import (
    BucketTarget,
    Locator,
    Origin,
    Targets,
    dns_compatible,
    evidence_headers,
    log_request,
    object_info,
    object_path,
    upload_headers,
)
from s3lync.store.s3xml import Listed
from s3lync.store.sigv4 import Credentials, Signer, canonical_query, uri_encode
from s3lync.store.wire import AnswerError, Cancelled, PutArgs, Sink, Stored

if TYPE_CHECKING:
    # Imported when a wire is made (libcurl's binding), paid only once S3 is used.
    from s3lync.store.transport import Response, Transport

log = logging.getLogger(__name__)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_USER_AGENT = f"s3lync/{__version__} (fast)"
# Answers that say "this bucket lives in another region" (with x-amz-bucket-region).
_REDIRECT_STATUS = (301, 307, 400)
# Ask for S3's additional checksums on GET/HEAD (stores that do not know it ignore it).
_CHECKSUM_MODE = {"x-amz-checksum-mode": "ENABLED"}


class MissingCredentials(Exception):
    """No credentials were found in the boto3 configuration chain."""


class NeedsBotocore(Exception):
    """This bucket's requests need botocore (an access point ARN, S3 Express, SigV2 signing)."""


class FastWire:
    """Signs and sends S3 requests on a shared connection pool; see wire.Wire."""

    #: Its requests run on a transfer loop when sent from one (store/loop.py).
    loops = True

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Callable[[], Credentials | None],
        *,
        virtual_host: bool = False,
        pool_size: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        ca_bundle: str | None = None,
        locate: Locator | None = None,
        transport: Transport | None = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self.endpoint = Origin(parts.scheme or "https", parts.netloc)
        self.base_path = parts.path.rstrip("/")
        self.where = f"{self.endpoint.scheme}://{self.endpoint.netloc}"
        self.region = region
        self.credentials = credentials
        self.virtual_host = virtual_host
        self._targets = Targets(locate or self._fixed_target)
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
        return self._targets.get(bucket)

    @property
    def read_timeout(self) -> float | None:
        """The transport's read timeout (for messages)."""
        value = self.transport.timeout.read_timeout
        return float(value) if isinstance(value, (int, float)) else None

    def serves(self, bucket: str) -> bool:
        """False when ``bucket``'s requests need botocore (decided before any is sent)."""
        return self.target(bucket) is not None

    def learn_region(self, bucket: str, region: str) -> None:
        """Remember that ``bucket`` lives in ``region``: later requests go there directly."""
        self._targets.learn_region(bucket, region)

    def _target(self, bucket: str, key: str) -> tuple[BucketTarget, str]:
        """(bucket target, canonical path) for an object or, with key "", the bucket."""
        t = self.target(bucket)
        if t is None:
            raise NeedsBotocore(bucket)
        return t, object_path(t, key)

    # -- signing and sending ---------------------------------------------------------------

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
            raise MissingCredentials()
        region = region or self.region
        signer = self._signers.get(region)
        if signer is None:
            signer = self._signers.setdefault(region, Signer(region))
        return signer.sign(creds, method, host, path, query, headers, payload_sha256, now)

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
        payload_sha256: str = "UNSIGNED-PAYLOAD",
        also_ok: tuple[int, ...] = (),
        *,
        sink: Sink | None = None,
        cancel: threading.Event | None = None,
    ) -> Response:
        """Send once; the response on 2xx or ``also_ok``, else :class:`AnswerError`.

        A 2xx body goes to ``sink`` when one is given. A redirect to the bucket's region is
        learned and followed once.
        """
        for redirected in (False, True):
            t, target, signed = self.prepare(method, bucket, key, query, headers, payload_sha256)
            if log.isEnabledFor(logging.DEBUG):
                log_request(log, method, t, target, signed)
            start = body.tell() if body is not None and not isinstance(body, bytes) else 0
            resp = self.transport.request(
                method,
                t.origin,
                target,
                signed,
                body,
                replayable=retry.replayable(method, query, headers),
                sink=sink,
                cancel=cancel,
            )
            if 200 <= resp.status < 300 or resp.status in also_ok:
                return resp
            try:
                data = resp.read() if method != "HEAD" else b""
            finally:
                resp.release()
            region = resp.header("x-amz-bucket-region")
            if not redirected and resp.status in _REDIRECT_STATUS and region and region != t.region:
                self.learn_region(bucket, region)
                if body is not None and not isinstance(body, bytes):
                    body.seek(start)
                continue
            code, message = s3xml.error_fields(data)
            if code is None and method == "HEAD":
                # As botocore reads a HEAD error, which has no body: the status and its phrase.
                code, message = str(resp.status), _phrase(resp.status)
            raise AnswerError(
                resp.status,
                code,
                message,
                content_type=resp.header("content-type") or "",
                method=method,
                where=resp.where,
            )
        raise AssertionError("unreachable")

    def _read(self, method: str, bucket: str, key: str, query: dict[str, str]) -> bytes:
        resp = self.request(method, bucket, key, query, {}, None, EMPTY_SHA256)
        try:
            return resp.read()
        finally:
            resp.release()

    # -- listing ---------------------------------------------------------------------------

    def list_page(
        self, bucket: str, prefix: str, token: str | None, seen: set[str]
    ) -> tuple[list[Listed], str | None]:
        """One ListObjectsV2 page (keys url-encoded on the wire)."""
        return self.list_parse(self.list_fetch(bucket, prefix, token), bucket, prefix, seen)

    def list_fetch(self, bucket: str, prefix: str, token: str | None) -> bytes:
        """One ListObjectsV2 page as the store sent it (Remote reads ahead with these)."""
        query = {"list-type": "2", "encoding-type": "url", "max-keys": "1000"}
        if prefix:
            query["prefix"] = prefix
        if token:
            query["continuation-token"] = token
        return self._read("GET", bucket, "", query)

    def list_parse(
        self, data: bytes, bucket: str, prefix: str, seen: set[str]
    ) -> tuple[list[Listed], str | None]:
        """A page :meth:`list_fetch` brought: (objects, next continuation token or None)."""
        return s3xml.parse_list(
            data, f"list s3://{bucket}/{prefix}: the answer of {self.where}", seen
        )

    def list_versions_page(
        self, bucket: str, prefix: str, marker: tuple[str, str] | None, seen: set[str]
    ) -> tuple[list[Listed], tuple[str, str] | None]:
        """One ListObjectVersions page."""
        query = {"versions": "", "encoding-type": "url", "max-keys": "1000"}
        if prefix:
            query["prefix"] = prefix
        if marker:
            query["key-marker"] = marker[0]
            if marker[1]:
                query["version-id-marker"] = marker[1]
        data = self._read("GET", bucket, "", query)
        where = f"list s3://{bucket}/{prefix}: the answer of {self.where}"
        return s3xml.parse_versions(data, where, seen)

    def list_uploads(self, bucket: str, key: str) -> list[str]:
        """The ids of every open multipart upload of exactly ``key``."""
        out: list[str] = []
        marker: dict[str, str] = {}
        while True:
            data = self._read("GET", bucket, "", {"uploads": "", "prefix": key, **marker})
            found, nxt = s3xml.parse_uploads(data, f"list uploads s3://{bucket}/{key}")
            out.extend(upload_id for k, upload_id in found if k == key)
            if nxt is None:
                return out
            marker = {"key-marker": nxt[0], "upload-id-marker": nxt[1]}

    # -- objects ---------------------------------------------------------------------------

    def head(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
    ) -> ObjectInfo | None:
        """HEAD one object, one version or one part; None when there is no such key."""
        query = {"versionId": version_id} if version_id else {}
        if part_number is not None:
            query["partNumber"] = str(part_number)
        resp = self.request(
            "HEAD", bucket, key, query, dict(_CHECKSUM_MODE), None, EMPTY_SHA256, (404,)
        )
        resp.release()
        if resp.status == 404:
            return None
        return object_info(resp, int(resp.header("content-length") or 0))

    def get(
        self,
        bucket: str,
        key: str,
        sink: Sink,
        *,
        version_id: str | None = None,
        if_match: str | None = None,
        byte_range: tuple[int, int] | None = None,
        cancel: threading.Event | None = None,
    ) -> ObjectInfo:
        """GET an object (or a byte range) into ``sink``, block by block; a short body fails."""
        query = {"versionId": version_id} if version_id else {}
        headers = dict(_CHECKSUM_MODE)
        if if_match:
            headers["if-match"] = f'"{if_match}"'
        if byte_range is not None:
            headers["range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if cancel is not None and cancel.is_set():
            raise Cancelled(key)
        try:
            resp = self.request(
                "GET", bucket, key, query, headers, None, EMPTY_SHA256, sink=sink, cancel=cancel
            )
        except WireError:
            if cancel is not None and cancel.is_set():
                raise Cancelled(key) from None
            raise
        resp.release()
        length = resp.header("content-length")
        if length is not None and int(length) != resp.streamed:
            raise WireError(
                f"GET {key} from {resp.where}: short body, {resp.streamed} of {length} bytes"
            )
        return object_info(resp, resp.streamed)

    def put(
        self, bucket: str, key: str, body: bytes | BinaryIO, size: int, args: PutArgs
    ) -> Stored:
        """PUT one object; an answer without an ETag proves nothing was stored.

        A file body goes as UNSIGNED-PAYLOAD: its Content-MD5 already makes the store refuse
        damaged bytes, and a SHA-256 of every byte as well would double the CPU per byte.
        """
        payload = (
            hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else "UNSIGNED-PAYLOAD"
        )
        resp = self.request("PUT", bucket, key, {}, upload_headers(args, size), body, payload)
        try:
            resp.read()
        finally:
            resp.release()
        etag = normalize_etag(resp.header("etag"))
        if not etag:
            raise BadResponseError(
                f"upload s3://{bucket}/{key}: {resp.where} answered HTTP {resp.status} without an "
                "ETag, so nothing proves the object was stored (is the endpoint an S3 service?)"
            )
        return Stored(etag, evidence_headers(resp.header))

    def create_upload(self, bucket: str, key: str, args: PutArgs) -> str:
        """CreateMultipartUpload (type, metadata and encryption travel with the create)."""
        data = self._send_xml("POST", bucket, key, {"uploads": ""}, upload_headers(args, None), b"")
        upload_id = s3xml.first_text(data, "UploadId")
        if not upload_id:
            raise BadResponseError(
                f"upload s3://{bucket}/{key}: {self.where} answered CreateMultipartUpload "
                f"without an UploadId ({s3xml.snippet(data)})"
            )
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: bytes | BinaryIO,
        size: int,
        md5: str,
    ) -> str:
        """UploadPart with its own Content-MD5 (UNSIGNED-PAYLOAD: the MD5 guards it)."""
        query = {"partNumber": str(number), "uploadId": upload_id}
        headers = {"content-length": str(size), "content-md5": md5}
        resp = self.request("PUT", bucket, key, query, headers, body)
        try:
            resp.read()
        finally:
            resp.release()
        etag = resp.header("etag")
        if not etag:
            raise BadResponseError(
                f"upload s3://{bucket}/{key}: {resp.where} answered part {number} without an ETag"
            )
        return etag

    def complete_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> Stored:
        """CompleteMultipartUpload; S3 may answer 200 and still fail it, in the body."""
        body = s3xml.complete_body(etags)
        headers = {"content-length": str(len(body)), "content-type": "application/xml"}
        data = self._send_xml("POST", bucket, key, {"uploadId": upload_id}, headers, body)
        if s3xml.root_name(data) == "Error":
            code, message = s3xml.error_fields(data)
            raise AnswerError(200, code or "Error", message, method="POST", where=self.where)
        return Stored(normalize_etag(s3xml.first_text(data, "ETag")))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""
        self._read("DELETE", bucket, key, {"uploadId": upload_id})

    def delete_objects(
        self, bucket: str, objects: list[tuple[str, str | None]]
    ) -> list[tuple[str, str, str]]:
        """DeleteObjects with Content-MD5 (MinIO-family stores refuse it without)."""
        import base64

        body = s3xml.delete_body(objects)
        headers = {
            "content-length": str(len(body)),
            "content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
            "content-type": "application/xml",
        }
        data = self._send_xml("POST", bucket, "", {"delete": ""}, headers, body)
        return s3xml.parse_delete_result(
            data, f"delete in s3://{bucket}: the answer of {self.where}"
        )

    def delete_object(self, bucket: str, key: str, if_match: str | None) -> None:
        """DeleteObject, conditional on ``if_match`` where the store honours it."""
        headers = {"if-match": f'"{if_match}"'} if if_match else {}
        resp = self.request("DELETE", bucket, key, {}, headers, None, EMPTY_SHA256)
        try:
            resp.read()
        finally:
            resp.release()

    def head_bucket(self, bucket: str) -> None:
        """HeadBucket."""
        self.request("HEAD", bucket, "", {}, {}, None, EMPTY_SHA256).release()

    def versioning(self, bucket: str) -> str | None:
        """GetBucketVersioning's Status."""
        return s3xml.versioning_status(self._read("GET", bucket, "", {"versioning": ""}))

    def _send_xml(
        self,
        method: str,
        bucket: str,
        key: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> bytes:
        resp = self.request(
            method, bucket, key, query, headers, body, hashlib.sha256(body).hexdigest()
        )
        try:
            return resp.read()
        finally:
            resp.release()

    def close(self) -> None:
        """Close every idle connection."""
        self.transport.clear()


def _phrase(status: int) -> str:
    """The status's reason phrase, as http.client names it ("" for an unknown status)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
