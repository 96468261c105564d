"""wire.Pool against a real HTTP/1.1 server on 127.0.0.1: keep-alive reuse, stale and dead
connections, refused connects, short bodies and read timeouts (no mocks of http.client)."""

from __future__ import annotations

import hashlib
import http.client
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from s3lync.lean import _CHUNK, Credentials, LeanClient, _Retryable, _stream_to_file
from s3lync.wire import ConnectFailed, Pool, Response, WireError

OK_BODY = b"hello"
SHORT_SENT = b"0123456789"
BIG_LENGTH = _CHUNK + 100  # above _CHUNK, so _stream_to_file takes the readinto loop
SMALL_LENGTH = 100  # at most _CHUNK, so _stream_to_file takes the single read()


class _Server(ThreadingHTTPServer):
    """Records every accepted connection (client address) and every server-side close."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.cond = threading.Condition()
        self.connections: list[tuple[str, int]] = []
        self.closed = 0
        self.hits: dict[str, int] = {}
        self.unblock = threading.Event()  # set at teardown so slow handlers stop waiting

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self.cond:
            self.closed += 1
            self.cond.notify_all()

    def wait_closed(self, n: int, timeout: float = 2.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.closed >= n, timeout), (
                f"server closed {self.closed} connection(s), expected {n}"
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.cond:
            self.server.connections.append(self.client_address)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, body: bytes, *, length: int | None = None, close: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        path = self.path
        with self.server.cond:
            hit = self.server.hits[path] = self.server.hits.get(path, 0) + 1
        if path == "/ok":
            self._send(OK_BODY)
        elif path == "/close":
            self._send(OK_BODY, close=True)
        elif path == "/stale":
            # Answer as keep-alive (no Connection: close), then drop the idle connection anyway,
            # as a server does when its idle timeout fires.
            self._send(OK_BODY)
            self.close_connection = True
        elif path == "/short-small":
            self._send(SHORT_SENT, length=SMALL_LENGTH)
            self.close_connection = True
        elif path == "/short-big":
            self._send(SHORT_SENT, length=BIG_LENGTH)
            self.close_connection = True
        elif path == "/slow":
            if self.server.unblock.wait(2.0):
                self.close_connection = True  # torn down: the client has long given up
                return
            self._send(OK_BODY)
        elif path.startswith("/bucket/flaky-"):
            # First GET of each object is cut short, later ones are whole.
            length = BIG_LENGTH if path.endswith("big") else SMALL_LENGTH
            if hit == 1:
                self._send(SHORT_SENT, length=length)
                self.close_connection = True
            else:
                self._send(_payload(length))
        else:
            self.send_error(404)


def _payload(n: int) -> bytes:
    return (b"0123456789abcdef" * (n // 16 + 1))[:n]


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.unblock.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=2)


def _get(pool: Pool, server: _Server, target: str) -> Response:
    return pool.request("GET", server.host, target, {}, None)


def _get_all(pool: Pool, server: _Server, target: str) -> bytes:
    resp = _get(pool, server, target)
    try:
        assert resp.status == 200
        return resp.read()
    finally:
        resp.release()


def _idle(pool: Pool, server: _Server) -> list[http.client.HTTPConnection]:
    return pool._idle.get(server.host, [])


# --------------------------------------------------------------------------- keep-alive


def test_fully_read_responses_reuse_one_connection(server: _Server) -> None:
    pool = Pool("http")
    assert _get_all(pool, server, "/ok") == OK_BODY
    assert len(_idle(pool, server)) == 1
    assert _get_all(pool, server, "/ok") == OK_BODY
    assert server.hits["/ok"] == 2
    assert len(server.connections) == 1
    assert len(_idle(pool, server)) == 1
    pool.clear()


def test_response_released_unread_is_not_pooled(server: _Server) -> None:
    pool = Pool("http")
    resp = _get(pool, server, "/ok")
    assert resp.status == 200
    resp.release()  # body never read: the connection cannot carry another request
    assert _idle(pool, server) == []
    server.wait_closed(1)
    assert _get_all(pool, server, "/ok") == OK_BODY
    assert len(server.connections) == 2
    pool.clear()


def test_connection_close_response_is_not_pooled(server: _Server) -> None:
    pool = Pool("http")
    resp = _get(pool, server, "/close")
    assert resp.header("connection") == "close"
    assert resp.read() == OK_BODY
    resp.release()
    assert _idle(pool, server) == []
    assert _get_all(pool, server, "/ok") == OK_BODY
    assert len(server.connections) == 2
    pool.clear()


def test_stale_idle_connection_is_replaced_transparently(server: _Server) -> None:
    pool = Pool("http")
    assert _get_all(pool, server, "/stale") == OK_BODY
    assert len(_idle(pool, server)) == 1  # looked reusable to the client
    server.wait_closed(1)  # ...but the server has now dropped it
    assert _get_all(pool, server, "/ok") == OK_BODY  # no exception: repeated on a new connection
    assert len(server.connections) == 2
    assert len(_idle(pool, server)) == 1
    pool.clear()


def test_maxsize_keeps_one_idle_connection_and_clear_closes_it(server: _Server) -> None:
    pool = Pool("http", maxsize=1)
    first = _get(pool, server, "/ok")
    second = _get(pool, server, "/ok")  # the first is still in use: a second connection
    assert len(server.connections) == 2
    conns = [first._conn, second._conn]
    assert first.read() == OK_BODY and second.read() == OK_BODY
    first.release()
    second.release()
    assert _idle(pool, server) == [conns[0]]
    assert conns[1] is not None and conns[1].sock is None  # over maxsize: closed
    server.wait_closed(1)
    pool.clear()
    assert pool._idle == {}
    assert conns[0] is not None and conns[0].sock is None
    server.wait_closed(2)


# --------------------------------------------------------------------------- failures


def test_refused_connection_raises_connect_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pool = Pool("http", connect_timeout=1.0)
    with pytest.raises(ConnectFailed) as info:
        pool.request("GET", f"127.0.0.1:{port}", "/", {}, None)
    assert isinstance(info.value, WireError)
    assert "cannot reach the S3 endpoint" in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value.cause, ConnectionRefusedError)


def test_short_body_read_raises_wire_error(server: _Server) -> None:
    pool = Pool("http")
    resp = _get(pool, server, "/short-small")
    assert resp.header("content-length") == str(SMALL_LENGTH)
    with pytest.raises(WireError) as info:
        resp.read()
    assert isinstance(info.value.cause, http.client.IncompleteRead)
    resp.release()
    assert _idle(pool, server) == []  # read() closed it on the error
    assert _get_all(pool, server, "/ok") == OK_BODY


def test_short_body_readinto_ends_early_without_error(server: _Server) -> None:
    # http.client's readinto reports EOF as 0 even before Content-Length is reached, so the
    # caller must compare the byte count itself (as _stream_to_file does).
    pool = Pool("http")
    resp = _get(pool, server, "/short-big")
    buf = bytearray(64 * 1024)
    total = 0
    while n := resp.readinto(buf):
        total += n
    assert total == len(SHORT_SENT) < BIG_LENGTH
    resp.release()
    assert _get_all(pool, server, "/ok") == OK_BODY  # the pool still serves the next request


@pytest.mark.parametrize(
    ("target", "error"), [("/short-small", WireError), ("/short-big", _Retryable)]
)
def test_stream_to_file_rejects_short_body(
    server: _Server, tmp_path: Path, target: str, error: type[Exception]
) -> None:
    pool = Pool("http")
    resp = _get(pool, server, target)
    try:
        with pytest.raises(error):
            _stream_to_file(resp, str(tmp_path / "out"), "key", None)
    finally:
        resp.release()


@pytest.mark.parametrize("size", ["small", "big"])
def test_lean_get_retries_short_body(server: _Server, tmp_path: Path, size: str) -> None:
    client = LeanClient(
        f"http://{server.host}", "us-east-1", lambda: Credentials("ak", "sk"), max_attempts=2
    )
    dest = tmp_path / "out"
    got = client.get_to_file("bucket", f"flaky-{size}", str(dest))
    expected = _payload(BIG_LENGTH if size == "big" else SMALL_LENGTH)
    assert server.hits[f"/bucket/flaky-{size}"] == 2
    assert dest.read_bytes() == expected
    assert got.size == len(expected)
    assert got.md5 == hashlib.md5(expected).hexdigest()
    client.pool.clear()


def test_read_timeout_raises_wire_error(server: _Server) -> None:
    pool = Pool("http", read_timeout=0.3)
    with pytest.raises(WireError) as info:
        _get(pool, server, "/slow")
    assert not isinstance(info.value, ConnectFailed)  # the connect itself succeeded
    assert isinstance(info.value.cause, TimeoutError)
    assert _idle(pool, server) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel timeouts are Linux-only")
def test_linux_sockets_are_kernel_timed_not_polled(server: _Server) -> None:
    import struct

    pool = Pool("http", read_timeout=2.5)
    resp = _get(pool, server, "/ok")
    assert resp.read() == OK_BODY
    resp.release()
    (conn,) = _idle(pool, server)
    assert conn.sock is not None
    # Blocking in Python's eyes (so no poll() before each recv), timed by the kernel instead.
    assert conn.sock.gettimeout() is None
    raw = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.calcsize("ll"))
    assert struct.unpack("ll", raw) == (2, 500_000)
    pool.clear()


# --------------------------------------------------------------------------- TLS


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[_Server, Path]]:
    """The same server behind TLS with a fresh self-signed certificate for 127.0.0.1."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    srv = _Server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv, cert
    finally:
        srv.unblock.set()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=2)


def test_untrusted_certificate_is_final_not_retried(tls_server: tuple[_Server, Path]) -> None:
    srv, _cert = tls_server
    pool = Pool("https")  # certifi's bundle, as botocore: the self-signed cert is not in it
    with pytest.raises(ConnectFailed) as info:
        pool.request("GET", srv.host, "/ok", {"host": srv.host}, None)
    assert info.value.final
    assert "cannot reach the S3 endpoint" in str(info.value)


def test_ca_bundle_makes_the_certificate_trusted(tls_server: tuple[_Server, Path]) -> None:
    srv, cert = tls_server
    pool = Pool("https", ca_bundle=str(cert))
    assert _get_all(pool, srv, "/ok") == OK_BODY


def test_lean_client_hands_certificate_failures_to_botocore(
    tls_server: tuple[_Server, Path],
) -> None:
    from s3lync.lean import LeanFallback

    srv, _cert = tls_server
    client = LeanClient(f"https://{srv.host}", "us-east-1", lambda: Credentials("AK", "SK"))
    with pytest.raises(LeanFallback):
        client.head("bucket", "key")
    assert len(srv.connections) <= 1  # one handshake attempt, no retries
