"""transport.Transport against a real HTTP/1.1 server on 127.0.0.1: keep-alive reuse, the replay
after a stale connection (idempotent requests only), writes that are never resent, TCP keepalive,
timeouts and refused connects (no mocks of libcurl)."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import signal
import socket
import struct
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from s3lync.errors import WireError
from s3lync.store.protocol import Origin
from s3lync.store.transport import Transport


class _Listener:
    """A server on 127.0.0.1 that counts connections and serves each in a thread."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
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
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class _Server(_Listener):
    """Answers the first request of each connection (keep-alive), then, on the next request of
    that connection, reads it and hangs up without answering: a stale kept-alive connection."""

    def __init__(self, *, slow: bool = False, hang_up_on: tuple[str, ...] = ()) -> None:
        self.requests: list[str] = []
        self.seen: list[tuple[str, list[str]]] = []  # each request's target and header names
        self.slow = slow
        self.hang_up_on = hang_up_on  # methods read and then hung up on, whatever the connection
        self.done = threading.Event()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # a client that gave up (a refused header, a reset)
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            for n in range(2):
                line = reader.readline()
                if not line:
                    return
                head = []
                while (h := reader.readline()) not in (b"\r\n", b""):
                    head.append(h.decode("latin-1").split(":", 1)[0].strip().lower())
                if line.count(b" ") < 2:
                    return  # not a request line (the rest of a body the client gave up on)
                method, target = line.decode("latin-1").split(" ")[:2]
                with self.lock:
                    self.requests.append(method)
                    self.seen.append((target, head))
                if n == 1 or self.slow or method in self.hang_up_on:
                    if self.slow:
                        self.done.wait(5)
                    return  # hang up without an answer
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        finally:
            reader.close()
            conn.close()

    def close(self) -> None:
        self.done.set()
        super().close()


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
def test_a_write_that_is_not_replayable_is_sent_once_on_a_fresh_connection(method: str) -> None:
    # The ambiguous case of D1: the store read the write and hung up before answering. A
    # replay would find its own write (a 412 for a conditional PUT, a second upload for a
    # CreateMultipartUpload), so the caller's retry policy must decide, not the transport.
    srv = _Server(hang_up_on=(method,))
    try:
        t = Transport()
        assert _send(t, srv, "GET")[0] == 200
        with pytest.raises(WireError) as info:
            _send(t, srv, method)
        assert srv.requests == ["GET", method]  # sent once, never resent
        # On a new connection, not the kept-alive one: libcurl resends a request whose reused
        # connection fails before an answer, so a write that must not be resent never reuses one.
        assert srv.connections == 2
        assert f"127.0.0.1:{srv.port}" in str(info.value)
        assert not info.value.final
        assert not info.value.unsent  # it reached the store: the caller must find out what happened
    finally:
        srv.close()


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


def _keepalive_timers(port: int) -> list[str]:
    """The timer column of this process's TCP connections to ``port`` (/proc/net/tcp)."""
    out = []
    with open("/proc/self/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            remote, state, timer = fields[2], fields[3], fields[5]
            if int(remote.split(":")[1], 16) == port and state == "01":  # ESTABLISHED
                out.append(timer.split(":")[0])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
def test_connections_have_tcp_keepalive(server: _Server) -> None:
    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    resp = t.request("GET", origin, "/x", {"host": origin.netloc}, None)
    resp.read()
    resp.release()
    # The kernel runs a keepalive timer ("02") only on a socket with SO_KEEPALIVE set; the
    # server's side of the connection has none, so exactly one of the two shows it.
    timers = _keepalive_timers(server.port)
    assert timers == ["02"], timers
    t.clear()
    assert _keepalive_timers(server.port) == []  # clear() closed the idle connection


def test_unsent_only_when_no_connection_was_made(server: _Server) -> None:
    from s3lync.store import retry

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(WireError) as refused:
            Transport(connect_timeout=1).request(
                "PUT", Origin("http", f"127.0.0.1:{port}"), "/", {}, b"x"
            )
    assert refused.value.unsent and not retry.reached_store(refused.value)
    srv = _Server(hang_up_on=("PUT",))
    try:
        with pytest.raises(WireError) as dropped:
            _send(Transport(), srv, "PUT")
        assert not dropped.value.unsent and retry.reached_store(dropped.value)
    finally:
        srv.close()


def test_conditional_writes_and_multipart_create_are_never_resent_blindly() -> None:
    from s3lync.store import retry

    assert retry.replayable("PUT", {}, {"content-md5": "x"})
    assert retry.replayable("PUT", {"partNumber": "1", "uploadId": "u"}, {})
    assert not retry.replayable("PUT", {}, {"if-match": '"e"'})
    assert not retry.replayable("PUT", {}, {"if-none-match": "*"})
    assert not retry.replayable("POST", {"uploads": ""}, {})
    assert not retry.replayable("POST", {"uploadId": "u"}, {})


def test_what_is_sent_is_what_was_signed(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy in the environment is not libcurl's to use: the resolved configuration (botocore's
    # rules, NO_PROXY included) already chose the origin's proxy, here none.
    for name in ("http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    # Dot segments are part of an S3 key: sent as they are, never squashed.
    resp = t.request("POST", origin, "/b/a/../c/./d?uploads=", {"host": origin.netloc}, b"")
    assert resp.status == 200
    resp.release()
    target, names = server.seen[0]
    assert target == "/b/a/../c/./d?uploads="
    # libcurl would add a form content type (S3 stores a create's type on the object), an Expect
    # and an Accept: none of them was signed, none is sent.
    assert "content-type" not in names and "expect" not in names and "accept" not in names
    assert names.count("host") == 1 and "content-length" in names


class _BodyServer(_Listener):
    """Answers ``/big`` with ``size`` bytes, sent in small pieces, and anything else with a 404."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        # A client that stops reading (a failed sink, a cancel) closes the connection mid-body.
        with contextlib.suppress(OSError), conn, conn.makefile("rb") as reader:
            while line := reader.readline():
                while reader.readline() not in (b"\r\n", b""):
                    pass
                if line.split()[1] == b"/big":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.size)
                    for start in range(0, self.size, 16384):
                        conn.sendall(b"x" * min(16384, self.size - start))
                else:
                    doc = b"<Error><Code>NoSuchKey</Code></Error>"
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % len(doc))
                    conn.sendall(doc)


def test_a_body_reaches_the_sink_in_large_blocks_and_an_error_document_does_not() -> None:
    size = 3 * 1024 * 1024 + 5
    srv = _BodyServer(size)
    try:
        t = Transport()
        origin = Origin("http", f"127.0.0.1:{srv.port}")
        blocks: list[int] = []
        resp = t.request("GET", origin, "/big", {}, None, sink=lambda b: blocks.append(len(b)))
        resp.release()
        # libcurl hands over ~16 KiB at a time; the sink sees 1 MiB blocks (one hash update,
        # write and progress event each), then the rest.
        assert sum(blocks) == size == resp.streamed
        assert len(blocks) <= 4 and min(blocks[:-1]) >= 1024 * 1024, blocks
        assert resp.read() == b""
        kept: list[bytes] = []
        resp = t.request("GET", origin, "/missing", {}, None, sink=kept.append)
        assert resp.status == 404 and kept == []
        assert b"NoSuchKey" in resp.read()  # the error document is the caller's to parse
        resp.release()
    finally:
        srv.close()


def test_a_failing_sink_raises_its_own_error_and_a_cancel_stops_the_body() -> None:
    srv = _BodyServer(8 * 1024 * 1024)
    try:
        t = Transport()
        origin = Origin("http", f"127.0.0.1:{srv.port}")

        def full(_: bytes) -> None:
            raise OSError(28, "No space left on device")

        with pytest.raises(OSError) as info:
            t.request("GET", origin, "/big", {}, None, sink=full)
        assert not isinstance(info.value, WireError) and info.value.errno == 28
        cancel = threading.Event()
        got: list[int] = []

        def first_block_then_cancel(b: bytes) -> None:
            got.append(len(b))
            cancel.set()

        with pytest.raises(WireError):
            t.request("GET", origin, "/big", {}, None, sink=first_block_then_cancel, cancel=cancel)
        assert len(got) == 1  # nothing more reached the sink once the event was set
        assert t.scheduler.requests_in_flight == 0  # every slot given back
    finally:
        srv.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_its_own() -> None:
    srv = _BodyServer(10)
    try:
        t = Transport()
        origin = Origin("http", f"127.0.0.1:{srv.port}")

        def get() -> bytes:
            blocks: list[bytes] = []
            t.request("GET", origin, "/big", {}, None, sink=blocks.append).release()
            return b"".join(blocks)

        assert get() == b"x" * 10  # the parent's kept-alive connection
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # the child: the same Transport, from the same thread
            os._exit(0 if get() == b"x" * 10 else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # Two answers on one socket would have been read by whoever read first; the child made
        # its own connection, and the parent's still serves the parent.
        assert get() == b"x" * 10
        assert srv.connections == 2
    finally:
        srv.close()


def test_the_default_ca_bundle_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.httpsession

    # With certifi installed, botocore trusts certifi's bundle; without it, its own cacert.pem
    # (never libcurl's built-in path, which is the wheel's build machine's).
    assert Transport().ca_bundle == botocore.httpsession.where()
    monkeypatch.setitem(sys.modules, "certifi", None)  # `import certifi` now fails
    assert Transport().ca_bundle == botocore.httpsession.DEFAULT_CA_BUNDLE
    assert Transport(ca_bundle="/etc/mine.pem").ca_bundle == "/etc/mine.pem"


def test_threads_that_come_and_go_share_the_kept_alive_connections() -> None:
    # A pool of part threads per large file: their connections must outlive them and be reused,
    # not pile up (a handle per thread that ended was 192 connections for 25 pools of 8).
    from concurrent.futures import ThreadPoolExecutor

    srv = _BodyServer(10)
    try:
        t = Transport(maxsize=4)
        origin = Origin("http", f"127.0.0.1:{srv.port}")

        def get(_: int) -> int:
            resp = t.request("GET", origin, "/big", {}, None, sink=lambda b: None)
            resp.release()
            return resp.streamed

        for _ in range(10):
            with ThreadPoolExecutor(4) as pool:
                assert list(pool.map(get, range(8))) == [10] * 8
        assert srv.connections <= 4
    finally:
        srv.close()


def test_an_empty_header_value_is_sent(server: _Server) -> None:
    # libcurl drops "Name:" with no value; an empty x-amz-meta-* value is signed, so it must go.
    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    headers = {"host": origin.netloc, "x-amz-meta-note": "", "x-amz-meta-x": "é"}
    t.request("GET", origin, "/x", headers, None).release()
    assert {"x-amz-meta-note", "x-amz-meta-x"} <= set(server.seen[0][1])


class _Trickle:
    """Sends an answer's head, then its body in pieces: ``pieces`` of ``size`` bytes every
    ``every`` seconds, then hangs (until closed) before the last byte."""

    def __init__(self, pieces: int, size: int, every: float) -> None:
        self.pieces, self.size, self.every = pieces, size, every
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.sock.accept()
            with conn:
                conn.recv(65536)
                total = self.pieces * self.size + 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
                for _ in range(self.pieces):
                    conn.sendall(b"x" * self.size)
                    time.sleep(self.every)
                self.done.wait(30)

    def close(self) -> None:
        self.done.set()
        self.sock.close()


def test_the_read_timeout_is_time_without_a_byte_not_an_average_speed() -> None:
    # One byte every 1.5 s with a 2 s read timeout is alive (an average-speed floor of 1 B/s
    # over 2 s would call it dead); after the last piece nothing comes: timed out ~2 s later.
    srv = _Trickle(pieces=4, size=1, every=1.5)
    try:
        got: list[bytes] = []
        start = time.monotonic()
        with pytest.raises(WireError) as info:
            Transport(read_timeout=2).request(
                "GET", Origin("http", f"127.0.0.1:{srv.port}"), "/", {}, None, sink=got.append
            )
        waited = time.monotonic() - start
        assert "read timed out" in str(info.value)
        assert type(info.value.__cause__).__name__ == "ReadTimeout" and not info.value.unsent
        assert 6 <= waited < 12, waited  # 4 x 1.5 s of trickle, then the 2 s read timeout
    finally:
        srv.close()


def test_a_local_error_reading_an_upload_is_raised_as_itself(server: _Server) -> None:
    class Unreadable(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            raise OSError(5, "Input/output error")

    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    with pytest.raises(OSError) as info:
        t.request("PUT", origin, "/x", {"content-length": "10"}, Unreadable(b"0123456789"))
    assert not isinstance(info.value, WireError) and info.value.errno == 5
    assert t.scheduler.requests_in_flight == 0


def _one_shot(answer: Any) -> tuple[int, socket.socket]:
    """A listener whose first connection gets ``answer(conn)``."""
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = sock.accept()
            with conn:
                answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    return int(sock.getsockname()[1]), sock


def test_a_reset_during_the_tls_handshake_is_the_networks_a_proxy_refusal_is_final() -> None:
    from s3lync.sync.breaker import is_network_failure

    def reset(conn: socket.socket) -> None:
        conn.recv(1024)  # the ClientHello
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    port, sock = _one_shot(reset)
    with sock, pytest.raises(WireError) as info:
        Transport().request("GET", Origin("https", f"127.0.0.1:{port}"), "/", {}, None)
    assert not info.value.final and is_network_failure(info.value), info.value

    def refuse(conn: socket.socket) -> None:
        conn.recv(4096)  # CONNECT 127.0.0.1:443
        conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")

    port, sock = _one_shot(refuse)
    with sock, pytest.raises(WireError) as info:
        origin = Origin("https", "127.0.0.1:443", proxy=f"http://127.0.0.1:{port}")
        Transport().request("GET", origin, "/", {}, None)
    assert info.value.final and "407" in str(info.value)
    assert not is_network_failure(info.value)  # the endpoint is not down: the proxy said no


def test_a_cancel_stops_a_stalled_answer_at_once() -> None:
    # The first bytes arrive, then nothing: the cancel (Ctrl-C, AsyncS3Object's task cancelled)
    # ends the request within about a second, not after the 10 s read timeout.
    srv = _Trickle(pieces=1, size=100, every=0)
    try:
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        start = time.monotonic()
        with pytest.raises(WireError):
            Transport(read_timeout=10).request(
                "GET",
                Origin("http", f"127.0.0.1:{srv.port}"),
                "/",
                {},
                None,
                sink=lambda b: None,
                cancel=cancel,
            )
        assert time.monotonic() - start < 5
    finally:
        srv.close()


def test_headers_count_as_bytes_for_the_read_timeout() -> None:
    # Head after 1.2 s, body 1.2 s later: no gap reached the 2 s read timeout.
    def slow(conn: socket.socket) -> None:
        conn.recv(65536)
        time.sleep(1.2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        time.sleep(1.2)
        conn.sendall(b"ok")

    port, sock = _one_shot(slow)
    with sock:
        got: list[bytes] = []
        Transport(read_timeout=2).request(
            "GET", Origin("http", f"127.0.0.1:{port}"), "/", {}, None, sink=got.append
        ).release()
    assert got == [b"ok"]


def test_tls_to_a_plain_http_port_is_final_even_after_another_address_refused() -> None:
    # "localhost" is ::1 first on most systems: refused there (an errno left behind), then a
    # TLS handshake with a plain-http server on 127.0.0.1 fails. That is TLS, not the network.
    def plain(conn: socket.socket) -> None:
        conn.recv(4096)  # the ClientHello, read as a bad request
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    port, sock = _one_shot(plain)
    with sock, pytest.raises(WireError) as info:
        Transport().request("GET", Origin("https", f"localhost:{port}"), "/", {}, None)
    assert info.value.final and "TLS" in str(info.value), info.value


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_does_not_inherit_the_parents_requests_in_flight() -> None:
    srv = _BodyServer(3)
    try:
        t = Transport(maxsize=1)
        origin = Origin("http", f"127.0.0.1:{srv.port}")
        t.scheduler.acquire_request()  # the parent's one slot is taken, as by a request in flight
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                signal.alarm(10)  # a child waiting for the parent's slot would hang: fail instead
                t.request("GET", origin, "/big", {}, None, sink=lambda b: None).release()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        finally:
            t.scheduler.release_request()
    finally:
        srv.close()


def test_an_idle_connection_holds_no_request_data(server: _Server) -> None:
    class Body(io.BytesIO):
        pass

    t = Transport()
    origin = Origin("http", f"127.0.0.1:{server.port}")
    body = Body(b"x" * (8 * 1024 * 1024))
    ref = weakref.ref(body)
    with contextlib.suppress(
        WireError
    ):  # the server does not read the body; only the memory matters
        t.request("PUT", origin, "/x", {"content-length": str(8 * 1024 * 1024)}, body).release()
    del body
    gc.collect()
    assert ref() is None  # not kept alive by the idle handle's callbacks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
def test_each_handle_keeps_one_connection() -> None:
    srv = _BodyServer(1)
    try:
        t = Transport(maxsize=1)
        origin = Origin("http", f"127.0.0.1:{srv.port}")
        for _ in range(5):  # each on a fresh connection (a POST is never resent)
            t.request("POST", origin, "/big", {}, b"").release()
        assert srv.connections == 5
        assert len(_keepalive_timers(srv.port)) == 1  # the four older ones were closed
    finally:
        srv.close()


def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(server: _Server) -> None:
    origin = Origin("http", f"127.0.0.1:{server.port}")
    with pytest.raises(ValueError, match="line break"):
        Transport().request("GET", origin, "/x", {"x-amz-meta-a": "v\r\nx-evil: 1"}, None)
    assert server.requests == []


def test_a_busy_proxy_is_transient_and_a_shrinking_upload_is_final(server: _Server) -> None:
    def busy(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")

    port, sock = _one_shot(busy)
    with sock, pytest.raises(WireError) as info:
        origin = Origin("https", "127.0.0.1:443", proxy=f"http://127.0.0.1:{port}")
        Transport().request("GET", origin, "/", {}, None)
    assert not info.value.final
    # A file that shrank after its size was taken: fewer bytes than the Content-Length sent.
    origin = Origin("http", f"127.0.0.1:{server.port}")
    with pytest.raises(WireError) as info:
        Transport().request("PUT", origin, "/x", {"content-length": "100"}, io.BytesIO(b"short"))
    assert info.value.final and "Content-Length" in str(info.value)


def test_the_last_answers_head_is_parsed_as_http_client_would() -> None:
    import http.client

    from s3lync.store.transport import Headers

    head = [
        b"HTTP/1.1 100 Continue\r\n",
        b"\r\n",
        b"HTTP/1.1 206 Partial Content\r\n",
        b'ETag:  "abc"  \r\n',
        b"x-amz-meta-empty:\r\n",
        b"X-Amz-Meta-Note: a: b\r\n",
        b"Set-Cookie: one\r\n",
        b"set-cookie: two\r\n",
        b"x-amz-meta-latin: caf\xe9\r\n",
        b"\r\n",
    ]
    status, headers = Headers.parse(head)
    assert status == 206
    msg = http.client.parse_headers(io.BytesIO(b"".join(head[3:])))
    assert {k.lower() for k in msg} == set(headers)
    for name in set(headers):
        assert headers.get(name) == ", ".join(v.strip() for v in msg.get_all(name)), name
    assert headers.get("ETag") == headers["etag"] == '"abc"'
    assert headers.get("x-amz-meta-empty") == ""
    assert headers.get("x-amz-meta-missing", "d") == "d"
    assert Headers.parse([])[0] == 0 and not Headers.parse([b"garbage\r\n"])[1]


class _Recorder(_Listener):
    """Answers every request of each connection at once (keep-alive) and notes when each request
    line arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while line := reader.readline():
                with self.lock:
                    self.arrivals.append(time.monotonic())
                while reader.readline() not in (b"\r\n", b""):
                    pass
                if not line.strip():
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def test_a_loop_sends_while_a_burst_of_transfers_is_still_being_prepared() -> None:
    """The first requests of a burst leave before its last transfer is prepared (loop.py,
    _SEND_EVERY), not all at once after it."""
    from s3lync.store import loop

    recorder = _Recorder()
    transport = Transport(maxsize=32)
    origin = Origin("http", f"127.0.0.1:{recorder.port}")
    n = 16
    assert n // 2 >= loop._SEND_EVERY
    prepared: list[float] = []

    def warm() -> None:
        transport.request("GET", origin, "/x", {"host": origin.netloc}, None).release()

    def job() -> None:
        time.sleep(0.03)  # preparing the transfer (a temporary, signing): the loop's own time
        prepared.append(time.monotonic())
        resp = transport.request("GET", origin, "/x", {"host": origin.netloc}, None)
        assert resp.read() == b"ok"
        resp.release()

    try:
        # Kept-alive connections first, as in the middle of a run: a request on one goes out at
        # the first send (a new connection's would wait for its connect to complete).
        loop.Loop(n).run(iter([warm] * n))
        recorder.arrivals.clear()
        loop.Loop(n).run(iter([job] * n))
    finally:
        transport.clear()
        recorder.close()
    assert len(recorder.arrivals) == n
    # Sent after the first _SEND_EVERY were prepared, not after all of them.
    assert min(recorder.arrivals) < prepared[-1] - 0.1
