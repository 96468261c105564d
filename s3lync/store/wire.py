"""The narrow interface every store implementation offers, and what crosses it.

Two implementations, chosen once per store (clients.py): ``fast.FastWire`` signs and sends its own
requests over urllib3 (the default), ``boto.BotoWire`` goes through a botocore client (a caller's
``client=``, or while something like moto's ``mock_aws`` answers botocore's requests). Each call is
one request (or, for a GET, one streamed answer); nothing here retries: ``retry.RetryPolicy`` does,
for both. Both raise the same things: :class:`AnswerError` for an S3 error answer,
:class:`~s3lync.errors.WireError` for a network failure, :class:`~s3lync.errors.S3lyncError` for
anything already described (an answer that is not S3's, missing credentials).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, runtime_checkable

from s3lync.store import retry
from s3lync.store.objects import ObjectInfo
from s3lync.store.s3xml import Listed

# Called with each block of a GET's body as it arrives.
Sink = Callable[[bytes], None]


class AnswerError(Exception):
    """The store answered with an error: HTTP status, S3 error code (None if the body had none)."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str = "",
        *,
        content_type: str = "",
        method: str = "",
        where: str = "",
    ) -> None:
        super().__init__(
            f"HTTP {status} {code or ''}".strip() + (f" from {where}" if where else "")
        )
        self.status = status
        self.code = code
        self.message = message
        self.content_type = content_type.lower()

    @property
    def retryable(self) -> bool:
        """True when another attempt may succeed (5xx, throttling, request timeout)."""
        return retry.is_retryable(self.status, self.code)

    @property
    def throttled(self) -> bool:
        """True when the store asks to slow down."""
        return self.status in (429, 503) or self.code in retry.THROTTLING_CODES


class Cancelled(Exception):
    """The caller's cancel event was set mid-transfer."""


@dataclass(frozen=True)
class PutArgs:
    """What travels with an upload's body (or its create, for multipart).

    ``extra`` holds boto3's names for the upload arguments (upload_args.UPLOAD_ARGS); ``metadata``
    the user metadata (without the ``x-amz-meta-`` prefix).
    """

    content_md5: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    if_match: str | None = None
    if_none_match: bool = False


@dataclass(frozen=True)
class Stored:
    """A successful PUT or CompleteMultipartUpload: the ETag and the evidence headers."""

    etag: str | None
    headers: dict[str, str] = field(default_factory=dict)


class Wire(Protocol):
    """One S3 endpoint's requests, each sent once."""

    where: str

    def list_page(
        self, bucket: str, prefix: str, token: str | None, seen: set[str]
    ) -> tuple[list[Listed], str | None]:
        """One ListObjectsV2 page."""

    def list_versions_page(
        self, bucket: str, prefix: str, marker: tuple[str, str] | None, seen: set[str]
    ) -> tuple[list[Listed], tuple[str, str] | None]:
        """One ListObjectVersions page."""

    def head(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        part_number: int | None = None,
    ) -> ObjectInfo | None:
        """HEAD one object (checksum mode on); None when there is no such key."""

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
        """GET one object (or an inclusive byte range of it) into ``sink``; a short body fails."""

    def put(
        self, bucket: str, key: str, body: bytes | BinaryIO, size: int, args: PutArgs
    ) -> Stored:
        """PUT one object from bytes or a file positioned at its start."""

    def create_upload(self, bucket: str, key: str, args: PutArgs) -> str:
        """CreateMultipartUpload: the upload id."""

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
        """UploadPart with its Content-MD5: the part's ETag."""

    def complete_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> Stored:
        """CompleteMultipartUpload (an error inside a 200 answer is an AnswerError)."""

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """AbortMultipartUpload."""

    def list_uploads(self, bucket: str, key: str) -> list[str]:
        """The ids of every open multipart upload of exactly ``key``."""

    def delete_objects(
        self, bucket: str, objects: list[tuple[str, str | None]]
    ) -> list[tuple[str, str, str]]:
        """DeleteObjects with Content-MD5: the per-key errors [(key, code, message)]."""

    def delete_object(self, bucket: str, key: str, if_match: str | None) -> None:
        """DeleteObject (conditional on an ETag where the store honours it)."""

    def head_bucket(self, bucket: str) -> None:
        """HeadBucket."""

    def versioning(self, bucket: str) -> str | None:
        """GetBucketVersioning's Status (None: never enabled)."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class ReadAheadWire(Wire, Protocol):
    """A wire whose listing pages can be fetched and parsed apart (Remote reads one page ahead)."""

    def list_fetch(self, bucket: str, prefix: str, token: str | None) -> bytes:
        """One ListObjectsV2 page as the store sent it."""

    def list_parse(
        self, data: bytes, bucket: str, prefix: str, seen: set[str]
    ) -> tuple[list[Listed], str | None]:
        """A fetched page: (objects, next continuation token or None)."""
