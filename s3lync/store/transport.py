"""The lean client's HTTP layer: urllib3 connection pools with timeouts, keep-alive and proxies.

urllib3 is what botocore sends with, so TLS (CA bundle, hostname checks), connect and read
timeouts on http and https alike, proxies (CONNECT tunnels for https) and pooled keep-alive
connections behave as they do for boto3. urllib3's own retries and redirects are off: s3lync has
one retry policy (retry.py), applied by the caller.

Network failures are raised as :class:`~s3lync.errors.WireError` (``final`` for those another
attempt cannot fix, such as a certificate that does not verify), so callers never confuse them
with a local file error such as a full disk.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.util import Timeout, parse_url

from s3lync.errors import WireError
from s3lync.redact import redact_url
from s3lync.store.scheduler import Scheduler, scheduler_for

if TYPE_CHECKING:
    from s3lync.store.protocol import Origin

# File bodies are sent in blocks of this size (http.client's default is 8 KiB, urllib3's 16 KiB).
_BLOCK = 1024 * 1024
# Methods a server cannot have acted on twice in a harmful way: by default only these are replayed
# after a kept-alive connection turns out to have been closed. A PUT or DELETE may be too, when the
# caller says so (``replayable``): one that carries a condition (If-Match, If-None-Match) is not,
# since its first attempt may have taken effect and its replay would then be refused (retry.py).
IDEMPOTENT = frozenset({"GET", "HEAD"})
# The server hung up a kept-alive connection before answering (its idle timeout fired).
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


# Answers are read through a buffer this large: a small object's head and body then arrive in one
# recv (http.client's 8 KiB took three, each a poll and a recv that hand the GIL to another worker).
_READ_BUFFER = 64 * 1024


class _ReadsInLargeBlocks:
    """The socket as http.client's response sees it: ``makefile`` with a larger buffer."""

    __slots__ = ("_sock",)

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> Any:
        return self._sock.makefile(mode, _READ_BUFFER)


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_ReadsInLargeBlocks(sock), *args, **kwargs)  # type: ignore[arg-type]


_CONNECTIONS: dict[type, type] = {}


def _large_reads(pool: Any) -> Any:
    """``pool`` with connections whose answers are read through ``_READ_BUFFER``."""
    base = pool.ConnectionCls
    if getattr(base, "response_class", None) is _Response:
        return pool  # a pool reached again through another origin (host:443, a shared proxy)
    cls = _CONNECTIONS.get(base)
    if cls is None:
        cls = _CONNECTIONS[base] = type(base.__name__, (base,), {"response_class": _Response})
    pool.ConnectionCls = cls
    return pool


def _keepalive_options() -> list[tuple[int, int, int]]:
    """Socket options for TCP keepalive: a dead peer is noticed in ~2 minutes, not hours."""
    opts = [*urllib3.connection.HTTPConnection.default_socket_options]
    opts.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 15), ("TCP_KEEPCNT", 4)):
        if hasattr(socket, name):  # Linux; macOS has only TCP_KEEPALIVE under another name
            opts.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return opts


def _describe(exc: BaseException) -> str:
    # urllib3 wraps the socket error it saw; its innermost reason is the useful part.
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or (inner.args[1] if _pair(inner) else None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner)
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def _pair(exc: BaseException) -> bool:
    return isinstance(exc, ProtocolError) and len(exc.args) == 2


def _stale(exc: BaseException) -> bool:
    return _pair(exc) and isinstance(exc.args[1], _STALE)


class Response:
    """A response whose status and headers are read; the body is read by the caller.

    It holds one of the scheduler's request slots until it is released or closed.
    """

    __slots__ = ("_held", "_resp", "status", "where")

    def __init__(self, resp: Any, where: str, held: Scheduler) -> None:
        self._resp = resp
        self.status: int = resp.status
        self.where = where
        self._held: Scheduler | None = held

    def _free(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release_request()

    @property
    def headers(self) -> Any:
        """The response headers (a case-insensitive mapping)."""
        return self._resp.headers

    def header(self, name: str) -> str | None:
        """One response header (case-insensitive), or None."""
        value: str | None = self._resp.headers.get(name)
        return value

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` bytes of the body (all of it when None); b"" at the end."""
        try:
            data: bytes = self._resp.read(amt, decode_content=False)
        except (OSError, HTTPError, http.client.HTTPException) as exc:
            self.close()
            raise WireError(
                f"reading the answer of {self.where} failed ({_describe(exc)})", exc
            ) from exc
        return data

    def release(self) -> None:
        """Hand the connection back for reuse (urllib3 closes it if the body was not all read)."""
        try:
            if not self._resp.isclosed() and self._resp.length_remaining:
                self._resp.close()
            self._resp.release_conn()
        finally:
            self._free()

    def close(self) -> None:
        """Drop the connection (after an error or an abandoned body)."""
        try:
            self._resp.close()
            self._resp.release_conn()
        finally:
            self._free()


class Transport:
    """Pooled keep-alive connections per origin, shared by all worker threads."""

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
        self.timeout = Timeout(connect=connect_timeout, read=read_timeout)
        self.ca_bundle = _ca_file(ca_bundle)
        self._kw: dict[str, Any] = {
            "maxsize": maxsize,
            "block": False,
            "timeout": self.timeout,
            "retries": False,
            "socket_options": _keepalive_options(),
            "blocksize": _BLOCK,
            "ca_certs": self.ca_bundle,
            "cert_reqs": "CERT_REQUIRED",
        }
        self._direct = urllib3.PoolManager(num_pools=32, **self._kw)
        self._proxied: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._pools: dict[Origin, Any] = {}
        self._lock = threading.Lock()

    def _pool(self, origin: Origin) -> Any:
        pool = self._pools.get(origin)
        if pool is not None:
            return pool
        with self._lock:
            manager: Any = self._direct
            if origin.proxy:
                pkey = (origin.proxy, origin.proxy_headers)
                manager = self._proxied.get(pkey)
                if manager is None:
                    manager = urllib3.ProxyManager(
                        origin.proxy,
                        num_pools=32,
                        proxy_headers=dict(origin.proxy_headers) or None,
                        **self._kw,
                    )
                    self._proxied[pkey] = manager
            u = parse_url(f"{origin.scheme}://{origin.netloc}")
            pool = _large_reads(manager.connection_from_host(u.host, u.port, scheme=origin.scheme))
            self._pools[origin] = pool
            return pool

    def request(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
        *,
        replayable: bool | None = None,
    ) -> Response:
        """Send one request and read its status line and headers (urllib3 retries nothing).

        ``replayable`` (default: GET and HEAD) allows one resend on a new connection when a
        kept-alive one turns out closed; anything else is the caller's retry policy to decide.
        """
        if replayable is None:
            replayable = method in IDEMPOTENT
        pool = self._pool(origin)
        where = redact_url(f"{origin.scheme}://{origin.netloc}")
        # A plain-http request through a proxy names the whole URL in its request line.
        url = (
            f"http://{origin.netloc}{target}"
            if origin.proxy and origin.scheme == "http"
            else target
        )
        start = body.tell() if body is not None and not isinstance(body, bytes) else 0
        self.scheduler.acquire_request()
        try:
            return self._send(pool, method, url, where, headers, body, start, replayable)
        except BaseException:
            self.scheduler.release_request()
            raise

    def _send(
        self,
        pool: Any,
        method: str,
        url: str,
        where: str,
        headers: dict[str, str],
        body: bytes | BinaryIO | None,
        start: int,
        replayable: bool,
    ) -> Response:
        for replay in (False, True):
            try:
                resp = pool.urlopen(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                    decode_content=False,
                    release_conn=False,
                    timeout=self.timeout,
                )
                return Response(resp, where, self.scheduler)
            except (OSError, HTTPError, http.client.HTTPException) as exc:
                if not replay and replayable and _stale(exc):
                    # The server closed this kept-alive connection; that says nothing about the
                    # request, so it is sent once more on a new one without counting an attempt.
                    if body is not None and not isinstance(body, bytes):
                        body.seek(start)
                    continue
                raise _wire_error(exc, method, where) from exc
        raise AssertionError("unreachable")

    def clear(self) -> None:
        """Close every idle connection."""
        with self._lock:
            self._direct.clear()
            for m in self._proxied.values():
                m.clear()
            self._pools.clear()


def _wire_error(exc: BaseException, method: str, where: str) -> WireError:
    if isinstance(exc, SSLError) or (isinstance(exc, ProxyError) and _is_ssl(exc)):
        # A TLS failure (certificate, protocol) will not go away on the next attempt.
        return WireError(f"TLS with {where} failed ({_describe(exc)})", exc, final=True)
    if isinstance(exc, (NewConnectionError, urllib3.exceptions.ConnectTimeoutError)):
        return WireError(f"cannot reach the S3 endpoint {where} ({_describe(exc)})", exc)
    if isinstance(exc, ProxyError):
        return WireError(f"the proxy to {where} failed ({_describe(exc)})", exc)
    return WireError(f"{method} to {where} failed ({_describe(exc)})", exc)


def _is_ssl(exc: BaseException) -> bool:
    return any(isinstance(a, SSLError) for a in exc.args)


def _ca_file(explicit: str | None) -> str | None:
    """The CA bundle botocore would use: the configured one, else certifi's, else the system's."""
    if explicit:
        return explicit
    try:
        import certifi
    except ImportError:
        return None
    where: str = certifi.where()
    return where
