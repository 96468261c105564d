"""The one upload pipeline: a single PUT below the threshold, multipart with per-part Content-MD5 above.

Every request goes through one store implementation (wire.py) under one retry policy (retry.py)
and the process's scheduler (scheduler.py). What is sent is what was hashed: a small file's bytes
are read once, hashed and sent from memory; a large file's MD5 is known before it starts (it
travels as ``md5chksum`` metadata, which S3 takes only when an upload is created, so a file not
hashed before is read once ahead, as rclone does). That pass also gives each part's MD5, sent as
its Content-MD5, so a part is read once more to be sent and never hashed again; a file written to
since then is refused by the store (BadDigest) instead of stored under a stale md5chksum.

A request that may have taken effect is never resent blindly: a conditional PUT is followed by a
HEAD that compares what is stored with what was sent; a CreateMultipartUpload whose answer was
lost, by aborting the key's open uploads; a CompleteMultipartUpload, by a HEAD. Any failure of a
multipart upload aborts it, so no upload is left open (and billed).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import logging
import mmap
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from s3lync.errors import SyncError, WireError
from s3lync.hashing import is_our_upload, md5_to_metadata
from s3lync.store.objects import Meter, MeteredReader, ObjectInfo, UploadResult
from s3lync.store.retry import RESEND, RetryPolicy
from s3lync.store.scheduler import Scheduler
from s3lync.store.wire import AnswerError, Cancelled, PutArgs, Stored, Wire

log = logging.getLogger(__name__)

MAX_PARTS = 10_000
# Several large files at once: each up to this size is one streamed PUT (see Uploader.upload).
SINGLE_PUT_MAX = 512 * 1024 * 1024
# The largest object one PUT may carry (S3's limit).
PUT_MAX = 5 * 1024**3
# Bodies up to this size go as bytes in one write (the transport's block size).
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One upload's data: where from, where to, what it is, and its conditions."""

    path: str
    bucket: str
    key: str
    size: int
    md5_hex: str
    args: PutArgs
    # Each part's raw MD5 at the part size the upload uses, when the file's hashing gave them.
    part_md5s: tuple[bytes, ...] = ()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Uploader:
    """Uploads files over one store implementation (see the module docstring)."""

    def __init__(
        self,
        wire: Callable[[str], Wire],
        policy: RetryPolicy,
        scheduler: Scheduler,
        *,
        threshold: int,
        chunksize: int,
        max_workers: int,
    ) -> None:
        self._wire = wire
        self.policy = policy
        self.scheduler = scheduler
        self.threshold = threshold
        self.chunksize = chunksize
        self.max_workers = max_workers

    def part_size(self, size: int, ranged: bool = True) -> int | None:
        """The part size a file of ``size`` bytes is cut at (None: one PUT)."""
        if size < self.threshold or (not ranged and size <= SINGLE_PUT_MAX):
            return None
        # Parts of at least chunksize, and never more than 10 000 (s3transfer's rule too).
        return max(self.chunksize, -(-size // MAX_PARTS))

    def upload(
        self,
        up: Upload,
        body: bytes | None,
        *,
        ranged: bool,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> UploadResult:
        """Upload one file (or its already-read ``body``); the result says how it was cut."""
        wire = self._wire(up.bucket)
        if up.size < self.threshold:
            if body is None:
                with open(up.path, "rb") as f:
                    body = f.read()
            stored = self._put(wire, up, body, meter)
            return UploadResult(_info(up, stored), content_md5_checked=True)
        part = self.part_size(up.size, ranged)
        sse_kms = str(up.args.extra.get("ServerSideEncryption", "")).startswith("aws:kms")
        if part is None or (sse_kms and up.size <= PUT_MAX):
            # One streamed PUT guarded whole by its Content-MD5; an SSE-KMS ETag is no MD5, so
            # that Content-MD5 is the one check the store itself makes of the whole object.
            with open(up.path, "rb") as f:
                self._put(wire, up, f, meter)
            return UploadResult(self._stored(wire, up), content_md5_checked=True)
        self._multipart(wire, up, part, self.max_workers if ranged else 1, cancel, meter)
        return UploadResult(self._stored(wire, up), part_size=part, content_md5_checked=True)

    # -- single PUT --------------------------------------------------------------------------

    def _put(self, wire: Wire, up: Upload, body: bytes | BinaryIO, meter: Meter) -> Stored:
        """One PUT under the retry policy; a conditional one is reconciled, never replayed."""

        def attempt() -> Stored:
            sent = Meter(meter.add if meter.on_bytes is not None else None)
            stream: bytes | BinaryIO = body
            if isinstance(body, bytes):
                # A small body goes in one write: sent as bytes, counted when answered.
                if meter.on_bytes is not None and len(body) > _BLOCK:
                    stream = cast(BinaryIO, MeteredReader(io.BytesIO(body), sent))
            else:
                body.seek(0)
                stream = cast(BinaryIO, MeteredReader(body, sent)) if meter.on_bytes else body
            try:
                stored = wire.put(up.bucket, up.key, stream, up.size, up.args)
            except BaseException:
                sent.unwind()
                raise
            if sent.count == 0:
                sent.add(up.size)
            return stored

        reconcile = None
        if up.args.if_match or up.args.if_none_match:
            reconcile = functools.partial(self._reconcile_put, wire, up)
        try:
            return self.policy.call(f"upload {up.where}", attempt, reconcile=reconcile)
        except AnswerError as exc:
            if exc.code == "BadDigest" and not isinstance(body, bytes):
                # The bytes read now are not the ones hashed before: the file is being written
                # to. Uploading it anyway would store a wrong md5chksum.
                raise SyncError(
                    f"upload {up.where}: {up.path} changed while it was being uploaded "
                    "(the store refused it: BadDigest); run again"
                ) from exc
            raise

    def _reconcile_put(self, wire: Wire, up: Upload) -> object:
        """After a conditional PUT failed ambiguously: did it land, or may it be sent again?

        Ours when the key holds our bytes (the ETag is their MD5, or our md5chksum and size);
        resent while the condition still holds; otherwise another writer's object stands.
        """
        now = wire.head(up.bucket, up.key)
        if now is not None and (
            now.etag == up.md5_hex or (now.metadata_md5 == up.md5_hex and now.size == up.size)
        ):
            return Stored(now.etag, now.headers)
        holds = (
            now is None
            if not up.args.if_match
            else now is not None and now.etag == up.args.if_match
        )
        if holds:
            return RESEND
        raise AnswerError(412, "PreconditionFailed", "reconciled: another writer's object stands")

    def _stored(self, wire: Wire, up: Upload) -> ObjectInfo:
        """HEAD a large object just uploaded: its size, and the ETag later listings will show.

        One request per large file buys a read-back of what the store kept (some compatible
        stores answer CompleteMultipartUpload with an ETag their listings do not repeat), and
        the hash cache then records the ETag the next plan compares against.
        """
        info = self.policy.call(f"head {up.where}", lambda: wire.head(up.bucket, up.key))
        if info is None or info.size != up.size:
            kept = "nothing" if info is None else f"{info.size} bytes"
            raise SyncError(f"upload {up.where}: the store kept {kept} of {up.size} bytes")
        return info

    # -- multipart ---------------------------------------------------------------------------

    def _multipart(
        self,
        wire: Wire,
        up: Upload,
        part_size: int,
        concurrency: int,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> None:
        """Create, send every part (at most ``concurrency`` at once), complete; abort on failure."""
        create_args = PutArgs(
            content_type=up.args.content_type, metadata=up.args.metadata, extra=up.args.extra
        )
        upload_id = self.policy.call(
            f"upload {up.where}",
            lambda: wire.create_upload(up.bucket, up.key, create_args),
            # A create whose answer was lost may have opened an upload we hold no id of.
            reconcile=functools.partial(self._abort_open, wire, up),
        )
        try:
            etags = self._parts(wire, up, upload_id, part_size, concurrency, cancel, meter)
            if os.stat(up.path).st_size != up.size:
                raise SyncError(f"upload {up.where}: {up.path} changed size while being uploaded")
            self._complete(wire, up, upload_id, etags)
        except BaseException:
            meter.unwind()
            self._abort(wire, up, upload_id)
            raise

    def _parts(
        self,
        wire: Wire,
        up: Upload,
        upload_id: str,
        part_size: int,
        concurrency: int,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> list[str]:
        offsets = list(range(0, up.size, part_size)) or [0]
        fd = os.open(up.path, os.O_RDONLY)
        try:
            one = functools.partial(
                self._part, wire, up, upload_id, fd, offsets, part_size, cancel, meter
            )
            numbers = range(1, len(offsets) + 1)
            if concurrency > 1 and len(offsets) > 1:
                with ThreadPoolExecutor(min(concurrency, len(offsets))) as pool:
                    return list(pool.map(one, numbers))
            return [one(n) for n in numbers]
        finally:
            os.close(fd)

    def _part(
        self,
        wire: Wire,
        up: Upload,
        upload_id: str,
        fd: int,
        offsets: list[int],
        part_size: int,
        cancel: threading.Event | None,
        meter: Meter,
        number: int,
    ) -> str:
        # A part slot bounds the parts held in memory across the whole process.
        with self.scheduler.part():
            if cancel is not None and cancel.is_set():
                raise Cancelled(up.key)
            offset = offsets[number - 1]
            length = min(part_size, up.size - offset)
            # Each part in an anonymous mapping of its own, unmapped when the part is done: a
            # bytes object this large would come from glibc's per-thread arenas, which keep
            # freed parts resident (2-3x the bound in RSS: benchmarks/RESULTS.md).
            with mmap.mmap(-1, max(length, 1)) as buf:
                if os.preadv(fd, [buf], offset) != length:
                    raise SyncError(
                        f"upload {up.where}: {up.path} changed size while being uploaded"
                    )
                return self._send_part(
                    wire, up, upload_id, number, len(offsets), buf, length, meter
                )

    def _send_part(
        self,
        wire: Wire,
        up: Upload,
        upload_id: str,
        number: int,
        parts: int,
        buf: mmap.mmap,
        length: int,
        meter: Meter,
    ) -> str:
        """Send one part read into ``buf``, with its Content-MD5, under the retry policy."""
        known = up.part_md5s[number - 1] if len(up.part_md5s) == parts else None
        # hashlib releases the GIL on large buffers, so parts hash in parallel.
        md5 = base64.b64encode(known or hashlib.md5(buf).digest()).decode()

        def attempt() -> str:
            buf.seek(0)
            sent = Meter(meter.add if meter.on_bytes is not None else None)
            stream = MeteredReader(cast(BinaryIO, buf), sent) if meter.on_bytes else buf
            try:
                return wire.upload_part(
                    up.bucket, up.key, upload_id, number, cast(Any, stream), length, md5
                )
            except AnswerError as exc:
                sent.unwind()
                if exc.code == "BadDigest":
                    if known is not None and hashlib.md5(buf).digest() != known:
                        raise SyncError(
                            f"upload {up.where}: {up.path} changed while it was being uploaded "
                            f"(part {number} is not the bytes hashed before); run again"
                        ) from exc
                    # Damaged on the way: send it again from the bytes we hashed.
                    raise WireError(f"part {number} arrived damaged (BadDigest)") from exc
                raise
            except BaseException:
                sent.unwind()
                raise

        what = f"upload {up.where} (part {number} of {parts})"
        return self.policy.call(what, attempt)

    def _complete(self, wire: Wire, up: Upload, upload_id: str, etags: list[str]) -> None:
        def landed() -> object:
            # A complete whose answer was lost may have completed: the object then holds our
            # size and md5chksum, and sending it again would only be refused (NoSuchUpload).
            now = wire.head(up.bucket, up.key)
            if now is not None and is_our_upload(now.size, now.metadata_md5, up.size, up.md5_hex):
                return Stored(now.etag, now.headers)
            return RESEND

        try:
            self.policy.call(
                f"upload {up.where} (complete)",
                lambda: wire.complete_upload(up.bucket, up.key, upload_id, etags),
                reconcile=landed,
            )
        except AnswerError as exc:
            if exc.code != "NoSuchUpload" or landed() is RESEND:
                raise

    def _abort_open(self, wire: Wire, up: Upload) -> object:
        """Abort the key's open uploads (a lost create answer held one's id); then resend.

        Every open upload of exactly this key is aborted: neither the store's Initiated times
        (some stores give fixed ones) nor anything else tells s3lync's from another writer's,
        whose concurrent write of the same key is a lost update anyway.
        """
        for upload_id in self.policy.call(
            f"list uploads {up.where}", lambda: wire.list_uploads(up.bucket, up.key)
        ):
            self._abort(wire, up, upload_id)
        return RESEND

    def _abort(self, wire: Wire, up: Upload, upload_id: str) -> None:
        try:
            self.policy.call(
                f"abort {up.where}", lambda: wire.abort_upload(up.bucket, up.key, upload_id)
            )
        except Exception as exc:  # best effort: the original failure is what the user needs
            log.warning("abort of multipart upload %s of %s failed: %s", upload_id, up.where, exc)


def put_args(
    md5_hex: str,
    content_type: str | None,
    extra: Mapping[str, Any],
    if_match: str | None,
    if_none_match: bool,
    metadata: Mapping[str, str] | None = None,
) -> PutArgs:
    """The PutArgs of an upload whose content has this MD5 (sent as ``md5chksum`` metadata)."""
    b64 = md5_to_metadata(md5_hex)
    return PutArgs(
        content_md5=b64,
        content_type=content_type,
        metadata={**(metadata or {}), "md5chksum": b64},
        extra=dict(extra),
        if_match=if_match,
        if_none_match=if_none_match,
    )


def _info(up: Upload, stored: Stored) -> ObjectInfo:
    return ObjectInfo(
        etag=stored.etag,
        size=up.size,
        metadata_md5=up.md5_hex,
        metadata=dict(up.args.metadata),
        headers=stored.headers,
    )
