"""The one transfer scheduler of a process: requests in flight and part buffers in memory, bounded.

Every object, engine and ``AsyncS3Object`` of a process built with the same ``max_workers`` sends
through one scheduler of that size (``scheduler_for``), so four objects with ``max_workers=4``
uploading at once keep 4 requests in flight, not 4 x 4 (as a pool per object or per large file
would), and hold at most 4 parts in memory, whatever endpoints they use.

A request slot is held from the moment a request is sent until its answer has been read or
dropped (transport.Response.release/close); a part slot from the moment a part is read from disk
until its upload is answered, or from the moment a download range is requested until it has been
hashed. Part slots are always taken before request slots, never the other
way round, so the two cannot deadlock.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator

from s3lync.store.loop import current as current_loop

# Seconds between a loop transfer's tries for a request slot.
_SLOT_POLL = 0.005
_ALL: weakref.WeakSet[Scheduler] = weakref.WeakSet()


class _Slots:
    """A counting limit that remembers the most slots ever used at once."""

    def __init__(self, size: int) -> None:
        self._cond = threading.Condition()
        self.size = size
        self.used = 0
        self.peak = 0

    def acquire(self, timeout: float | None = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self.used < self.size, timeout):
                return False
            self.used += 1
            self.peak = max(self.peak, self.used)
            return True

    def release(self) -> None:
        with self._cond:
            self.used -= 1
            self._cond.notify()


class Scheduler:
    """Bounds the requests in flight and the upload parts in memory across the whole process."""

    def __init__(self, capacity: int) -> None:
        self._requests = _Slots(max(1, capacity))
        self._parts = _Slots(max(1, capacity))
        _ALL.add(self)

    def forked(self) -> None:
        """In a forked child: the parent's requests in flight are not the child's (nor its locks)."""
        self._requests = _Slots(self._requests.size)
        self._parts = _Slots(self._parts.size)

    @property
    def capacity(self) -> int:
        """How many requests may be in flight at once."""
        return self._requests.size

    @property
    def peak_requests(self) -> int:
        """The most requests that were in flight at once (for tests and benchmarks)."""
        return self._requests.peak

    @property
    def requests_in_flight(self) -> int:
        """Requests holding a slot now (for tests and benchmarks)."""
        return self._requests.used

    def acquire_request(self) -> None:
        """Wait for a request slot (released by :meth:`release_request`)."""
        loop = current_loop()
        if loop is None:
            self._requests.acquire()
            return
        # A transfer under a loop must not block the loop's thread: the slots it waits for may
        # be held by the loop's other transfers.
        while not self._requests.acquire(0):
            loop.sleep(_SLOT_POLL)

    def release_request(self) -> None:
        """Give a request slot back."""
        self._requests.release()

    def acquire_part(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout`` s) for a part slot; False if none came free in time."""
        return self._parts.acquire(timeout)

    def release_part(self) -> None:
        """Give a part slot back."""
        self._parts.release()

    @property
    def peak_parts(self) -> int:
        """The most parts that were held in memory at once (for tests and benchmarks)."""
        return self._parts.peak

    @contextlib.contextmanager
    def part(self) -> Iterator[None]:
        """Hold a part slot while one part (uploaded, or downloaded and not yet hashed) is in memory."""
        self._parts.acquire()
        try:
            yield
        finally:
            self._parts.release()


_schedulers: dict[int, Scheduler] = {}
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    for s in list(_ALL):
        s.forked()


if hasattr(os, "register_at_fork"):  # a DataLoader worker, a multiprocessing pool: fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def scheduler_for(workers: int) -> Scheduler:
    """The process's one scheduler for ``max_workers=workers`` (created on first use)."""
    with _lock:
        found = _schedulers.get(workers)
        if found is None:
            found = _schedulers[workers] = Scheduler(workers)
        return found
