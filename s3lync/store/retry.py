"""The one retry policy of s3lync's own request loops: what is retried, and how long to wait.

botocore's requests are retried by botocore in its ``standard`` mode with the same number of
attempts (clients.py); the lean client and the whole-GET retry of a broken body use this module,
which follows the same rules: transient HTTP statuses and throttling codes are retried, and the
wait after attempt *i* (1-based) is ``rand(0, 1) * min(base * 2**(i-1), 20 s)`` with a base of
1 s for throttling and 50 ms otherwise (botocore's standard-mode backoff).
"""

from __future__ import annotations

import random

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
    cause = getattr(exc, "cause", None) or exc.__cause__
    name = type(cause).__name__ if cause is not None else ""
    return name not in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")
