"""A relay on 127.0.0.1 that delays every HTTP request by a fixed time: a network's latency.

    python benchmarks/bench_relay.py --upstream 127.0.0.1:PORT --delay-ms 20 [--port P]

Loopback hides latency, and on real S3 (20-50 ms a request) latency decides how fast many small
files move: there concurrency is the lever. This relay sits in front of the local server and holds
each request's head for ``--delay-ms`` after it arrived before forwarding it, then forwards its
body (``Content-Length`` or chunked) as it comes. Answers flow back undelayed. So every request
costs at least the delay, whichever connection it uses, as a round trip to a distant store would;
a new TCP connection costs nothing extra (on a real network it costs another round trip, and TLS
one or two more).

It listens on 127.0.0.1 only, forwards only to a loopback address, and exits by itself after
``--max-seconds`` or when the process that started it is gone. ``DelayRelay`` starts and stops it
as a child process, so its CPU time is its own and can be told apart from the measured tool's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_HEAD_LIMIT = 1 << 20  # no S3 request head comes near this
_BLOCK = 1 << 18


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _framing(head: bytes) -> tuple[int, bool]:
    """(Content-Length or 0, chunked?) of a request head."""
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


async def _copy_exactly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    while n > 0:
        block = await reader.read(min(n, _BLOCK))
        if not block:
            raise ConnectionError("request body cut short")
        writer.write(block)
        await writer.drain()
        n -= len(block)


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (usually none), then the empty line that ends the body.
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                writer.write(line)
            writer.write(line)
            await writer.drain()
            return
        await _copy_exactly(reader, writer, size + 2)  # the chunk and its CRLF


class Relay:
    """Accepts connections on 127.0.0.1 and relays each to UPSTREAM, delaying request heads."""

    def __init__(self, upstream: tuple[str, int], delay_s: float) -> None:
        self.upstream = upstream
        self.delay_s = delay_s
        self.requests = 0
        self.connections = 0

    async def _requests(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                head = await src.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            due = loop.time() + self.delay_s
            self.requests += 1
            length, chunked = _framing(head)
            await asyncio.sleep(max(0.0, due - loop.time()))
            dst.write(head)
            if chunked:
                await _copy_chunked(src, dst)
            elif length:
                await _copy_exactly(src, dst, length)
            await dst.drain()

    @staticmethod
    async def _answers(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while block := await src.read(_BLOCK):
            dst.write(block)
            await dst.drain()

    async def handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.upstream, limit=_HEAD_LIMIT)
        except OSError:
            c_writer.close()
            return
        for w in (c_writer, s_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = asyncio.ensure_future(self._requests(c_reader, s_writer))
        down = asyncio.ensure_future(self._answers(s_reader, c_writer))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up.done() and up.exception() is None and not down.done():
                # The client sent its last request: let the answer finish, then close.
                with contextlib.suppress(Exception):
                    s_writer.write_eof()
                    await down
        finally:
            for t in (up, down):
                t.cancel()
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved: a reset connection is no news here
            for w in (c_writer, s_writer):
                w.close()

    async def serve(self, port: int, max_seconds: float, parent: int, ready: Path | None) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, limit=_HEAD_LIMIT)
        bound = server.sockets[0].getsockname()[1]
        if ready is not None:
            ready.write_text(str(bound))
        print(f"relay 127.0.0.1:{bound} -> {self.upstream}, +{self.delay_s * 1000:g} ms a request")
        deadline = time.monotonic() + max_seconds
        async with server:
            # Bounded: stops by itself at the deadline or when its parent is gone.
            while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            server.close()
        print(f"relay done: {self.connections} connections, {self.requests} requests", flush=True)


class DelayRelay:
    """``bench_relay.py`` as a child process on a free port in front of ``upstream`` (host:port)."""

    def __init__(self, upstream: str, delay_ms: float, workdir: Path, max_seconds: float = 7200):
        self.upstream = upstream
        self.delay_ms = delay_ms
        self.workdir = workdir
        self.max_seconds = max_seconds
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        ready = self.workdir / f"relay-{os.getpid()}-{time.monotonic_ns()}.port"
        argv = [sys.executable, str(Path(__file__).resolve()), "--upstream", self.upstream]
        argv += ["--delay-ms", str(self.delay_ms), "--max-seconds", str(self.max_seconds)]
        argv += ["--ready-file", str(ready), "--parent", str(os.getpid())]
        log = open(self.workdir / "relay.log", "ab")  # noqa: SIM115 - lives as long as the relay
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the relay exited early, see {log.name}")
            if ready.exists() and (text := ready.read_text()):
                self.port = int(text)
                ready.unlink()
                return
            time.sleep(0.05)
        raise RuntimeError("the relay did not start within 30 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the server (loopback only)")
    p.add_argument("--delay-ms", type=float, required=True, help="delay added to each request")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long")
    p.add_argument("--parent", type=int, default=os.getppid(), help="exit when this pid is gone")
    p.add_argument("--ready-file", type=Path, help="write the bound port here once listening")
    args = p.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    host = host.strip("[]")
    if not _loopback(host):
        p.error("the upstream must be a loopback address")
    relay = Relay((host, int(port)), args.delay_ms / 1000)
    asyncio.run(relay.serve(args.port, args.max_seconds, args.parent, args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
