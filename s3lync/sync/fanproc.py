"""A worker process, seen from the process that started it (fanout.py): how it is started, the
socket to it, and the thread that reads its answers. The worker's own side is fanworker.py."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess
    from multiprocessing.connection import Connection

    from s3lync.sync.fanout import FanOut

log = logging.getLogger(__name__)

# What a worker runs: this interpreter's import path, then the worker loop (fanworker.py).
_BOOT = (
    "import sys;sys.path[:]=sys.argv[4:];"
    "from s3lync.sync.fanworker import main;sys.exit(main(int(sys.argv[1]),sys.argv[2]))"
)


class Worker:
    """One worker process, seen from the parent: a socket and the thread that serves it."""

    def __init__(self, fan: FanOut, share: int, proc: subprocess.Popen[bytes], conn: Connection):
        self.fan = fan
        self.share = share
        self.proc = proc
        self.conn = conn
        self.handed: list[int] = []
        self.started: set[int] = set()
        self.outstanding = 0
        self.answered = 0
        self.ready = False
        self.done = threading.Event()
        self.died: str | None = None
        self._send_lock = threading.Lock()
        self._finishing = False
        self._feeding = threading.Lock()

    def serve(self) -> None:
        """Start the thread that talks to the worker."""
        threading.Thread(target=self._serve, name="s3lync-worker", daemon=True).start()

    @classmethod
    def start(cls, fan: FanOut, share: int) -> Worker | None:
        """A new worker process, or None (logged) when one cannot be started."""
        import socket
        import subprocess
        from multiprocessing.connection import Connection

        import s3lync

        ours, theirs = socket.socketpair()
        # The parent's pid only names the worker's parent for ps and tests; the worker ignores it.
        parent = str(os.getpid())
        argv = [sys.executable, "-c", _BOOT, str(theirs.fileno()), s3lync.__file__, parent]
        argv += sys.path
        try:
            proc = subprocess.Popen(
                argv,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.debug("no worker process (%s): this process transfers alone", exc)
            ours.close()
            return None
        finally:
            theirs.close()
        return cls(fan, share, proc, Connection(ours.detach()))

    def _send(self, msg: tuple[Any, ...]) -> bool:
        try:
            with self._send_lock:
                self.conn.send(msg)
        except (OSError, ValueError):
            return False
        return True

    def feed(self) -> None:
        """Hand the worker what it may take now (FanOut.grant), or tell it to finish."""
        fan = self.fan
        if not self.ready or self._finishing:
            return
        with self._feeding:  # one "run" at a time, in the order granted
            if fan.ex.cancel.is_set() or fan.ex.breaker.is_open(fan.ex.endpoint):
                self.finish()
                return
            taken = fan.grant(self)
            if taken:
                self.handed.extend(taken)
                self._send(("run", taken))
            elif not fan.left():
                self.finish()

    def finish(self) -> None:
        """Nothing more for this worker: it ends once what it was handed is done."""
        if not self._finishing:
            self._finishing = True
            self._send(("finish",))

    def cancel(self) -> None:
        """Stop: the worker's queued operations end as cancelled, its streams stop."""
        self._send(("cancel",))
        self.finish()

    def _serve(self) -> None:
        fan = self.fan
        try:
            if not self._send(("hello", *fan.hello(self.share))):
                raise EOFError
            while True:
                msg = self.conn.recv()
                kind = msg[0]
                if kind == "d":
                    fan.worker_answered(self)
                    fan.finished(msg[1], msg[2:])
                    self.feed()
                elif kind == "s":
                    self.started.add(msg[1])
                    fan.ex.emit("on_start", op=fan.ops[msg[1]], mapping=fan.mplan)
                elif kind == "p":
                    op = fan.ops[msg[1]]
                    fan.ex.emit("on_progress", op=op, mapping=fan.mplan, bytes_transferred=msg[2])
                elif kind == "log":
                    logging.getLogger(msg[1]).log(msg[2], "%s", msg[3])
                elif kind == "ready":
                    fan.worker_ready(self)
                    self.feed()
                elif kind == "bye":
                    break
                elif kind == "fail":
                    self.died = msg[1]
                    log.debug("worker process %d: %s", self.proc.pid, msg[1])
                    break
        except (EOFError, OSError):
            code = self.proc.poll()
            self.died = f"its worker process ended unexpectedly (exit status {code})"
        except BaseException as exc:  # the serving thread must always set done
            self.died = f"its worker process could not be served ({exc})"
        finally:
            fan.worker_gone(self)
            self.done.set()

    def close(self) -> None:
        """Wait briefly for the process to end, then kill it; close the socket."""
        import subprocess

        self.finish()
        try:
            self.proc.wait(timeout=0 if self.fan.ex.cancel.is_set() else 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.done.wait(1)
        self.conn.close()
        if self.died is None and self.outstanding > 0:
            self.died = "its worker process ended before answering"
