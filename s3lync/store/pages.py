"""A ListObjectsV2 listing read one page ahead: the next page's request is on the wire while
this page is parsed.

Pages come one after the other (each names the next with its continuation token), so a plain
loop waits for the store, then parses (~16 ms for 1000 keys), then waits again. The token sits
near the end of the page's bytes: :func:`s3xml.peek_token` finds it without parsing, the next
request starts on a thread, and the parse of this page runs meanwhile. The parse still decides:
when its token differs from the peeked one (it never should) the early request is dropped and
the right one sent. At most one request is ahead, so memory stays one page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Generic, TypeVar

from s3lync.store.s3xml import Listed, peek_token

T = TypeVar("T")

Fetch = Callable[[str | None], bytes]
Parse = Callable[[bytes], tuple[list[Listed], str | None]]


class _Early(Generic[T]):
    """``fn()`` on a thread of its own; :meth:`result` waits and returns or raises its outcome."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # handed to the reader by result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="s3lync-list", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Until the thread is done (its outcome is dropped)."""
        self._thread.join()

    def result(self) -> T:
        """The outcome, once the thread is done."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def pages_ahead(fetch: Fetch, parse: Parse) -> Iterator[list[Listed]]:
    """Every page of a listing, in order: ``fetch(token)`` brings one (retried as the caller
    wants), ``parse(data)`` reads it and names the next token (None: the last page)."""
    data = fetch(None)
    while True:
        guess = peek_token(data)
        early = _Early(partial(fetch, guess)) if guess else None
        try:
            page, token = parse(data)
            yield page
        except (Exception, GeneratorExit):
            # A bad page, or a reader that stopped early: the request already out ends before
            # the listing does (no request of this listing outlives it). Ctrl-C does not wait.
            if early is not None:
                early.wait()
            raise
        if early is not None and guess == token:
            data = early.result()
            continue
        if early is not None:
            early.wait()  # a guess the parse did not confirm: its answer is dropped
        if not token:
            return
        data = fetch(token)
