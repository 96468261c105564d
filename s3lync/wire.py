"""Keep-alive HTTP/1.1 connections for the lean client, on the standard library's http.client.

urllib3's pool manager costs ~0.3 ms of CPU per request in URL parsing, header dicts and pool
bookkeeping, and importing it pulls in ssl even for plain-http endpoints. The lean client needs
far less: one origin, requests it builds itself, responses it reads whole. So this is a list of
idle connections behind a lock, and ssl is imported only for https endpoints.

Network failures are raised as :class:`~s3lync.errors.WireError` (with :class:`ConnectFailed` for
the connect phase), so callers never confuse them with a local file error such as a full disk.
"""

from __future__ import annotations

import http.client
import io
import socket
import struct
import sys
import threading
from typing import Any, BinaryIO

from .errors import WireError


class ConnectFailed(WireError):
    """No connection could be opened (refused, unresolvable, connect timeout)."""


# File bodies are sent in blocks of this size (http.client's default is 8 KiB).
_BLOCK = 1024 * 1024
# Responses are read through this much buffer: headers and a small body in one recv.
_READ_BUFFER = 64 * 1024
# Linux can time a blocking socket out in the kernel (SO_RCVTIMEO), which spares the poll()
# Python issues before every send and recv on a socket with a timeout: a quarter of the system
# calls, and as many GIL hand-offs, of a small GET. Elsewhere, Python's own timeouts are used.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Response:
    """A response whose status and headers are read; the body is read by the caller."""

    __slots__ = ("_conn", "_host", "_pool", "_resp", "status")

    def __init__(self, pool: Pool, host: str, conn: http.client.HTTPConnection, resp: Any) -> None:
        self._pool = pool
        self._host = host
        self._conn: http.client.HTTPConnection | None = conn
        self._resp = resp
        self.status: int = resp.status

    def header(self, name: str) -> str | None:
        """One response header (case-insensitive), or None."""
        value: str | None = self._resp.getheader(name)
        return value

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it when None); b"" at the end."""
        data: bytes = self._body(self._resp.read, amt)
        return data

    def readinto(self, buf: bytearray) -> int:
        """Fill ``buf`` with the next body bytes; 0 at the end (no copy, unlike ``read``)."""
        n: int = self._body(self._resp.readinto, buf)
        return n

    def _body(self, fn: Any, arg: Any) -> Any:
        try:
            return fn(arg)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise WireError(f"reading the response failed ({_describe(exc)})", exc) from exc

    def release(self) -> None:
        """Hand the connection back for reuse once the body is fully read, else close it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # isclosed() is also true when the peer hung up mid-body; a non-zero length left says so.
        if self._resp.isclosed() and not self._resp.will_close and not self._resp.length:
            self._pool.put(self._host, conn)
        else:
            self._resp.close()
            conn.close()

    def close(self) -> None:
        """Drop the connection (after an error or an abandoned body)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._resp.close()
            conn.close()


class _TimedReader(io.RawIOBase):
    """A socket's raw reader where an expired SO_RCVTIMEO raises TimeoutError.

    ``socket.SocketIO`` reports EAGAIN as None ("no data yet", meant for non-blocking sockets),
    which http.client would take for a closed connection or a short body.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def readable(self) -> bool:
        """Always: this wraps a socket's read side."""
        return True

    def readinto(self, b: Any) -> int:
        """The next bytes from the socket; a timeout raises."""
        n: int | None = self._raw.readinto(b)
        if n is None:
            raise TimeoutError("timed out")
        return n

    def close(self) -> None:
        """Close the underlying SocketIO (which releases its hold on the socket)."""
        if not self.closed:
            self._raw.close()
        super().close()


class _Response(http.client.HTTPResponse):
    """http.client's response, reading a kernel-timed socket through :class:`_TimedReader`."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        if sock.gettimeout() is None:
            # detach() keeps the SocketIO (and its reference on the socket) and drops only the
            # 8 KiB buffer, which is replaced by a larger one.
            self.fp = io.BufferedReader(_TimedReader(self.fp.detach()), _READ_BUFFER)


def _set_read_timeout(sock: Any, seconds: float) -> None:
    if not _KERNEL_TIMEOUTS:
        sock.settimeout(seconds)
        return
    sock.settimeout(None)
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


class Pool:
    """Idle keep-alive connections to one scheme://host:port, shared by all worker threads."""

    def __init__(
        self,
        scheme: str,
        *,
        maxsize: int = 16,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        ca_bundle: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.maxsize = maxsize
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ca_bundle = ca_bundle
        self._idle: dict[str, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl_context: Any = None

    def _new(self, host: str) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            if self._ssl_context is None:
                import ssl

                self._ssl_context = ssl.create_default_context(cafile=_ca_file(self.ca_bundle))
            conn = http.client.HTTPSConnection(
                host, timeout=self.connect_timeout, context=self._ssl_context, blocksize=_BLOCK
            )
        else:
            conn = http.client.HTTPConnection(host, timeout=self.connect_timeout, blocksize=_BLOCK)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            # A TLS failure (certificate, protocol) will not go away on the next attempt.
            final = type(exc).__module__ == "ssl" or type(exc).__name__.startswith("SSL")
            raise ConnectFailed(
                f"cannot reach the S3 endpoint {host} ({_describe(exc)})", exc, final=final
            ) from exc
        if conn.sock is not None:
            _set_read_timeout(conn.sock, self.read_timeout)
        conn.response_class = _Response
        return conn

    def put(self, host: str, conn: http.client.HTTPConnection) -> None:
        """Keep ``conn`` for the next request to ``host`` (closed when the pool is full)."""
        with self._lock:
            idle = self._idle.setdefault(host, [])
            if len(idle) < self.maxsize:
                idle.append(conn)
                return
        conn.close()

    def _take(self, host: str) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(host)
            return idle.pop() if idle else None

    def request(
        self,
        method: str,
        host: str,
        target: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
    ) -> Response:
        """Send one request and read its status line and headers."""
        conn = self._take(host)
        if conn is not None:
            try:
                return self._send(conn, host, method, target, headers, body)
            except _STALE:
                # The server closed this idle connection; that says nothing about the request,
                # so it is repeated once on a new connection without counting as an attempt.
                conn.close()
                if not isinstance(body, bytes | None):
                    body.seek(0)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise WireError(f"{method} failed ({_describe(exc)})", exc) from exc
        conn = self._new(host)
        try:
            return self._send(conn, host, method, target, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise WireError(f"{method} failed ({_describe(exc)})", exc) from exc

    def _send(
        self,
        conn: http.client.HTTPConnection,
        host: str,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
    ) -> Response:
        # The signed headers already carry Host; http.client then adds only Accept-Encoding.
        conn.request(method, target, body=body, headers=headers)
        return Response(self, host, conn, conn.getresponse())

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()


def _ca_file(explicit: str | None) -> str | None:
    """The CA bundle botocore would use: AWS_CA_BUNDLE, else certifi's, else the system's."""
    if explicit:
        return explicit
    try:
        import certifi
    except ImportError:
        return None
    where: str = certifi.where()
    return where
