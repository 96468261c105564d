"""Many small transfers shared with worker processes (s3lync/sync/fanout.py).

A run that hands small files to a worker process must end exactly as one that does not: the
same files and objects, the same results and error messages, every digest in the hash cache,
one start and one end per operation for subscribers; and cancel, Ctrl-C or a dying worker must
leave no temporary and no process behind. Workers start only when ``S3LYNC_PROCESSES`` asks
for them (by default one process runs every transfer on its loop).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import PlanStaleError, TransferCancelledError
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.sync.engine import Engine
from s3lync.sync.results import MappingResult
from s3lync.sync.run import RunOptions

from .faultproxy import FaultProxy
from .helpers import (
    blob,
    cli_env,
    put_objects,
    remote_tree,
    start_cli,
    temporaries,
    tree,
    wait_until,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

N = 40
FILES = {f"f{i:03d}.bin": blob(i, 500 + 37 * i) for i in range(N)}


def workers_of(pid: int) -> list[int]:
    """Live worker processes started by process ``pid`` (their argv names their parent)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            state != "Z"
            and b"s3lync.sync.fanworker" in b"".join(argv)
            and argv[5:6] == [str(pid).encode()]
        ):
            found.append(int(entry))
    return found


class Events:
    """Counts each operation's start and end as subscribers see them."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.lock = threading.Lock()

    def on_start(self, op: Any, **_: Any) -> None:
        with self.lock:
            self.started[op.key] += 1

    def on_done(self, op: Any, **_: Any) -> None:
        with self.lock:
            self.done[op.key] += 1


def run(
    endpoint: str, mapping: Mapping, processes: int | str, max_workers: int = 4, **options: Any
) -> tuple[MappingResult, Events]:
    """One plan and apply of ``mapping`` with S3LYNC_PROCESSES=``processes``."""
    settings = Settings.from_env({**os.environ, "S3LYNC_PROCESSES": str(processes)})
    events = Events()
    opts = RunOptions(subscribers=(events, *options.pop("subscribers", ())), **options)
    with Engine(endpoint_url=endpoint, settings=settings, max_workers=max_workers) as engine:
        plan = engine.plan([mapping], opts)
        (result,) = engine.apply(plan, opts)
    return result, events


def shared(caplog: pytest.LogCaptureFixture) -> list[int]:
    """What each worker process answered, from the run's debug line (empty: none ran)."""
    for rec in caplog.records:
        if rec.name == "s3lync.sync.fanout" and " in this process, " in rec.getMessage():
            if rec.getMessage().endswith(" in 0 worker process(es)"):
                return []
            counts = rec.getMessage().split(" in this process, ")[1].split(" in ")[0]
            return [int(c) for c in counts.split("+")]
    return []


def cached_paths(tmp_path: Path) -> set[str]:
    db = tmp_path / "cache" / "s3lync" / "state" / "hashes.sqlite3"
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT path FROM digests")}


def test_downloads_shared_with_a_worker_land_verified_and_cached(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="s3lync.sync.fanout")
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    # A slow link (0.1 s a GET): the run lasts long enough for a worker to start and take part.
    proxy.add_rule("stall", method="GET", delay=0.1, times=None)
    data = tmp_path / "data"
    mapping = Mapping(f"s3://{bucket}/p/", str(data), Direction.DOWNLOAD)

    result, events = run(proxy.url, mapping, 2)

    assert [r.error for r in result.results if not r.ok] == []
    answered = shared(caplog)
    assert len(answered) == 1 and answered[0] > 0, "no worker process transferred anything"
    assert tree(data) == FILES
    assert all(r.verdict is not None and r.verdict.verified for r in result.results)
    assert set(events.started.values()) == {1} and events.started == events.done
    assert len(events.done) == N
    # The workers' digests reached the parent's hash cache (the next run hashes nothing).
    assert cached_paths(tmp_path) >= {str(data / k) for k in FILES}
    assert temporaries(tmp_path) == []
    assert workers_of(os.getpid()) == []


def test_uploads_shared_with_a_worker_match_the_files(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="s3lync.sync.fanout")
    src = tmp_path / "src"
    write_files(src, FILES)
    for k in FILES:  # not racily clean: the hash cache may keep every digest
        os.utime(src / k, (1_700_000_000, 1_700_000_000))
    proxy.add_rule("stall", method="PUT", delay=0.1, times=None)
    mapping = Mapping(f"s3://{bucket}/up/", str(src), Direction.UPLOAD)

    result, _ = run(proxy.url, mapping, 2)

    assert [r.error for r in result.results if not r.ok] == []
    assert shared(caplog) and shared(caplog)[0] > 0
    assert remote_tree(s3, bucket, "up/") == {f"up/{k}": v for k, v in FILES.items()}
    assert cached_paths(tmp_path) >= {str(src / k) for k in FILES}


def test_errors_in_a_worker_read_as_in_one_process(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Objects replaced between plan and apply: the same PlanStaleError, same words, same keys."""
    outcomes = []
    for processes in (1, 2):
        src = tmp_path / f"src{processes}"
        prefix = f"u{processes}/"
        write_files(src, FILES)
        put_objects(s3, bucket, {f"{prefix}{k}": b"old" for k in FILES})
        mapping = Mapping(f"s3://{bucket}/{prefix}", str(src), Direction.UPLOAD)
        settings = Settings.from_env({**os.environ, "S3LYNC_PROCESSES": str(processes)})
        opts = RunOptions()
        with Engine(endpoint_url=s3_server.endpoint_url, settings=settings, max_workers=4) as e:
            plan = e.plan([mapping], opts)
            # Someone else replaces every fifth object after the plan saw the old ones.
            put_objects(s3, bucket, {f"{prefix}{k}": b"theirs" for k in list(FILES)[::5]})
            (result,) = e.apply(plan, opts)
        failed = {
            r.op.rel: (r.error_type, (r.error or "").replace(prefix, "P/"))
            for r in result.results
            if not r.ok
        }
        assert all(isinstance(r.exception, PlanStaleError) for r in result.results if not r.ok)
        outcomes.append(failed)
    assert len(outcomes[0]) == N // 5
    assert outcomes[0] == outcomes[1]


def test_cancel_stops_the_workers_and_leaves_no_temporary(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    # Every GET's body stalls: transfers are in flight, in both processes, when cancel comes.
    proxy.add_rule("stall", method="GET", key="/p/f", where="body", delay=3600, times=None)
    cancel = threading.Event()
    data = tmp_path / "data"

    in_flight: list[int] = []

    def cancel_when_in_flight() -> None:
        wait_until(lambda: len(temporaries(data)) >= 4, "transfers in flight", 60)
        time.sleep(0.5)  # time for any request over the bound to show
        in_flight.append(len(temporaries(data)))
        cancel.set()

    threading.Thread(target=cancel_when_in_flight, daemon=True).start()
    mapping = Mapping(f"s3://{bucket}/p/", str(data), Direction.DOWNLOAD)
    try:
        result, _ = run(proxy.url, mapping, 2, cancel=cancel)
    finally:
        proxy.clear()
    assert cancel.is_set()
    # max_workers=4 split 2 + 2: every stalled GET holds a temporary, and there are 4, not 8.
    assert in_flight == [4]
    assert all(isinstance(r.exception, TransferCancelledError) for r in result.results)
    assert temporaries(tmp_path) == []
    assert not data.exists() or list(data.iterdir()) == []
    assert workers_of(os.getpid()) == []


def test_a_worker_that_dies_reports_its_files_as_failed_not_done(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    # Slow GETs (0.2 s): the run outlasts the worker's start-up.
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.2, times=None)
    data = tmp_path / "data"
    stalled = threading.Event()

    class StallOnceTheWorkerAnswers:
        """The worker's first answer (told on its serving thread): from now on GETs stall."""

        def on_done(self, **_: Any) -> None:
            if threading.current_thread().name == "s3lync-worker" and not stalled.is_set():
                stalled.set()
                proxy.clear()
                rules.append(
                    proxy.add_rule(
                        "stall", method="GET", key="/p/f", where="body", delay=3600, times=None
                    )
                )

    rules: list[Any] = []

    def kill_the_worker() -> None:
        assert stalled.wait(60), "the worker never answered"
        # Both processes' slots (2 + 2) held by stalled GETs, the worker's included.
        wait_until(lambda: len(temporaries(data)) >= 4, "transfers in flight", 60)
        for pid in workers_of(os.getpid()):
            os.kill(pid, signal.SIGKILL)
        rules[0].release()

    threading.Thread(target=kill_the_worker, daemon=True).start()
    mapping = Mapping(f"s3://{bucket}/p/", str(data), Direction.DOWNLOAD)
    result, events = run(proxy.url, mapping, 2, subscribers=(StallOnceTheWorkerAnswers(),))

    failed = [r for r in result.results if not r.ok]
    assert failed, "the worker's files were reported as done"
    assert all("worker process ended unexpectedly" in (r.error or "") for r in failed)
    ok = {r.op.rel for r in result.results if r.ok}
    # Every file reported done is there and whole; nothing half-written anywhere.
    local = tree(data)
    assert {rel: local[rel] for rel in ok} == {rel: FILES[rel] for rel in ok}
    assert set(local) <= set(FILES)
    assert all(local[rel] == FILES[rel] for rel in local)
    assert temporaries(tmp_path) == []
    assert events.done == Counter(dict.fromkeys(events.started, 1))
    # The next run completes what the worker left.
    again, _ = run(s3_server.endpoint_url, mapping, 2)
    assert all(r.ok for r in again.results)
    assert tree(data) == FILES


def test_ctrl_c_ends_the_cli_and_its_workers_with_nothing_left(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    rule = proxy.add_rule("stall", method="GET", key="/p/f", where="body", delay=3600, times=None)
    proj = tmp_path / "proj"
    data = proj / "data"
    m = {"name": "m", "s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    proj.mkdir()
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    env = cli_env(tmp_path, S3LYNC_PROCESSES="2")
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", "--jobs", "4")
    proc = start_cli(*args, cwd=proj, env=env)
    try:
        wait_until(lambda: workers_of(proc.pid), "a worker process", 60)
        wait_until(lambda: len(temporaries(data)) >= 4, "transfers in flight", 60)
        workers = workers_of(proc.pid)
        # As a terminal does: s3lync and its workers (its process group) all get SIGINT.
        for pid in (*workers, proc.pid):
            # s3lync may already have ended (and reaped) a worker the moment it got its own.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        rule.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), "workers end", 10)
    assert temporaries(tmp_path) == []
    assert not data.exists() or list(data.iterdir()) == []


_SCRIPT = """
import logging, os, sys
print("RAN", flush=True)  # a multiprocessing spawn would run this again in the worker
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
from s3lync import S3Object
S3Object(sys.argv[1], sys.argv[2], endpoint_url=sys.argv[3]).download()
"""


def test_a_script_without_a_main_guard_runs_once(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.1, times=None)
    script = tmp_path / "job.py"
    script.write_text(_SCRIPT)
    env = cli_env(tmp_path, S3LYNC_PROCESSES="2", S3LYNC_MAX_WORKERS="4")
    out = subprocess.run(
        [sys.executable, str(script), f"s3://{bucket}/p/", str(tmp_path / "data"), proxy.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["RAN"]
    line = [ln for ln in out.stderr.splitlines() if "worker process(es)" in ln]
    assert line and " 0 in 1 worker" not in line[0], out.stderr
    assert tree(tmp_path / "data") == FILES


def test_refreshable_credentials_stay_in_one_process(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A credential_process (or SSO, or a role) may prompt or refresh: no worker gets them."""
    caplog.set_level(logging.DEBUG, logger="s3lync.sync.fanout")
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items()})
    proxy.add_rule("stall", method="GET", key="/p/f", delay=0.1, times=None)
    config = tmp_path / "aws-config"
    creds = (
        '{\\"Version\\": 1, \\"AccessKeyId\\": \\"test\\", \\"SecretAccessKey\\": \\"testsecret\\"}'
    )
    config.write_text(f"[default]\ncredential_process = {sys.executable} -c \"print('{creds}')\"\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    mapping = Mapping(f"s3://{bucket}/p/", str(tmp_path / "data"), Direction.DOWNLOAD)

    result, _ = run(proxy.url, mapping, 2)

    assert all(r.ok for r in result.results)
    assert tree(tmp_path / "data") == FILES
    assert shared(caplog) == [], "a worker was started for refreshable credentials"
    assert workers_of(os.getpid()) == []


MANY = {f"m{i:04d}.bin": blob(i, 64 + i % 50) for i in range(300)}


def test_by_default_one_process_runs_a_large_batch_on_its_loop(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unset, S3LYNC_PROCESSES starts no worker however many small files: one process's loop
    measured faster than two processes (benchmarks/RESULTS.md)."""
    caplog.set_level(logging.DEBUG, logger="s3lync.sync.fanout")
    put_objects(s3, bucket, {f"m/{k}": v for k, v in MANY.items()})
    data = tmp_path / "data"
    mapping = Mapping(f"s3://{bucket}/m/", str(data), Direction.DOWNLOAD)

    class Threads:
        names: set[str] = set()

        def on_done(self, **_: Any) -> None:
            self.names.add(threading.current_thread().name)

    seen = Threads()
    result, _ = run(proxy.url, mapping, "auto", 8, subscribers=(seen,))

    assert all(r.ok for r in result.results)
    assert tree(data) == MANY
    assert shared(caplog) == []
    assert workers_of(os.getpid()) == []
    assert seen.names == {"s3lync-loop"}
