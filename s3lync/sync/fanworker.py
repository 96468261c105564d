"""A worker process's side of fanout.py: operations in over a socket, results out.

Started as ``python -c`` by :class:`s3lync.sync.fanout.Worker` with the socket's descriptor;
its first message says what to run (Settings, the Remote's recipe, the mapping's plan without
its operation list, the operations, their temporaries). Each operation runs through an
Executor exactly as in the parent; what goes back is its result, its hash-cache rows, and (when
the parent has subscribers) its start and progress, plus every log record. Ctrl-C is the
parent's to handle (it says ``cancel``); a closed socket means the parent is gone: stop at once.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from s3lync.sync.breaker import is_network_failure


class _Forward(logging.Handler):
    """Log records to the parent, which logs them under the same logger and level."""

    def __init__(self, worker: _Worker) -> None:
        super().__init__()
        self.worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        """Send one record's message."""
        self.worker.send(("log", record.name, record.levelno, record.getMessage()))


class _Events:
    """The executor's subscriber here: start and progress to the parent (done goes with the result)."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker

    def on_start(self, op: Any, **_: Any) -> None:
        """An operation started."""
        self.worker.send(("s", self.worker.index[id(op)]))

    def on_progress(self, op: Any, bytes_transferred: int = 0, **_: Any) -> None:
        """Bytes moved."""
        self.worker.send(("p", self.worker.index[id(op)], bytes_transferred))

    def on_done(self, **_: Any) -> None:
        """Nothing: the result message tells the parent."""


class _Worker:
    def __init__(self, conn: Any, hello: tuple[Any, ...]) -> None:
        from s3lync.localfs.hashcache import HashCache
        from s3lync.store.clients import reopen
        from s3lync.sync.executor import Executor

        self.conn = conn
        self._lock = threading.Lock()
        _, settings, recipe, share, mplan, ops, temps, create_only, progress = hello
        root = logging.getLogger("s3lync")
        root.setLevel(settings.log_level)
        root.addHandler(_Forward(self))
        root.propagate = False
        self.mplan = mplan
        self.ops = ops
        self.index = {id(op): i for i, op in enumerate(ops)}
        self.ex = Executor(
            reopen(recipe, share, settings),
            HashCache(None),
            max_workers=share,
            subscribers=[_Events(self)] if progress else [],
            create_only=create_only,
        )
        self.ex.adopt_temps(temps)
        self.pool = ThreadPoolExecutor(share, thread_name_prefix="s3lync")

    def send(self, msg: tuple[Any, ...]) -> None:
        """One message to the parent (from any thread); a gone parent stops everything."""
        try:
            with self._lock:
                self.conn.send(msg)
        except (OSError, ValueError):
            self.ex.abort()

    def _task(self, i: int) -> None:
        res = self.ex.run_op(self.mplan, self.ops[i])
        exc = res.exception
        try:
            # The exception itself when it pickles (its class and message); else its name.
            pickle.dumps(exc)
        except Exception:
            exc = None
        network = is_network_failure(res.exception)
        rows = self.ex.take_cache_rows()
        self.send(("d", i, res.error, res.error_type, exc, network, res.verdict, rows))

    def serve(self) -> int:
        """Run what the parent hands out until it says finish (0) or is gone (1)."""
        self.send(("ready",))
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                self.ex.abort()
                self.pool.shutdown(wait=False, cancel_futures=True)
                return 1
            if msg[0] == "run":
                for i in msg[1]:
                    self.pool.submit(self._task, i)
            elif msg[0] == "cancel":
                self.ex.abort()
            elif msg[0] == "finish":
                break
        self.pool.shutdown(wait=True)
        self.send(("bye",))
        return 0


def main(fd: int, package: str) -> int:
    """The worker process: serve the parent on socket ``fd`` (``package``: its s3lync)."""
    from multiprocessing.connection import Connection

    import s3lync

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    if os.path.realpath(s3lync.__file__) != os.path.realpath(package):
        conn.send(("fail", f"the worker imported s3lync from {s3lync.__file__}, not {package}"))
        return 2
    try:
        hello = conn.recv()
        worker = _Worker(conn, hello)
    except EOFError:
        return 1
    except Exception as exc:  # the parent does the work itself
        conn.send(("fail", f"the worker could not start: {type(exc).__name__}: {exc}"))
        return 2
    code = worker.serve()
    if code:
        os._exit(code)  # threads stuck in a read must not keep a parentless worker alive
    return code
