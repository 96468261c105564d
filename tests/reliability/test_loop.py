"""Small transfers on one thread: libcurl's multi interface, a greenlet per transfer (loop.py).

A plan with two or more small transfers (one request each) and ``max_workers >= 2`` runs them on
one thread named ``s3lync-loop``, at most ``max_workers`` at once; large ones of the same plan run
on ordinary threads beside it. Everything a thread per transfer did must still hold there: the
bound on requests in flight, the read timeout (carried by libcurl's progress callback, which must
still fire under the multi interface), retries whose pause lets the other transfers go on,
cancel, and the shared idle connections. ``S3LYNC_PROCESSES=1``: no worker process ever starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3Object, SyncError
from s3lync.errors import TransferCancelledError
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.store import retry
from s3lync.store.scheduler import scheduler_for
from s3lync.sync.engine import Engine
from s3lync.sync.results import MappingResult
from s3lync.sync.run import RunOptions

from .faultproxy import FaultProxy
from .helpers import blob, on, put_objects, remote_tree, temporaries, tree, wait_until, write_files

pytestmark = pytest.mark.integration

LOOP = "s3lync-loop"
N = 40
FILES = {f"f{i:03d}.bin": blob(i, 500 + 37 * i) for i in range(N)}


@pytest.fixture(autouse=True)
def _one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_PROCESSES", "1")


class Threads:
    """Which thread started and ended each operation, and in which order they ended."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[str, int]] = {}
        self.done: dict[str, tuple[str, int]] = {}
        self.order: list[str] = []
        self.lock = threading.Lock()

    @staticmethod
    def _here() -> tuple[str, int]:
        t = threading.current_thread()
        return t.name, t.ident or 0

    def on_start(self, op: Any, **_: Any) -> None:
        with self.lock:
            self.started[op.rel] = self._here()

    def on_done(self, op: Any, **_: Any) -> None:
        with self.lock:
            self.done[op.rel] = self._here()
            self.order.append(op.rel)

    def names(self, rels: Any = None) -> set[str]:
        keys = self.started if rels is None else rels
        return {self.started[r][0] for r in keys} | {self.done[r][0] for r in keys}

    def idents(self, rels: Any = None) -> set[int]:
        keys = self.started if rels is None else rels
        return {self.started[r][1] for r in keys} | {self.done[r][1] for r in keys}


def run(
    endpoint: str, mapping: Mapping, max_workers: int, *subscribers: Any
) -> tuple[MappingResult, Threads]:
    """One plan and apply of ``mapping``, its operations' threads recorded."""
    threads = Threads()
    opts = RunOptions(subscribers=(*subscribers, threads))
    settings = Settings.from_env()
    with Engine(endpoint_url=endpoint, settings=settings, max_workers=max_workers) as engine:
        plan = engine.plan([mapping], opts)
        (result,) = engine.apply(plan, opts)
    return result, threads


def loop_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == LOOP and t.is_alive()}


def thread_names() -> tuple[Callable[[int, int, int, int], None], set[str]]:
    """A progress callback for ``S3Object`` and the names of the threads it was told on."""
    names: set[str] = set()

    def progress(files_done: int, _files: int, bytes_done: int, _bytes: int) -> None:
        if files_done or bytes_done:  # not the zero point, told by the calling thread
            names.add(threading.current_thread().name)

    return progress, names


@pytest.fixture
def no_loop_left() -> Iterator[None]:
    """Every loop thread the test started has ended by its end (a stuck loop would leak)."""
    before = loop_threads()
    yield
    wait_until(lambda: not (loop_threads() - before), "the loop thread ends", 5)


# --------------------------------------------------------------------------- 1, 2: used, bounded


def test_small_downloads_run_on_one_loop_thread_bounded_by_max_workers(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_loop_left: None
) -> None:
    workers = 8
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    # Each GET is held a moment at the store: the loop's transfers overlap there.
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.2, times=None)
    data = tmp_path / "data"
    mapping = Mapping(f"s3://{bucket}/p/", str(data), Direction.DOWNLOAD)

    result, threads = run(proxy.url, mapping, workers)

    assert [r.error for r in result.results if not r.ok] == []
    assert tree(data) == FILES
    assert all(r.verdict is not None and r.verdict.verified for r in result.results)
    assert temporaries(tmp_path) == []
    # Every transfer started and ended on the one loop thread.
    assert set(threads.started) == set(threads.done) == set(FILES)
    assert threads.names() == {LOOP}
    assert len(threads.idents()) == 1
    # All forty went through the proxy; max_workers at once, neither more nor (one thread
    # driving them together) fewer.
    assert len(proxy.requests("GET", "/p/f")) == N
    assert proxy.peak_inflight == workers, proxy.peak_inflight
    assert scheduler_for(workers).requests_in_flight == 0  # every slot given back


def test_small_uploads_run_on_one_loop_thread_bounded_by_max_workers(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_loop_left: None
) -> None:
    workers = 8
    src = tmp_path / "src"
    write_files(src, FILES)
    proxy.add_rule("stall", method="PUT", key="/up/f", delay=0.2, times=None)
    mapping = Mapping(f"s3://{bucket}/up/", str(src), Direction.UPLOAD)

    result, threads = run(proxy.url, mapping, workers)

    assert [r.error for r in result.results if not r.ok] == []
    assert remote_tree(s3, bucket, "up/") == {f"up/{k}": v for k, v in FILES.items()}
    assert set(threads.started) == set(threads.done) == set(FILES)
    assert threads.names() == {LOOP}
    assert len(threads.idents()) == 1
    puts = proxy.requests("PUT", "/up/f")
    # An unconditional PUT may be resent once on a new connection when a kept-alive one turns
    # out closed (transport.py): at most once per connection, never a PUT per file twice over.
    assert N <= len(puts) <= N + workers, len(puts)
    assert len({p.path for p in puts}) == N
    assert proxy.peak_inflight == workers, proxy.peak_inflight
    assert scheduler_for(workers).requests_in_flight == 0


def test_two_loops_share_one_bound_without_blocking_each_other(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_loop_left: None
) -> None:
    """Two calls in two threads, each a loop of max_workers=3 transfers, share the process's
    scheduler of 3 request slots: a transfer waiting for a slot must let its loop's others run
    (a wait that blocked the loop's thread could leave both loops holding slots, each waiting
    for the other's)."""
    workers = 3
    for i in range(2):
        put_objects(s3, bucket, {f"s{i}/{k}": v for k, v in list(FILES.items())[:15]})
    proxy.add_rule("stall", method="GET", key="/f", delay=0.1, times=None)
    objs = [
        S3Object(
            f"s3://{bucket}/s{i}/", tmp_path / f"d{i}", endpoint_url=proxy.url, max_workers=workers
        )
        for i in range(2)
    ]
    errors: list[BaseException] = []
    progress, names = thread_names()

    def download(obj: S3Object) -> None:
        try:
            obj.download(progress=progress)
        except BaseException as exc:
            errors.append(exc)

    callers = [threading.Thread(target=download, args=(o,), daemon=True) for o in objs]
    for t in callers:
        t.start()
    for t in callers:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in callers), "the two loops never finished"
    assert errors == []
    assert names == {LOOP}
    expected = dict(list(FILES.items())[:15])
    assert tree(tmp_path / "d0") == tree(tmp_path / "d1") == expected
    assert len(proxy.requests("GET", "/f")) == 30
    assert 2 <= proxy.peak_inflight <= workers, proxy.peak_inflight
    assert scheduler_for(workers).requests_in_flight == 0


# --------------------------------------------------------------------------- 3: read timeout


SMALL = {f"f{i:02d}.bin": blob(100 + i, 3000 + 11 * i) for i in range(20)}
STALLED = "f05.bin"


@pytest.mark.parametrize(
    ("s3_server", "where", "times"),
    [
        on("moto", "before", 1, id="before-headers-once"),
        on("moto", "body", 1, id="mid-body-once"),
        on("rclone", "body", 1, id="mid-body-once"),
        on("moto", "before", None, id="before-headers-always"),
        on("moto", "body", None, id="mid-body-always"),
        on("rclone", "before", None, id="before-headers-always"),
    ],
    indirect=["s3_server"],
)
def test_a_stalled_get_in_the_loop_times_out_and_the_others_complete(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_loop_left: None,
    where: str,
    times: int | None,
) -> None:
    """The read timeout rides on libcurl's progress callback: under the multi interface it must
    still fire, or the stalled GET would wait out the whole stall (20 s here)."""
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", "1")
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SMALL.items()})
    rule = proxy.add_rule(
        "stall", method="GET", key=f"/p/{STALLED}", where=where, delay=20, times=times
    )
    data = tmp_path / "data"
    obj = S3Object(f"s3://{bucket}/p/", data, endpoint_url=proxy.url, max_workers=4)
    progress, names = thread_names()

    start = time.monotonic()
    try:
        if times is None:
            with pytest.raises(SyncError) as info:
                obj.download(progress=progress)
        else:
            obj.download(progress=progress)
    finally:
        elapsed = time.monotonic() - start
        proxy.clear()

    # Two attempts of 1 s each at most, far from the 20 s stall.
    assert elapsed < 8, f"took {elapsed:.1f} s: the read timeout did not fire in the loop"
    assert names == {LOOP}
    gets = proxy.requests("GET", f"/p/{STALLED}")
    assert len(gets) == 2, gets  # the stalled attempt timed out, and was retried once
    assert rule.hits == (2 if times is None else 1)
    local = tree(data)
    if times is None:
        message = str(info.value)
        assert f"p/{STALLED}" in message, message
        assert "read timed out" in message, message
        assert local == {k: v for k, v in SMALL.items() if k != STALLED}
    else:
        assert local == SMALL
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- 4: retry's pause

PAUSE = 0.5


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "error", {"status": 503}, id="503-SlowDown"),
        on("rclone", "error", {"status": 503}, id="503-SlowDown"),
        on("moto", "reset", {}, id="reset-mid-body"),
        on("rclone", "reset", {}, id="reset-mid-body"),
    ],
    indirect=["s3_server"],
)
def test_a_retried_get_pauses_without_stopping_the_other_transfers(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_loop_left: None,
    action: str,
    kwargs: Any,
) -> None:
    # A fixed pause between attempts (jitter makes it anything from 0 to 1 s otherwise).
    monkeypatch.setattr(retry, "backoff_delay", lambda attempt, throttled=False: PAUSE)
    workers = 4
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    arrived: list[tuple[float, str]] = []

    def record(seen: Any) -> None:
        arrived.append((time.monotonic(), seen.path.rsplit("/", 1)[-1]))

    # The largest file goes first: it fails at once, and pauses while the others are running
    # (each held 0.1 s at the store: 39 of them, 4 at once, last about a second).
    first = max(FILES, key=lambda k: len(FILES[k]))
    rule = proxy.add_rule(action, method="GET", key=f"/p/{first}", times=1, before=record, **kwargs)
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.1, times=None, before=record)
    data = tmp_path / "data"
    progress, names = thread_names()

    S3Object(f"s3://{bucket}/p/", data, endpoint_url=proxy.url, max_workers=workers).download(
        progress=progress
    )

    assert names == {LOOP}
    assert rule.hits == 1
    assert tree(data) == FILES
    assert temporaries(tmp_path) == []
    tries = [t for t, name in arrived if name == first]
    assert len(tries) == 2, arrived  # sent twice: the failure was retried
    assert len(proxy.requests("GET", f"/p/{first}")) == 2
    # In the last 0.4 s of the failed transfer's pause, the loop kept sending the others' GETs
    # (a pause that blocked the loop's thread would have sent none).
    during = [name for t, name in arrived if tries[1] - (PAUSE - 0.1) <= t < tries[1]]
    assert len(during) >= workers, f"{len(during)} GET(s) during the retry's {PAUSE} s pause"


# --------------------------------------------------------------------------- 5: cancel


def test_cancel_ends_a_stalled_loop_at_once_and_leaves_nothing(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_loop_left: None
) -> None:
    workers = 4
    body = bytes(range(256)) * 256  # 64 KiB
    put_objects(s3, bucket, {f"c/s{i:02d}.bin": body for i in range(24)})
    # Every GET stalls after half its body: `workers` of them in flight, the rest queued.
    stall = proxy.add_rule("stall", method="GET", key="/c/s", where="body", delay=60, times=None)
    target = tmp_path / "c"
    cancel = threading.Event()
    obj = S3Object(f"s3://{bucket}/c/", target, endpoint_url=proxy.url, max_workers=workers)
    outcome: list[BaseException] = []
    ended: list[float] = []
    before = loop_threads()

    def download() -> None:
        try:
            obj.download(cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)
        finally:
            ended.append(time.monotonic())

    caller = threading.Thread(target=download)
    caller.start()
    try:
        wait_until(lambda: stall.hits >= workers, "transfers in flight", 10)
        time.sleep(0.3)  # time for any request over the bound to show
        assert stall.hits == workers, stall.hits
        assert len(loop_threads() - before) == 1, "the stalled transfers are not on a loop"
        cancelled_at = time.monotonic()
        cancel.set()
        caller.join(timeout=5)
        assert not caller.is_alive(), "the cancelled call did not return"
        # Still stalled at the store: the loop itself stops (libcurl's progress callback sees
        # the cancel), its transfers give their request slots back (the next call of this size
        # would wait for them forever otherwise) and its thread ends.
        wait_until(lambda: scheduler_for(workers).requests_in_flight == 0, "slots given back", 3)
        wait_until(lambda: not (loop_threads() - before), "the loop thread ends", 3)
    finally:
        cancel.set()
        stall.release()
        proxy.clear()
        caller.join(timeout=30)
    assert ended[0] - cancelled_at < 3, f"returned {ended[0] - cancelled_at:.1f} s after cancel"
    assert len(outcome) == 1 and isinstance(outcome[0], TransferCancelledError), outcome
    assert temporaries(tmp_path) == []
    assert not target.exists() or list(target.iterdir()) == []
    # Nothing queued started after the cancel.
    assert len(proxy.requests("GET", "/c/s")) == workers


# --------------------------------------------------------------------------- 6: mixed plan

KiB = 1024
MiB = 1024 * KiB
LARGE = {"big0.bin": blob(7, 600 * KiB), "big1.bin": blob(8, 700 * KiB)}
MIXED_SMALL = {f"s{i:02d}.bin": blob(200 + i, 1000 + 13 * i) for i in range(20)}


@pytest.mark.parametrize("direction", [Direction.DOWNLOAD, Direction.UPLOAD], ids=lambda d: d.value)
def test_large_transfers_run_beside_the_loop(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_loop_left: None,
    direction: Direction,
) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(256 * KiB))
    files = {**LARGE, **MIXED_SMALL}
    local = tmp_path / "local"
    if direction is Direction.DOWNLOAD:
        put_objects(s3, bucket, {f"m/{k}": v for k, v in files.items()})
        method = "GET"
    else:
        write_files(local, files)
        method = "PUT"
    # The large transfers are held 1 s at the store: the small ones must not wait for them.
    proxy.add_rule("stall", method=method, key="/m/big", delay=1.0, times=None)
    mapping = Mapping(f"s3://{bucket}/m/", str(local), direction)

    result, threads = run(proxy.url, mapping, 4)

    assert [r.error for r in result.results if not r.ok] == []
    if direction is Direction.DOWNLOAD:
        assert tree(local) == files
    else:
        assert remote_tree(s3, bucket, "m/") == {f"m/{k}": v for k, v in files.items()}
    assert temporaries(tmp_path) == []
    assert threads.names(MIXED_SMALL) == {LOOP}
    assert len(threads.idents(MIXED_SMALL)) == 1
    big = threads.names(LARGE)
    assert LOOP not in big and all(n.startswith("s3lync") for n in big), big
    # Beside, not after: every small transfer ended while the large ones were held.
    assert set(threads.order[: len(MIXED_SMALL)]) == set(MIXED_SMALL), threads.order


# --------------------------------------------------------------------------- 7: connections


def test_successive_calls_reuse_the_loops_connections(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_loop_left: None
) -> None:
    """Connections the loop opened stay in the shared pool when its call ends: the next call
    with the same settings (a new object, a new loop) sends on them instead of connecting."""
    files = {f"f{i}.bin": blob(300 + i, 2000 + i) for i in range(10)}
    put_objects(s3, bucket, {f"r/{k}": v for k, v in files.items()})
    uri = f"s3://{bucket}/r/"
    seen: set[str] = set()

    def progress(done: int, *_: int) -> None:
        if done:
            seen.add(threading.current_thread().name)

    S3Object(uri, tmp_path / "one", endpoint_url=proxy.url, max_workers=8).download()
    assert tree(tmp_path / "one") == files
    opened = proxy.accepted
    S3Object(uri, tmp_path / "two", endpoint_url=proxy.url, max_workers=8).download(
        progress=progress
    )
    assert tree(tmp_path / "two") == files
    assert seen == {LOOP}  # the second call's transfers ran on a loop too
    assert len(proxy.requests("GET", "/r/f")) == 20
    assert proxy.accepted == opened, f"{proxy.accepted - opened} new connection(s)"


# --------------------------------------------------------------------------- the loop's own fault


def test_a_fault_of_the_loop_itself_fails_its_transfers_instead_of_hanging(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_loop_left: None,
) -> None:
    """A bug in the loop (here: its driver raising after a few rounds) must end the run with
    every unfinished transfer failed -- never a hang, a transfer reported done that is not, a
    temporary left, or a request slot kept."""
    from s3lync.store import loop

    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.2, times=None)
    drive = loop.Loop._drive
    rounds = {"n": 0}

    def failing(self: Any, running: Any) -> None:
        rounds["n"] += 1
        if rounds["n"] > 3:
            raise RuntimeError("boom")
        drive(self, running)

    monkeypatch.setattr(loop.Loop, "_drive", failing)
    data = tmp_path / "data"
    mapping = Mapping(f"s3://{bucket}/p/", str(data), Direction.DOWNLOAD)
    out: list[MappingResult] = []
    # On a thread: if the run hung, the test fails here instead of hanging the suite.
    runner = threading.Thread(target=lambda: out.append(run(proxy.url, mapping, 8)[0]))
    runner.daemon = True
    runner.start()
    runner.join(15)

    assert not runner.is_alive(), "the run hung after the loop failed"
    (result,) = out
    failed = [r for r in result.results if not r.ok]
    assert failed, "the loop's fault went unnoticed"
    assert all("the transfer loop stopped (boom)" in str(r.error) for r in failed)
    done = {r.op.rel for r in result.results if r.ok}
    assert {p.name for p in data.iterdir()} == done if data.exists() else not done
    assert all((data / rel).read_bytes() == FILES[rel] for rel in done)
    assert temporaries(tmp_path) == []
    assert scheduler_for(8).requests_in_flight == 0
    # The next run (same process, same shared connections) is not poisoned by the last one.
    monkeypatch.setattr(loop.Loop, "_drive", drive)
    again, _ = run(proxy.url, mapping, 8)
    assert [r.error for r in again.results if not r.ok] == []
    assert tree(data) == FILES


def test_a_file_grown_large_since_the_plan_does_not_hold_up_the_loop(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_loop_left: None,
) -> None:
    """A file planned small (so on the loop) that has grown to several parts when its upload
    starts goes up on threads of its own: the loop's other transfers go on meanwhile instead of
    waiting for its parts (review finding: the loop thread blocked on the parts' pool)."""
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(256 * KiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    small = {f"s{i:02d}.bin": blob(100 + i, 1000 + i) for i in range(16)}
    local = tmp_path / "local"
    write_files(local, {"grown.bin": blob(7, 200 * KiB), **small})
    grown = blob(8, 11 * MiB)  # three parts

    class Grow:
        def on_start(self, op: Any, **_: Any) -> None:
            if op.rel == "grown.bin":
                (local / "grown.bin").write_bytes(grown)

    # Its parts are held 1.5 s at the store, each small PUT 0.1 s.
    proxy.add_rule("stall", method="PUT", key="/g/grown", delay=1.5, times=None)
    proxy.add_rule("stall", method="PUT", key="/g/s", delay=0.1, times=None)
    mapping = Mapping(f"s3://{bucket}/g/", str(local), Direction.UPLOAD)

    result, threads = run(proxy.url, mapping, 4, Grow())

    assert [r.error for r in result.results if not r.ok] == []
    assert remote_tree(s3, bucket, "g/") == {
        "g/grown.bin": grown,
        **{f"g/{k}": v for k, v in small.items()},
    }
    parts = [r for r in proxy.requests("PUT", "/g/grown") if "partNumber" in r.query]
    assert len(parts) == 3
    assert threads.names() == {LOOP}  # planned small: started and ended on the loop
    # It started first (the largest planned) and ended last: the small ones did not wait.
    assert threads.order[-1] == "grown.bin", threads.order
