"""transport.Transport against a real HTTP/1.1 server on 127.0.0.1: keep-alive reuse, the replay
after a stale connection (idempotent requests only), TCP keepalive, timeouts and refused
connects (no mocks of urllib3)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3lync.errors import WireError
from s3lync.store.protocol import Origin
from s3lync.store.transport import Transport


class _Server:
    """Answers the first request of each connection (keep-alive), then, on the next request of
    that connection, reads it and hangs up without answering: a stale kept-alive connection."""

    def __init__(self, *, slow: bool = False) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.requests: list[str] = []
        self.connections = 0
        self.slow = slow
        self.done = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            for n in range(2):
                line = reader.readline()
                if not line:
                    return
                while reader.readline() not in (b"\r\n", b""):
                    pass
                with self.lock:
                    self.requests.append(line.decode().split(" ")[0])
                if n == 1 or self.slow:
                    if self.slow:
                        self.done.wait(5)
                    return  # hang up without an answer
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        finally:
            reader.close()
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.sock.close()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


def _send(t: Transport, srv: _Server, method: str, replayable: bool | None = None) -> Any:
    origin = Origin("http", f"127.0.0.1:{srv.port}")
    body = b"" if method in ("PUT", "POST") else None
    resp = t.request(method, origin, "/x", {"host": origin.netloc}, body, replayable=replayable)
    data = resp.read()
    resp.release()
    return resp.status, data


@pytest.mark.parametrize(
    ("method", "replayable"), [("GET", None), ("HEAD", None), ("PUT", True), ("DELETE", True)]
)
def test_idempotent_request_on_a_stale_connection_is_replayed_once(
    server: _Server, method: str, replayable: bool | None
) -> None:
    t = Transport()
    assert _send(t, server, "GET")[0] == 200
    # The kept-alive connection is reused; the server hangs up on it; a new one answers.
    status, _ = _send(t, server, method, replayable)
    assert status == 200
    assert server.requests == ["GET", method, method]
    assert server.connections == 2


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_write_on_a_stale_connection_is_not_replayed_by_default(
    server: _Server, method: str
) -> None:
    t = Transport()
    assert _send(t, server, "GET")[0] == 200
    with pytest.raises(WireError) as info:
        _send(t, server, method)
    assert server.requests == ["GET", method]  # sent once: the caller's retry policy decides
    assert f"127.0.0.1:{server.port}" in str(info.value)
    assert not info.value.final


def test_read_timeout_is_a_wire_error_naming_the_endpoint() -> None:
    srv = _Server(slow=True)
    try:
        t = Transport(read_timeout=0.3)
        with pytest.raises(WireError) as info:
            _send(t, srv, "GET")
        assert "timed out" in str(info.value).lower()
        assert f"127.0.0.1:{srv.port}" in str(info.value)
    finally:
        srv.close()


def test_refused_connection_is_a_wire_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        t = Transport(connect_timeout=1)
        with pytest.raises(WireError) as info:
            t.request("GET", Origin("http", f"127.0.0.1:{port}"), "/", {}, None)
    assert "cannot reach the S3 endpoint" in str(info.value)


def test_connections_have_tcp_keepalive(server: _Server) -> None:
    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    resp = t.request("GET", origin, "/x", {"host": origin.netloc}, None)
    sock = resp._resp.connection.sock  # the live socket of this response
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.gettimeout() == t.timeout.read_timeout  # Python-level timeouts: TLS obeys them
    resp.read()
    resp.release()


def test_conditional_writes_and_multipart_create_are_never_resent_blindly() -> None:
    from s3lync.store import retry

    assert retry.replayable("PUT", {}, {"content-md5": "x"})
    assert retry.replayable("PUT", {"partNumber": "1", "uploadId": "u"}, {})
    assert not retry.replayable("PUT", {}, {"if-match": '"e"'})
    assert not retry.replayable("PUT", {}, {"if-none-match": "*"})
    assert not retry.replayable("POST", {"uploads": ""}, {})
    assert not retry.replayable("POST", {"uploadId": "u"}, {})
