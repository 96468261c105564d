"""Local network pieces for transport tests: a TLS front, a recording proxy, odd servers.

- :func:`make_cert`: a self-signed certificate (its own CA) for 127.0.0.1 and ``FAKE_HOST``.
- :class:`TlsFront`: terminates TLS on 127.0.0.1 and relays the plain bytes to an upstream port
  (put it in front of a :class:`~tests.reliability.faultproxy.FaultProxy` to break https answers).
- :class:`RecordingProxy`: an HTTP proxy that records every CONNECT target and every
  absolute-URI request; ``routes`` maps a requested ``host:port`` to a local ``(host, port)``,
  so a name that does not resolve (``FAKE_HOST``) is reachable only through the proxy;
  ``tunnel=False`` records CONNECT and hangs up without tunnelling (nothing goes further).
- :class:`OddServer`: an HTTP server answering every request with one fixed raw response, or
  (``silent=True``) accepting connections and never answering.
- :class:`ThrottleFront`: relays 127.0.0.1:port to an upstream URL's port at a bandwidth limit
  (bytes per second, both ways, shared by all connections), like ``rclone --bwlimit``;
  ``pause()`` stops every byte until ``resume()``.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

# RFC 6761: .invalid never resolves. moto serves path-style buckets on hosts named localhost*.
FAKE_HOST = "localhost.s3lync-test.invalid"


def make_cert(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem): self-signed, valid for 127.0.0.1 and FAKE_HOST, usable as a CA."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=s3lync-test", "-addext",
         f"subjectAltName=IP:127.0.0.1,DNS:{FAKE_HOST}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class Server:
    """Accept loop on 127.0.0.1 with one thread per connection, every socket closed on exit."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._closing = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.add(s)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._track(conn)
            threading.Thread(target=self._guarded, args=(conn,), daemon=True).start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pump(a: socket.socket, b: socket.socket, closing: threading.Event) -> None:
    """Relay bytes both ways until either side closes."""
    socks = [a, b]
    while not closing.is_set():
        ready, _, _ = select.select(socks, [], [], 0.2)
        for s in ready:
            try:
                data = s.recv(65536)
            except (OSError, ssl.SSLWantReadError):
                return
            if not data:
                return
            (b if s is a else a).sendall(data)
        for s in socks:
            if isinstance(s, ssl.SSLSocket) and s.pending():
                data = s.recv(s.pending())
                (b if s is a else a).sendall(data)


class TlsFront(Server):
    """TLS on 127.0.0.1:port, relayed in plain to 127.0.0.1:upstream_port."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self.upstream_port = upstream_port
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(cert, key)
        super().__init__()
        self.url = f"https://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        tls = self._ctx.wrap_socket(conn, server_side=True)
        self._track(tls)
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._track(up)
        try:
            _pump(tls, up, self._closing)
        finally:
            up.close()
            tls.close()


class RecordingProxy(Server):
    """An HTTP forward proxy (CONNECT and absolute URIs) that records what it was asked for."""

    def __init__(
        self, routes: dict[str, tuple[str, int]] | None = None, *, tunnel: bool = True
    ) -> None:
        self.routes = dict(routes or {})
        self.tunnel = tunnel
        self.connects: list[str] = []
        self.forwarded: list[str] = []  # "METHOD absolute-URI"
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def _route(self, hostport: str) -> tuple[str, int]:
        if hostport in self.routes:
            return self.routes[hostport]
        host, _, port = hostport.rpartition(":")
        return host, int(port)

    def handle(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        while True:
            line = reader.readline(65537)
            if not line:
                return
            method, target, _v = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            headers: list[bytes] = []
            length = 0
            while True:
                h = reader.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                if name.strip().lower() not in ("proxy-connection", "proxy-authorization"):
                    headers.append(h)
            with self._lock:
                (self.connects if method == "CONNECT" else self.forwarded).append(
                    target if method == "CONNECT" else f"{method} {target}"
                )
            if method == "CONNECT":
                if not self.tunnel:
                    return  # recorded; the client's TLS handshake then fails
                up = socket.create_connection(self._route(target))
                self._track(up)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pump(conn, up, self._closing)
                up.close()
                return
            body = reader.read(length) if length else b""
            scheme_rest = target.split("://", 1)[1]
            hostport, _, path = scheme_rest.partition("/")
            if ":" not in hostport:
                hostport += ":80"
            # Relay one answer by its own framing (Content-Length), then take the client's next
            # request on the same connection, as a real forward proxy does; waiting for the
            # upstream to hang up would stall every request on a keep-alive upstream.
            up = http.client.HTTPConnection(*self._route(hostport), timeout=60)
            try:
                up.putrequest(method, "/" + path, skip_host=True, skip_accept_encoding=True)
                for h in headers:
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.strip().lower() not in ("connection", "keep-alive", "content-length"):
                        up.putheader(name.strip(), value.strip())
                if body or method in ("PUT", "POST"):
                    up.putheader("Content-Length", str(len(body)))
                up.endheaders(body or None)
                resp = up.getresponse()
                rbody = resp.read()
                head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
                head += [
                    f"{k}: {v}"
                    for k, v in resp.getheaders()
                    if k.lower() not in ("connection", "keep-alive", "transfer-encoding")
                    and (method == "HEAD" or k.lower() != "content-length")
                ]
                if method != "HEAD":
                    head.append(f"Content-Length: {len(rbody)}")
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + rbody)
            finally:
                up.close()


class OddServer(Server):
    """Answers every request with ``response`` (raw bytes), or never answers (``silent``)."""

    def __init__(self, response: bytes = b"", *, silent: bool = False) -> None:
        self.response = response
        self.silent = silent
        self.requests: list[str] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        while True:
            line = reader.readline(65537)
            if not line:
                return
            length = 0
            while True:
                h = reader.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                if name.strip().lower() == "expect":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if length:
                reader.read(length)
            with self._lock:
                self.requests.append(line.decode("latin-1").strip())
            if self.silent:
                self._closing.wait(120)
                return
            conn.sendall(self.response)


def http_response(status: str, body: bytes, content_type: str, *extra: str) -> bytes:
    """Raw HTTP/1.1 response bytes (keep-alive, with Content-Length)."""
    head = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *extra]) + "\r\n\r\n").encode() + body


class _Bucket:
    """A token bucket: ``take(n)`` returns once ``n`` more bytes fit the rate (and not paused)."""

    def __init__(self, rate: float, running: threading.Event) -> None:
        self.rate = rate
        self.running = running
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        self.running.wait()
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now) + n / self.rate
            wait = self._next - now
        if wait > 0:
            time.sleep(wait)


class ThrottleFront(Server):
    """127.0.0.1:port relayed to ``upstream_url``'s port at ``rate`` bytes/s each way."""

    def __init__(self, upstream_url: str, rate: float) -> None:
        self.upstream_port = int(urlsplit(upstream_url).port or 80)
        self.running = threading.Event()
        self.running.set()
        self.down = _Bucket(rate, self.running)  # server -> client
        self.up = _Bucket(rate, self.running)  # client -> server
        self.block = max(4096, int(rate // 20))
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def handle(self, conn: socket.socket) -> None:
        up = socket.create_connection(("127.0.0.1", self.upstream_port))
        self._track(up)
        # Small buffers, so a sender feels the limit instead of filling megabytes of kernel memory.
        for sock in (conn, up):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        back = threading.Thread(target=self._relay, args=(up, conn, self.down), daemon=True)
        back.start()
        try:
            self._relay(conn, up, self.up)
        finally:
            back.join(timeout=5)
            up.close()

    def _relay(self, src: socket.socket, dst: socket.socket, bucket: _Bucket) -> None:
        try:
            while not self._closing.is_set():
                data = src.recv(self.block)
                if not data:
                    break
                bucket.take(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
