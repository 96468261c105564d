"""The one download pipeline: one streamed GET hashed as it arrives, or concurrent ranged GETs.

Every request goes through one store implementation (wire.py) under one retry policy (retry.py)
and the process's scheduler. A small object, or a large one while several move at once, streams
in one GET whose MD5 is computed from the bytes as they arrive; a single large object comes in
ranges fetched at once and written at their offsets, each range with ``If-Match`` on the ETag a
HEAD gave, so a replaced object fails instead of splicing versions. A broken body is fetched
again whole (a range: that range), its bytes taken back from the progress count.

Nothing is read twice: a range is kept in memory (an anonymous mapping, under one of the
scheduler's part slots, taken in file order) until the ranges before it have been hashed, then
hashed from memory, so the MD5 and multipart ETags of a ranged download are ready when its last
range lands.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import mmap
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from s3lync.errors import SyncError
from s3lync.hashing import Digest, Digester, needed_part_sizes, normalize_etag
from s3lync.store.objects import DownloadResult, Meter, ObjectInfo
from s3lync.store.retry import RetryPolicy
from s3lync.store.scheduler import Scheduler
from s3lync.store.wire import Cancelled, Wire


class Downloader:
    """Downloads objects over one store implementation (see the module docstring)."""

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

    def download(
        self,
        bucket: str,
        key: str,
        dest: str,
        size: int,
        *,
        ranged: bool,
        version_id: str | None,
        if_match: str | None,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> DownloadResult:
        """Fetch one object (or one version) into ``dest``; see the module docstring."""
        wire = self._wire(bucket)
        if size >= self.threshold and ranged:
            return self._ranged(wire, bucket, key, dest, version_id, if_match, cancel, meter)
        res = self._streamed(wire, bucket, key, dest, version_id, if_match, cancel, meter)
        served, listed = res.info.etag, normalize_etag(if_match)
        if listed and served and served != listed:
            # A store that ignores If-Match (rclone) served another version: whole, but not
            # the one planned.
            raise changed(bucket, key, listed, served)
        return res

    def _streamed(
        self,
        wire: Wire,
        bucket: str,
        key: str,
        dest: str,
        version_id: str | None,
        if_match: str | None,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> DownloadResult:
        def attempt() -> DownloadResult:
            md5 = hashlib.md5()
            got = Meter(meter.add if meter.on_bytes is not None else None)
            # A bare descriptor: the data arrives in large blocks already, and a file object
            # costs an fstat (and buffered, an isatty ioctl and an lseek) per file; each is a
            # system call that hands the GIL to another worker, over thousands of small objects.
            fd = _create(dest, cancel, key)
            try:

                def sink(block: bytes) -> None:
                    # hashlib and write both release the GIL on large buffers.
                    md5.update(block)
                    _write_all(fd, memoryview(block))
                    got.add(len(block))

                try:
                    info = wire.get(
                        bucket, key, sink, version_id=version_id, if_match=if_match, cancel=cancel
                    )
                except (Cancelled, KeyboardInterrupt):
                    raise  # what moved did move: an interrupted run says so
                except BaseException:
                    got.unwind()
                    raise
            finally:
                os.close(fd)
            return DownloadResult(info=info, digest=Digest(size=info.size, md5=md5.hexdigest()))

        return self.policy.call(f"download s3://{bucket}/{key}", attempt)

    def _ranged(
        self,
        wire: Wire,
        bucket: str,
        key: str,
        dest: str,
        version_id: str | None,
        if_match: str | None,
        cancel: threading.Event | None,
        meter: Meter,
    ) -> DownloadResult:
        # One HEAD per large object gives the ETag, checksums and md5chksum to verify against.
        info = self.policy.call(
            f"head s3://{bucket}/{key}",
            lambda: wire.head(bucket, key, version_id=version_id),
        )
        if info is None:
            from s3lync.errors import RemoteNotFoundError

            raise RemoteNotFoundError(f"download s3://{bucket}/{key}: no such key")
        if if_match and info.etag and info.etag != normalize_etag(if_match):
            raise changed(bucket, key, if_match, info.etag)
        starts = list(range(0, info.size, self.chunksize))
        # Set when this download fails or is interrupted: its other ranges stop at their next block.
        stop = _Either(cancel)
        hashed = _InOrder(Digester(needed_part_sizes(info.size, info.etag)), stop)
        fd = _create(dest, stop, key)
        try:
            job = _RangedJob(wire, bucket, key, fd, info, version_id, stop, meter, hashed)
            one = functools.partial(self._range, job)
            if len(starts) > 1:
                self._fetch_all(one, starts, stop)
            else:
                for start in starts:
                    self.scheduler.acquire_part()
                    one(start)
        except (Cancelled, KeyboardInterrupt):
            raise  # what moved did move: an interrupted run says so
        except BaseException:
            meter.unwind()
            raise
        finally:
            os.close(fd)
        return DownloadResult(info=info, digest=hashed.result())

    def _fetch_all(
        self, one: Callable[[int], None], starts: list[int], stop: threading.Event
    ) -> None:
        """Fetch every range, at most ``max_workers`` at once, part slots taken in file order.

        Taking the slots here, in order, means the range the hash waits for always holds one:
        ranges that finish early wait for it with their bytes, never the other way round.
        """
        with ThreadPoolExecutor(min(self.max_workers, len(starts))) as pool:
            futures: list[Future[None]] = []
            try:
                for start in starts:
                    if not self._take_part(stop, futures):
                        break
                    futures.append(pool.submit(one, start))
                for f in futures:
                    f.result()
                if len(futures) < len(starts):
                    raise Cancelled("download stopped")
            except BaseException:
                stop.set()
                raise

    def _take_part(self, stop: threading.Event, running: list[Future[None]]) -> bool:
        """Wait for a part slot; False once the download is stopped or a range has failed."""
        while not self.scheduler.acquire_part(timeout=0.2):
            if stop.is_set() or any(f.done() and f.exception() for f in running):
                return False
        return True

    def _range(self, job: _RangedJob, start: int) -> None:
        """Fetch one range (its part slot already taken) and hash it in turn; free the slot."""
        size = min(self.chunksize, job.info.size - start)
        try:
            # Kept in an anonymous mapping of its own until hashed, unmapped then: 1 MiB blocks
            # held this long would stay resident in glibc's arenas after they are freed.
            with mmap.mmap(-1, size) as buf:
                self._fetch_range(job, start, buf)
                job.hashed.feed(start, buf)
        finally:
            self.scheduler.release_part()

    def _fetch_range(self, job: _RangedJob, start: int, buf: mmap.mmap) -> None:
        """Fetch the range at ``start`` into the file and into ``buf`` (its size)."""
        bucket, key, fd = job.bucket, job.key, job.fd
        last = min(start + self.chunksize, job.info.size) - 1

        def attempt() -> None:
            got = Meter(job.meter.add if job.meter.on_bytes is not None else None)
            offset = start

            def sink(block: bytes) -> None:
                nonlocal offset
                at = offset - start
                if at + len(block) <= len(buf):  # more than asked for fails below
                    buf[at : at + len(block)] = block
                view = memoryview(block)
                while view:
                    n = os.pwrite(fd, view, offset)
                    offset += n
                    view = view[n:]
                got.add(len(block))

            try:
                part = job.wire.get(
                    bucket,
                    key,
                    sink,
                    version_id=job.version_id,
                    if_match=job.info.etag,
                    byte_range=(start, last),
                    cancel=job.stop,
                )
            except (Cancelled, KeyboardInterrupt):
                raise
            except BaseException:
                got.unwind()
                raise
            if part.size != last - start + 1:
                got.unwind()
                raise SyncError(
                    f"download s3://{bucket}/{key}: the store sent {part.size} bytes for the "
                    f"range {start}-{last}"
                )

        self.policy.call(f"download s3://{bucket}/{key} (bytes {start}-{last})", attempt)


@dataclass(frozen=True)
class _RangedJob:
    """One ranged download: where from, where to, and what its ranges share."""

    wire: Wire
    bucket: str
    key: str
    fd: int
    info: ObjectInfo
    version_id: str | None
    stop: threading.Event
    meter: Meter
    hashed: _InOrder


class _InOrder:
    """Feeds ranges to one Digester in file order, each as soon as those before it are in."""

    def __init__(self, digester: Digester, stop: threading.Event) -> None:
        self._digester = digester
        self._stop = stop
        self._cond = threading.Condition()
        self._next = 0

    def feed(self, start: int, buf: mmap.mmap) -> None:
        """Hash the range at ``start`` (all of ``buf``) once every byte before it is hashed."""
        with self._cond:
            while self._next != start:
                if self._stop.is_set():
                    raise Cancelled("download stopped")
                # Woken by the range before; the timeout only notices a stopped download.
                self._cond.wait(0.2)
            with memoryview(buf) as view:
                self._digester.update(view)
            self._next += len(buf)
            self._cond.notify_all()

    def result(self) -> Digest:
        """The digest of the whole object (after every range has been fed)."""
        return self._digester.result()


class _Either(threading.Event):
    """Set when this event is, or when the caller's ``cancel`` is."""

    def __init__(self, other: threading.Event | None) -> None:
        super().__init__()
        self._other = other

    def is_set(self) -> bool:
        return super().is_set() or (self._other is not None and self._other.is_set())


# As open(dest, "wb") creates it (mode 0o666 less the umask; binary on Windows too); Python makes
# the descriptor non-inheritable.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def _create(dest: str, cancel: threading.Event | None, key: str) -> int:
    """Create ``dest`` for writing; Cancelled, and no file left, once the run is cancelled.

    A cancelled run's temporaries are removed right after ``cancel`` is set (the executor's
    abort); a file created after that removal would outlive the run, so the check follows the
    creation: whichever comes second, the removal or this check, removes the file.
    """
    fd = os.open(dest, _CREATE, 0o666)
    if cancel is not None and cancel.is_set():
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        raise Cancelled(key)
    return fd


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def changed(bucket: str, key: str, listed: str, now: str) -> SyncError:
    """The object is not the version that was listed (If-Match failed, or was ignored)."""
    return SyncError(
        f"download s3://{bucket}/{key}: the object changed since it was listed "
        f"(ETag {listed} is now {now}); run again"
    )
