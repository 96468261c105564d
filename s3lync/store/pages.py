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

from collections.abc import Callable, Iterator
from functools import partial

from s3lync.background import OnThread
from s3lync.store.s3xml import Listed, peek_token

Fetch = Callable[[str | None], bytes]
Parse = Callable[[bytes], tuple[list[Listed], str | None]]


def pages_ahead(fetch: Fetch, parse: Parse) -> Iterator[list[Listed]]:
    """Every page of a listing, in order: ``fetch(token)`` brings one (retried as the caller
    wants), ``parse(data)`` reads it and names the next token (None: the last page)."""
    data = fetch(None)
    while True:
        guess = peek_token(data)
        early = OnThread(partial(fetch, guess), "s3lync-list") if guess else None
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
