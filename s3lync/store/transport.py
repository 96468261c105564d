"""The lean client's HTTP layer: libcurl (pycurl), a stack of idle easy handles shared by threads.

Why libcurl: measured in the whole tool (benchmarks/RESULTS.md, "libcurl"), a request costs
~0.7-0.8x the CPU of urllib3 + http.client, and at 64 requests in flight over a 20 ms network a
1000-small-file download went from 1.7x rclone to ~1.2x. ``perform()`` releases the GIL for the
whole exchange except the header, body and progress callbacks. Each handle keeps its own
kept-alive connections; a request takes the most recently used idle handle.

What botocore's urllib3 honours, held here too (tests/unit/test_transport.py and
tests/reliability/test_transport.py): the CA bundle (else certifi's, else botocore's own), hostname
checks, a connect timeout (the TLS handshake included) and a read timeout (that long without a byte
moving, checked about once a second), proxies from the resolved configuration only (CONNECT tunnels
for https, never libcurl's own reading of the environment), HTTP/1.1, TCP keepalive, paths sent as
they are (no dot-segment squashing: keys may contain ``..``), empty header values sent. libcurl's
redirects are off: s3lync follows region redirects itself (fast.py), and has one retry policy
(retry.py), applied by the caller.

The one resend below the retry policy: libcurl sends a request again on a new connection when a
kept-alive one turns out closed before any answer. That is harmless for GET, HEAD, an
unconditional PUT or a DELETE, but not for a conditional write or a multipart create/complete
(their first attempt may have taken effect), so those (``replayable=False``) always go on a fresh
connection, where libcurl never resends.

Network failures are raised as :class:`~s3lync.errors.WireError` (``final`` for those another
attempt cannot fix, such as a certificate that does not verify; ``unsent`` when no connection was
made), chained from a ConnectionError, TimeoutError or OSError that says which kind it was, so
callers never confuse them with a local file error such as a full disk (raised as itself).
"""

from __future__ import annotations

import errno
import io
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, BinaryIO

import pycurl

from s3lync.errors import WireError
from s3lync.redact import redact_url
from s3lync.store.loop import current as current_loop
from s3lync.store.loop import note_socket
from s3lync.store.scheduler import Scheduler, scheduler_for

if TYPE_CHECKING:
    from s3lync.store.protocol import Origin

# File bodies are read in blocks of this size (libcurl's default is 64 KiB); answers are received
# in blocks of up to _RECEIVE.
_BLOCK = 1024 * 1024
_RECEIVE = 512 * 1024
# Methods a server cannot have acted on twice in a harmful way: by default only these may be
# resent after a kept-alive connection turns out to have been closed. A PUT or DELETE may be too,
# when the caller says so (``replayable``).
IDEMPOTENT = frozenset({"GET", "HEAD"})

# libcurl's error codes, by what s3lync tells the user (https://curl.se/libcurl/c/libcurl-errors.html).
_UNREACHED = frozenset({6, 7})  # could not resolve host, could not connect
_PROXY = frozenset({5, 97})  # could not resolve proxy, proxy handshake failed
_TIMEOUT = 28
_READ_ERROR = 26  # the upload's read callback gave less than announced
# The system's errors that mean "the peer or the path dropped us" during a TLS handshake.
_DROPPED = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT})
# A proxy's answers to CONNECT that another attempt will not change.
_PROXY_REFUSALS = frozenset({400, 403, 405, 407})
_TLS = frozenset({35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
# libcurl adds these unless told not to: a form content type on POST (S3 would store it as the
# object's type on CreateMultipartUpload), "Expect: 100-continue" on large bodies, "Accept: */*".
_SUPPRESSED = ("Content-Type:", "Expect:", "Accept:")
# Idle multi handles kept (one per loop running at once: two engines' runs in two threads).
_MULTIS_KEPT = 2


class Timeouts:
    """Connect and read timeouts in seconds (a read times out after that long without a byte)."""

    __slots__ = ("connect_timeout", "read_timeout")

    def __init__(self, connect: float, read: float) -> None:
        self.connect_timeout = connect
        self.read_timeout = read


class Headers(Mapping[str, str]):
    """An answer's headers, case-insensitive; a repeated header's values joined by ", "."""

    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        """Record one header line."""
        key = name.lower()
        old = self._d.get(key)
        self._d[key] = value if old is None else f"{old}, {value}"

    @classmethod
    def parse(cls, lines: list[bytes]) -> tuple[int, Headers]:
        """The status and headers of the last answer in ``lines`` (after a 100 Continue, say)."""
        start = 0
        for i in range(len(lines) - 1, -1, -1):
            if lines[i][:5] == b"HTTP/":
                start = i
                break
        else:
            return 0, cls()
        parts = lines[start].split(None, 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = cls()
        for line in lines[start + 1 :]:
            name, sep, value = line.partition(b":")
            if sep:  # Latin-1, as http.client reads a head
                headers.add(name.strip().decode("latin-1"), value.strip().decode("latin-1"))
        return status, headers

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """One header (case-insensitive), or ``default``."""
        # Callers mostly ask by lower-case name, which is how they are kept.
        value = self._d.get(name)
        if value is None and not name.islower():
            value = self._d.get(name.lower())
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


class Response:
    """An answer: status, headers, and the body (unless it went to the caller's sink).

    It holds one of the scheduler's request slots until it is released or closed.
    """

    __slots__ = ("_body", "_held", "headers", "status", "streamed", "where")

    def __init__(
        self, status: int, headers: Headers, body: bytes, streamed: int, where: str, held: Scheduler
    ) -> None:
        self.status = status
        self.headers = headers
        self.where = where
        self.streamed = streamed  # bytes handed to the sink (0 when the body was kept)
        self._body = io.BytesIO(body)
        self._held: Scheduler | None = held

    def header(self, name: str) -> str | None:
        """One response header (case-insensitive), or None."""
        return self.headers.get(name)

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the kept body (all of it when None); b"" at the end."""
        return self._body.read(amt)

    def release(self) -> None:
        """Give back the request slot (the exchange itself is already over)."""
        held, self._held = self._held, None
        if held is not None:
            held.release_request()

    close = release


class ReadTimeout(TimeoutError):
    """No byte moved for the read timeout on a connected request (the cause of its WireError)."""


class _Exchange:
    """One request's callbacks: headers parsed, the body kept or handed to a sink, idle time."""

    __slots__ = (
        "cancel",
        "chunks",
        "connect_code",
        "connected",
        "error",
        "headers",
        "idle_limit",
        "lines",
        "moved",
        "os_errno",
        "parsed",
        "pending",
        "sink",
        "status",
        "streamed",
        "streaming",
        "timed_out",
        "when",
    )

    def __init__(
        self,
        sink: Callable[[bytes], None] | None,
        cancel: threading.Event | None,
        idle_limit: float,
    ) -> None:
        self.sink = sink
        self.cancel = cancel
        self.status = 0
        self.headers = Headers()
        self.lines: list[bytes] = []  # the head's raw lines, every answer's (libcurl's order)
        self.parsed = 0  # how many of them ``status`` and ``headers`` reflect
        self.chunks: list[bytes] = []
        self.streaming: bool | None = None
        self.streamed = 0
        self.pending = 0  # bytes of a 2xx body received and not yet handed to the sink
        self.error: BaseException | None = None
        self.connected = False  # a connection was made (or reused): the request may have gone
        self.idle_limit = idle_limit
        self.moved = -1  # bytes sent + received when the idle clock last restarted
        self.when: float | None = None  # when the idle clock last restarted; None: connecting
        self.timed_out = False
        self.os_errno = 0  # the system's errno behind a failure (a reset, say), 0 for none
        self.connect_code = 0  # a proxy's answer to CONNECT

    def on_socket(self, fd: int, _purpose: int) -> int:
        """A new connection is being made (libcurl's own replay included): its connect and
        TLS handshake fall under the connect timeout, so the idle clock waits for them."""
        self.when = None
        note_socket(fd)
        return _keep_count(fd)

    def on_connected(self, *_where: object) -> int:
        self.connected = True
        self.when = time.monotonic()
        return int(pycurl.PREREQFUNC_OK)

    def on_progress(self, _dltotal: int, dlnow: int, _ultotal: int, ulnow: int) -> int:
        # The read timeout as urllib3 had it: so long without a byte moving either way, once
        # connected (connecting has its own timeout). libcurl calls this at least once a second.
        if self.cancel is not None and self.cancel.is_set():
            return 1  # stop now, not at the next block or the read timeout (a stalled answer)
        if self.when is None:
            return 0
        now = time.monotonic()
        # A header line is a byte that moved, too (libcurl counts body bytes only).
        moved = dlnow + ulnow + len(self.lines)
        if moved != self.moved:
            self.moved = moved
            self.when = now
            return 0
        if now - self.when < self.idle_limit:
            return 0
        self.timed_out = True
        return 1  # libcurl aborts the transfer (CURLE_ABORTED_BY_CALLBACK)

    def answer(self) -> tuple[int, Headers]:
        """The status and headers received so far (parsed once, when first asked for)."""
        if self.parsed != len(self.lines):
            self.parsed = len(self.lines)
            self.status, self.headers = Headers.parse(self.lines)
        return self.status, self.headers

    def on_body(self, block: bytes) -> int | None:
        if self.streaming is None:  # only a success goes to the sink; an error document is kept
            self.streaming = self.sink is not None and 200 <= self.answer()[0] < 300
        self.chunks.append(block)
        if not self.streaming:
            return None
        self.pending += len(block)
        if self.pending < _BLOCK:
            return None
        if self.cancel is not None and self.cancel.is_set():
            return 0  # libcurl stops the transfer (a write error); the caller sees the event set
        return self.flush()

    def flush(self) -> int | None:
        """Hand what arrived to the sink in one block."""
        # libcurl's blocks are ~16-64 KiB: one sink call (hashing, write, progress event) per
        # 1 MiB costs far less CPU, and progress moves as it did over urllib3's 1 MiB reads.
        if not self.pending:
            return None
        data = b"".join(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks.clear()
        try:
            self.sink(data)  # type: ignore[misc]
        except BaseException as exc:  # a full disk: the caller gets this error, not a wire one
            self.error = exc
            return 0
        self.streamed += self.pending
        self.pending = 0
        return None

    def reader(
        self, src: BinaryIO, start: int
    ) -> tuple[Callable[[int], object], Callable[..., int]]:
        """READFUNCTION and SEEKFUNCTION over a body; a failing read is the caller's error."""

        def read(n: int) -> object:
            try:
                return src.read(n)
            except BaseException as exc:  # an unreadable file is a local error, not the network's
                self.error = exc
                return pycurl.READFUNC_ABORT

        def rewind(offset: int, origin: int) -> int:
            if origin != 0:
                return int(pycurl.SEEKFUNC_CANTSEEK)
            try:
                src.seek(start + offset)
            except BaseException as exc:
                self.error = exc
                return int(pycurl.SEEKFUNC_FAIL)
            return int(pycurl.SEEKFUNC_OK)

        return read, rewind


def _keep_count(fd: int) -> int:
    """TCP_KEEPCNT on a new socket (libcurl sets only the idle time and the interval)."""
    if hasattr(socket, "TCP_KEEPCNT"):  # Linux; elsewhere the system's count stays
        sock = socket.socket(fileno=fd)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)
        finally:
            sock.detach()
    return int(pycurl.SOCKOPT_OK)


_TRANSPORTS: weakref.WeakSet[Transport] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for t in list(_TRANSPORTS):
        t.forked()


if hasattr(os, "register_at_fork"):  # a DataLoader worker, a multiprocessing pool: fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Transport:
    """Kept-alive connections in a stack of idle libcurl handles; at most the scheduler's
    requests in flight."""

    def __init__(
        self,
        *,
        maxsize: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        ca_bundle: str | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.maxsize = maxsize
        # Requests in flight are bounded by the process's scheduler for this worker count.
        self.scheduler = scheduler or scheduler_for(maxsize)
        self.timeout = Timeouts(connect_timeout, read_timeout)
        self.ca_bundle = _ca_file(ca_bundle)
        # Idle handles, each with its kept-alive connections, shared by every thread (threads
        # of a pool made for one large file come and go; their connections stay): the most
        # recently used on top, at most ``maxsize`` kept.
        self._idle: list[pycurl.Curl] = []
        # Idle multi handles (store/loop.py), each with the connections a loop kept alive, and
        # the handles loops send with: kept apart, as adding a handle to a multi handle closes
        # the connections it kept from its own requests.
        self._multis: list[pycurl.CurlMulti] = []
        self._looped: list[pycurl.Curl] = []
        self._lock = threading.Lock()
        self._inherited: list[object] = []
        _TRANSPORTS.add(self)

    def forked(self) -> None:
        """In a forked child: leave the parent's connections alone and open new ones."""
        # Neither used nor closed here: a TLS connection's close sends its close_notify on the
        # socket the parent still uses. They are kept referenced, so none is ever cleaned up.
        self._inherited.append(self._idle)
        self._inherited.extend((self._multis, self._looped))
        self._idle = []
        self._multis = []
        self._looped = []
        self._lock = threading.Lock()  # another thread may have held it at the fork

    def _take(self, idle: list[pycurl.Curl]) -> pycurl.Curl:
        with self._lock:
            if idle:
                return idle.pop()
        return pycurl.Curl()

    def take_multi(self) -> pycurl.CurlMulti:
        """A multi handle for a loop's requests (its connections kept from an earlier loop)."""
        with self._lock:
            if self._multis:
                return self._multis.pop()
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_MAXCONNECTS, self.maxsize)
        return multi

    def give_multi(self, multi: pycurl.CurlMulti) -> None:
        """Keep a loop's multi handle, and its connections, for the next loop."""
        with self._lock:
            if len(self._multis) < _MULTIS_KEPT:
                self._multis.append(multi)
                return
        multi.close()

    def _give(self, c: pycurl.Curl, idle: list[pycurl.Curl]) -> None:
        # Drop the request's callbacks, and with them its body, sink and kept answer (an idle
        # handle must hold its connection only); the next request sets every option again.
        c.reset()
        ours = idle is self._idle or idle is self._looped
        with self._lock:
            if ours and len(idle) < self.maxsize:
                idle.append(c)
                return
        if ours:  # more than maxsize idle: the oldest connections are enough
            c.close()
        # else: taken before a fork in a parent's thread; the parent's, never closed here

    def request(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
        *,
        replayable: bool | None = None,
        sink: Callable[[bytes], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Response:
        """Send one request and read its answer; a 2xx body goes to ``sink`` when one is given.

        ``replayable`` (default: GET and HEAD) allows libcurl's one resend on a new connection
        when a kept-alive one turns out closed; otherwise the request goes on a fresh connection.
        """
        if replayable is None:
            replayable = method in IDEMPOTENT
        where = redact_url(f"{origin.scheme}://{origin.netloc}")
        x = _Exchange(sink, cancel, self.timeout.read_timeout)
        self.scheduler.acquire_request()
        try:
            loop = current_loop()
            idle = self._idle if loop is None else self._looped
            c = self._take(idle)
            try:
                self._prepare(c, method, origin, target, headers, body, replayable, x)
                if loop is None:
                    c.perform()
                else:
                    loop.perform(c, self)
            except pycurl.error:
                x.os_errno = int(c.getinfo(pycurl.OS_ERRNO))
                x.connect_code = int(c.getinfo(pycurl.HTTP_CONNECTCODE))
                raise
            finally:
                self._give(c, idle)
            if x.streaming and x.flush() is not None:
                raise x.error  # type: ignore[misc]
        except pycurl.error as exc:
            self.scheduler.release_request()
            if x.error is not None:
                raise x.error from None
            err = _wire_error(exc, method, where, x, origin, self.timeout.read_timeout)
            raise err from err.__cause__
        except BaseException:
            self.scheduler.release_request()
            raise
        body_kept = b"" if x.streaming else b"".join(x.chunks)
        status, answer = x.answer()
        return Response(status, answer, body_kept, x.streamed, where, self.scheduler)

    def _prepare(
        self,
        c: pycurl.Curl,
        method: str,
        origin: Origin,
        target: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
        replayable: bool,
        x: _Exchange,
    ) -> None:
        c.setopt(pycurl.URL, f"{origin.scheme}://{origin.netloc}{target}")
        c.setopt(pycurl.PATH_AS_IS, 1)
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.MAXCONNECTS, 1)  # one kept connection per handle: maxsize in all
        # pycurl's own agent would go on a proxy's CONNECT: the request's, or none ("").
        named = {k.lower(): v for k, v in headers.items()}  # signed names are lower case already
        c.setopt(pycurl.USERAGENT, named.get("user-agent") or "")
        c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(self.timeout.connect_timeout * 1000)))
        c.setopt(pycurl.NOPROGRESS, 0)
        c.setopt(pycurl.XFERINFOFUNCTION, x.on_progress)
        c.setopt(pycurl.TCP_KEEPALIVE, 1)
        c.setopt(pycurl.TCP_KEEPIDLE, 60)
        c.setopt(pycurl.TCP_KEEPINTVL, 15)
        c.setopt(pycurl.SOCKOPTFUNCTION, x.on_socket)
        c.setopt(pycurl.BUFFERSIZE, _RECEIVE)
        c.setopt(pycurl.UPLOAD_BUFFERSIZE, _BLOCK)
        if self.ca_bundle:
            c.setopt(pycurl.CAINFO, self.ca_bundle)
            c.setopt(pycurl.PROXY_CAINFO, self.ca_bundle)
        c.setopt(pycurl.NOPROXY, "")  # the resolved configuration decides, not the environment
        c.setopt(pycurl.PROXY, origin.proxy or "")
        if origin.proxy_headers:
            c.setopt(pycurl.HEADEROPT, pycurl.HEADER_SEPARATE)
            c.setopt(pycurl.PROXYHEADER, [_line(k, v) for k, v in origin.proxy_headers])
        if not replayable:
            c.setopt(pycurl.FRESH_CONNECT, 1)
        lines = [_line(k, v) for k, v in headers.items() if k.lower() != "content-length"]
        lines.extend(s.encode() for s in _SUPPRESSED if s[:-1].lower() not in named)
        c.setopt(pycurl.HTTPHEADER, lines)
        c.setopt(pycurl.HEADERFUNCTION, x.lines.append)
        c.setopt(pycurl.WRITEFUNCTION, x.on_body)
        c.setopt(pycurl.PREREQFUNCTION, x.on_connected)
        if method == "HEAD":
            c.setopt(pycurl.NOBODY, 1)
        elif method == "POST":
            data = body if isinstance(body, bytes) else (body.read() if body is not None else b"")
            c.setopt(pycurl.POST, 1)
            c.setopt(pycurl.POSTFIELDSIZE_LARGE, len(data))
            c.setopt(pycurl.POSTFIELDS, data)
        elif method == "PUT":
            _upload(c, body, named.get("content-length"), x)
        elif method != "GET":
            c.setopt(pycurl.CUSTOMREQUEST, method)

    def clear(self) -> None:
        """Close every idle connection (one in use is kept by its request until it ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
            looped, self._looped = self._looped, []
            multis, self._multis = self._multis, []
        for c in idle + looped:
            c.close()
        for m in multis:
            m.close()


def _line(name: str, value: str) -> bytes:
    # "Name:" with nothing after it tells libcurl to drop the header; "Name;" sends it empty
    # (an empty x-amz-meta-* value is signed, so it must be sent). Latin-1, as http.client.
    text = f"{name}: {value}" if value.strip() else f"{name};"
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"invalid header {name!r}: it contains a line break or NUL")
    return text.encode("latin-1")


def _upload(
    c: pycurl.Curl, body: bytes | BinaryIO | None, length: str | None, x: _Exchange
) -> None:
    """A PUT's body from bytes or a file positioned at its start, rewound if libcurl resends."""
    if body is None or isinstance(body, bytes):
        src: BinaryIO = io.BytesIO(body or b"")
        size = len(body or b"")
    else:
        src = body
        if length is None:  # libcurl would send it chunked, which S3 refuses
            raise ValueError("a PUT from a file needs its Content-Length")
        size = int(length)
    read, rewind = x.reader(src, src.tell())
    c.setopt(pycurl.UPLOAD, 1)
    c.setopt(pycurl.READFUNCTION, read)
    c.setopt(pycurl.SEEKFUNCTION, rewind)
    c.setopt(pycurl.INFILESIZE_LARGE, size)


def _wire_error(
    exc: pycurl.error,
    method: str,
    where: str,
    x: _Exchange,
    origin: Origin,
    read_timeout: float,
) -> WireError:
    code = int(exc.args[0]) if exc.args else 0
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    detail = f"curl error {code}: {text}"
    # The cause says what kind of failure it was in Python's terms, for callers that classify
    # (the circuit breaker counts connection failures and timeouts, not TLS or proxy refusals);
    # libcurl's own error is chained below it.
    cause: OSError = ConnectionError(code, text)
    final = False
    unsent = not x.connected
    if x.timed_out:
        cause, unsent = ReadTimeout(code, text), False
        message = f"{method} to {where} failed (read timed out: no data for {read_timeout:g} s)"
    elif code in _TLS and not (code == 35 and x.os_errno in _DROPPED):
        # A TLS failure (certificate, protocol) will not go away on the next attempt; a reset
        # in the middle of the handshake is the network's. (OS_ERRNO may be left over from an
        # earlier address that refused, hence the errno named, not any.)
        cause, final, unsent = OSError(code, text), True, False
        message = f"TLS with {where} failed ({detail})"
    elif origin.proxy and x.connect_code in _PROXY_REFUSALS:
        # The proxy refused the tunnel (407: its credentials; 403: not allowed): final. A 408,
        # 429 or 5xx is a busy proxy: transient, below.
        cause, final, unsent = OSError(code, text), True, False
        message = f"the proxy to {where} refused the tunnel (HTTP {x.connect_code}; {detail})"
    elif code == _READ_ERROR:
        # The body's source gave fewer bytes than its Content-Length: a file that shrank while
        # it was sent. Not the network's, and sending it again would send the same promise.
        cause, final, unsent = OSError(code, text), True, False
        message = f"{method} to {where}: the body ended before its Content-Length ({detail})"
    elif code == _TIMEOUT:
        cause = TimeoutError(code, text)
        message = f"cannot reach the S3 endpoint {where} ({detail})"
    elif code in _PROXY or (origin.proxy and code in _UNREACHED):
        message = f"the proxy to {where} failed ({detail})"
    elif code in _UNREACHED:
        message = f"cannot reach the S3 endpoint {where} ({detail})"
    else:
        message, unsent = f"{method} to {where} failed ({detail})", False
    err = WireError(message, cause, final=final, unsent=unsent)
    err.__cause__ = cause  # the breaker and describe() follow __cause__ first
    cause.__cause__ = exc
    return err


def _ca_file(explicit: str | None) -> str | None:
    """The CA bundle botocore would use: the configured one, else certifi's, else botocore's own.

    As ``botocore.httpsession.where`` (without importing it): libcurl's built-in default is the
    build machine's path, which another distribution may not have.
    """
    if explicit:
        return explicit
    try:
        import certifi
    except ImportError:
        import importlib.util

        spec = importlib.util.find_spec("botocore")
        origin = spec.origin if spec is not None else None
        bundled = os.path.join(os.path.dirname(origin), "cacert.pem") if origin else ""
        return bundled if os.path.isfile(bundled) else None
    where: str = certifi.where()
    return where
