"""The botocore-backed store implementation: the same requests as fast.py, through a botocore client.

Chosen once per store, only where botocore must send: a caller's own ``client=`` (its settings and
event hooks are the caller's), or while something answers botocore's requests before they reach
the network (moto's ``mock_aws``; see clients.intercepted). botocore's answers are turned into the
same things the fast path raises (``AnswerError``, ``WireError``), so one retry policy and one
description of errors serve both.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Mapping
from typing import Any, BinaryIO

from s3lync.errors import BadResponseError, WireError
from s3lync.hashing import md5_from_metadata, normalize_etag
from s3lync.redact import redact_url
from s3lync.store.objects import ObjectInfo
from s3lync.store.protocol import EVIDENCE_HEADERS
from s3lync.store.s3xml import Listed, check_claims
from s3lync.store.wire import AnswerError, Cancelled, PutArgs, Sink, Stored

_CHUNK = 1024 * 1024


class BotoWire:
    """S3 requests through one botocore client; see wire.Wire."""

    def __init__(self, client: Any) -> None:
        self.client = client
        url = getattr(getattr(client, "meta", None), "endpoint_url", None)
        self.where = redact_url(str(url)) if url else "the S3 endpoint"

    @property
    def read_timeout(self) -> float | None:
        """The client's read timeout (for messages)."""
        value = getattr(getattr(self.client.meta, "config", None), "read_timeout", None)
        return float(value) if value is not None else None

    def serves(self, bucket: str) -> bool:
        """botocore serves every bucket."""
        return True

    def _call(self, name: str, **kwargs: Any) -> Any:
        """One client call, its failures as the fast path's (AnswerError, WireError)."""
        try:
            return getattr(self.client, name)(**kwargs)
        except Exception as exc:
            raise as_wire(exc, self.where) from exc

    # -- listing ---------------------------------------------------------------------------

    def list_page(
        self, bucket: str, prefix: str, token: str | None, seen: set[str]
    ) -> tuple[list[Listed], str | None]:
        """One ListObjectsV2 page."""
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = self._call("list_objects_v2", **args)
        nxt = page.get("NextContinuationToken") if page.get("IsTruncated") else None
        self._check_page(page, bucket, prefix, nxt, seen)
        return [_listed(c) for c in page.get("Contents", ())], nxt

    def list_versions_page(
        self, bucket: str, prefix: str, marker: tuple[str, str] | None, seen: set[str]
    ) -> tuple[list[Listed], tuple[str, str] | None]:
        """One ListObjectVersions page (delete markers left out)."""
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if marker:
            args["KeyMarker"] = marker[0]
            if marker[1]:
                args["VersionIdMarker"] = marker[1]
        page = self._call("list_object_versions", **args)
        key_marker = page.get("NextKeyMarker") if page.get("IsTruncated") else None
        nxt = (key_marker, page.get("NextVersionIdMarker") or "") if key_marker else None
        self._check_page(page, bucket, prefix, "\0".join(nxt) if nxt else None, seen)
        return [_listed(v, versions=True) for v in page.get("Versions", ())], nxt

    def _check_page(
        self, page: Mapping[str, Any], bucket: str, prefix: str, token: str | None, seen: set[str]
    ) -> None:
        """Refuse a page that cannot be what it claims (as s3xml does for the fast path)."""
        where = f"list s3://{bucket}/{prefix}: the answer of {self.where}"
        if "IsTruncated" not in page and "KeyCount" not in page and "Name" not in page:
            # A well-formed but foreign document (an HTML page) parses to nothing.
            raise BadResponseError(f"{where} is not an S3 listing")
        parsed = len(page.get("Contents", ())) + len(page.get("CommonPrefixes", ()))
        parsed += len(page.get("Versions", ())) + len(page.get("DeleteMarkers", ()))
        key_count = int(page.get("KeyCount") or 0)
        check_claims(where, parsed, key_count, bool(page.get("IsTruncated")), token, seen)

    def list_uploads(self, bucket: str, key: str) -> list[str]:
        """The ids of every open multipart upload of exactly ``key``."""
        out: list[str] = []
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
        while True:
            page = self._call("list_multipart_uploads", **args)
            out.extend(u["UploadId"] for u in page.get("Uploads", ()) if u.get("Key") == key)
            if not page.get("IsTruncated") or not page.get("NextKeyMarker"):
                return out
            args["KeyMarker"] = page["NextKeyMarker"]
            args["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

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
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if part_number is not None:
            args["PartNumber"] = part_number
        if version_id:
            args["VersionId"] = version_id
        try:
            resp = self._call("head_object", **args)
        except AnswerError as exc:
            if exc.status == 404 and exc.code in ("404", "NotFound", "NoSuchKey"):
                return None
            raise
        return _info(resp, int(resp.get("ContentLength", 0)))

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
        """GET an object (or a byte range) into ``sink``; a short body is a WireError."""
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if if_match:
            args["IfMatch"] = f'"{if_match}"'
        if byte_range is not None:
            args["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        if version_id:
            args["VersionId"] = version_id
        resp = self._call("get_object", **args)
        body = resp["Body"]
        expected = int(resp.get("ContentLength", -1))
        size = 0
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(key)
                block = body.read(_CHUNK)
                if not block:
                    break
                sink(block)
                size += len(block)
        except (Cancelled, WireError):
            raise
        except Exception as exc:
            raise as_wire(exc, self.where) from exc
        finally:
            body.close()
        if expected >= 0 and expected != size:
            raise WireError(f"GET {key} from {self.where}: short body, {size} of {expected} bytes")
        return _info(resp, size)

    def put(
        self, bucket: str, key: str, body: bytes | BinaryIO, size: int, args: PutArgs
    ) -> Stored:
        """PutObject with Content-MD5; an answer without an ETag proves nothing was stored."""
        resp = self._call(
            "put_object",
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentLength=size,
            **_put_args(args),
        )
        if not resp.get("ETag"):
            raise BadResponseError(
                f"upload s3://{bucket}/{key}: {self.where} answered without an ETag, so "
                "nothing proves the object was stored (is the endpoint an S3 service?)"
            )
        return Stored(normalize_etag(resp.get("ETag")), _evidence(resp))

    def create_upload(self, bucket: str, key: str, args: PutArgs) -> str:
        """CreateMultipartUpload."""
        extra = _put_args(args)
        extra.pop("ContentMD5", None)
        resp = self._call("create_multipart_upload", Bucket=bucket, Key=key, **extra)
        return str(resp["UploadId"])

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
        """UploadPart with its own Content-MD5."""
        resp = self._call(
            "upload_part",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentLength=size,
            ContentMD5=md5,
        )
        return str(resp["ETag"])

    def complete_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> Stored:
        """CompleteMultipartUpload (botocore raises for an error inside a 200 answer)."""
        parts = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]
        resp = self._call(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        return Stored(normalize_etag(resp.get("ETag")), _evidence(resp))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""
        self._call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)

    def delete_objects(
        self, bucket: str, objects: list[tuple[str, str | None]]
    ) -> list[tuple[str, str, str]]:
        """DeleteObjects, with Content-MD5 added for this call only (see _content_md5)."""
        items = [{"Key": k, "ETag": f'"{e}"'} if e else {"Key": k} for k, e in objects]
        self.client.meta.events.register(
            "before-sign.s3.DeleteObjects", _content_md5, unique_id=_DELETE_MD5_HANDLER
        )
        _DELETE_MD5.active = True
        try:
            resp = self._call(
                "delete_objects", Bucket=bucket, Delete={"Objects": items, "Quiet": True}
            )
        finally:
            _DELETE_MD5.active = False
        return [
            (e.get("Key", "?"), str(e.get("Code") or "Error"), str(e.get("Message") or "").strip())
            for e in resp.get("Errors", ())
        ]

    def delete_object(self, bucket: str, key: str, if_match: str | None) -> None:
        """DeleteObject, conditional on ``if_match`` where the store honours it."""
        self._call(
            "delete_object",
            Bucket=bucket,
            Key=key,
            **({"IfMatch": f'"{if_match}"'} if if_match else {}),
        )

    def head_bucket(self, bucket: str) -> None:
        """HeadBucket."""
        self._call("head_bucket", Bucket=bucket)

    def versioning(self, bucket: str) -> str | None:
        """GetBucketVersioning's Status."""
        status = self._call("get_bucket_versioning", Bucket=bucket).get("Status")
        return str(status) if status else None

    def close(self) -> None:
        """Nothing to release: the client belongs to its maker."""


# Set around s3lync's own DeleteObjects calls, so the handler changes nothing else a caller's
# client (``client=``) sends.
_DELETE_MD5 = threading.local()
_DELETE_MD5_HANDLER = "s3lync-delete-objects-content-md5"


def _content_md5(request: Any, **kwargs: Any) -> None:
    """Add Content-MD5 to s3lync's DeleteObjects: botocore sends a CRC32 only, and MinIO-family
    stores refuse that (``400 MissingContentMD5``)."""
    if not getattr(_DELETE_MD5, "active", False) or "Content-MD5" in request.headers:
        return
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def _put_args(args: PutArgs) -> dict[str, Any]:
    out: dict[str, Any] = dict(args.extra)
    if args.content_md5:
        out["ContentMD5"] = args.content_md5
    if args.metadata:
        out["Metadata"] = dict(args.metadata)
    if args.content_type:
        out["ContentType"] = args.content_type
    if args.if_match:
        out["IfMatch"] = f'"{args.if_match}"'
    if args.if_none_match:
        out["IfNoneMatch"] = "*"
    return out


def _listed(c: Mapping[str, Any], versions: bool = False) -> Listed:
    lm = c.get("LastModified")
    algo = c.get("ChecksumAlgorithm")
    if isinstance(algo, list):
        algo = algo[0] if algo else None
    return Listed(
        key=c["Key"],
        size=int(c.get("Size", 0)),
        etag=normalize_etag(c.get("ETag")),
        last_modified=lm.isoformat() if lm is not None else None,
        checksum_algorithm=str(algo) if algo else None,
        version_id=c.get("VersionId") if versions else None,
        is_latest=bool(c.get("IsLatest", True)),
    )


def _evidence(resp: Mapping[str, Any]) -> dict[str, str]:
    raw = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return {n: str(raw[n]) for n in EVIDENCE_HEADERS if n in raw}


def _info(resp: Mapping[str, Any], size: int) -> ObjectInfo:
    metadata = {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()}
    return ObjectInfo(
        etag=normalize_etag(resp.get("ETag")),
        size=size,
        metadata_md5=md5_from_metadata(metadata),
        metadata=metadata,
        headers=_evidence(resp),
    )


def as_wire(exc: BaseException, where: str) -> BaseException:
    """A botocore failure as the fast path would raise it; others unchanged."""
    import botocore.exceptions as bex

    if isinstance(exc, bex.ClientError):
        response: dict[str, Any] = exc.response
        err = response.get("Error", {})
        meta = response.get("ResponseMetadata", {})
        return AnswerError(
            int(meta.get("HTTPStatusCode") or 0),
            str(err["Code"]) if err.get("Code") else None,
            str(err.get("Message") or "").strip(),
            content_type=str(meta.get("HTTPHeaders", {}).get("content-type", "")),
            method=exc.operation_name,
            where=where,
        )
    if isinstance(exc, bex.SSLError):
        return WireError(f"TLS with {where} failed ({exc})", exc, final=True)
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return WireError(f"cannot reach the S3 endpoint {where} ({exc})", exc)
    network: tuple[type[BaseException], ...] = (
        bex.ReadTimeoutError,
        bex.ConnectionClosedError,
        bex.ResponseStreamingError,
        bex.IncompleteReadError,
        bex.ProxyConnectionError,
        bex.HTTPClientError,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(exc, network):
        return WireError(f"request to {where} failed ({type(exc).__name__}: {exc})", exc)
    try:
        from urllib3.exceptions import HTTPError, ProtocolError
    except ImportError:  # pragma: no cover - botocore depends on urllib3
        return exc
    if isinstance(exc, (HTTPError, ProtocolError)):
        return WireError(f"reading the answer of {where} failed ({type(exc).__name__}: {exc})", exc)
    return exc
