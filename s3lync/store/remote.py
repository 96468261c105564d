"""S3 primitives over the shared clients: listing, HEAD, GET, PUT, multipart, batched deletes.

Each call goes through the lean client when there is one and through boto3/s3transfer otherwise
(or when the lean client hands a call over); clients.py creates both. boto3 is imported lazily.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from s3lync.errors import (
    BadResponseError,
    PlanStaleError,
    RemoteNotFoundError,
    S3lyncError,
    SyncError,
    TransferCancelledError,
    WireError,
)
from s3lync.hashing import (
    Digest,
    digest_file,
    is_our_upload,
    md5_from_metadata,
    md5_to_metadata,
    needed_part_sizes,
    normalize_etag,
)
from s3lync.redact import redact_url
from s3lync.settings import Settings, upload_arguments
from s3lync.store import lean_multipart, retry
from s3lync.store.clients import s3_label, translate
from s3lync.store.lean import (
    EVIDENCE_HEADERS,
    LeanCancelled,
    LeanClient,
    LeanExhausted,
    LeanFallback,
)
from s3lync.store.objects import (
    DownloadResult,
    Meter,
    MeteredReader,
    ObjectInfo,
    OnBytes,
    RemoteObject,
    UploadResult,
)

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_FALLBACK = object()
T = TypeVar("T")
_MAX_PARTS = 10_000
_SINGLE_PUT_MAX = 512 * 1024 * 1024
# The largest object one PUT may carry (S3's limit).
_PUT_MAX = 5 * 1024**3
_DELETE_BATCH = 1000  # S3's DeleteObjects limit


def guess_content_type(name: str) -> str | None:
    """The Content-Type an upload of ``name`` gets, guessed from its extension as aws and rclone do."""
    return mimetypes.guess_type(name, strict=False)[0]


class Remote:
    """S3 primitives over one shared client and one shared s3transfer manager."""

    def __init__(
        self,
        client: Any = None,
        max_workers: int | None = None,
        *,
        client_factory: Callable[[], Any] | None = None,
        lean: LeanClient | None = None,
        lean_factory: Callable[[], LeanClient | None] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._client = client
        self._client_factory = client_factory
        self._lean = lean
        self._lean_factory = lean_factory
        self._lean_lock = threading.Lock()
        self.max_workers = max_workers or self.settings.max_workers
        self.threshold = self.settings.multipart_threshold
        self.chunksize = max(5 * 1024 * 1024, self.settings.multipart_chunksize)
        self._tm: Any = None
        self._tm_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, created on first use (a lean-only run never imports boto3)."""
        if self._client is None:
            if self._client_factory is None:
                raise SyncError("no S3 client configured")
            self._client = self._client_factory()
        return self._client

    @property
    def lean(self) -> LeanClient | None:
        """The lean client, built on first use from the botocore client (None: botocore only)."""
        if self._lean is None and self._lean_factory is not None:
            with self._lean_lock:
                if self._lean_factory is not None:
                    self._lean = self._lean_factory()
                    self._lean_factory = None
        return self._lean

    @property
    def endpoint(self) -> str:
        """The endpoint's URL, for messages (userinfo and secrets redacted)."""
        return self._where()

    def _where(self) -> str:
        """The endpoint for messages (userinfo and secrets redacted)."""
        lean = self._lean
        if lean is not None:
            return redact_url(f"{lean.endpoint.scheme}://{lean.endpoint.netloc}")
        client = self._client
        url = getattr(getattr(client, "meta", None), "endpoint_url", None)
        return redact_url(str(url)) if url else "the S3 endpoint"

    def _translate(self, exc: BaseException, bucket: str, key: str | None, action: str) -> Any:
        """``translate``, naming the endpoint in network errors that do not already."""
        err = translate(exc, bucket, key, action)
        if isinstance(exc, S3lyncError) or type(err) not in (SyncError, BadResponseError):
            return err
        where = self._where()
        if where not in str(err) and (
            isinstance(err, BadResponseError) or not _is_client_error(exc)
        ):
            err = type(err)(f"{err} (endpoint {where})")
        if type(exc).__name__ == "ReadTimeoutError" and self._client is not None:
            # botocore's message names the URL but not the limit that was hit.
            limit = self._client.meta.config.read_timeout
            err = type(err)(f"{err} (read timeout={limit}; S3LYNC_READ_TIMEOUT sets it)")
        return err

    def _manager(self) -> Any:
        with self._tm_lock:
            if self._tm is None:
                from s3transfer.manager import TransferConfig, TransferManager

                cfg = TransferConfig(
                    multipart_threshold=self.threshold,
                    multipart_chunksize=self.chunksize,
                    max_request_concurrency=self.max_workers,
                )
                self._tm = TransferManager(self.client, cfg)
            return self._tm

    def close(self) -> None:
        """Shut the transfer manager down."""
        with self._tm_lock:
            if self._tm is not None:
                self._tm.shutdown()
                self._tm = None

    def _try_lean(self, action: str, bucket: str, key: str, call: Callable[[LeanClient], T]) -> Any:
        """Run ``call`` on the lean client; ``_FALLBACK`` means "repeat it through botocore"."""
        lean = self.lean
        if lean is None:
            return _FALLBACK
        try:
            return call(lean)
        except LeanCancelled:
            raise TransferCancelledError(f"{action} s3://{bucket}/{key}: cancelled") from None
        except LeanExhausted as exc:
            # The cause users see is the network's (a timeout, a reset), not the lean client's.
            raise SyncError(redact_url(str(exc))) from _root_cause(exc)
        except LeanFallback as exc:
            log.debug("%s s3://%s/%s: %s; repeating through botocore", action, bucket, key, exc)
            return _FALLBACK
        except OSError as exc:
            raise self._translate(exc, bucket, key, action) from exc

    # -- listing -------------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str) -> Iterator[RemoteObject]:
        """Every object under ``prefix``: one paginated ListObjectsV2, no recursion, no HEAD."""
        found = self._try_lean(
            "list",
            bucket,
            prefix,
            # Collected whole so a fallback half-way never yields a key twice.
            lambda lean: [
                RemoteObject(o.key, o.size, o.etag, o.last_modified)
                for o in lean.list_objects(bucket, prefix)
            ],
        )
        if found is not _FALLBACK:
            yield from found
            return
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                self._check_page(page, bucket, prefix)
                for c in page.get("Contents", ()):
                    lm = c.get("LastModified")
                    yield RemoteObject(
                        key=c["Key"],
                        size=int(c.get("Size", 0)),
                        etag=normalize_etag(c.get("ETag")),
                        last_modified=lm.isoformat() if lm is not None else None,
                    )
        except Exception as exc:
            raise self._list_error(exc, bucket, prefix) from exc

    def _check_page(self, page: Mapping[str, Any], bucket: str, prefix: str) -> None:
        """Refuse a botocore listing page that cannot be what it claims (see lean.parse_list)."""
        where = f"list s3://{bucket}/{prefix}: the answer of {self._where()}"
        if "IsTruncated" not in page and "KeyCount" not in page and "Name" not in page:
            # A well-formed but foreign document (an HTML page) parses to nothing.
            raise BadResponseError(f"{where} is not an S3 listing")
        parsed = len(page.get("Contents", ())) + len(page.get("CommonPrefixes", ()))
        parsed += len(page.get("Versions", ())) + len(page.get("DeleteMarkers", ()))
        key_count = int(page.get("KeyCount") or 0)
        if parsed == 0 and (key_count > 0 or page.get("IsTruncated")):
            claim = f"KeyCount {key_count}" if key_count > 0 else "IsTruncated true"
            raise BadResponseError(
                f"{where} is not a listing s3lync can read: it says {claim} but holds no "
                "<Contents> or <CommonPrefixes> it could parse"
            )

    def _list_error(self, exc: BaseException, bucket: str, prefix: str) -> S3lyncError:
        """A listing failure as s3lync's error; a repeated continuation token is a bad answer."""
        if type(exc).__name__ == "PaginationError":
            # botocore's paginator: "The same next token was received twice".
            return BadResponseError(
                f"list s3://{bucket}/{prefix}: the answer of {self._where()} repeats its "
                f"continuation token, so the listing never ends ({exc})"
            )
        err: S3lyncError = self._translate(exc, bucket, prefix or None, "list")
        return err

    def head(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        part_number: int | None = None,
    ) -> ObjectInfo:
        """HEAD one object (or one version), or with ``part_number`` one part of it (its size
        and the part count). Checksum mode is on, so the answer carries any S3 checksum.
        """
        got = self._try_lean(
            "head",
            bucket,
            key,
            lambda lean: lean.head(bucket, key, version_id=version_id, part_number=part_number),
        )
        if got is None:
            raise RemoteNotFoundError(f"head {s3_label(bucket, key)}: no such key")
        if got is not _FALLBACK:
            return ObjectInfo(
                etag=got.etag,
                size=got.size,
                metadata_md5=md5_from_metadata(got.metadata),
                metadata=got.metadata,
                headers=got.headers,
            )
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if part_number is not None:
            args["PartNumber"] = part_number
        try:
            resp = self.client.head_object(**args, **_version(version_id))
        except Exception as exc:
            raise self._translate(exc, bucket, key, "head") from exc
        return _info(resp)

    def head_or_none(self, bucket: str, key: str) -> ObjectInfo | None:
        """``head``, or None when there is no such key."""
        try:
            return self.head(bucket, key)
        except RemoteNotFoundError:
            return None

    def part_sizes(self, bucket: str, key: str, parts: int) -> list[int] | None:
        """Every part's size, one ``HEAD ?partNumber=N`` each (only to confirm a mismatch).

        None when the store does not answer per part (it ignores ``partNumber``).
        """
        sizes = []
        for n in range(1, parts + 1):
            info = self.head(bucket, key, part_number=n)
            if info.parts_count != parts:
                return None
            sizes.append(info.size)
        return sizes

    def bucket_exists(self, bucket: str) -> None:
        """Raise RemoteNotFoundError/SyncError unless the bucket is reachable."""
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception as exc:
            err = self._translate(exc, bucket, None, "open bucket")
            if _error_code(exc) in ("404", "NotFound", "NoSuchBucket") or _http_status(exc) == 404:
                err = RemoteNotFoundError(
                    f"open bucket s3://{bucket}: bucket '{bucket}' does not exist"
                )
            raise err from exc

    # -- transfers -----------------------------------------------------------------------

    def download(
        self,
        bucket: str,
        key: str,
        dest: str,
        size: int,
        cancel: threading.Event | None = None,
        *,
        ranged: bool = True,
        version_id: str | None = None,
        if_match: str | None = None,
        on_bytes: OnBytes | None = None,
    ) -> DownloadResult:
        """Fetch one object (or, with ``version_id``, that version) into ``dest``, hashed while streaming.

        A large object goes by concurrent ranged GETs (hashed in a pass afterwards) when
        ``ranged``; otherwise it streams in one GET like a small one. The executor picks streams
        when several large files move at once: they already keep the connections busy, and
        hashing inline saves re-reading every byte. ``if_match`` (the listed ETag) makes every
        request conditional: an object replaced meanwhile fails instead of mixing versions.
        ``on_bytes`` hears the bytes as they arrive, on every path (taken back on a failure).
        """
        meter = Meter(on_bytes)
        if size >= self.threshold and ranged:
            return self._download_multipart(
                bucket, key, dest, size, version_id, if_match, cancel, meter
            )
        res = self._download_streamed(bucket, key, dest, cancel, version_id, if_match, meter)
        served, listed = res.info.etag, normalize_etag(if_match)
        if listed and served and served != listed:
            # A store that ignores If-Match (rclone) served another version: whole, but not
            # the one planned.
            raise _changed(bucket, key, listed, served)
        return res

    def _download_streamed(
        self,
        bucket: str,
        key: str,
        dest: str,
        cancel: threading.Event | None,
        version_id: str | None,
        if_match: str | None,
        meter: Meter,
    ) -> DownloadResult:
        got = self._try_lean(
            "download",
            bucket,
            key,
            lambda lean: lean.get_to_file(
                bucket,
                key,
                dest,
                cancel,
                version_id=version_id,
                if_match=if_match,
                on_bytes=meter.on_bytes,
            ),
        )
        if got is not _FALLBACK:
            info = ObjectInfo(
                etag=got.etag,
                size=got.size,
                metadata_md5=md5_from_metadata(got.metadata),
                metadata=got.metadata,
                headers=got.headers,
            )
            return DownloadResult(info=info, digest=Digest(size=got.size, md5=got.md5))
        from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS

        attempts = self.settings.attempts()
        for attempt in range(1, attempts + 1):
            # Each attempt's bytes are reported as they arrive and taken back if it fails.
            tried = Meter(meter.on_bytes)
            try:
                return self._get_streamed(bucket, key, dest, cancel, version_id, if_match, tried)
            except TransferCancelledError:
                tried.unwind()
                raise
            except S3_RETRYABLE_DOWNLOAD_ERRORS as exc:
                tried.unwind()
                # botocore retries the request, not the body read that follows it; a reset or
                # stall mid-body lands here, so the whole GET is retried like s3transfer does.
                if attempt == attempts:
                    raise self._translate(exc, bucket, key, "download") from exc
                log.debug("retrying s3://%s/%s after %s (attempt %d)", bucket, key, exc, attempt)
                time.sleep(retry.backoff_delay(attempt))
            except Exception as exc:
                tried.unwind()
                raise self._translate(exc, bucket, key, "download") from exc
        raise AssertionError("unreachable")

    def _get_streamed(
        self,
        bucket: str,
        key: str,
        dest: str,
        cancel: threading.Event | None,
        version_id: str | None,
        if_match: str | None,
        meter: Meter,
    ) -> DownloadResult:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if if_match:
            args["IfMatch"] = f'"{if_match}"'
        resp = self.client.get_object(**args, **_version(version_id))
        md5 = hashlib.md5()
        written = 0
        body = resp["Body"]
        with open(dest, "wb") as f:
            while True:
                if cancel is not None and cancel.is_set():
                    raise TransferCancelledError(f"download s3://{bucket}/{key}: cancelled")
                chunk = body.read(_CHUNK)
                if not chunk:
                    break
                md5.update(chunk)
                f.write(chunk)
                written += len(chunk)
                meter.add(len(chunk))
        return DownloadResult(info=_info(resp), digest=Digest(size=written, md5=md5.hexdigest()))

    def _download_multipart(
        self,
        bucket: str,
        key: str,
        dest: str,
        size: int,
        version_id: str | None = None,
        if_match: str | None = None,
        cancel: threading.Event | None = None,
        meter: Meter | None = None,
    ) -> DownloadResult:
        meter = meter or Meter(None)
        # One HEAD per large object gives the ETag, checksums and md5chksum to verify against.
        info = self.head(bucket, key, version_id)
        if if_match and info.etag and info.etag != normalize_etag(if_match):
            raise _changed(bucket, key, if_match, info.etag)
        try:
            # A seekable target: s3transfer writes ranges as they arrive. (Its in-order path for
            # non-seekable targets shares one 10-chunk window across all transfers and
            # deadlocks with several large downloads at once.) Hashing is a pass afterwards.
            # The ETag handed over makes every ranged GET carry If-Match: no spliced versions.
            # An open file, not a name: given a name, s3transfer writes a temporary of its own
            # beside it, which s3lync has not registered (see tempreg).
            with open(dest, "wb") as f:
                fut = self._manager().download(
                    bucket,
                    key,
                    f,
                    extra_args=_version(version_id) or None,
                    subscribers=[_SizeProvider(info.size, info.etag, meter)],
                )
                _wait_or_cancel(fut, cancel)
        except TransferCancelledError:
            meter.unwind()
            raise
        except Exception as exc:
            meter.unwind()
            raise self._translate(exc, bucket, key, "download") from exc
        return DownloadResult(
            info=info, digest=digest_file(dest, needed_part_sizes(info.size, info.etag))
        )

    def multipart_part_size(self, size: int, ranged: bool = True) -> int | None:
        """The part size ``upload`` will cut this file at on the lean path (None: one PUT)."""
        if size < self.threshold or (not ranged and size <= _SINGLE_PUT_MAX):
            return None
        # s3transfer's rule too: parts of at least chunksize, and never more than 10 000.
        return max(self.chunksize, -(-size // _MAX_PARTS))

    def upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        md5_hex: str,
        body: bytes | None = None,
        *,
        ranged: bool = True,
        cancel: threading.Event | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        extra_args: Mapping[str, str] | None = None,
        on_bytes: OnBytes | None = None,
    ) -> UploadResult:
        """Upload one file (or its already-read ``body``) with ``md5chksum`` metadata.

        ``extra_args`` (ServerSideEncryption, StorageClass, ACL, ContentType...; see
        settings.UPLOAD_ARGS) go over the settings' own; ContentType is guessed when not given.

        A large file goes up in concurrent parts when ``ranged`` (one large file); when several
        move at once, each up to 512 MiB is one streamed PUT, larger ones go part after part.
        ``if_match`` (an ETag) makes single PUTs conditional: a store that honours it refuses to
        overwrite an object another writer replaced (:class:`PlanStaleError`). Multipart uploads
        go without it (moto ignores it on CompleteMultipartUpload); the caller's HEAD covers them.
        ``if_none_match`` sends ``If-None-Match: *`` on a single-request PUT, so a store that
        supports it (AWS, moto) refuses to overwrite an existing key (PreconditionFailed).
        The result says how the object was cut, so its ETag is checked at that layout.
        ``on_bytes`` hears the bytes as they are sent, on every path (taken back on a failure).
        The store's acceptance of our Content-MD5 counts as evidence only where the store is
        known to check it (AWS's endpoints): some S3-compatible stores accept a wrong one.
        """
        meter = Meter(on_bytes)
        try:
            result = self._upload(
                path,
                bucket,
                key,
                size,
                md5_hex,
                body,
                ranged,
                cancel,
                if_match,
                if_none_match,
                extra_args,
                meter,
            )
        except BaseException:
            meter.unwind()
            raise
        if result.content_md5_checked and not self.checks_content_md5():
            result = replace(result, content_md5_checked=False)
        return result

    def checks_content_md5(self) -> bool:
        """True when the endpoint is AWS's, whose S3 refuses a body that fails its Content-MD5."""
        host = (urlsplit(self._where()).hostname or "").lower().rstrip(".")
        return host.endswith((".amazonaws.com", ".amazonaws.com.cn")) or host == "amazonaws.com"

    def _upload(
        self,
        path: str,
        bucket: str,
        key: str,
        size: int,
        md5_hex: str,
        body: bytes | None,
        ranged: bool,
        cancel: threading.Event | None,
        if_match: str | None,
        if_none_match: bool,
        extra_args: Mapping[str, str] | None,
        meter: Meter,
    ) -> UploadResult:
        b64 = md5_to_metadata(md5_hex)
        args, user_meta, headers = upload_arguments(
            {**dict(self.settings.extra_args), **(extra_args or {})}
        )
        # The user's metadata goes along; s3lync's own md5chksum is always ours.
        meta = {**user_meta, "md5chksum": b64}
        ctype = args.pop("ContentType", None) or guess_content_type(path or key)
        # The lean path sends the same arguments as headers (content-type travels on its own).
        headers.pop("content-type", None)
        extra = {**args, **({"ContentType": ctype} if ctype else {})}
        if size >= self.threshold:
            if not ranged and size <= _SINGLE_PUT_MAX:
                # Several large files at once: one streamed PUT each keeps every connection
                # busy, Content-MD5 guards it whole, and the stored ETag is the plain MD5, so
                # neither this check nor any later download needs part hashes.
                etag = self._try_lean(
                    "upload",
                    bucket,
                    key,
                    lambda lean: lean.put_file(
                        bucket,
                        key,
                        path,
                        b64,
                        size,
                        if_match=if_match,
                        content_type=ctype,
                        extra_headers=headers,
                        on_bytes=meter.on_bytes,
                    ),
                )
                if etag is not _FALLBACK:
                    return UploadResult(self._stored(bucket, key, size), content_md5_checked=True)
            else:
                part = self.multipart_part_size(size, ranged) or self.chunksize
                etag = self._try_lean(
                    "upload",
                    bucket,
                    key,
                    lambda lean: lean_multipart.put_multipart(
                        lean,
                        bucket,
                        key,
                        path,
                        size,
                        b64,
                        part,
                        concurrency=self.max_workers if ranged else 1,
                        cancel=cancel,
                        content_type=ctype,
                        extra_headers=headers,
                        on_bytes=meter.on_bytes,
                    ),
                )
                if etag is not _FALLBACK:
                    # Every part's Content-MD5 was accepted: the store checked each one.
                    return UploadResult(
                        self._stored(bucket, key, size), part_size=part, content_md5_checked=True
                    )
            if if_match:
                # s3transfer takes no If-Match, and the lean refusal may have been a 412: look
                # again before writing unconditionally.
                now = self.head_or_none(bucket, key)
                if now is not None and now.etag != if_match:
                    raise PlanStaleError.target_changed(
                        "update", f"s3://{bucket}/{key}", "the remote object was replaced"
                    )
            if args.get("ServerSideEncryption", "").startswith("aws:kms") and size <= _PUT_MAX:
                # An SSE-KMS ETag is no MD5 and s3transfer sends parts without Content-MD5: one
                # streamed PUT with Content-MD5 is the upload the store itself checks.
                try:
                    f = open(path, "rb")  # noqa: SIM115 - closed below, after the PUT
                except OSError as exc:
                    raise translate(exc, bucket, key, "upload") from exc
                with f:
                    return self._put_object(
                        bucket, key, f, b64, meta, md5_hex, size, extra, if_match, False, meter
                    )
            # The store refused the lean request: botocore repeats it once, in its own words.
            from s3transfer.utils import ChunksizeAdjuster

            part = ChunksizeAdjuster().adjust_chunksize(self.chunksize, size)
            try:
                fut = self._manager().upload(
                    path,
                    bucket,
                    key,
                    extra_args={"Metadata": meta, **extra},
                    subscribers=[_Progress(meter)],
                )
                fut.result()
            except Exception as exc:
                err = self._translate(exc, bucket, key, "upload")
                # botocore retries a Complete whose answer was lost, and the store, having
                # completed it, answers NoSuchUpload: the object may be there, whole and ours.
                if _error_code(exc) == "NoSuchUpload":
                    landed = self.head_or_none(bucket, key)
                    if landed is not None and is_our_upload(
                        landed.size, landed.metadata_md5, size, md5_hex
                    ):
                        return UploadResult(landed, part_size=part if size >= part else None)
                raise err from exc
            # s3transfer cuts at the adjusted chunk size, or sends one PUT below the threshold.
            return UploadResult(self.head(bucket, key), part_size=part)
        if body is None:
            try:
                with open(path, "rb") as f:
                    body = f.read()
            except OSError as exc:
                raise translate(exc, bucket, key, "upload") from exc
        sent = body
        etag = self._try_lean(
            "upload",
            bucket,
            key,
            lambda lean: lean.put_file(
                bucket,
                key,
                sent,
                b64,
                if_match=if_match,
                content_type=ctype,
                if_none_match=if_none_match,
                extra_headers=headers,
                on_bytes=meter.on_bytes,
            ),
        )
        if etag is not _FALLBACK:
            assert self.lean is not None
            return UploadResult(
                ObjectInfo(
                    etag=etag,
                    size=size,
                    metadata_md5=md5_hex,
                    metadata=meta,
                    headers=self.lean.put_headers(),
                ),
                content_md5_checked=True,
            )
        return self._put_object(
            bucket, key, body, b64, meta, md5_hex, size, extra, if_match, if_none_match, meter
        )

    def _put_object(
        self,
        bucket: str,
        key: str,
        body: Any,
        b64: str,
        meta: dict[str, str],
        md5_hex: str,
        size: int,
        extra: dict[str, str],
        if_match: str | None,
        if_none_match: bool,
        meter: Meter,
    ) -> UploadResult:
        """One botocore PUT with Content-MD5 (``body``: bytes or an open file of ``size`` bytes)."""
        if not isinstance(body, bytes) and meter.on_bytes is not None:
            # botocore seeks back before a retry; the reader then takes those bytes back.
            body = MeteredReader(body, meter)
        try:
            # Content-MD5 makes the server refuse a body damaged in flight.
            resp = self.client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentMD5=b64,
                Metadata=meta,
                ContentLength=len(body) if isinstance(body, bytes) else size,
                **({"IfMatch": f'"{if_match}"'} if if_match else {}),
                **extra,
                **({"IfNoneMatch": "*"} if if_none_match else {}),
            )
        except Exception as exc:
            if if_match and _error_code(exc) == "PreconditionFailed":
                raise PlanStaleError.target_changed(
                    "update", f"s3://{bucket}/{key}", "the remote object was replaced (If-Match)"
                ) from exc
            raise self._translate(exc, bucket, key, "upload") from exc
        if not resp.get("ETag"):
            raise BadResponseError(
                f"upload s3://{bucket}/{key}: {self._where()} answered without an ETag, so "
                "nothing proves the object was stored (is the endpoint an S3 service?)"
            )
        if isinstance(body, bytes):
            meter.add(len(body))  # a small body goes in one write
        return UploadResult(
            ObjectInfo(
                etag=normalize_etag(resp.get("ETag")),
                size=size,
                metadata_md5=md5_hex,
                metadata=meta,
                headers=_info(resp).headers,
            ),
            content_md5_checked=True,
        )

    def _stored(self, bucket: str, key: str, size: int) -> ObjectInfo:
        """HEAD a large object just uploaded: its size, and the ETag later listings will show.

        One request per large file buys a read-back of what the store kept (some compatible
        stores answer CompleteMultipartUpload with an ETag their listings do not repeat), and
        the hash cache then records the ETag the next plan compares against.
        """
        info = self.head(bucket, key)
        if info.size != size:
            raise SyncError(
                f"upload s3://{bucket}/{key}: the store kept {info.size} bytes of {size}"
            )
        return info

    def delete_many(
        self, bucket: str, keys: list[str], etags: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Delete keys in batches of 1000; returns {key: error} for the ones that failed.

        A key with an entry in ``etags`` is deleted only if its ETag still matches, on stores
        that honour DeleteObjects' per-object ``ETag`` (AWS); moto and rclone ignore it.
        DeleteObjects carries ``Content-MD5`` (MinIO-family stores refuse it without); a store
        that answers ``NotImplemented`` gets one DeleteObject per key. Then one listing checks
        that what the store said it deleted is gone: a key still listed is reported as failed.
        """
        failed: dict[str, str] = {}
        etags = etags or {}
        per_key = False
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = keys[i : i + _DELETE_BATCH]
            if not per_key:
                try:
                    failed.update(self._delete_batch(bucket, batch, etags))
                    continue
                except _NotImplementedError:
                    log.info(
                        "%s does not implement DeleteObjects; deleting one key at a time",
                        self._where(),
                    )
                    per_key = True
            for k in batch:
                msg = self._delete_one(bucket, k, etags.get(k))
                if msg:
                    failed[k] = msg
        left = self._still_there(bucket, [k for k in keys if k not in failed])
        if left and not per_key and all(not isinstance(v, _ListingFailed) for v in left.values()):
            # Some stores answer DeleteObjects for a "dir/" key and keep it (the JuiceFS
            # gateway); DeleteObject removes it. Once more, key by key, then look again.
            log.debug(
                "%d key(s) still listed after DeleteObjects; deleting them one by one", len(left)
            )
            for k in list(left):
                msg = self._delete_one(bucket, k, etags.get(k))
                if msg:
                    failed[k] = msg
                    del left[k]
            left = self._still_there(bucket, list(left))
        failed.update({k: str(v) for k, v in left.items()})
        return failed

    def _delete_batch(
        self, bucket: str, batch: list[str], etags: Mapping[str, str]
    ) -> dict[str, str]:
        """One DeleteObjects with Content-MD5: {key: error}; _NotImplementedError if refused so."""
        failed: dict[str, str] = {}
        objects = [
            {"Key": k, "ETag": f'"{etags[k]}"'} if etags.get(k) else {"Key": k} for k in batch
        ]
        client = self.client
        _add_delete_md5_handler(client)
        _DELETE_MD5.active = True
        try:
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        except Exception as exc:
            if _error_code(exc) == "NotImplemented" or _http_status(exc) == 501:
                raise _NotImplementedError from exc
            err = self._translate(exc, bucket, batch[0] if len(batch) == 1 else None, "delete")
            return dict.fromkeys(batch, str(err))
        finally:
            _DELETE_MD5.active = False
        for e in resp.get("Errors", ()):
            key = e.get("Key", "?")
            if e.get("Code") == "PreconditionFailed":
                failed[key] = str(
                    PlanStaleError.target_changed(
                        "delete", f"s3://{bucket}/{key}", "the remote object was replaced"
                    )
                )
                continue
            failed[key] = f"{e.get('Code')}: {e.get('Message', '')}".strip()
        return failed

    def _delete_one(self, bucket: str, key: str, etag: str | None) -> str | None:
        """One DeleteObject (conditional on ``etag`` where the store honours it); the error or None."""
        try:
            self.client.delete_object(
                Bucket=bucket, Key=key, **({"IfMatch": f'"{etag}"'} if etag else {})
            )
        except Exception as exc:
            if etag and _error_code(exc) == "PreconditionFailed":
                return str(
                    PlanStaleError.target_changed(
                        "delete", f"s3://{bucket}/{key}", "the remote object was replaced"
                    )
                )
            return str(self._translate(exc, bucket, key, "delete"))
        return None

    def _still_there(self, bucket: str, deleted: list[str]) -> dict[str, str]:
        """{key: why} for keys the store said it deleted that one listing still shows."""
        if not deleted:
            return {}
        prefix = _common_prefix(deleted)
        if prefix in deleted:
            # A store over a file system lists "dir/" under its parent, not under itself.
            prefix = prefix[: prefix.rstrip("/").rfind("/") + 1]
        wanted = set(deleted)
        try:
            left = [o.key for o in self.list_objects(bucket, prefix) if o.key in wanted]
        except S3lyncError as exc:
            why = _ListingFailed(f"deleted, but checking that it is gone failed: {exc}")
            return dict.fromkeys(deleted, why)
        if left:
            log.debug("%d deleted key(s) still listed, e.g. %s", len(left), left[0])
        return {
            k: f"delete s3://{bucket}/{k}: the store ({self._where()}) answered that it was "
            "deleted, but it is still listed"
            for k in left
        }

    # -- versions and checksums (s3lync.lock) --------------------------------------------

    def is_versioned(self, bucket: str) -> bool:
        """True when the bucket keeps versions (versioning Enabled, or Suspended with old ones).

        A store without the versioning API (rclone) answers with an error: that is "unversioned".
        """
        try:
            resp = self.client.get_bucket_versioning(Bucket=bucket)
        except Exception as exc:
            err = translate(exc, bucket, None, "get versioning")
            if _error_code(exc) in ("AccessDenied", "NoSuchBucket"):
                raise err from exc
            log.debug("s3://%s: no versioning API (%s); treated as unversioned", bucket, exc)
            return False
        return resp.get("Status") in ("Enabled", "Suspended")

    def list_for_lock(self, bucket: str, prefix: str, versioned: bool) -> Iterator[LockListing]:
        """Every current object under ``prefix`` with its checksum algorithm (and version id)."""
        try:
            if not versioned:
                for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix
                ):
                    self._check_page(page, bucket, prefix)
                    for c in page.get("Contents", ()):
                        yield LockListing(
                            key=c["Key"],
                            size=int(c.get("Size", 0)),
                            etag=normalize_etag(c.get("ETag")),
                            checksum_algorithm=_first(c.get("ChecksumAlgorithm")),
                        )
                return
            # Only the latest version of each key that is not deleted (a delete marker on top).
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                self._check_page(page, bucket, prefix)
                for v in page.get("Versions", ()):
                    if v.get("IsLatest"):
                        yield LockListing(
                            key=v["Key"],
                            size=int(v.get("Size", 0)),
                            etag=normalize_etag(v.get("ETag")),
                            checksum_algorithm=_first(v.get("ChecksumAlgorithm")),
                            version_id=v.get("VersionId"),
                        )
        except Exception as exc:
            raise self._list_error(exc, bucket, prefix) from exc

    def checksum(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
        """The object's S3 additional checksums ({algorithm: base64 value}), from one HEAD."""
        try:
            resp = self.client.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED", **_version(version_id)
            )
        except Exception as exc:
            raise translate(exc, bucket, key, "head") from exc
        out = {}
        for algo in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
            value = resp.get(f"Checksum{algo}")
            if value:
                out[algo] = str(value)
        return out


def _common_prefix(keys: list[str]) -> str:
    """The longest string every key starts with (character by character, as S3 prefixes are)."""
    first, last = min(keys), max(keys)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


class _ListingFailed(str):
    """Why a deletion could not be checked (the listing after it failed)."""


class _NotImplementedError(Exception):
    """The store answered DeleteObjects with NotImplemented (501)."""


# Set around s3lync's own DeleteObjects calls, so the handler below changes nothing else a
# caller's client (``client=``) sends.
_DELETE_MD5 = threading.local()
_DELETE_MD5_HANDLER = "s3lync-delete-objects-content-md5"


def _add_delete_md5_handler(client: Any) -> None:
    """Make ``client`` send Content-MD5 with s3lync's DeleteObjects (registered once per client).

    botocore sends DeleteObjects with a CRC32 only (it requires a checksum and picks its
    default), and MinIO-family stores refuse that: ``400 MissingContentMD5``.
    """
    client.meta.events.register(
        "before-sign.s3.DeleteObjects", _content_md5, unique_id=_DELETE_MD5_HANDLER
    )


def _content_md5(request: Any, **kwargs: Any) -> None:
    if not getattr(_DELETE_MD5, "active", False) or "Content-MD5" in request.headers:
        return
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        digest = hashlib.md5(body).digest()
        request.headers["Content-MD5"] = base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class LockListing:
    """One current object as ``s3lync lock`` records it."""

    key: str
    size: int
    etag: str | None
    checksum_algorithm: str | None = None
    version_id: str | None = None


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value else None


def _wait_or_cancel(fut: Any, cancel: threading.Event | None) -> None:
    """Wait for an s3transfer future; when ``cancel`` is set, cancel it (s3transfer then removes
    its own temporary) and raise TransferCancelledError."""
    if cancel is None:
        fut.result()
        return
    while not fut.done():
        if cancel.wait(0.1):
            fut.cancel()
            with contextlib.suppress(Exception):
                fut.result()
            args = fut.meta.call_args
            raise TransferCancelledError(f"download s3://{args.bucket}/{args.key}: cancelled")
    fut.result()


class _SizeProvider:
    """An s3transfer subscriber that hands over the size (and ETag) we know, so it skips its own
    HEAD and sends If-Match with every ranged GET."""

    def __init__(self, size: int, etag: str | None = None, meter: Meter | None = None) -> None:
        self.size = size
        self.etag = etag
        self.meter = meter

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self.size)
        if self.etag and hasattr(future.meta, "provide_object_etag"):
            future.meta.provide_object_etag(f'"{self.etag}"')

    def on_progress(self, bytes_transferred: int = 0, **kwargs: Any) -> None:
        """Hand the bytes on (negative ones too: s3transfer takes back a retried range's)."""
        if self.meter is not None:
            self.meter.add(bytes_transferred)

    def on_done(self, **kwargs: Any) -> None:
        """Unused."""


class _Progress(_SizeProvider):
    """An s3transfer subscriber that only reports bytes (uploads: s3transfer stats the file)."""

    def __init__(self, meter: Meter) -> None:
        super().__init__(0, None, meter)

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        """Unused."""


def _response(exc: BaseException) -> dict[str, Any]:
    """The parsed answer of a botocore ClientError ({} for any other error)."""
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ClientError, else None."""
    code = _response(exc).get("Error", {}).get("Code")
    return str(code) if code else None


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore ClientError, else None."""
    status = _response(exc).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def _root_cause(exc: BaseException) -> BaseException | None:
    """The network error under a lean failure (a timeout, a reset), else the failure's cause."""
    cause = exc.__cause__
    if isinstance(cause, WireError) and cause.cause is not None:
        return cause.cause
    return cause


def _is_client_error(exc: BaseException) -> bool:
    return hasattr(exc, "response") and isinstance(getattr(exc, "response", None), dict)


def _info(resp: dict[str, Any]) -> ObjectInfo:
    metadata = {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()}
    raw = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    headers = {n: str(raw[n]) for n in EVIDENCE_HEADERS if n in raw}
    return ObjectInfo(
        etag=normalize_etag(resp.get("ETag")),
        size=int(resp.get("ContentLength", 0)),
        metadata_md5=md5_from_metadata(metadata),
        metadata=metadata,
        headers=headers,
    )


def _changed(bucket: str, key: str, listed: str, now: str) -> SyncError:
    """The object is not the version that was listed (If-Match failed, or was ignored)."""
    return SyncError(
        f"download s3://{bucket}/{key}: the object changed since it was listed "
        f"(ETag {listed} is now {now}); run again"
    )
