"""The transfer loop sends requests while a burst of transfers is still being prepared: the first
requests of a fill do not wait for the last transfer's preparation (store/loop.py, _SEND_EVERY)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from s3lync.store import loop
from s3lync.store.protocol import Origin
from s3lync.store.transport import Transport


class _Recorder:
    """An HTTP/1.1 server on 127.0.0.1 that answers every request at once and notes when each
    request line arrived."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

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


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    srv = _Recorder()
    yield srv
    srv.sock.close()


def test_the_first_requests_leave_before_the_last_transfer_is_prepared(
    recorder: _Recorder,
) -> None:
    transport = Transport(maxsize=32)
    origin = Origin("http", f"127.0.0.1:{recorder.port}")
    n = 16
    assert n // 2 >= loop._SEND_EVERY
    prepared: list[float] = []

    def job() -> None:
        time.sleep(0.03)  # preparing the transfer (a temporary, signing): the loop's own time
        prepared.append(time.monotonic())
        resp = transport.request("GET", origin, "/x", {"host": origin.netloc}, None)
        assert resp.read() == b"ok"
        resp.release()

    def warm() -> None:
        transport.request("GET", origin, "/x", {"host": origin.netloc}, None).release()

    # Kept-alive connections first, as in the middle of a run: a request on one goes out at the
    # first send (a new connection's would wait for its connect to complete).
    loop.Loop(n).run(iter([warm] * n))
    recorder.arrivals.clear()
    loop.Loop(n).run(iter([job] * n))
    transport.clear()
    assert len(recorder.arrivals) == n
    # Sent after the first _SEND_EVERY were prepared, not after all of them.
    assert min(recorder.arrivals) < prepared[-1] - 0.1
