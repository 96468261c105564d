"""Profile one s3lync run of a benchmark workload with pyinstrument (same server, data and command).

    python benchmarks/profile_s3lync.py small-upload                  # cold run, library
    python benchmarks/profile_s3lync.py small-download --phase no-op --via cli
    python benchmarks/profile_s3lync.py noop-20k --via cli            # `s3lync plan`, warm cache
    python benchmarks/profile_s3lync.py plan-100k

The default profiler is py-spy (``pip install py-spy`` into the s3lync venv): it samples every
thread, which matters because s3lync transfers in a thread pool; the summary lists where the busy
samples are (by package and by function, self and inclusive). ``--profiler pyinstrument`` gives
pyinstrument's call tree of the main thread instead. Reports are saved under benchmarks/.work/.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench_env import WORK, log, setup_tools
from peers import TRANSFERS, Bench, datasets, parse_args

PROFILE_RUN = WORK / "profile-run"


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _package(file: str) -> str:
    if "s3lync/" in file and "site-packages" not in file:
        return "s3lync"
    m = re.search(r"site-packages/([A-Za-z0-9_]+)", file)
    if m:
        return m.group(1)
    if file.startswith("<frozen"):
        return "import system"
    m = re.search(r"python3\.\d+/(.+)\.py$", file)
    return "stdlib " + (m.group(1).replace("/", ".") if m else Path(file).stem)


def summarize(folded: Path, top: int) -> str:
    """py-spy raw output (one `frame;frame;... COUNT` line per distinct stack) -> busy summary."""
    total = 0
    self_fn: collections.Counter[str] = collections.Counter()
    incl_fn: collections.Counter[str] = collections.Counter()
    by_pkg: collections.Counter[str] = collections.Counter()
    incl_s3lync: collections.Counter[str] = collections.Counter()
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw.strip())
            func, file = (m["func"], m["file"]) if m else (raw, "?")
            frames.append((f"{func} ({file})", _package(file)))
        leaf, pkg = frames[-1]
        self_fn[leaf] += n
        by_pkg[pkg] += n
        for f in {f for f, _ in frames}:
            incl_fn[f] += n
        for f in {f for f, p in frames if p == "s3lync"}:
            incl_s3lync[f] += n

    def table(title: str, counter: collections.Counter[str]) -> list[str]:
        rows = [f"{title}:"]
        rows += [f"  {n / total:6.1%}  {k}" for k, n in counter.most_common(top)]
        return [*rows, ""]

    out = [f"py-spy: {total} samples at 500 Hz of threads py-spy saw as active", ""]
    out += table("Leaf samples by package", by_pkg)
    out += table("Self time by function", self_fn)
    out += table("Inclusive time, s3lync functions", incl_s3lync)
    out += table("Inclusive time, all functions", incl_fn)
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("workload", choices=[*TRANSFERS, "noop-20k", "plan-100k"])
    p.add_argument("--phase", choices=["cold", "no-op"], default="cold")
    p.add_argument("--via", choices=["lib", "cli"], default="lib")
    p.add_argument("--quick", action="store_true", help="the --quick data sizes")
    p.add_argument("--profiler", choices=["py-spy", "pyinstrument"], default="py-spy")
    p.add_argument("--top", type=int, default=25, help="functions listed (py-spy summary)")
    p.add_argument(
        "--gil", action="store_true", help="py-spy: only samples of the thread holding the GIL"
    )
    p.add_argument(
        "--blocking",
        action="store_true",
        help="py-spy: pause the process for each sample (exact, slower) instead of --nonblocking",
    )
    p.add_argument("--s3lync-python")
    a = p.parse_args()

    argv = ["--tools", "s3lync-lib,s3lync-cli", "--only", a.workload]
    args = parse_args([*argv, *(["--quick"] if a.quick else [])])
    tc = setup_tools(a.s3lync_python, False, {"s3lync-lib"})
    py = str(tc.s3lync_python)
    spy = Path(py).parent / "py-spy"
    if a.profiler == "py-spy" and not spy.exists():
        raise SystemExit(f"py-spy is missing: {py} -m pip install py-spy")
    if (
        a.profiler == "pyinstrument"
        and subprocess.run([py, "-c", "import pyinstrument"]).returncode
    ):
        raise SystemExit(f"pyinstrument is missing: {py} -m pip install pyinstrument")
    bench = Bench(args, tc, datasets(a.quick), run=PROFILE_RUN)
    bench.init_run_dir()
    bench.prepare_data([a.workload])
    server = bench.start_server()
    tool = f"s3lync-{a.via}"
    rundir = PROFILE_RUN / "runs" / "profile"
    try:
        cache = rundir / "cache"
        if a.workload in TRANSFERS:
            data, direction = TRANSFERS[a.workload]
            if direction == "upload":
                prefix, local = "up-profile/", bench.data / f"src-{data}"
            else:
                prefix, local = f"seed-{data}/", rundir / "target"
                local.mkdir(parents=True)
            cmd = bench.command(tool, direction, prefix, local, rundir, dry_run=False)
            warm = a.phase == "no-op"
        elif a.workload == "noop-20k":
            cmd = bench.command(tool, "upload", "seed-20k/", bench.data / "src-20k", rundir, True)
            warm = True
        else:
            local = rundir / "target"
            local.mkdir(parents=True)
            cmd = bench.command("s3lync-cli", "download", "seed-100k/", local, rundir, True)
            cmd = cmd[: cmd.index("--detailed-exitcode")]
            warm = False
        env = bench.env(cache)
        if warm:  # the cold run first, unprofiled: the no-op run then finds the hash cache
            r = bench.timed(cmd, env, rundir, "warm")
            log(f"[profile] unprofiled first run: {r['seconds']:.2f} s ({r['status']})")
        name = f"profile-{a.workload}-{a.phase}-{a.via}"
        # The console script becomes `-m s3lync`; the library run is lib_runner.py and its args.
        target = ["-m", "s3lync", *cmd[1:]] if cmd[0] == str(tc.s3lync_cli) else cmd[1:]
        if a.profiler == "pyinstrument":
            out = WORK / f"{name}.txt"
            prof = [py, "-m", "pyinstrument", "-i", "0.0005", "-r", "text", "-o", str(out)]
            r = bench.timed([*prof, *target], env, rundir, "profiled")
            report = out.read_text() if out.exists() else r["output"]
        else:
            raw = WORK / f"{name}.folded"
            prof = [str(spy), "record", "-r", "500", "-f", "raw", "-o", str(raw)]
            prof += [*([] if a.blocking else ["--nonblocking"]), *(["--gil"] if a.gil else [])]
            prof += ["--", py]
            r = bench.timed([*prof, *target], env, rundir, "profiled")
            report = summarize(raw, a.top) if raw.exists() else r["output"]
            (WORK / f"{name}.txt").write_text(report)
        log(f"[profile] profiled run: {r['seconds']:.2f} s ({r['status']} {r['note']})")
        print(report)
    finally:
        server.stop()
        shutil.rmtree(PROFILE_RUN, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
