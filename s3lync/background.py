"""Work started on a thread of its own, whose outcome another thread collects later."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class OnThread(Generic[T]):
    """``fn()`` on a new daemon thread ``name``. Waiting means the thread has ended (joined),
    not only that its outcome is known: nothing of it runs on after :meth:`wait`."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # handed to whoever collects the outcome
                self._error = exc

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def done(self) -> bool:
        """True once the thread has ended."""
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Until the thread has ended (its outcome is left uncollected)."""
        self._thread.join()

    def result(self) -> T:
        """What ``fn()`` returned, or raise what it raised, once the thread has ended."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
