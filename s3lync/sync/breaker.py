"""A per-run circuit breaker: a dead or hung endpoint fails the run once, not once per file.

Every transfer already retries on its own (the store's retry policy: 3 attempts, each waiting up
to the read timeout). When :data:`TRIP_AFTER` transfers in a row to one endpoint still end in a
network failure -- a refused or timed-out connection, a read timeout, a reset -- the endpoint is
taken for dead: no new transfer to it starts, the ones in flight end on their own, and every
operation not started ends as "not tried" (:class:`~s3lync.errors.EndpointDownError`). An answer
of any kind (a success, a 403, a 500) proves the endpoint is alive and resets the count.

The executor consults :meth:`Breaker.is_open` before each transfer and feeds :meth:`record`
with each transfer's outcome, the error as the store classified it; nothing here retries or
touches a request.
"""

from __future__ import annotations

import threading

from s3lync.errors import EndpointDownError, HashMismatchError

#: Transfers in a row, to one endpoint, that must end in a network failure (each after its own
#: retries) before no new transfer to that endpoint starts. With 16 workers the first wave of
#: failures trips it; with one worker a dead endpoint costs 3 files' retries (about 3 x 30 s
#: with the default timeouts) instead of every file's.
TRIP_AFTER = 3

# Exceptions that mean "no usable answer came back": the endpoint is down, unreachable or hung.
# By name, so this layer needs no transport import (urllib3, botocore, the lean client).
_NETWORK_NAMES = frozenset(
    {
        "NewConnectionError",
        "ConnectTimeoutError",
        "ConnectTimeout",
        "ReadTimeoutError",
        "ReadTimeout",
        "NameResolutionError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ProtocolError",
        "IncompleteRead",
        "ResponseStreamingError",
    }
)


def is_network_failure(exc: BaseException | None) -> bool:
    """True when ``exc`` (or anything in its cause chain) is a connection failure or timeout.

    An S3 error answer, an integrity failure, a local error or a refusal is not: those prove
    the endpoint answered.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, HashMismatchError | EndpointDownError):
            return False
        if isinstance(exc, ConnectionError | TimeoutError):
            return True
        if any(t.__name__ in _NETWORK_NAMES for t in type(exc).__mro__):
            return True
        nested = getattr(exc, "cause", None)  # the lean client's WireError keeps its own
        exc = exc.__cause__ or (nested if isinstance(nested, BaseException) else None)
    return False


class Breaker:
    """Counts consecutive network failures per endpoint; open once :data:`TRIP_AFTER` is reached."""

    def __init__(self, trip_after: int = TRIP_AFTER) -> None:
        self.trip_after = trip_after
        self._lock = threading.Lock()
        self._in_a_row: dict[str, int] = {}
        # endpoint -> the failure that tripped it (named once in the run's message)
        self._tripped: dict[str, BaseException] = {}

    def record(self, endpoint: str, error: BaseException | None) -> None:
        """One transfer to ``endpoint`` ended: ``error`` None for a success."""
        with self._lock:
            if endpoint in self._tripped:
                return
            if error is None or not is_network_failure(error):
                self._in_a_row[endpoint] = 0
                return
            n = self._in_a_row.get(endpoint, 0) + 1
            self._in_a_row[endpoint] = n
            if n >= self.trip_after:
                self._tripped[endpoint] = error

    def is_open(self, endpoint: str) -> bool:
        """True when no new transfer to ``endpoint`` may start."""
        with self._lock:
            return endpoint in self._tripped

    def error(self, endpoint: str) -> EndpointDownError:
        """Why transfers to ``endpoint`` are no longer started (one message for the run)."""
        with self._lock:
            cause = self._tripped.get(endpoint)
        return EndpointDownError(
            f"the S3 endpoint {endpoint} is not answering: {self.trip_after} transfers in a row "
            f"failed on the network (the last: {cause}); no new transfer to it was started"
        )

    @property
    def tripped(self) -> dict[str, BaseException]:
        """Endpoints given up on in this run, with the failure that tripped each."""
        with self._lock:
            return dict(self._tripped)
