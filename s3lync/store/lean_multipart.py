"""Multipart upload over the lean client: create, parts (concurrent or in order), complete, abort.

Each part carries its own Content-MD5, so the store refuses a part damaged in flight. Memory is
bounded by ``concurrency x part_size``: a part is read from disk (pread) only when a worker is
ready to send it, and dropped once its answer is in. Any failure aborts the upload so no orphaned
parts are billed; a refusal the lean client does not handle raises
:class:`~s3lync.store.lean.LeanFallback` and the whole upload is repeated through botocore.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any, BinaryIO, cast

from s3lync.hashing import is_our_upload, md5_from_metadata, normalize_etag
from s3lync.store import retry
from s3lync.store.lean import (
    EMPTY_SHA256,
    LeanCancelled,
    LeanClient,
    LeanExhausted,
    LeanFallback,
    LeanRetryable,
    error_code,
    root_tag,
    xml_escape,
    xml_text,
)
from s3lync.store.objects import Meter, MeteredReader, OnBytes

log = logging.getLogger(__name__)


def put_multipart(
    client: LeanClient,
    bucket: str,
    key: str,
    path: str,
    size: int,
    md5_b64: str,
    part_size: int,
    *,
    concurrency: int = 1,
    cancel: threading.Event | None = None,
    content_type: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    on_bytes: OnBytes | None = None,
) -> str | None:
    """Upload a large file in parts (md5chksum metadata on the create); returns its ETag.

    Parts are read with pread and sent with their Content-MD5 and an UNSIGNED-PAYLOAD signature:
    the MD5 makes the store refuse damaged bytes, and a SHA-256 of every byte as well would
    double the CPU per byte. At most ``concurrency`` parts are in memory at once.
    ``on_bytes`` hears each part's bytes as they are sent; all are taken back if the upload fails.
    """
    meter = Meter(on_bytes)
    where = f"s3://{bucket}/{key}"
    upload_id: str = client.with_retries(
        f"upload {where}",
        functools.partial(_create, client, bucket, key, md5_b64, content_type, extra_headers),
        # A create whose answer was lost may have opened an upload we hold no id of: abort it
        # before opening another, or it stays open (and billed) forever.
        reconcile=functools.partial(_abort_unknown, client, bucket, key),
    )
    try:
        offsets = list(range(0, size, part_size)) or [0]
        fd = os.open(path, os.O_RDONLY)
        try:

            def one(number: int) -> str:
                # A part slot bounds the parts held in memory across the whole process.
                with client.transport.scheduler.part():
                    if cancel is not None and cancel.is_set():
                        raise LeanCancelled(key)
                    offset = offsets[number - 1]
                    body = os.pread(fd, min(part_size, size - offset), offset)
                    # hashlib releases the GIL on large buffers, so parts hash in parallel.
                    part_md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
                    return str(
                        client.with_retries(
                            f"upload {where} (part {number} of {len(offsets)})",
                            functools.partial(
                                _upload_part,
                                client,
                                bucket,
                                key,
                                upload_id,
                                number,
                                body,
                                part_md5,
                                meter,
                            ),
                        )
                    )

            numbers = range(1, len(offsets) + 1)
            if concurrency > 1 and len(offsets) > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(min(concurrency, len(offsets))) as parts:
                    etags = list(parts.map(one, numbers))
            else:
                etags = [one(n) for n in numbers]
        finally:
            os.close(fd)
        if os.stat(path).st_size != size:
            # Final: repeating it through botocore would store bytes the MD5 does not match.
            raise LeanExhausted(f"upload {where}: {path} changed size while being uploaded")
        md5_hex = _b64_to_hex(md5_b64)

        def landed_or_resend() -> Any:
            # A complete whose answer was lost may have completed: the object then holds our size
            # and md5chksum, and sending it again would only be refused (NoSuchUpload).
            now = client.head(bucket, key)
            if now is not None and is_our_upload(
                now.size, md5_from_metadata(now.metadata), size, md5_hex
            ):
                return now.etag
            return retry.RESEND

        try:
            result: str | None = client.with_retries(
                f"upload {where} (complete)",
                functools.partial(_complete, client, bucket, key, upload_id, etags),
                reconcile=landed_or_resend,
            )
        except LeanFallback as exc:
            # A Complete whose answer was lost did complete; its retry then finds the upload
            # gone. If the object now holds our size and MD5 metadata, it is ours (the
            # executor still verifies the ETag); otherwise the refusal stands.
            landed = client.head(bucket, key) if exc.code == "NoSuchUpload" else None
            if landed is None or not is_our_upload(
                landed.size, md5_from_metadata(landed.metadata), size, md5_hex
            ):
                raise
            return landed.etag
        return result
    except BaseException:
        meter.unwind()
        _abort(client, bucket, key, upload_id)
        raise


def _create(
    client: LeanClient,
    bucket: str,
    key: str,
    md5_b64: str,
    content_type: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> str:
    headers = {"x-amz-meta-md5chksum": md5_b64, "content-length": "0"}
    if content_type:
        headers["content-type"] = content_type  # S3 takes the object's type from the create
    # Encryption, storage class, ACL: S3 takes them from the create too.
    headers.update(extra_headers or {})
    resp = client.request(
        "POST",
        bucket,
        key,
        {"uploads": ""},
        headers,
        b"",
        EMPTY_SHA256,
    )
    try:
        data = resp.read()
    finally:
        resp.release()
    upload_id = xml_text(data, "UploadId")
    if not upload_id:
        raise LeanFallback("CreateMultipartUpload answered without an UploadId")
    return upload_id


def _upload_part(
    client: LeanClient,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    body: bytes,
    md5_b64: str,
    meter: Meter,
) -> str:
    # This attempt's bytes: reported to the upload's meter as they are sent, taken back if the
    # attempt fails.
    sent = Meter(meter.add if meter.on_bytes is not None else None)
    try:
        return _send_part(client, bucket, key, upload_id, number, body, md5_b64, sent)
    except BaseException:
        sent.unwind()
        raise


def _send_part(
    client: LeanClient,
    bucket: str,
    key: str,
    upload_id: str,
    number: int,
    body: bytes,
    md5_b64: str,
    sent: Meter,
) -> str:
    query = {"partNumber": str(number), "uploadId": upload_id}
    headers = {
        "content-length": str(len(body)),
        "content-md5": md5_b64,
    }
    data = body if sent.on_bytes is None else cast(BinaryIO, MeteredReader(io.BytesIO(body), sent))
    try:
        resp = client.request("PUT", bucket, key, query, headers, data, "UNSIGNED-PAYLOAD")
    except LeanFallback as exc:
        if exc.code == "BadDigest":
            # The part was damaged on the way: send it again from the bytes we hashed. Handing
            # it to s3transfer instead would resend it without any Content-MD5.
            raise LeanRetryable(f"part {number} arrived damaged (BadDigest)") from exc
        raise
    try:
        resp.read()
    finally:
        resp.release()
    etag = resp.header("etag")
    if not etag:
        raise LeanFallback(f"part {number} was answered without an ETag")
    return etag


def _complete(
    client: LeanClient, bucket: str, key: str, upload_id: str, etags: list[str]
) -> str | None:
    parts = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{xml_escape(e)}</ETag></Part>"
        for n, e in enumerate(etags, 1)
    )
    body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
    resp = client.request(
        "POST",
        bucket,
        key,
        {"uploadId": upload_id},
        {"content-length": str(len(body)), "content-type": "application/xml"},
        body,
        hashlib.sha256(body).hexdigest(),
    )
    try:
        data = resp.read()
    finally:
        resp.release()
    # S3 can answer 200 and still fail the completion: the error is in the body.
    if root_tag(data) == "Error":
        code = error_code(data) or "Error"
        if code in retry.RETRY_CODES:
            raise LeanRetryable(
                f"CompleteMultipartUpload {code}", throttled=code in retry.THROTTLING_CODES
            )
        raise LeanFallback(f"CompleteMultipartUpload {code}")
    etag = xml_text(data, "ETag") or resp.header("etag")
    return normalize_etag(etag)


def _abort(client: LeanClient, bucket: str, key: str, upload_id: str) -> None:
    try:
        resp = client.request(
            "DELETE", bucket, key, {"uploadId": upload_id}, {}, None, EMPTY_SHA256
        )
        try:
            resp.read()
        finally:
            resp.release()
    except Exception as exc:  # best effort: the original failure is what the user needs
        log.debug("abort of multipart upload s3://%s/%s failed: %s", bucket, key, exc)


def _abort_unknown(client: LeanClient, bucket: str, key: str) -> Any:
    """Abort the uploads of ``key`` a lost create answer may have opened; then resend it.

    Every open upload of exactly this key is aborted: the lost answer held the id, and neither
    the store's Initiated times (some stores give fixed ones) nor anything else tells s3lync's
    upload from another writer's of the same key, whose concurrent write is a lost update anyway.
    """
    for upload_id, _ in list_uploads(client, bucket, key):
        log.debug("aborting multipart upload %s of s3://%s/%s", upload_id, bucket, key)
        _abort(client, bucket, key, upload_id)
    return retry.RESEND


def list_uploads(client: LeanClient, bucket: str, key: str) -> list[tuple[str, float | None]]:
    """(upload id, initiated as a POSIX time) of every open multipart upload of ``key``."""
    out: list[tuple[str, float | None]] = []
    marker: dict[str, str] = {}
    while True:
        query = {"uploads": "", "prefix": key, **marker}
        data: bytes = client.with_retries(
            f"list uploads s3://{bucket}/{key}",
            functools.partial(_get_bytes, client, bucket, query),
        )
        root = ET.fromstring(data)
        for up in _each(root, "Upload"):
            if _text(up, "Key") == key and _text(up, "UploadId"):
                out.append((str(_text(up, "UploadId")), _posix(_text(up, "Initiated"))))
        if (_text(root, "IsTruncated") or "").lower() != "true":
            return out
        marker = {
            "key-marker": _text(root, "NextKeyMarker") or "",
            "upload-id-marker": _text(root, "NextUploadIdMarker") or "",
        }
        if not marker["key-marker"]:
            return out


def _get_bytes(client: LeanClient, bucket: str, query: dict[str, str]) -> bytes:
    resp = client.request("GET", bucket, "", query, {}, None, EMPTY_SHA256)
    try:
        return resp.read()
    finally:
        resp.release()


def _each(node: ET.Element, tag: str) -> list[ET.Element]:
    """Direct children named ``tag`` in any XML namespace (or none)."""
    return [c for c in node if c.tag.rsplit("}", 1)[-1] == tag]


def _text(node: ET.Element, tag: str) -> str | None:
    found = _each(node, tag)
    return found[0].text if found else None


def _posix(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _b64_to_hex(md5_b64: str) -> str:
    return base64.b64decode(md5_b64).hex()
