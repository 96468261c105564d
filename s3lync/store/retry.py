"""The one retry policy: which failures are retried, which requests may be resent, how long to wait.

Every request s3lync sends, through either store implementation (wire.py), runs under
:class:`RetryPolicy`; the botocore clients s3lync builds make one attempt each, so nothing is
retried twice. Transient HTTP statuses, throttling codes and network failures are retried; the
wait after attempt *i* (1-based) is ``rand(0, 1) * min(base * 2**(i-1), 20 s)`` with a base of
1 s for throttling and 50 ms otherwise (botocore's standard-mode backoff). A request that may have
taken effect is not resent blindly (see ``replayable`` and ``RetryPolicy.call``'s ``reconcile``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from s3lync.errors import WireError
from s3lync.store.loop import pause

if TYPE_CHECKING:
    # wire.py imports this module: at run time AnswerError is looked up where it is needed.
    from s3lync.store.wire import AnswerError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUS = frozenset({500, 502, 503, 504})
THROTTLING_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
)
RETRY_CODES = frozenset({*THROTTLING_CODES, "RequestTimeout", "InternalError"})
_MAX_BACKOFF = 20.0


def is_retryable(status: int, code: str | None) -> bool:
    """True when an error answer is transient (5xx, throttling, request timeout)."""
    return status in RETRY_STATUS or status == 429 or code in RETRY_CODES


def backoff_delay(attempt: int, *, throttled: bool = False) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based), with full jitter."""
    base = 1.0 if throttled else 0.05
    return random.random() * min(base * 2.0 ** (attempt - 1), _MAX_BACKOFF)


# reconcile()'s answer when the first attempt of a request did not take effect: send it again.
RESEND = object()

# Headers that make a write conditional: its first attempt may have taken effect, and then a
# blind resend is refused (412) as if someone else had written.
_CONDITIONS = ("if-match", "if-none-match")


def replayable(method: str, query: dict[str, str], headers: dict[str, str]) -> bool:
    """True when a request may be resent blindly after its connection failed mid-way.

    GET, HEAD, an unconditional PUT (same bytes, same key: sending them twice stores the same
    object) and an abort or delete are safe. A conditional write, CreateMultipartUpload (a second
    one opens a second upload) and CompleteMultipartUpload are not: after an ambiguous failure
    their caller asks the store what happened (``reconcile``) before sending again.
    """
    if method in ("GET", "HEAD", "DELETE"):
        return True
    if method == "PUT":
        return not any(h in headers for h in _CONDITIONS)
    return False


def reached_store(exc: BaseException) -> bool:
    """False when a failed request certainly never reached the store (no connection was made).

    Connection refused or a connect timeout: nothing was sent. Anything else (a reset, a read
    timeout, a 5xx answer) may follow a request the store acted on.
    """
    if getattr(exc, "unsent", False):
        return False
    cause = getattr(exc, "cause", None) or exc.__cause__
    name = type(cause).__name__ if cause is not None else ""
    return name not in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")


class Exhausted(Exception):
    """Every attempt failed with a transient fault; ``last`` is the final one's failure."""

    def __init__(self, message: str, last: BaseException) -> None:
        super().__init__(message)
        self.last = last


def transient(exc: BaseException) -> bool:
    """True for a failure another attempt may not meet: a network fault, a 5xx or throttling."""
    if isinstance(exc, WireError):
        return not exc.final
    return bool(getattr(exc, "retryable", False))


class RetryPolicy:
    """Attempts, backoff and resend rules for every request of one store."""

    def __init__(self, attempts: int = 3, sleep: Callable[[float], None] = pause) -> None:
        self.attempts = max(1, attempts)
        self._sleep = sleep

    def call(
        self,
        what: str,
        attempt: Callable[[], T],
        *,
        reconcile: Callable[[], object] | None = None,
    ) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or the attempts run out (Exhausted).

        ``reconcile`` is for a request that must not be resent blindly (a conditional write, a
        multipart create or complete): after a failure that may have reached the store it is
        asked what happened, and returns the request's result (it took effect), ``RESEND`` (it
        did not: send again) or raises (someone else's write stands in the way).
        """
        for n in range(1, self.attempts + 1):
            try:
                return attempt()
            except Exception as exc:
                if not transient(exc):
                    raise
                throttled = bool(getattr(exc, "throttled", False))
                if reconcile is not None and not throttled and reached_store(exc):
                    log.debug("%s: %s; asking the store whether it took effect", what, exc)
                    outcome = reconcile()
                    if outcome is not RESEND:
                        return outcome  # type: ignore[return-value]
                if n == self.attempts:
                    raise Exhausted(f"{what} failed after {n} attempt(s): {exc}", exc) from exc
                log.debug("retrying %s after %s (attempt %d)", what, exc, n)
                self._sleep(backoff_delay(n, throttled=throttled))
        raise AssertionError("unreachable")


def answer_behind(exc: BaseException) -> AnswerError | None:
    """The store's error answer behind ``exc`` (through causes and exhausted retries), or None."""
    from s3lync.store.wire import AnswerError

    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, AnswerError):
            return cur
        cur = cur.last if isinstance(cur, Exhausted) else cur.__cause__
        seen += 1
    return None
