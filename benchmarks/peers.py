"""Benchmark s3lync against aws s3 sync, s5cmd, rclone and PyPI s3lync 0.4.2 on one local server.

    python benchmarks/peers.py                 # full run (>= 3 repetitions)
    python benchmarks/peers.py --quick         # smoke run: 1 repetition, smaller data
    python benchmarks/peers.py --only small-upload --reps 5
    python benchmarks/peers.py --latency-ms 20        # +20 ms a request, 16 and 64 in flight

Peers are installed into their own venvs under benchmarks/.work/ on first use. The server is
``rclone serve s3`` over a folder of benchmarks/.work/run/. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench_cpu import CpuMeter
from bench_env import BENCH_DIR, WORK, Toolchain, log, machine_info, setup_tools, tool_versions
from bench_relay import DelayRelay
from bench_report import (
    BEFORE,
    LABELS,
    OURS,
    TOOLS,
    markdown_report,
    median_of,
    ratio_rows,
    text_report,
)
from bench_server import (
    ACCESS_KEY,
    BUCKET,
    REGION,
    SECRET_KEY,
    DataSet,
    RcloneServer,
    changed,
    link_tree,
    same_files,
    tree_state,
    write_rclone_client_config,
    write_tree,
)

KiB, MiB = 1024, 1024 * 1024
RUN = WORK / "run"
LIB_RUNNER = BENCH_DIR / "lib_runner.py"
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
MD_BEGIN, MD_END = "<!-- BEGIN GENERATED RESULTS -->", "<!-- END GENERATED RESULTS -->"

# name -> (data set, direction); each is measured cold (empty target) and as a no-op re-run.
TRANSFERS = {
    "small-upload": ("small", "upload"),
    "small-download": ("small", "download"),
    "large-upload": ("large", "upload"),
    "large-download": ("large", "download"),
}
WORKLOADS = [*TRANSFERS, "noop-20k", "plan-100k", "startup"]
# --latency-ms without --only / --concurrency: the rows issue 22 asks for.
LATENCY_WORKLOADS = ["small-download", "small-upload"]
LATENCY_CONCURRENCY = [16, 64]


def datasets(quick: bool) -> dict[str, DataSet]:
    if quick:
        return {
            "small": DataSet("small", 200, 16 * KiB),
            "large": DataSet("large", 4, 16 * MiB),  # still above the 8 MiB multipart threshold
            "20k": DataSet("20k", 2000, 1 * KiB, per_dir=1000),
            "100k": DataSet("100k", 10_000, 128, per_dir=1000),
        }
    return {
        "small": DataSet("small", 1000, 16 * KiB),
        "large": DataSet("large", 4, 64 * MiB),
        "20k": DataSet("20k", 20_000, 1 * KiB, per_dir=1000),
        "100k": DataSet("100k", 100_000, 128, per_dir=1000),
    }


def _size(n: int) -> str:
    return (
        f"{n // MiB}MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB}KiB" if n >= KiB else f"{n}B"
    )


def tagged(workload: str, concurrency: int | None) -> str:
    """The name a workload's runs are recorded under: ``small-upload@64`` at 64 in flight."""
    return workload if concurrency is None else f"{workload}@{concurrency}"


def untagged(name: str) -> tuple[str, int | None]:
    workload, _, n = name.partition("@")
    return workload, int(n) if n else None


def titles(ds: dict[str, DataSet], levels: list[int | None] | None = None) -> dict[str, str]:
    out = {}
    for name, (data, direction) in TRANSFERS.items():
        d = ds[data]
        out[name] = f"{d.count}x{_size(d.size)} {direction}"
    out["noop-20k"] = f"{ds['20k'].count}x{_size(ds['20k'].size)} no-op plan"
    base = dict(out)
    for n in levels or []:
        if n is not None:
            out.update({tagged(w, n): f"{t}, {n} in flight" for w, t in base.items()})
    return out


def _kill_group(proc: subprocess.Popen[bytes], killed: threading.Event) -> None:
    killed.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


class Bench:
    def __init__(
        self, args: argparse.Namespace, tc: Toolchain, ds: dict[str, DataSet], run: Path = RUN
    ) -> None:
        self.args = args
        self.run = run
        self.tc = tc
        self.ds = ds
        self.runs: list[dict[str, Any]] = []
        self.notes: list[str] = list(tc.notes)
        self.root = self.run / "s3root"
        self.data = self.run / "data"
        self.server: RcloneServer | None = None
        self.relay: DelayRelay | None = None  # --latency-ms: every tool talks to this instead
        self.conc: int | None = None  # --concurrency: requests in flight for every tool
        self.tools = [t for t in TOOLS if t in args.tools and self._available(t)]
        self.cpu = CpuMeter()
        self.retried = 0  # runs repeated because other processes loaded the CPU
        self.contended = 0  # runs kept although they were still contended after all attempts

    # ----------------------------------------------------------------- setup
    def init_run_dir(self) -> None:
        """A fresh run folder: server root with the bucket, empty aws config files."""
        if self.run.exists():
            shutil.rmtree(self.run)
        (self.root / BUCKET).mkdir(parents=True)
        (self.run / "aws-config").write_text("")
        (self.run / "aws-credentials").write_text("")

    def start_server(self) -> RcloneServer:
        assert self.tc.rclone is not None
        server = RcloneServer(self.tc.rclone, self.root, self.run)
        server.start()
        self.server = server
        self.cpu.server_pid = server.proc.pid if server.proc else None
        log(f"[setup] rclone serve s3 at {server.endpoint}, root {self.root}")
        if self.args.latency_ms:
            relay = DelayRelay(f"127.0.0.1:{server.port}", self.args.latency_ms, self.run)
            relay.start()
            self.relay = relay
            self.cpu.relay_pid = relay.proc.pid if relay.proc else None
            log(f"[setup] relay at {relay.endpoint}: +{self.args.latency_ms:g} ms per request")
        write_rclone_client_config(self.run / "rclone-client.conf", self.endpoint)
        return server

    def stop_server(self) -> None:
        for part in (self.relay, self.server):
            if part is not None:
                part.stop()
        self.relay = self.server = None
        self.cpu.server_pid = self.cpu.relay_pid = None

    @property
    def endpoint(self) -> str:
        """Where every tool sends its requests: the relay when there is one, else the server."""
        assert self.server is not None
        return self.relay.endpoint if self.relay is not None else self.server.endpoint

    def key(self, workload: str) -> str:
        return tagged(workload, self.conc)

    def _available(self, tool: str) -> bool:
        tc = self.tc
        path = {"aws": tc.aws, "s5cmd": tc.s5cmd, "rclone": tc.rclone}.get(tool, True)
        if tool == "s3lync-0.4.2":
            path = tc.legacy_python
        if tool in BEFORE:
            path = tc.before_python
        return path is not None

    def prepare_data(self, workloads: list[str]) -> None:
        needed = {TRANSFERS[w][0] for w in workloads if w in TRANSFERS}
        if "noop-20k" in workloads:
            needed.add("20k")
        if "plan-100k" in workloads:
            needed.add("100k")
        for name in ("small", "large", "20k", "100k"):
            if name not in needed:
                continue
            ds = self.ds[name]
            t0 = time.perf_counter()
            seed = self.root / BUCKET / f"seed-{name}"
            if name == "100k":
                write_tree(ds, seed)  # remote only
            else:
                # Local copy first, then hard links as the server-side seed: same bytes and mtime.
                src = self.data / f"src-{name}"
                write_tree(ds, src)
                link_tree(src, seed)
            log(
                f"[data] {ds.count} x {_size(ds.size)} ({name}) in {time.perf_counter() - t0:.1f} s"
            )

    def env(self, cache: Path) -> dict[str, str]:
        """The same credentials and endpoint for every tool; nothing inherited from the user."""
        drop = ("AWS_", "S3LYNC_", "RCLONE_", "PYTHON", "BOTO_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        aws_config = self.run / "aws-config"
        if self.conc is not None:
            # aws s3's only knob; its client's pool then holds as many connections.
            aws_config = self.run / f"aws-config-{self.conc}"
            aws_config.write_text(f"[default]\ns3 =\n    max_concurrent_requests = {self.conc}\n")
            env["S3LYNC_MAX_WORKERS"] = str(self.conc)  # s3lync, and 0.4.2 too
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_CONFIG_FILE=str(aws_config),
            AWS_SHARED_CREDENTIALS_FILE=str(self.run / "aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            RCLONE_CONFIG=str(self.run / "rclone-client.conf"),
            XDG_CACHE_HOME=str(cache),
            NO_COLOR="1",
        )
        return env

    # ----------------------------------------------------------- commands
    def command(
        self, tool: str, direction: str, prefix: str, local: Path, rundir: Path, dry_run: bool
    ) -> list[str]:
        """One sync of LOCAL <-> s3://bench/PREFIX; DRY_RUN means the peer's plan-only mode."""
        tc, ep, n = self.tc, self.endpoint, self.conc
        uri = f"s3://{BUCKET}/{prefix}"
        up = direction == "upload"
        if tool == "aws":  # concurrency: max_concurrent_requests in its config file (env())
            src, dst = (str(local), uri) if up else (uri, str(local))
            argv = [str(tc.aws), "--endpoint-url", ep, "s3", "sync", src, dst, "--no-progress"]
            return [*argv, "--dryrun"] if dry_run else argv
        if tool == "s5cmd":
            src, dst = (f"{local}/", uri) if up else (f"{uri}*", f"{local}/")
            flags = ["--dry-run"] if dry_run else []  # a global flag for s5cmd
            flags += [] if n is None else ["--numworkers", str(n)]
            return [str(tc.s5cmd), "--endpoint-url", ep, *flags, "sync", src, dst]
        if tool == "rclone":
            remote = f"bench:{BUCKET}/{prefix.rstrip('/')}"
            src, dst = (str(local), remote) if up else (remote, str(local))
            flags = ["--dry-run"] if dry_run else []
            flags += [] if n is None else ["--transfers", str(n), "--checkers", str(n)]
            return [str(tc.rclone), "sync", src, dst, *flags]
        if tool == "s3lync-0.4.2":  # no dry-run mode: a no-op sync is its equivalent
            assert tc.legacy_python is not None
            return [str(tc.legacy_python), str(LIB_RUNNER), "legacy", direction, uri, str(local)]
        if tool in ("s3lync-lib", "s3lync-lib-before"):  # no plan-only call: a no-op sync
            py = tc.s3lync_python if tool == "s3lync-lib" else tc.before_python
            return [str(py), str(LIB_RUNNER), "current", direction, uri, str(local)]
        if tool in ("s3lync-cli", "s3lync-cli-before"):
            manifest = rundir / "s3lync.yaml"
            if not manifest.exists():
                rundir.mkdir(parents=True, exist_ok=True)
                manifest.write_text(
                    "version: 1\nmappings:\n  - name: bench\n"
                    f"    s3: {uri}\n    local: {json.dumps(str(local))}\n"
                    f"    direction: {direction}\n"
                )
            cli = tc.s3lync_cli if tool == "s3lync-cli" else tc.before_cli
            base = [str(cli), "--endpoint-url", ep, "-f", str(manifest)]
            if dry_run:
                return [*base, "plan", "--detailed-exitcode"]
            return [*base, "apply", "--yes", *([] if n is None else ["--jobs", str(n)])]
        raise ValueError(tool)

    def timed(self, argv: list[str], env: dict[str, str], rundir: Path, tag: str) -> dict[str, Any]:
        """Run ARGV once (cwd RUNDIR, output to files) and time it with a wall clock."""
        rundir.mkdir(parents=True, exist_ok=True)
        out, err = rundir / f"{tag}.out", rundir / f"{tag}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            s0 = self.cpu.start()
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=rundir,
                stdin=subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                start_new_session=True,
            )
            # A blocking wait(): wait(timeout=...) polls with sleeps of up to 50 ms, which would
            # quantise the timings; a timer thread enforces the time limit instead.
            killed = threading.Event()
            timer = threading.Timer(self.args.timeout, _kill_group, (proc, killed))
            timer.start()
            rc = proc.wait()
            seconds = time.perf_counter() - t0
            timer.cancel()
            status = "ok" if rc == 0 else "error"
            if killed.is_set():
                rc, seconds, status = -9, float(self.args.timeout), "timeout"
            cpu_s, server_s, foreign = self.cpu.stop(s0)
        text = out.read_text(errors="replace") + err.read_text(errors="replace")
        note = ""
        if status == "error":
            note = f"exit {rc}: " + " | ".join(text.strip().splitlines()[-3:])[:400]
        return {
            "seconds": seconds,
            "status": status,
            "rc": rc,
            "note": note,
            "output": text,
            "cpu_s": cpu_s,
            "server_cpu_s": server_s,
            "foreign_cores": foreign,
        }

    def measured(self, run_once: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
        """RUN_ONCE(attempt), repeated (after waiting for quiet) while other processes loaded the
        CPU by more than --max-foreign-load cores; the last attempt is kept either way."""
        for attempt in range(1, self.args.attempts + 1):
            r = run_once(attempt)
            r["attempt"] = attempt
            if r["status"] != "ok" or r["foreign_cores"] <= self.args.max_foreign_load:
                return r
            if attempt < self.args.attempts:
                log(
                    f"    (others used {r['foreign_cores']:.2f} cores: waiting for quiet, re-running)"
                )
                self.retried += 1
                self.cpu.wait_quiet(self.args.max_foreign_load, self.args.quiet_wait)
        r["contended"] = True
        self.contended += 1
        return r

    def record(self, workload: str, phase: str, tool: str, rep: int, r: dict[str, Any]) -> None:
        keys = ("seconds", "status", "rc", "note", "cpu_s", "server_cpu_s", "foreign_cores")
        entry = {k: r[k] for k in keys if k in r}
        entry.update(
            workload=workload,
            phase=phase,
            tool=tool,
            rep=rep,
            attempt=r.get("attempt", 1),
            contended=r.get("contended", False),
        )
        self.runs.append(entry)
        shown = f"{r['seconds']:.2f} s" if r["status"] == "ok" else r["status"]
        shown += f" ({r['note']})" if r["note"] else ""
        if r.get("contended"):
            shown += f" [contended: others used {r['foreign_cores']:.2f} cores]"
        log(f"  {workload:15} {phase:6} {LABELS[tool]:14} rep {rep}: {shown}")

    # ---------------------------------------------------------- workloads
    def order(self, rep: int) -> list[str]:
        """Tools interleaved per repetition; the starting tool rotates to spread order effects."""
        k = (rep - 1) % len(self.tools)
        return self.tools[k:] + self.tools[:k]

    def run_transfer(self, workload: str) -> None:
        ds = self.ds[TRANSFERS[workload][0]]
        given_up: set[str] = set()
        name = self.key(workload)
        log(f"[{name}] {ds.count} x {_size(ds.size)}, {self.args.reps} reps")
        for rep in range(1, self.args.reps + 1):
            for tool in self.order(rep):
                if tool in given_up:
                    continue
                state: dict[str, Any] = {}
                cold = self.measured(partial(self._cold_once, workload, tool, rep, state))
                self.record(name, "cold", tool, rep, cold)
                if cold["status"] == "ok":
                    noop = self.measured(partial(self._noop_once, name, tool, state))
                    self.record(name, "no-op", tool, rep, noop)
                elif cold["status"] == "timeout":
                    given_up.add(tool)
                self._cleanup(state)

    def _cold_once(
        self, workload: str, tool: str, rep: int, state: dict[str, Any], attempt: int
    ) -> dict[str, Any]:
        """One cold transfer into an empty target with an empty hash cache."""
        data, direction = TRANSFERS[workload]
        self._cleanup(state)
        name = self.key(workload).replace("@", "-c")
        rundir = self.run / "runs" / name / f"{tool}-r{rep}"
        cache = rundir / f"cache-a{attempt}"
        if direction == "upload":
            prefix = f"up-{name}-{tool}-r{rep}-a{attempt}/"  # a prefix nobody wrote to
            local = self.data / f"src-{data}"
            target = self.root / BUCKET / prefix.rstrip("/")
            rundir.mkdir(parents=True, exist_ok=True)
        else:
            prefix = f"seed-{data}/"
            local = target = rundir / f"target-a{attempt}"
            target.mkdir(parents=True)  # an empty folder
        argv = self.command(tool, direction, prefix, local, rundir / f"a{attempt}", dry_run=False)
        state.update(argv=argv, env=self.env(cache), target=target, cache=cache, rundir=rundir)
        r = self.timed(argv, state["env"], rundir, f"cold-a{attempt}")
        if r["status"] == "ok" and (bad := same_files(tree_state(target), self.ds[data])):
            r.update(status="error", note=f"cold run incomplete: {bad}")
        return r

    def _noop_once(
        self, workload: str, tool: str, state: dict[str, Any], attempt: int
    ) -> dict[str, Any]:
        """The same command again, nothing changed, same cache folder (the hash cache counts)."""
        before = tree_state(state["target"])
        r = self.timed(state["argv"], state["env"], state["rundir"], f"noop-a{attempt}")
        if r["status"] == "ok" and (n := changed(before, tree_state(state["target"]))):
            r["note"] = f"not a no-op: {n} target files rewritten or touched"
            self._note(f"{workload} no-op, {LABELS[tool]}: {r['note']}")
        return r

    def _cleanup(self, state: dict[str, Any]) -> None:
        """Set the previous attempt's target and cache aside (never reused); deleted at the end.

        Not deleted now: on ext4 without a journal (common on VM scratch disks, this machine's)
        the kernel will not reuse an inode freed in the last minutes, and every file created soon
        after thousands were deleted pays a scan past them (``recently_deleted`` in
        ``find_inode_bit``) that grows with how many threads create files at once. The next
        tool's cold run would pay for the previous one's files.
        """
        if state and not self.args.keep:
            trash = self.run / "trash"
            trash.mkdir(exist_ok=True)
            for what in ("target", "cache"):
                if Path(state[what]).exists():
                    Path(state[what]).rename(trash / f"{len(list(trash.iterdir()))}")

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def run_noop_plan(self) -> None:
        """20k files already in sync on both sides: listing + local scan, nothing to transfer."""
        ds = self.ds["20k"]
        local = self.data / "src-20k"
        prefix = "seed-20k/"
        log(f"[noop-20k] {ds.count} x {_size(ds.size)} in sync, upload direction, dry runs")
        remote = self.root / BUCKET / "seed-20k"
        snapshot = {
            **tree_state(local),
            **{f"remote/{k}": v for k, v in tree_state(remote).items()},
        }
        caches = {
            t: self.run / "runs" / self.key("noop-20k").replace("@", "-c") / t / "cache"
            for t in self.tools
        }
        for tool in self.tools:
            if tool in (*OURS, *BEFORE):
                # Warm s3lync's hash cache once (untimed): the no-op plan hashes nothing after that.
                rundir = self.run / "runs" / self.key("noop-20k").replace("@", "-c") / tool
                argv = self.command(tool, "upload", prefix, local, rundir, dry_run=True)
                r = self.timed(argv, self.env(caches[tool]), rundir, "warmup")
                log(
                    f"  noop-20k        warm-up {LABELS[tool]:14}: {r['seconds']:.2f} s ({r['status']})"
                )
        given_up: set[str] = set()
        for rep in range(1, self.args.reps + 1):
            for tool in self.order(rep):
                if tool in given_up:
                    continue
                rundir = self.run / "runs" / self.key("noop-20k").replace("@", "-c") / tool
                argv = self.command(tool, "upload", prefix, local, rundir, dry_run=True)

                r = self.measured(partial(self._plan_once, tool, argv, caches[tool], rundir, rep))
                if r["status"] == "timeout":
                    given_up.add(tool)
                now = {
                    **tree_state(local),
                    **{f"remote/{k}": v for k, v in tree_state(remote).items()},
                }
                if r["status"] == "ok" and (n := changed(snapshot, now)):
                    r["note"] = f"{n} local or remote files touched"
                    self._note(f"noop-20k, {LABELS[tool]}: {r['note']}")
                    snapshot = now
                self.record(self.key("noop-20k"), "no-op", tool, rep, r)

    def _plan_once(
        self, tool: str, argv: list[str], cache: Path, rundir: Path, rep: int, attempt: int
    ) -> dict[str, Any]:
        r = self.timed(argv, self.env(cache), rundir, f"r{rep}-a{attempt}")
        if tool in ("s3lync-cli", "s3lync-cli-before") and r["rc"] == 2:  # 2 = changes
            r.update(status="ok", note="plan reported changes")
            self._note(f"noop-20k, {LABELS[tool]}: plan reported changes (exit 2)")
        hits = 0
        if tool in ("aws", "s5cmd", "rclone"):
            hits = len(re.findall(r"dry-?run", r["output"], re.IGNORECASE))
        if r["status"] == "ok" and hits:
            r["note"] = f"dry run listed {hits} changes"
            self._note(f"noop-20k, {LABELS[tool]}: {r['note']}")
        return r

    def run_plan_rss(self) -> dict[str, Any]:
        """Peak RSS (and time) of `s3lync plan` for a download of 100k remote keys into an empty dir."""
        ds = self.ds["100k"]
        what = f"s3lync plan, {ds.count} remote keys"
        log(f"[plan-100k] {what}")
        gnu_time = Path("/usr/bin/time")
        peaks, secs, notes = [], [], []
        for rep in range(1, min(self.args.reps, 3) + 1):
            rundir = self.run / "runs" / "plan-100k" / f"r{rep}"
            rundir.mkdir(parents=True)
            (rundir / "target").mkdir()
            argv = self.command(
                "s3lync-cli", "download", "seed-100k/", rundir / "target", rundir, True
            )
            argv = argv[: argv.index("--detailed-exitcode")]
            env = self.env(rundir / "cache")
            if gnu_time.exists():
                r = self.timed([str(gnu_time), "-v", *argv], env, rundir, "plan")
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r["output"])
                peak = int(m.group(1)) / 1024 if m else None
                method = "/usr/bin/time -v"
            else:
                before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                r = self.timed(argv, env, rundir, "plan")
                after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                peak = after / 1024 if after > before else None
                method = "getrusage(RUSAGE_CHILDREN).ru_maxrss"
            log(
                f"  plan-100k rep {rep}: {r['seconds']:.2f} s, peak {peak} MB ({r['status']} {r['note']})"
            )
            if r["status"] == "ok" and peak is not None:
                peaks.append(peak)
                secs.append(r["seconds"])
            else:
                notes.append(r["note"] or r["status"])
        if not peaks:
            return {"what": what, "peak_mb": None, "note": "; ".join(notes)}
        return {
            "what": what,
            "peak_mb": max(peaks),
            "peaks_mb": peaks,
            "median_seconds": statistics.median(secs),
            "method": method,
        }

    def run_startup(self) -> dict[str, Any]:
        tc = self.tc
        cmds = {
            "python -c pass (baseline)": [str(tc.s3lync_python), "-c", "pass"],
            "import s3lync": [str(tc.s3lync_python), "-c", "import s3lync"],
            # What a script imports to transfer (import s3lync alone loads only the version).
            "from s3lync import S3Object": [
                str(tc.s3lync_python),
                "-c",
                "from s3lync import S3Object",
            ],
            "s3lync --help": [str(tc.s3lync_cli), "--help"],
        }
        if tc.legacy_python:
            cmds["import s3lync (0.4.2)"] = [str(tc.legacy_python), "-c", "import s3lync"]
        n = 3 if self.args.quick else 10
        log(f"[startup] {n} runs each")
        times: dict[str, list[float]] = {k: [] for k in cmds}
        cwd = self.run / "runs" / "startup"  # not the repo: `-c` puts the cwd first on sys.path
        cwd.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "S3LYNC_"))}
        for i in range(n + 1):
            for name, argv in cmds.items():
                for attempt in range(1, self.args.attempts + 1):
                    s0 = self.cpu.start()
                    t0 = time.perf_counter()
                    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
                    seconds = time.perf_counter() - t0
                    foreign = self.cpu.stop(s0)[2]
                    if i == 0 or foreign <= self.args.max_foreign_load:
                        break
                    if attempt < self.args.attempts:
                        self.retried += 1
                        self.cpu.wait_quiet(self.args.max_foreign_load, self.args.quiet_wait)
                    else:
                        self.contended += 1
                if i:  # the first round only warms the page cache and the .pyc files
                    times[name].append(seconds)
        out = {}
        for name, ts in times.items():
            out[name] = {"median": statistics.median(ts), "min": min(ts), "runs": ts}
            log(f"  {name:28} median {out[name]['median'] * 1000:.0f} ms")
        return out


def medians_from(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    names = {r["workload"] for r in runs}
    order = sorted(names, key=lambda n: (WORKLOADS.index(untagged(n)[0]), untagged(n)[1] or 0))
    for workload in order:
        for phase in ("cold", "no-op"):
            sel = [r for r in runs if r["workload"] == workload and r["phase"] == phase]
            if sel:
                out[(workload, phase)] = {
                    t: median_of([r for r in sel if r["tool"] == t])
                    for t in TOOLS
                    if any(r["tool"] == t for r in sel)
                }
    return out


def update_results_md(markdown: str) -> None:
    text = (
        RESULTS_MD.read_text()
        if RESULTS_MD.exists()
        else f"# Benchmark results\n\n{MD_BEGIN}\n{MD_END}\n"
    )
    if MD_BEGIN not in text or MD_END not in text:
        text += f"\n{MD_BEGIN}\n{MD_END}\n"
    head, rest = text.split(MD_BEGIN, 1)
    _, tail = rest.split(MD_END, 1)
    RESULTS_MD.write_text(f"{head}{MD_BEGIN}\n{markdown}{MD_END}{tail}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repetition, smaller data")
    p.add_argument(
        "--reps", type=int, default=None, help="repetitions per tool (default 3, quick 1)"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="WORKLOAD",
        help=f"run only these (repeatable or comma-separated): {', '.join(WORKLOADS)}",
    )
    p.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated subset of: {', '.join(TOOLS)}",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before one run is killed")
    p.add_argument(
        "--max-foreign-load",
        type=float,
        default=0.3,
        help="re-run a measurement when other processes used more CPU cores than this meanwhile",
    )
    p.add_argument("--attempts", type=int, default=3, help="tries per measurement (see above)")
    p.add_argument(
        "--quiet-wait", type=float, default=60.0, help="longest wait for a quiet CPU before a retry"
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="put a relay in front of the server that delays every request by this many ms; "
        f"without --only: {','.join(LATENCY_WORKLOADS)}, without --concurrency: "
        f"{','.join(map(str, LATENCY_CONCURRENCY))}",
    )
    p.add_argument(
        "--concurrency",
        default="",
        metavar="N[,N...]",
        help="run every tool with N requests in flight (s3lync --jobs / S3LYNC_MAX_WORKERS, "
        "rclone --transfers/--checkers, s5cmd --numworkers, aws max_concurrent_requests); "
        "each N is a row of its own",
    )
    p.add_argument("--s3lync-python", help="interpreter with this checkout's s3lync installed")
    p.add_argument(
        "--s3lync-before-python",
        help="interpreter with an earlier s3lync (e.g. a worktree of the previous main with its own "
        "editable install): measured in the same run as 'before', for after/before ratios",
    )
    p.add_argument("--reinstall", action="store_true", help="recreate the peers' venvs")
    p.add_argument("--keep", action="store_true", help="keep benchmarks/.work/run afterwards")
    p.add_argument("--json", type=Path, default=RESULTS_JSON, help="where to write the results")
    p.add_argument(
        "--results-md",
        choices=["auto", "always", "never"],
        default="auto",
        help="update RESULTS.md: auto = only after a full run of everything",
    )
    args = p.parse_args(argv)
    only = [w for item in args.only for w in item.split(",") if w]
    for w in only:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    if args.latency_ms < 0:
        p.error("--latency-ms must be >= 0")
    if args.latency_ms and not only:
        only = LATENCY_WORKLOADS
    args.workloads = [w for w in WORKLOADS if not only or w in only]
    try:
        levels = [int(n) for n in args.concurrency.split(",") if n.strip()]
    except ValueError:
        p.error("--concurrency takes whole numbers, e.g. 16,64")
    if any(n < 1 or n > 256 for n in levels):
        p.error("--concurrency: each level between 1 and 256")
    if args.latency_ms and not levels:
        levels = LATENCY_CONCURRENCY
    args.levels = levels or [None]
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in args.tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    args.full = (
        not args.quick
        and not only
        and set(args.tools) == set(TOOLS)
        and args.reps >= 3
        and args.levels == [None]
        and not args.latency_ms
    )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.perf_counter()
    wanted = set(args.tools)
    tc = setup_tools(args.s3lync_python, args.reinstall, wanted)
    if args.s3lync_before_python:
        tc.before_python = Path(args.s3lync_before_python)
        tc.before_cli = tc.before_python.parent / "s3lync"
    ds = datasets(args.quick)
    bench = Bench(args, tc, ds)
    bench.init_run_dir()
    log(f"[setup] tools: {', '.join(bench.tools)}; s3lync from {tc.s3lync_python}")
    for n in tc.notes:
        log(f"[setup] note: {n}")
    bench.prepare_data(args.workloads)
    result: dict[str, Any] = {}
    if args.latency_ms:
        bench.notes.append(
            f"every request was delayed by {args.latency_ms:g} ms at a relay in front of the "
            "server (benchmarks/bench_relay.py); its CPU is counted with the server's"
        )
    try:
        if "startup" in args.workloads:
            result["startup"] = bench.run_startup()
        for level in args.levels:
            bench.conc = level
            for w in args.workloads:
                if w == "startup":
                    continue
                # A fresh server per workload: no state (caches, garbage) carried over.
                bench.stop_server()
                bench.start_server()
                if w in TRANSFERS:
                    bench.run_transfer(w)
                elif w == "noop-20k":
                    bench.run_noop_plan()
                elif w == "plan-100k":
                    result["rss"] = bench.run_plan_rss()
    finally:
        bench.stop_server()
        if not args.keep:
            shutil.rmtree(RUN, ignore_errors=True)

    if bench.retried or bench.contended:
        bench.notes.append(
            f"shared machine: {bench.retried} measurements were re-run because other processes "
            f"used more than {args.max_foreign_load} CPU cores meanwhile; {bench.contended} were "
            f"kept although still contended after {args.attempts} attempts (marked in the JSON)"
        )
    medians = medians_from(bench.runs)
    rows = ratio_rows(medians)
    result["titles"] = titles(ds, args.levels)
    result["meta"] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.perf_counter() - t_start,
        "command": shlex.join(
            ["python", "benchmarks/peers.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "quick": args.quick,
        "reps": args.reps,
        "timeout_s": args.timeout,
        "max_foreign_load": args.max_foreign_load,
        "latency_ms": args.latency_ms,
        "concurrency": [n for n in args.levels if n is not None],
        "load_average_at_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "machine": machine_info(),
        "versions": tool_versions(tc),
        "notes": bench.notes,
        "datasets": {k: vars(v) for k, v in ds.items()},
    }
    print(text_report(result, medians, rows))
    if bench.notes:
        print("Notes:\n" + "\n".join(f"- {n}" for n in bench.notes))
    payload = {
        **result,
        "runs": bench.runs,
        "medians": [
            {"workload": w, "phase": p, "tool": t, **({} if m is None else vars(m))}
            for (w, p), by in medians.items()
            for t, m in by.items()
        ],
        "ratios": [
            {
                **{k: v for k, v in r.items() if k != "checks"},
                "checks": {k: {**vars(c), "verdict": c.verdict} for k, c in r["checks"].items()},
            }
            for r in rows
        ],
    }
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"[done] {args.json} written")
    if args.results_md == "always" or (args.full and args.results_md == "auto"):
        update_results_md(markdown_report(result, medians, rows))
        log(f"[done] {RESULTS_MD} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
