"""The store as the sync layer sees it: list, head, download, upload, delete, versions.

One ``Remote`` per endpoint and settings. It holds the store implementation chosen once
(clients.py: the fast one, or botocore's for a caller's client or a mocked botocore), one retry
policy and the process's scheduler, and describes every failure as one of s3lync's errors
(describe.py). Transfers go through the one upload pipeline (upload.py) and the one download
pipeline (download.py).
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from s3lync.errors import PlanStaleError, RemoteNotFoundError, S3lyncError, SyncError
from s3lync.settings import Settings
from s3lync.store.describe import answer_error, describe, s3_label
from s3lync.store.loop import current as current_loop
from s3lync.store.objects import (
    DownloadResult,
    Meter,
    ObjectInfo,
    OnBytes,
    RemoteObject,
    UploadResult,
)
from s3lync.store.pages import pages_ahead
from s3lync.store.retry import Exhausted, RetryPolicy, answer_behind
from s3lync.store.s3xml import Listed
from s3lync.store.scheduler import scheduler_for
from s3lync.store.wire import Cancelled, ReadAheadWire, Wire
from s3lync.upload_args import upload_arguments

if TYPE_CHECKING:
    # Built on first use: a run with nothing to move (a no-op) never imports the pipelines.
    from s3lync.store.deletes import Deleter
    from s3lync.store.download import Downloader
    from s3lync.store.upload import Uploader

log = logging.getLogger(__name__)

T = TypeVar("T")


def guess_content_type(name: str) -> str | None:
    """The Content-Type an upload of ``name`` gets, guessed from its extension as aws and rclone do."""
    return mimetypes.guess_type(name, strict=False)[0]


@dataclass(frozen=True, slots=True)
class LockListing:
    """One current object as ``s3lync lock`` records it."""

    key: str
    size: int
    etag: str | None
    checksum_algorithm: str | None = None
    version_id: str | None = None


class Remote:
    """S3 operations over one store implementation, one retry policy and the process's scheduler."""

    def __init__(
        self,
        client: Any = None,
        max_workers: int | None = None,
        *,
        wire: Wire | None = None,
        wire_factory: Callable[[], Wire] | None = None,
        boto_factory: Callable[[], Wire] | None = None,
        attempts: int | None = None,
        attempts_factory: Callable[[], int] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.max_workers = max_workers or self.settings.max_workers
        self.threshold = self.settings.multipart_threshold
        self.chunksize = max(5 * 1024 * 1024, self.settings.multipart_chunksize)
        # Whether close() may drop this wire's idle connections: only one built here. The
        # shared ones (clients.py, one per settings) outlive every Remote over them; dropping
        # their connections at each call would cost the next call its handshakes.
        self._owns_wire = client is not None and wire is None
        if client is not None and wire is None:
            from s3lync.store.boto import BotoWire

            wire = BotoWire(client)
        self._wire = wire
        self._wire_factory = wire_factory
        self._boto: Wire | None = None
        self._boto_factory = boto_factory
        self._lock = threading.Lock()
        self.policy = RetryPolicy(attempts or self.settings.attempts())
        self._attempts_factory = attempts_factory
        self.scheduler = scheduler_for(self.max_workers)
        self._uploader_: Uploader | None = None
        self._deleter_: Deleter | None = None
        self._downloader_: Downloader | None = None
        # (region, endpoint_url, profile, timeouts) when clients.open_remote built it: what
        # another process needs to open the same store (clients.portable / reopen).
        self.recipe: tuple[Any, ...] | None = None

    # -- the pipelines, built on first use (they hold no state: two threads may both build one) --

    def _pipeline(self, cls: Callable[..., T]) -> T:
        return cls(
            self.wire_for,
            self.policy,
            self.scheduler,
            threshold=self.threshold,
            chunksize=self.chunksize,
            max_workers=self.max_workers,
        )

    @property
    def _uploader(self) -> Uploader:
        if self._uploader_ is None:
            from s3lync.store.upload import Uploader

            self._uploader_ = self._pipeline(Uploader)
        return self._uploader_

    @property
    def _downloader(self) -> Downloader:
        if self._downloader_ is None:
            from s3lync.store.download import Downloader

            self._downloader_ = self._pipeline(Downloader)
        return self._downloader_

    @property
    def _deleter(self) -> Deleter:
        if self._deleter_ is None:
            from s3lync.store.deletes import Deleter

            self._deleter_ = Deleter(self._run, self._describe, self.list_objects, self._where)
        return self._deleter_

    # -- the implementation, chosen once -------------------------------------------------

    @property
    def wire(self) -> Wire:
        """The store implementation (built on first use)."""
        if self._wire is None:
            with self._lock:
                if self._wire is None:
                    if self._wire_factory is None:
                        raise SyncError("no S3 client configured")
                    self._wire = self._wire_factory()
                    if self._attempts_factory is not None:
                        # The config file's max_attempts is known once the session is read.
                        self.policy.attempts = max(1, self._attempts_factory())
        return self._wire

    def wire_for(self, bucket: str) -> Wire:
        """The implementation for ``bucket``: botocore's only where the fast one cannot serve it
        (an access point ARN, S3 Express), decided before any request is sent."""
        wire = self.wire
        serves = getattr(wire, "serves", None)
        if serves is None or serves(bucket) or self._boto_factory is None:
            return wire
        with self._lock:
            if self._boto is None:
                self._boto = self._boto_factory()
        return self._boto

    def loops(self, bucket: str) -> bool:
        """True when ``bucket``'s transfers may run on a loop (store/loop.py): s3lync's own
        request path, whose requests yield to the loop (botocore's would block it)."""
        try:
            wire = self.wire_for(bucket)
        except Exception:  # each transfer reports it as its own failure, as on threads
            return False
        return bool(getattr(wire, "loops", False))

    @property
    def endpoint(self) -> str:
        """The endpoint's URL, for messages (userinfo and secrets redacted)."""
        return self._where()

    def _where(self) -> str:
        wire = self._wire
        return wire.where if wire is not None else "the S3 endpoint"

    def close(self) -> None:
        """Release the idle connections of a wire built here (shared ones stay warm for reuse)."""
        if self._owns_wire and self._wire is not None:
            self._wire.close()

    def _run(
        self,
        action: str,
        bucket: str,
        key: str | None,
        fn: Callable[[Wire], T],
        *,
        retried: bool = True,
    ) -> T:
        """``fn(wire)`` under the retry policy, its failure described as s3lync's error."""
        wire = self.wire_for(bucket)
        try:
            if not retried:
                return fn(wire)
            return self.policy.call(f"{action} {s3_label(bucket, key)}", lambda: fn(wire))
        except Exception as exc:
            raise self._describe(exc, action, bucket, key) from _cause(exc)

    def _describe(
        self, exc: BaseException, action: str, bucket: str, key: str | None
    ) -> S3lyncError:
        err = describe(exc, action, bucket, key, self._where())
        read_timeout = "ReadTimeout" in type(_cause(exc) or exc).__name__
        if read_timeout and "S3LYNC_READ_TIMEOUT" not in str(err):
            # The message names the URL but not the limit that was hit.
            limit = getattr(self._wire, "read_timeout", None) or self.settings.read_timeout(None)
            err = type(err)(f"{err} (read timeout={limit}; S3LYNC_READ_TIMEOUT sets it)")
        return err

    # -- listing -------------------------------------------------------------------------

    def list_objects(
        self, bucket: str, prefix: str, *, read_ahead: bool = True
    ) -> Iterator[RemoteObject]:
        """Every object under ``prefix``: one paginated ListObjectsV2, no recursion, no HEAD.

        ``read_ahead=False`` for a caller that may stop at the first object (``exists``): no
        request for the next page is sent before this one is read to its end.
        """
        for page in self._pages(bucket, prefix, read_ahead):
            for o in page:
                yield RemoteObject(o.key, o.size, o.etag, o.last_modified)

    def _pages(self, bucket: str, prefix: str, read_ahead: bool = True) -> Iterator[list[Listed]]:
        """The ListObjectsV2 pages under ``prefix``, each request under the retry policy; on
        s3lync's own request path the next page is requested while this one is parsed."""
        seen: set[str] = set()
        label = prefix or None
        wire = self.wire_for(bucket)
        # Not on a transfer loop (a delete's check in a greenlet): joining the early request's
        # thread would stop the loop, whose transfers may hold every request slot it needs.
        if read_ahead and current_loop() is None and isinstance(wire, ReadAheadWire):
            ahead = wire

            def fetch(token: str | None) -> bytes:
                return self._run(
                    "list", bucket, label, lambda _: ahead.list_fetch(bucket, prefix, token)
                )

            def parse(data: bytes) -> tuple[list[Listed], str | None]:
                read = lambda _: ahead.list_parse(data, bucket, prefix, seen)  # noqa: E731
                return self._run("list", bucket, label, read, retried=False)

            yield from pages_ahead(fetch, parse)
            return
        token: str | None = None
        while True:
            page, token = self._run(
                "list", bucket, label, partial(_list_page, bucket, prefix, token, seen)
            )
            yield page
            if not token:
                return

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
        info = self._run(
            "head",
            bucket,
            key,
            lambda w: w.head(bucket, key, version_id=version_id, part_number=part_number),
        )
        if info is None:
            raise RemoteNotFoundError(f"head {s3_label(bucket, key)}: no such key")
        return info

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
            self._run("open bucket", bucket, None, lambda w: w.head_bucket(bucket))
        except SyncError as exc:
            answer = answer_behind(exc)
            if answer is not None and (answer.status == 404 or answer.code == "NoSuchBucket"):
                raise RemoteNotFoundError(
                    f"open bucket s3://{bucket}: bucket '{bucket}' does not exist"
                ) from exc
            raise

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
        """Fetch one object (or, with ``version_id``, that version) into ``dest`` (download.py).

        ``ranged``: a large object comes in concurrent ranges (one large file); otherwise it
        streams in one GET like a small one (several move at once). ``if_match`` (the listed
        ETag) makes every request conditional. ``on_bytes`` hears the bytes as they arrive.
        """
        meter = Meter(on_bytes)
        try:
            return self._downloader.download(
                bucket,
                key,
                dest,
                size,
                ranged=ranged,
                version_id=version_id,
                if_match=if_match,
                cancel=cancel,
                meter=meter,
            )
        except Cancelled as exc:
            # What moved did move: an interrupted run reports it (nothing to take back).
            raise self._describe(exc, "download", bucket, key) from None
        except KeyboardInterrupt:
            raise
        except S3lyncError:
            meter.unwind()
            raise
        except Exception as exc:
            meter.unwind()
            raise self._describe(exc, "download", bucket, key) from _cause(exc)

    def multipart_part_size(self, size: int, ranged: bool = True) -> int | None:
        """The part size ``upload`` will cut this file at (None: one PUT)."""
        return self._uploader.part_size(size, ranged)

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
        part_md5s: Sequence[bytes] = (),
    ) -> UploadResult:
        """Upload one file (or its already-read ``body``) with ``md5chksum`` metadata (upload.py).

        ``part_md5s``: each part's raw MD5 at :meth:`multipart_part_size`, when known from the
        file's hashing (sent as the parts' Content-MD5 instead of hashing the parts again).

        ``extra_args`` (upload_args.UPLOAD_ARGS) go over the settings' own; ContentType is guessed
        when not given. ``if_match`` (an ETag) makes a single PUT conditional: a store that
        honours it refuses to overwrite an object another writer replaced (PlanStaleError);
        multipart uploads go without it (moto ignores it on Complete), the caller's HEAD covers
        them. ``if_none_match`` sends ``If-None-Match: *``: a store that supports it refuses to
        overwrite an existing key. The store's acceptance of our Content-MD5 counts as evidence
        only where the store is known to check it (AWS's endpoints).
        """
        args, user_meta, _ = upload_arguments(
            {**dict(self.settings.extra_args), **(extra_args or {})}
        )
        ctype = args.pop("ContentType", None) or guess_content_type(path or key)
        # The user's metadata goes along; s3lync's own md5chksum is always ours.
        from s3lync.store.upload import Upload, put_args

        pargs = put_args(md5_hex, ctype, args, if_match, if_none_match, user_meta)
        up = Upload(path, bucket, key, size, md5_hex, pargs, tuple(part_md5s))
        meter = Meter(on_bytes)
        try:
            result = self._uploader.upload(up, body, ranged=ranged, cancel=cancel, meter=meter)
        except Exception as exc:
            meter.unwind()
            answer = answer_behind(exc)
            if answer is not None and answer.code == "PreconditionFailed" and if_match:
                raise PlanStaleError.target_changed(
                    "update", f"s3://{bucket}/{key}", "the remote object was replaced (If-Match)"
                ) from exc
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
                from s3lync.store.describe import translate

                raise translate(exc, bucket, key, "upload") from exc
            raise self._describe(exc, "upload", bucket, key) from _cause(exc)
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

    # -- deletes -------------------------------------------------------------------------

    def delete_many(
        self, bucket: str, keys: list[str], etags: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Delete keys, checked by one listing; {key: error} for the ones that failed (deletes.py)."""
        return self._deleter.delete_many(bucket, keys, etags)

    # -- versions and checksums (s3lync.lock) --------------------------------------------

    def is_versioned(self, bucket: str) -> bool:
        """True when the bucket keeps versions (versioning Enabled, or Suspended with old ones).

        A store without the versioning API (rclone) answers with an error: that is "unversioned".
        """
        try:
            status = self._run("get versioning", bucket, None, lambda w: w.versioning(bucket))
        except SyncError as exc:
            answer = answer_behind(exc)
            if answer is not None and answer.code in ("AccessDenied", "NoSuchBucket"):
                raise
            if answer is None:
                raise
            log.debug("s3://%s: no versioning API (%s); treated as unversioned", bucket, exc)
            return False
        return status in ("Enabled", "Suspended")

    def list_for_lock(self, bucket: str, prefix: str, versioned: bool) -> Iterator[LockListing]:
        """Every current object under ``prefix`` with its checksum algorithm (and version id)."""
        seen: set[str] = set()
        if not versioned:
            for page in self._pages(bucket, prefix):
                for o in page:
                    yield LockListing(o.key, o.size, o.etag, o.checksum_algorithm)
            return
        marker: tuple[str, str] | None = None
        while True:
            versions, marker = self._run(
                "list",
                bucket,
                prefix or None,
                partial(_versions_page, bucket, prefix, marker, seen),
            )
            # Only the latest version of each key that is not deleted (a delete marker on top).
            for v in versions:
                if v.is_latest:
                    yield LockListing(v.key, v.size, v.etag, v.checksum_algorithm, v.version_id)
            if marker is None:
                return

    def checksum(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
        """The object's S3 additional checksums ({algorithm: base64 value}), from one HEAD."""
        info = self.head(bucket, key, version_id)
        out = {}
        for algo in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
            value = info.headers.get(f"x-amz-checksum-{algo.lower()}")
            if value:
                out[algo] = value
        return out


def _list_page(
    bucket: str, prefix: str, token: str | None, seen: set[str], w: Wire
) -> tuple[list[Listed], str | None]:
    return w.list_page(bucket, prefix, token, seen)


def _versions_page(
    bucket: str, prefix: str, marker: tuple[str, str] | None, seen: set[str], w: Wire
) -> tuple[list[Listed], tuple[str, str] | None]:
    return w.list_versions_page(bucket, prefix, marker, seen)


def _cause(exc: BaseException) -> BaseException | None:
    """What a described error is chained from: the network's or the store's own failure."""
    if isinstance(exc, Exhausted):
        exc = exc.last
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


__all__ = ["LockListing", "Remote", "answer_error", "guess_content_type"]
