"""A large batch of small transfers shared by this process and worker processes (on request).

With ``S3LYNC_PROCESSES=N`` (N >= 2), a mapping's small transfers are shared with N - 1 worker
processes (fanproc.py: ``python -c`` with this interpreter and ``sys.path``; never
``multiprocessing``, whose spawn re-runs a caller's unguarded script). By default one process runs
them all on its transfer loop (store/loop.py), which measured faster than two processes of
threads on a 2-core machine (benchmarks/RESULTS.md). Each worker opens the same store from the
Remote's recipe and the run's Settings and runs the operations it is handed through its own
Executor -- the same code, checks and messages as here (fanworker.py). ``max_workers`` bounds
the requests in flight across the processes: this process runs all of them until a worker is
ready, then hands slots over as its own requests end.

The parent keeps every decision about the run: it registers every download temporary before
anything starts, hands out operations from the queue its own threads take from, turns each
worker's answers into OpResults and subscriber events, feeds the run's breaker, and writes the
hash cache. Large transfers stay in the parent. On cancel (Ctrl-C, ``cancel.set()``) workers are
told to stop, temporaries of everything they were handed are removed, and a worker that has not
ended after CANCEL_WAIT is killed. A worker that dies has its unfinished operations reported as
failed, never as done; one whose parent dies stops at once (its socket closes).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from s3lync import errors
from s3lync.errors import EndpointDownError, SyncError, TransferCancelledError
from s3lync.localfs import scan as local
from s3lync.store.clients import portable
from s3lync.sync.fanproc import Worker
from s3lync.sync.plan import MappingPlan, Operation
from s3lync.sync.results import OpResult

if TYPE_CHECKING:
    from s3lync.sync.executor import Executor

log = logging.getLogger(__name__)

# Seconds a cancelled run waits for its threads and workers to stop (executor.py uses it too).
CANCEL_WAIT = 1.0


def processes_for(setting: int, small: int) -> int:
    """How many processes share ``small`` small transfers (1: this one alone)."""
    if setting < 2 or os.name != "posix" or getattr(sys, "frozen", False) or not sys.executable:
        return 1
    return max(1, min(setting, small // 2))


def plan(ex: Executor, ops: Sequence[Operation]) -> tuple[int, list[int], list[int]] | None:
    """(processes, small indices, large indices) when ``ops`` are worth sharing, else None."""
    threshold = ex.remote.threshold
    small = [i for i, op in enumerate(ops) if op.size < threshold]
    processes = processes_for(ex.remote.settings.processes, len(small))
    if processes < 2 or ex.max_workers < 2 or not portable(ex.remote):
        return None
    large = [i for i, op in enumerate(ops) if op.size >= threshold]
    return min(processes, ex.max_workers), small, large


def split(workers: int, processes: int) -> list[int]:
    """``workers`` threads over ``processes`` (the first, this process's, gets any extra)."""
    each, extra = divmod(workers, processes)
    return [each + (1 if i < extra else 0) for i in range(processes)]


class FanOut:
    """One mapping's transfers, shared by this process's threads and worker processes."""

    def __init__(
        self,
        ex: Executor,
        mplan: MappingPlan,
        ops: Sequence[Operation],
        processes: int,
        small: list[int],
        large: list[int],
    ) -> None:
        self.ex = ex
        self.mplan = mplan
        self.ops = list(ops)
        self.processes = processes
        self.results: list[OpResult | None] = [None] * len(self.ops)
        self._lock = threading.Lock()
        # Requests in flight, this process's and the ready workers', stay within max_workers:
        # this process runs all of them until a worker is ready (a worker takes ~0.3 s to
        # start), then only its own share; its threads above the share leave.
        self._slots = threading.Condition(self._lock)
        self._active = 0
        self._threads = 0
        self._limit = ex.max_workers
        self.workers: list[Worker] = []
        self._large = deque(large)
        self._small = deque(small)

    def _take(self, n: int, small_only: bool = False) -> list[int]:
        """Up to ``n`` operations nobody has taken yet (large ones only for this process);
        called with the lock held."""
        out: list[int] = []
        while self._large and not small_only and len(out) < n:
            out.append(self._large.popleft())
        while self._small and len(out) < n:
            out.append(self._small.popleft())
        return out

    def _busy(self) -> int:
        """Requests in flight now (with the lock held): ours, and each ready worker's."""
        return self._active + sum(min(w.outstanding, w.share) for w in self.workers if w.ready)

    def grant(self, w: Worker) -> list[int]:
        """Operations for worker ``w``: two rounds of its threads queued, none in flight beyond
        the free slots."""
        with self._lock:
            room = 2 * w.share - w.outstanding
            if w.outstanding < w.share:
                free = self.ex.max_workers - self._busy()
                if free < w.share - w.outstanding:
                    room = free
            taken = self._take(room, small_only=True) if room > 0 else []
            w.outstanding += len(taken)
            return taken

    def left(self) -> bool:
        """True while some small operation has not been handed out."""
        with self._lock:
            return bool(self._small)

    def worker_ready(self, w: Worker) -> None:
        """``w`` can take operations: this process gives up its share of the slots."""
        with self._lock:
            w.ready = True
            self._limit -= w.share
            self._slots.notify_all()

    def worker_answered(self, w: Worker) -> None:
        """One of ``w``'s operations ended: its slot is free (or taken by its next queued one)."""
        with self._lock:
            w.outstanding -= 1
            w.answered += 1
            self._slots.notify_all()

    def worker_gone(self, w: Worker) -> None:
        """``w`` ended: its slots come back to this process."""
        with self._lock:
            if w.ready:
                w.ready = False
                self._limit += w.share
            self._slots.notify_all()

    def run(self) -> list[OpResult]:
        """Run every operation; the results in the order of ``ops``."""
        ex = self.ex
        with self._lock:
            self._threads = ex.max_workers
        pool = ThreadPoolExecutor(ex.max_workers, thread_name_prefix="s3lync")
        futures = [pool.submit(self._work) for _ in range(ex.max_workers)]
        self._start_workers()
        try:
            self._wait(futures)
        except BaseException:
            ex.abort()
            self._stop(self.workers)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        workers = self.workers
        self._stop(workers)
        pool.shutdown(wait=not ex.cancel.is_set(), cancel_futures=True)
        answered = [w.answered for w in workers]
        log.debug(
            "%d transfers: %d in this process, %s in %d worker process(es)",
            len(self.ops),
            len(self.ops) - sum(answered),
            "+".join(map(str, answered)) or "0",
            len(workers),
        )
        return [
            r if r is not None else OpResult.cancelled(op, self.mplan.bucket)
            for r, op in zip(self.results, self.ops, strict=True)
        ]

    def _work(self) -> None:
        try:
            while not self.ex.cancel.is_set():
                with self._slots:
                    while self._active >= self._limit or self._busy() >= self.ex.max_workers:
                        if self._threads > self._limit or not (self._large or self._small):
                            return  # more threads than our share: this one leaves
                        self._slots.wait(0.1)
                        if self.ex.cancel.is_set():
                            return
                    taken = self._take(1)
                    if not taken:
                        return
                    self._active += 1
                try:
                    self.results[taken[0]] = self.ex.run_op(self.mplan, self.ops[taken[0]])
                finally:
                    with self._slots:
                        self._active -= 1
                        self._slots.notify_all()
                for w in self.workers:
                    w.feed()
        finally:
            with self._slots:
                self._threads -= 1

    def _start_workers(self) -> None:
        shares = split(self.ex.max_workers, self.processes)
        started = [w for w in (Worker.start(self, share) for share in shares[1:]) if w]
        with self._lock:
            self.workers = started
        for w in started:
            w.serve()

    def _wait(self, futures: list[Future[None]]) -> None:
        """Until every thread and worker is done; on cancel, stop the workers (see module)."""
        deadline: float | None = None
        pending = set(futures)
        while True:
            workers = self.workers
            busy = [w for w in workers if not w.done.is_set()]
            if not pending and not busy:
                return
            if pending:
                _, pending = wait(pending, timeout=0.1)
            else:
                busy[0].done.wait(0.1)
            if not self.ex.cancel.is_set():
                continue
            if deadline is None:
                self.ex.abort()
                for w in workers:
                    w.cancel()
                deadline = time.monotonic() + CANCEL_WAIT
            elif time.monotonic() >= deadline:
                self.ex.abort()
                return

    def _stop(self, workers: list[Worker]) -> None:
        """Every worker ended (killed if it must be), its unfinished operations accounted for."""
        for w in workers:
            w.close()
        for w in workers:
            unfinished = [i for i in w.handed if self.results[i] is None]
            for tmp in self.ex.temps_of([self.ops[i] for i in unfinished]):
                local.discard(tmp)
            if w.died is None or self.ex.cancel.is_set():
                continue
            for i in unfinished:
                op = self.ops[i]
                exc = SyncError(
                    f"{op.kind.value} s3://{self.mplan.bucket}/{op.key}: {w.died}; run again"
                )
                self.results[i] = OpResult.failed(op, exc)
                if i in w.started:
                    self.ex.emit("on_done", op=op, mapping=self.mplan, error=str(exc), verdict=None)

    def finished(self, i: int, answer: tuple[Any, ...]) -> None:
        """A worker's result for operation ``i``: recorded, told, its digests queued."""
        error, etype, exc, network, verdict, rows = answer
        op = self.ops[i]
        if error is not None and not isinstance(exc, BaseException):
            exc = getattr(errors, str(etype), SyncError)(error)
        if network and isinstance(exc, BaseException):
            exc.__cause__ = ConnectionError(error)
        res = OpResult(op, error, etype, exc, verdict)
        self.results[i] = res
        if not isinstance(exc, TransferCancelledError | EndpointDownError):
            # As for this process's own: a transfer not tried or cancelled says nothing of the
            # endpoint.
            self.ex.breaker.record(self.ex.endpoint, exc)
        self.ex.add_cache_rows(rows)
        self.ex.emit("on_done", op=op, mapping=self.mplan, error=error, verdict=verdict)

    def hello(self, share: int) -> tuple[Any, ...]:
        """What a worker needs to run this mapping's operations."""
        ex = self.ex
        light = replace(self.mplan, operations=(), unchanged_paths=())
        return (
            ex.remote.settings,
            ex.remote.recipe,
            share,
            light,
            self.ops,
            ex.temp_map(),
            ex.create_only,
            bool(ex.subscribers),
        )
