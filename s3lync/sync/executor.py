"""Runs a MappingPlan: concurrent verified transfers, then deletions only if every transfer worked.

Progress goes to subscribers (``on_start``, ``on_progress``, ``on_done``, each taking ``**kwargs``,
as s3transfer's do); this module never prints.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import InvalidStateError, ThreadPoolExecutor
from typing import Any

from s3lync.errors import (
    EndpointDownError,
    HashMismatchError,
    S3lyncError,
    SyncError,
    TransferCancelledError,
    UnsafeKeyError,
)
from s3lync.hashing import Digest, digest_file
from s3lync.localfs import scan as local
from s3lync.localfs.hashcache import Fingerprint, HashCache, fingerprint, racily_clean
from s3lync.localfs.tempfiles import TempRegistry, new_temp_path
from s3lync.mapping import Direction
from s3lync.store import loop
from s3lync.store.clients import translate
from s3lync.store.objects import OnBytes
from s3lync.store.remote import Remote
from s3lync.sync import deleting, fanout, guards
from s3lync.sync.breaker import Breaker
from s3lync.sync.events import Subscriber, emit
from s3lync.sync.fanout import CANCEL_WAIT
from s3lync.sync.integrity import Status, Verdict
from s3lync.sync.outcomes import AllDone, Outcome, Slot
from s3lync.sync.plan import MappingPlan, Operation, OpKind
from s3lync.sync.results import MappingResult, OpResult
from s3lync.sync.verify import enforce, upload_evidence, verify
from s3lync.uri import check_rel

log = logging.getLogger(__name__)

__all__ = ["CANCEL_WAIT", "Executor"]

# Hash-cache rows written at once while a run's transfers go on: one SQLite transaction each (a
# few ms), a handful per thousand files, so the run's end writes at most this many.
_CACHE_BATCH = 256


class Executor:
    """Executes plans over one Remote, one hash cache and one worker pool size."""

    def __init__(
        self,
        remote: Remote,
        cache: HashCache,
        *,
        max_workers: int,
        subscribers: Sequence[Subscriber] = (),
        temps: TempRegistry | None = None,
        pool: FuturesExecutor | None = None,
        cancel: threading.Event | None = None,
        create_only: bool = False,
        breaker: Breaker | None = None,
    ) -> None:
        self.remote = remote
        self.cache = cache
        self.temps = temps if temps is not None else TempRegistry(None)
        # Download target -> its registered temporary (see tempreg: registered before written).
        self._temp_for: dict[str, str] = {}
        self.max_workers = max(1, max_workers)
        self.subscribers = list(subscribers)
        self._cache_rows: list[tuple[str, Fingerprint, Digest]] = []
        # Set on interruption: in-flight downloads stop at their next chunk and discard their temp,
        # and operations not yet started end as cancelled. A caller may pass its own (async face).
        self.cancel = cancel if cancel is not None else threading.Event()
        # A shared pool (the async face's): transfers of many executors then share its threads.
        self._pool = pool
        # Uploads only create: If-None-Match: * (open("x")); the store refuses an existing key.
        self._create_only = create_only
        # Per-folder memo of "made and inside the root": 1000 files in one folder cost one
        # realpath and one makedirs, not 1000 of each.
        self._safe_dirs: set[str] = set()
        self._inflight: set[str] = set()
        self._rows_lock = threading.Lock()
        self._ranged = True
        # The run's breaker (one per CLI run, one per library call): after a few transfers in a
        # row fail on the network, no new transfer to this endpoint starts (see breaker.py).
        self.breaker = breaker if breaker is not None else Breaker()
        self.endpoint = remote.endpoint

    def emit(self, event: str, **kwargs: Any) -> None:
        """Tell the subscribers of ``event``."""
        emit(self.subscribers, event, **kwargs)

    def _on_bytes(self, mplan: MappingPlan, op: Operation) -> OnBytes | None:
        """The store's byte callback for ``op``: an ``on_progress`` event per block moved."""
        if not self.subscribers:
            return None

        def on_bytes(n: int) -> None:
            self.emit("on_progress", op=op, mapping=mplan, bytes_transferred=n)

        return on_bytes

    def execute(self, mplan: MappingPlan) -> MappingResult:
        """Run one mapping's plan: mkdirs, transfers (concurrently), then deletes if all went well."""
        result = MappingResult(plan=mplan)
        fatal = [p for p in mplan.problems if p.fatal]
        mkdirs = [o for o in mplan.operations if o.kind is OpKind.MKDIR]
        transfers = list(mplan.transfers)
        deletes = list(mplan.deletes)
        if mplan.mapping.direction is Direction.DOWNLOAD:
            self._prepare_temps(mplan, transfers)
        for op in mkdirs:
            result.results.append(self.run_op(mplan, op))
        if transfers:
            large = sum(1 for o in transfers if o.size >= self.remote.threshold)
            # One large file is fastest in parallel ranges; several already fill the workers.
            self._ranged = large < 2
            # Largest first so a big file does not start last and stretch the tail.
            ordered = sorted(transfers, key=lambda o: -o.size)
            try:
                result.results.extend(self._run_all(mplan, ordered))
            finally:
                # Each temporary is renamed onto its target or removed by now.
                self.temps.unregister(self._temp_for.values())
                self._temp_for.clear()
        self._flush_cache()
        if self.breaker.is_open(self.endpoint):
            result.halted = self.breaker.error(self.endpoint)
        if deletes:
            if result.failed or fatal:
                why = "an earlier operation failed" if result.failed else "a problem was reported"
                for op in deletes:
                    result.results.append(
                        OpResult(op, f"deletion skipped: {why}", "SkippedDeletion")
                    )
            else:
                result.results.extend(deleting.run_deletes(self, mplan, deletes))
        for r in result.results:
            if not r.ok:
                # The faces report failures (exception or CLI lines); this is for debugging only.
                log.debug("%s %s failed: %s", r.op.kind.value, r.op.key, r.error)
        return result

    def _prepare_temps(self, mplan: MappingPlan, transfers: Sequence[Operation]) -> None:
        """Sweep dead runs' temporaries where this mapping writes, then register ours at once."""
        if mplan.is_dir:
            self.temps.sweep(local.as_abs(mplan.mapping.local))
        elif transfers:
            self.temps.sweep(os.path.dirname(transfers[0].local_path), recursive=False)
        self._temp_for = {op.local_path: new_temp_path(op.local_path) for op in transfers}
        self.temps.register(self._temp_for.values())

    def _run_all(self, mplan: MappingPlan, ops: list[Operation]) -> list[OpResult]:
        """Run transfers on the worker pool; on Ctrl-C stop at once and remove in-flight temps."""
        if self._pool is not None:
            # The pool is shared and outlives this run: never shut it down. A cancelled run's
            # queued operations return at once (see run_op), so waiting for them is short.
            return self._gather(
                mplan, ops, [self._pool.submit(self.run_op, mplan, op) for op in ops]
            )
        shared = fanout.plan(self, ops)
        if shared is not None:
            # Many small files: processes share them (one core's Python is the limit there).
            return fanout.FanOut(self, mplan, ops, *shared).run()
        workers = min(self.max_workers, len(ops))
        if workers == 1:
            return [self.run_op(mplan, op) for op in ops]
        small = sum(1 for o in ops if o.size < self.remote.threshold)
        if small > 1 and self.remote.loops(mplan.bucket):
            return self._run_loop(mplan, ops, workers, len(ops) - small)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="s3lync")
        try:
            futures = [pool.submit(self.run_op, mplan, op) for op in ops]
            results = self._gather(mplan, ops, futures)
        except BaseException:
            self.abort()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        # After a cancel a worker may still be stuck in a read: it ends on its own, writing nothing.
        pool.shutdown(wait=not self.cancel.is_set(), cancel_futures=True)
        return results

    def _run_loop(
        self, mplan: MappingPlan, ops: list[Operation], width: int, large: int
    ) -> list[OpResult]:
        """Small transfers on one thread, ``width`` at once (store/loop.py); the ``large`` first
        ones of ``ops`` (largest first; each sent in parallel parts) on a thread pool beside it."""
        pool = ThreadPoolExecutor(min(width, large), "s3lync") if large else None
        pool_futures = [pool.submit(self.run_op, mplan, op) for op in ops[:large]] if pool else []
        lock = threading.Lock()
        # Slot(lock), not Slot[OpResult](lock): a subscripted call costs 8x (typing tries to set
        # __orig_class__ on a slotted object).
        small: list[tuple[Operation, Slot[OpResult]]] = [(op, Slot(lock)) for op in ops[large:]]
        futures: list[Outcome[OpResult]] = [*pool_futures, *(f for _, f in small)]

        def job(op: Operation, f: Slot[OpResult]) -> None:
            if f.set_running_or_notify_cancel():
                f.set_result(self.run_op(mplan, op))

        def drive() -> None:
            try:
                loop.Loop(width).run(functools.partial(job, op, f) for op, f in small)
            except BaseException as exc:  # the loop's own fault: its transfers end failed, not hung
                log.debug("the transfer loop stopped", exc_info=True)
                for op, f in small:
                    if not f.done():
                        stopped = SyncError(
                            f"{op.kind.value} s3://{mplan.bucket}/{op.key}: the transfer loop "
                            f"stopped ({exc}); run again"
                        )
                        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile
                            f.set_result(OpResult.failed(op, stopped))

        thread = threading.Thread(target=drive, name="s3lync-loop", daemon=True)
        thread.start()
        try:
            return self._gather(mplan, ops, futures)
        except BaseException:
            self.abort()
            raise
        finally:
            # After a cancel a transfer may still be stuck in a read: it ends on its own.
            if pool is not None:
                pool.shutdown(wait=not self.cancel.is_set(), cancel_futures=True)
            if not self.cancel.is_set():
                thread.join()

    def _gather(
        self, mplan: MappingPlan, ops: list[Operation], futures: Sequence[Outcome[OpResult]]
    ) -> list[OpResult]:
        """Wait for every operation; once ``cancel`` is set from outside, abort at once.

        Aborting removes in-flight temporaries now, even those of a worker stuck in a read; such
        a worker is waited for a moment (CANCEL_WAIT) and then left to end on its own: its
        operation counts as cancelled.
        """
        finished = AllDone(futures)
        deadline: float | None = None
        while not finished.wait(0.1):
            if not self.cancel.is_set():
                if len(self._cache_rows) >= _CACHE_BATCH:
                    # Written while the transfers run, so the run's end has little left to write.
                    self._flush_cache()
                continue
            pending = [f for f in futures if not f.done()]
            if deadline is None:
                self.abort()
                deadline = time.monotonic() + CANCEL_WAIT
                for f in pending:
                    f.cancel()  # queued: never starts
            elif time.monotonic() >= deadline:
                # Again: a worker whose answer arrived just after the first abort may have
                # created its temporary since.
                self.abort()
                break
        out = []
        for op, f in zip(ops, futures, strict=True):
            if f.done() and not f.cancelled():
                out.append(f.result())
            else:
                out.append(OpResult.cancelled(op, mplan.bucket))
        return out

    def abort(self) -> None:
        """Stop: queued work is dropped, streams stop at their next chunk, temporaries go now.

        A worker stalled in a socket read cannot be interrupted, so its temporary is removed here
        rather than when it wakes; its later ``os.replace`` then fails and writes nothing.
        """
        self.cancel.set()
        with self._rows_lock:
            inflight = list(self._inflight)
        for tmp in inflight:
            local.discard(tmp)
        self.temps.unregister(inflight)
        self._flush_cache()

    def run_op(self, mplan: MappingPlan, op: Operation) -> OpResult:
        """Run one operation to its result (never raises for the operation's own failure)."""
        if self.cancel.is_set():
            # Cancelled before it started: no transfer begins after a cancel.
            return OpResult.cancelled(op, mplan.bucket)
        transfer = op.kind in (OpKind.CREATE, OpKind.UPDATE)
        if transfer and self.breaker.is_open(self.endpoint):
            down = EndpointDownError(
                f"{op.kind.value} s3://{mplan.bucket}/{op.key}: not tried (the S3 endpoint "
                f"{self.endpoint} is not answering)"
            )
            return OpResult.failed(op, down)
        self.emit("on_start", op=op, mapping=mplan)
        error: S3lyncError | None = None
        verdict: Verdict | None = None
        try:
            if op.kind is OpKind.MKDIR:
                self.guard(mplan, op)
                local.ensure_dir(op.local_path)
            elif mplan.mapping.direction is Direction.DOWNLOAD:
                verdict = self._download(mplan, op)
            else:
                verdict = self._upload(mplan, op)
        except S3lyncError as exc:
            error = exc
        except Exception as exc:  # never let one file's surprise stop the others
            error = translate(exc, mplan.bucket, op.key, op.kind.value)
        if transfer and not isinstance(error, TransferCancelledError):
            self.breaker.record(self.endpoint, error)
        res = OpResult(op, verdict=verdict) if error is None else OpResult.failed(op, error)
        self.emit("on_done", op=op, mapping=mplan, error=res.error, verdict=verdict)
        return res

    def guard(self, mplan: MappingPlan, op: Operation, create: bool = False) -> None:
        """Last check before a local write or delete: the path stays inside the mapping root."""
        if not mplan.is_dir:
            if create:
                local.ensure_parent(op.local_path)
            return
        check_rel(op.rel, op.key)
        parent = os.path.dirname(op.local_path)
        if parent in self._safe_dirs:
            return
        root = mplan.mapping.local
        # realpath resolves the existing part of a not-yet-created path, so a symlinked folder
        # that leads outside is caught before makedirs could create anything through it.
        if not local.in_root(root, op.local_path):
            raise UnsafeKeyError(f"refused key {op.key!r}: it resolves outside {root}")
        if create:
            local.ensure_parent(op.local_path)
            self._safe_dirs.add(parent)

    def _download(self, mplan: MappingPlan, op: Operation) -> Verdict | None:
        self.guard(mplan, op, create=True)
        tmp = self._temp_for.get(op.local_path) or new_temp_path(op.local_path)
        with self._rows_lock:
            self._inflight.add(tmp)
        verdict: Verdict | None = None
        try:
            res = self.remote.download(
                mplan.bucket,
                op.key,
                tmp,
                op.size,
                cancel=self.cancel,
                ranged=self._ranged,
                version_id=op.version_id,
                if_match=op.source_etag,
                on_bytes=self._on_bytes(mplan, op),
            )
            info, digest = res.info, res.digest
            where = f"download s3://{mplan.bucket}/{op.key}"
            if mplan.mapping.check_hash:
                # Verified before the rename: a mismatch leaves the previous local file as it was.
                verdict = verify(
                    self.remote, self.cache, mplan, op.key, tmp, digest, info.evidence()
                )
                enforce(mplan, verdict, where, "the local file was left as it was")
            guards.check_local_target(op, digest)
            if op.source_mtime_ns is not None:
                # The object's LastModified, as aws s3 sync does; set before the rename so the
                # stat below (the hash cache's fingerprint) already has it.
                local.set_mtime(tmp, op.source_mtime_ns)
            replaced_at = time.time_ns()
            st = local.replace(tmp, op.local_path)
        except BaseException:
            local.discard(tmp)
            raise
        finally:
            with self._rows_lock:
                self._inflight.discard(tmp)
        if info.etag and verdict is not None and verdict.verified:
            digest.add_seen(info.etag)
        self._remember(op.local_path, fingerprint(st), digest, replaced_at)
        return verdict

    def _upload(self, mplan: MappingPlan, op: Operation) -> Verdict | None:
        stat_at = time.time_ns()
        st = local.stat_path(op.local_path)
        if st is None:
            raise SyncError(f"upload {op.local_path}: the file disappeared since it was planned")
        if st.st_size >= self.remote.threshold and loop.current() is not None:
            # Planned small, grown large since: its parts go on threads and part slots, which
            # must not block the loop's other transfers (the thread sees no loop).
            return loop.offload(lambda: self._upload(mplan, op))
        if_match = guards.check_remote_target(self.remote, mplan.bucket, op)
        digest, body, part = self._upload_digest(op, st)
        where = f"upload s3://{mplan.bucket}/{op.key}"
        verdict: Verdict | None = None
        for attempt in (1, 2):
            up = self.remote.upload(
                op.local_path,
                mplan.bucket,
                op.key,
                digest.size,
                digest.md5,
                body=body,
                ranged=self._ranged,
                cancel=self.cancel,
                # A retry replaces what we just stored, not what the plan saw.
                if_match=if_match if attempt == 1 else None,
                if_none_match=self._create_only and attempt == 1,
                extra_args=dict(mplan.mapping.extra_args),
                on_bytes=self._on_bytes(mplan, op),
                part_md5s=digest.part_md5s.get(part, ()) if part else (),
            )
            self._check_unchanged(op, st, body)
            if not mplan.mapping.check_hash:
                break
            verdict = verify(
                self.remote, self.cache, mplan, op.key, op.local_path, digest, upload_evidence(up)
            )
            if verdict.status is not Status.MISMATCH:
                break
            if attempt == 1:
                # The store kept other bytes than we sent: send them once more.
                log.warning("%s: %s; uploading again", where, verdict.detail)
                continue
            # Still wrong: what we stored must not stand in for the file.
            kept = "the stored object was deleted"
            failed = self.remote.delete_many(mplan.bucket, [op.key])
            if failed:
                kept = f"deleting the stored object failed too ({failed[op.key]})"
            raise HashMismatchError(f"{where}: stored object differs: {verdict.detail}; {kept}")
        if verdict is not None:
            enforce(mplan, verdict, where, "the stored object was left in place")
        info = up.info
        if info.etag and verdict is not None and verdict.verified:
            digest.add_seen(info.etag)
        self._remember(op.local_path, fingerprint(st), digest, stat_at)
        return verdict

    def _upload_digest(
        self, op: Operation, st: os.stat_result
    ) -> tuple[Digest, bytes | None, int | None]:
        """The digest an upload sends and checks, for a small file the bytes it sends, and for a
        large one the part size it is cut at."""
        if st.st_size < self.remote.threshold:
            # Small files are read once: hashed in memory and sent from the same bytes, so what
            # is hashed is exactly what is sent (Content-MD5 then guards the wire).
            with open(op.local_path, "rb") as f:
                body = f.read()
            return Digest(size=len(body), md5=hashlib.md5(body).hexdigest()), body, None
        # Large files: the MD5 must be known before the upload starts (it travels as
        # md5chksum metadata). The same read computes the multipart ETag at the part size
        # the upload will use, so checking the stored ETag needs no second read, and the
        # part MD5s it gives go as the parts' Content-MD5 (upload.py).
        part = self.remote.multipart_part_size(st.st_size, self._ranged)
        cached = self.cache.get(op.local_path, fingerprint(st))
        if cached is not None and (part is None or part in cached.etags):
            return cached, None, part
        digest = digest_file(op.local_path, [part] if part else [])
        if cached is not None:
            digest.seen_etags = list(cached.seen_etags)
        return digest, None, part

    @staticmethod
    def _check_unchanged(op: Operation, st: os.stat_result, body: bytes | None) -> None:
        after = None if body is not None else local.stat_path(op.local_path)
        if body is None and (after is None or fingerprint(after) != fingerprint(st)):
            # Large files are read while sending (small ones once, up front): what went up may
            # mix old and new bytes, and its md5chksum is the old content's.
            # The next run sees the local file differ from the stored ETag and uploads again.
            raise SyncError(
                f"upload {op.local_path}: the file changed while it was being uploaded; run again"
            )

    def adopt_temps(self, temp_for: dict[str, str]) -> None:
        """Use temporaries another process registered (download target -> temporary)."""
        self._temp_for = dict(temp_for)

    def temp_map(self) -> dict[str, str]:
        """Download target -> its registered temporary, for this mapping's transfers."""
        return dict(self._temp_for)

    @property
    def create_only(self) -> bool:
        """True when uploads only create (If-None-Match: *)."""
        return self._create_only

    def temps_of(self, ops: Sequence[Operation]) -> list[str]:
        """The registered temporaries of ``ops`` (downloads only)."""
        return [t for t in (self._temp_for.get(op.local_path) for op in ops) if t]

    def take_cache_rows(self) -> list[tuple[str, Fingerprint, Digest]]:
        """The hash-cache rows queued so far (a worker process sends them to its parent)."""
        with self._rows_lock:
            rows, self._cache_rows = self._cache_rows, []
        return rows

    def add_cache_rows(self, rows: list[tuple[str, Fingerprint, Digest]]) -> None:
        """Queue rows a worker process computed, for this executor's hash cache."""
        with self._rows_lock:
            self._cache_rows.extend(rows)

    def _remember(self, path: str, fp: Fingerprint, digest: Digest, stat_at: int) -> None:
        """Queue a digest for the hash cache, unless the file is too fresh to trust (racily clean)."""
        if racily_clean(fp, stat_at):
            return
        with self._rows_lock:
            self._cache_rows.append((os.path.abspath(path), fp, digest))

    def _flush_cache(self) -> None:
        self.cache.put_many(self.take_cache_rows())
