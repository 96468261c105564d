"""Waiting for a batch of operations: a countdown over their futures, and a lighter future for
the transfer loop's operations.

A run of a thousand small transfers used to cost milliseconds before its first request and after
its last one just in futures: ``concurrent.futures.Future`` builds a Condition (and its lock) for
each, ``wait`` walks every pending one each time it is called (the executor looks at its cancel
flag ten times a second), and every ``done()`` or ``result()`` takes the future's lock. The
transfer loop's operations run on one thread and only ever need the part of a Future that the
executor uses; they share one lock here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import InvalidStateError
from typing import Generic, Protocol, TypeVar, cast

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_PENDING, _RUNNING, _CANCELLED, _FINISHED = range(4)


class Outcome(Protocol[T_co]):
    """What the executor asks of an operation's future (``concurrent.futures.Future`` has it)."""

    def done(self) -> bool: ...

    def cancel(self) -> bool: ...

    def cancelled(self) -> bool: ...

    def result(self) -> T_co: ...

    def add_done_callback(self, fn: Callable[[Outcome[T_co]], object]) -> None: ...


class Slot(Generic[T]):
    """A future for one of the transfer loop's operations: set once by the loop's thread,
    cancelled (while still queued) by the waiting one; every slot of a batch shares ``lock``."""

    __slots__ = ("_callbacks", "_lock", "_result", "_state")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._state = _PENDING
        self._result: T | None = None
        self._callbacks: list[Callable[[Slot[T]], object]] = []

    def set_running_or_notify_cancel(self) -> bool:
        """False when the slot was cancelled before its operation started (it must not start)."""
        with self._lock:
            if self._state == _CANCELLED:
                return False
            if self._state != _PENDING:
                raise RuntimeError("the operation was started already")
            self._state = _RUNNING
            return True

    def set_result(self, value: T) -> None:
        """The operation's result; the slot is done (InvalidStateError if it already was)."""
        with self._lock:
            if self._state >= _CANCELLED:
                raise InvalidStateError("the operation is already done or cancelled")
            self._result = value
            self._state = _FINISHED
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)

    def cancel(self) -> bool:
        """Cancel the operation unless it started; True when it is (now) cancelled."""
        with self._lock:
            if self._state != _PENDING:
                return self._state == _CANCELLED
            self._state = _CANCELLED
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)
        return True

    def cancelled(self) -> bool:
        """True when the operation was cancelled before it started."""
        return self._state == _CANCELLED

    def done(self) -> bool:
        """True once the operation has its result or was cancelled."""
        return self._state >= _CANCELLED

    def result(self) -> T:
        """The operation's result (only asked once ``done()`` and not ``cancelled()``)."""
        if self._state != _FINISHED:
            raise RuntimeError("the operation has no result")
        return cast(T, self._result)

    def add_done_callback(self, fn: Callable[[Slot[T]], object]) -> None:
        """Call ``fn(self)`` once the slot is done (now, if it is)."""
        with self._lock:
            if self._state < _CANCELLED:
                self._callbacks.append(fn)
                return
        fn(self)


class AllDone:
    """Set once every one of a batch's futures is done: one callback each, so a look costs
    nothing per future (``concurrent.futures.wait`` walks them all each time)."""

    def __init__(self, futures: Sequence[Outcome[object]]) -> None:
        self._left = len(futures)
        self._lock = threading.Lock()
        self._done = threading.Event()
        if not futures:
            self._done.set()
        for f in futures:
            f.add_done_callback(self._one)

    def _one(self, _f: object) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def wait(self, timeout: float) -> bool:
        """True once every future is done; False after ``timeout`` seconds."""
        return self._done.wait(timeout)
