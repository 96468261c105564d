"""Plain records of store answers: a listed object, a HEAD/GET answer, an upload's and a download's result.

Importing this loads no transport: the planner and lock files use these records.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import BinaryIO

from s3lync.hashing import Digest
from s3lync.store.evidence import Evidence, evidence_from_headers

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class RemoteObject:
    """One listed object: key, size, normalised ETag (no quotes)."""

    key: str
    size: int
    etag: str | None
    last_modified: str | None = None
    version_id: str | None = None  # set for objects pinned by s3lync.lock on a versioned bucket

    @property
    def mtime_ns(self) -> int | None:
        """LastModified in nanoseconds since the epoch (what a download sets as the mtime)."""
        if not self.last_modified:
            return None
        text = self.last_modified.strip()
        if text.endswith("Z"):  # Python 3.10's fromisoformat does not read "Z"
            text = text[:-1] + "+00:00"
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        delta = when - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


@dataclass(frozen=True)
class ObjectInfo:
    """What a HEAD or GET told about one object."""

    etag: str | None
    size: int
    metadata_md5: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    # The integrity-relevant response headers (lean.EVIDENCE_HEADERS), lower-case names.
    headers: dict[str, str] = field(default_factory=dict)

    def evidence(self, *, content_md5_checked: bool = False) -> Evidence:
        """This answer as integrity evidence."""
        ev = evidence_from_headers(
            lambda n: self.etag if n == "etag" else self.headers.get(n),
            self.size,
            metadata_md5=self.metadata_md5,
        )
        if content_md5_checked:
            ev = replace(ev, content_md5_checked=True)
        return ev

    @property
    def parts_count(self) -> int | None:
        """``x-amz-mp-parts-count`` of a HEAD with ``partNumber``, if the store sent it."""
        raw = self.headers.get("x-amz-mp-parts-count")
        return int(raw) if raw and raw.strip().isdigit() else None


@dataclass(frozen=True)
class UploadResult:
    """What the store answered to an upload, and how it was cut."""

    info: ObjectInfo
    # The part size of a multipart upload (None: one PUT).
    part_size: int | None = None
    # Part MD5s in order, when the uploader computed them while sending (no second read).
    part_md5s: tuple[bytes, ...] = ()
    # The store accepted a Content-MD5 for the whole object or for every part.
    content_md5_checked: bool = False


@dataclass(frozen=True)
class DownloadResult:
    """A finished download into a temporary file: the served ETag/metadata and the bytes' digest.

    The digest holds the MD5, plus multipart ETags for the part sizes the served ETag calls for
    where the transfer could compute them while writing.
    """

    info: ObjectInfo
    digest: Digest


#: ``on_bytes(n)``: ``n`` more bytes of one transfer were sent or received (negative: a failed
#: attempt's bytes taken back before it is repeated, as s3transfer's ``on_progress`` does).
OnBytes = Callable[[int], None]


class Meter:
    """Reports one transfer's bytes to an ``on_bytes`` callback, and takes them back on failure."""

    __slots__ = ("_lock", "count", "on_bytes")

    def __init__(self, on_bytes: OnBytes | None) -> None:
        self.on_bytes = on_bytes
        self.count = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        """Report ``n`` bytes (negative: taken back); parts of one upload may add concurrently."""
        if n and self.on_bytes is not None:
            with self._lock:
                self.count += n
            self.on_bytes(n)

    def unwind(self) -> None:
        """Take back every byte reported so far (the transfer failed, or will be repeated)."""
        with self._lock:
            n, self.count = self.count, 0
        if n and self.on_bytes is not None:
            self.on_bytes(-n)


class MeteredReader:
    """A binary stream whose reads are reported to a :class:`Meter` as the sender takes them;
    a seek back (a request sent again) takes those bytes back."""

    def __init__(self, raw: BinaryIO, meter: Meter) -> None:
        self.raw = raw
        self.meter = meter

    def read(self, size: int = -1) -> bytes:
        """Read and report."""
        data = self.raw.read(size)
        self.meter.add(len(data))
        return data

    def tell(self) -> int:
        """The position in the underlying stream."""
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        """Seek; moving back takes back the bytes between the two positions."""
        before = self.raw.tell()
        self.raw.seek(offset, whence)
        after = self.raw.tell()  # mmap.seek returns None before Python 3.13
        if after < before:
            self.meter.add(-min(before - after, self.meter.count))
        return after
