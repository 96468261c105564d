"""Progress events: what the executor tells its subscribers (s3transfer's style, ``**kwargs``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from s3lync.sync.plan import MappingPlan, Operation

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """Receives progress events; every method takes ``**kwargs`` so new fields never break it."""

    def on_start(self, *, op: Operation, mapping: MappingPlan, **kwargs: Any) -> None:
        """An operation began."""

    def on_progress(
        self, *, op: Operation, mapping: MappingPlan, bytes_transferred: int, **kwargs: Any
    ) -> None:
        """``bytes_transferred`` more bytes of ``op`` moved (negative: a retry took them back)."""

    def on_done(
        self, *, op: Operation, mapping: MappingPlan, error: str | None, **kwargs: Any
    ) -> None:
        """An operation ended; ``error`` is None on success."""


def emit(subscribers: Sequence[Subscriber], event: str, **kwargs: Any) -> None:
    """Call ``event`` on every subscriber that has it; a failing subscriber is logged, not raised."""
    for s in subscribers:
        fn = getattr(s, event, None)
        if fn is not None:
            try:
                fn(**kwargs)
            except Exception:  # a broken progress bar must not break a sync
                log.exception("subscriber %r failed in %s", s, event)
