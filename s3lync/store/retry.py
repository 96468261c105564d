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
