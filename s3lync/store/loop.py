"""One thread driving many transfers: libcurl's multi interface, a greenlet per transfer.

A small file costs ~0.3 ms of Python, and with a thread per request in flight most of a run's
CPU goes to threads handing the GIL to each other (~54 switches a file at 16 threads,
benchmarks/RESULTS.md). Here one thread runs every transfer of a batch, each in its own greenlet
(the coroutine library gevent and SQLAlchemy build on): the same code as on a worker thread,
unchanged, until it sends a request. Then :meth:`Loop.perform` adds the request's libcurl handle
to the loop's multi handle and switches to the loop, which drives every handle at once and
switches back to a transfer when its exchange is over, as ``Curl.perform()`` would have returned
(or raised). Nothing else in a transfer waits on the network, so nothing else needs to know:
a retry's pause (:func:`pause`) and a wait for a request slot (``Scheduler.acquire_request``)
yield to the loop instead of blocking its thread.

The loop calls ``curl_multi_perform`` (every handle moved on), not the socket-action API: that
is what calls each handle's progress callback, which carries the read timeout and cancel, even
for a handle whose socket stays silent.
"""

from __future__ import annotations

import heapq
import itertools
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from s3lync.background import OnThread

if TYPE_CHECKING:
    import pycurl

T = TypeVar("T")
_here = threading.local()
# libcurl calls the progress callbacks (which carry the read timeout and cancel) only when its
# handles are driven: the loop drives them at least this often (seconds).
_TICK = 0.25
# libcurl's advice when it exposes no socket to wait on (resolving a name): wait a little rather
# than spin.
_NO_SOCKET = 0.01
# select() watches sockets numbered below this only, and libcurl's fdset leaves the others out: in
# a process holding more files open, a loop waits with poll() instead (Loop._poll).
_FD_SETSIZE = 1024
# There, while a transfer is still connecting (libcurl names no socket for it yet), the wait is
# cut this short.
_BLIND_WAIT = 0.001
# Seconds between a transfer's looks at work it handed to a thread (offload).
_OFFLOAD_POLL = 0.005
# While many transfers start at once (the first 64, or those that replace a burst of finished
# ones), their requests go out every this many starts, not after the last one is prepared: 1000
# small downloads at 64 in flight over a 20 ms relay spent 8% less time in the loop (4 and 16:
# less gain; each send walks every handle).
_SEND_EVERY = 8
# Times a failing loop throws into transfers that are still unwinding.
_UNWIND_ROUNDS = 5


def current() -> Loop | None:
    """The loop running in this thread, when called from one of its transfers; else None."""
    loop: Loop | None = getattr(_here, "loop", None)
    if loop is None or loop.getcurrent() is loop.hub:
        return None
    return loop


def offload(fn: Callable[[], T]) -> T:
    """``fn()``; from a loop's transfer, on a thread of its own, the other transfers running
    meanwhile (for work that blocks: a large file's parts, on threads and part slots)."""
    loop = current()
    if loop is None:
        return fn()
    done = OnThread(fn, "s3lync")
    while not done.done():
        loop.sleep(_OFFLOAD_POLL)
    return done.result()


def pause(seconds: float) -> None:
    """Wait ``seconds``: a transfer under a loop lets the others run meanwhile."""
    loop = current()
    if loop is None:
        time.sleep(seconds)
    else:
        loop.sleep(seconds)


class _Beyond:
    """Whether this process has opened a connection socket past select()'s limit."""

    seen = False


def note_socket(fd: int) -> None:
    """Told of each new connection socket: one numbered past select()'s limit makes every loop
    wait with poll() from then on."""
    if fd >= _FD_SETSIZE:
        _Beyond.seen = True


class Multis(Protocol):
    """Where a loop takes a multi handle for a transport's requests, and gives it back."""

    def take_multi(self) -> pycurl.CurlMulti: ...

    def give_multi(self, multi: pycurl.CurlMulti) -> None: ...


class Loop:
    """Runs jobs, each in its own greenlet, at most ``width`` at once, in the calling thread."""

    def __init__(self, width: int) -> None:
        # Imported here: a run that never starts a loop never pays for them.
        import pycurl
        from greenlet import getcurrent, greenlet

        self.getcurrent = getcurrent
        self._greenlet = greenlet
        self._pycurl = pycurl
        self.width = max(1, width)
        self.hub: Any = None
        # One multi handle per transport the transfers send through (nearly always one): its
        # kept-alive connections go back to the transport when the loop ends, for the next run.
        self._multis: dict[int, tuple[Multis, pycurl.CurlMulti]] = {}
        self._waiting: dict[int, Any] = {}
        self._handles: dict[int, tuple[pycurl.Curl, pycurl.CurlMulti]] = {}
        self._timers: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()

    def perform(self, c: pycurl.Curl, owner: Multis) -> None:
        """``c.perform()`` from a transfer: the loop drives it with the others."""
        found = self._multis.get(id(owner))
        if found is None:
            found = self._multis[id(owner)] = (owner, owner.take_multi())
        multi = found[1]
        multi.add_handle(c)
        self._waiting[id(c)] = self.getcurrent()
        self._handles[id(c)] = (c, multi)
        try:
            err = self.hub.switch()
        finally:
            self._waiting.pop(id(c), None)
            self._handles.pop(id(c), None)
            multi.remove_handle(c)
        if err is not None:
            raise self._pycurl.error(*err)

    def sleep(self, seconds: float) -> None:
        """Park the calling transfer for ``seconds``."""
        heapq.heappush(
            self._timers, (time.monotonic() + seconds, next(self._seq), self.getcurrent())
        )
        self.hub.switch()

    def run(self, jobs: Iterator[Callable[[], None]]) -> None:
        """Run every job to its end (each as if on its own worker thread)."""
        self.hub = self.getcurrent()
        _here.loop = self
        running: set[Any] = set()
        try:
            while True:
                started = 0
                while len(running) < self.width:
                    job = next(jobs, None)
                    if job is None:
                        break
                    g = self._greenlet(job)
                    running.add(g)
                    g.switch()  # it runs until its first request or pause
                    if g.dead:
                        running.discard(g)
                    started += 1
                    if started % _SEND_EVERY == 0:
                        self._send()
                if not running:
                    return
                self._drive(running)
        except BaseException:
            # GreenletExit into each: it unwinds (temporaries, slots, handles). One whose
            # cleanup sends a request (an abort) comes back here from it: it is thrown into
            # again, where it waits, until it is gone.
            for _ in range(_UNWIND_ROUNDS):
                alive = [g for g in running if not g.dead]
                if not alive:
                    break
                for g in alive:
                    g.throw()
            raise
        finally:
            _here.loop = None
            for owner, multi in self._multis.values():
                if self._waiting:  # a handle still in it: never lent to another loop
                    multi.close()
                else:
                    owner.give_multi(multi)
            self._multis.clear()

    def _send(self) -> None:
        """Put the requests added so far on the wire, without waiting or resuming anyone."""
        for _, multi in self._multis.values():
            while multi.perform()[0] == self._pycurl.E_CALL_MULTI_PERFORM:
                pass

    def _resume(self, g: Any, value: object, running: set[Any]) -> None:
        g.switch(value)
        if g.dead:
            running.discard(g)

    def _drive(self, running: set[Any]) -> None:
        """Move every transfer on; resume those whose exchange ended or whose pause is over,
        else wait for a socket (at most ``_TICK``: the progress callbacks carry timeouts)."""
        done: list[tuple[Any, object]] = []
        wait = _TICK
        self._send()
        for _, multi in self._multis.values():
            while True:
                queued, ok, failed = multi.info_read()
                done.extend((self._waiting.pop(id(c), None), None) for c in ok)
                done.extend(
                    (self._waiting.pop(id(c), None), (code, msg)) for c, code, msg in failed
                )
                if not queued:
                    break
            ms = multi.timeout()
            if ms >= 0:
                wait = min(wait, ms / 1000)
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            done.append((heapq.heappop(self._timers)[2], None))
        for g, value in done:
            if g is not None:  # None: a handle no transfer waits for any more
                self._resume(g, value, running)
        if done:
            return
        if self._timers:
            wait = min(wait, max(0.0, self._timers[0][0] - now))
        multis = [m for _, m in self._multis.values()] if self._waiting else []
        for multi in multis:  # nearly always one; several stores at once are watched in turn
            share = wait / len(multis)
            if _Beyond.seen and hasattr(select, "poll"):
                self._poll(multi, share)
            elif any(multi.fdset()):
                multi.select(share)
            else:
                time.sleep(min(share, _NO_SOCKET))
        if not multis and wait > 0:
            time.sleep(wait)

    def _poll(self, multi: pycurl.CurlMulti, timeout: float) -> None:
        """Wait as ``multi.select`` would, for sockets past select()'s limit too."""
        pc = self._pycurl
        want: dict[int, int] = {}
        for fds, event in zip(
            multi.fdset(), (select.POLLIN, select.POLLOUT, select.POLLPRI), strict=True
        ):
            for fd in fds:
                want[fd] = want.get(fd, 0) | event
        blind = False
        for c, m in list(self._handles.values()):
            if m is not multi:
                continue
            fd = c.getinfo(pc.ACTIVESOCKET)
            if fd < 0:
                blind = True  # resolving or connecting: no socket libcurl names yet
            elif fd >= _FD_SETSIZE:
                # Left out of fdset: an answer is awaited, or the body's rest is being sent.
                events = select.POLLIN
                if c.getinfo(pc.SIZE_UPLOAD_T) < c.getinfo(pc.CONTENT_LENGTH_UPLOAD_T):
                    events |= select.POLLOUT
                want[fd] = want.get(fd, 0) | events
        if blind:
            timeout = min(timeout, _BLIND_WAIT)
        if not want:
            time.sleep(min(timeout, _BLIND_WAIT if blind else _NO_SOCKET))
            return
        poller = select.poll()
        for fd, events in want.items():
            poller.register(fd, events)
        poller.poll(timeout * 1000)
