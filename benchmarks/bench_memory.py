"""Peak RSS of s3lync moving large files: one 2 GiB file, and 8 at once (issue 22 item 3).

    python benchmarks/bench_memory.py [--size 2GiB] [--many 8] [--many-size 256MiB]
                                      [--workers 16[,64...]] [--only CASE[,CASE...]]
                                      [--tracemalloc] [--keep]

The scheduler promises at most ``max_workers`` requests in flight and at most ``max_workers`` x
part size bytes of upload parts in memory, across every object of a process. This measures what
the process actually holds, against one local ``rclone serve s3``. Each case runs in a fresh
interpreter, which reports its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``); the `tiny`
case's peak is the machinery's own (imports, client, pools: botocore is imported on the first
request, not before), and what a case holds above it is what its transfer added.

Cases (every one with one process-wide ``max_workers``, passed to each object):

| case | what |
|---|---|
| `tiny` | `S3Object(uri, local_path=FILE).download()` of one 1 KiB object: the machinery's own peak (imports, client, pools), which the other cases are compared with |
| `upload-1`, `download-1` | `S3Object(uri, local_path=FILE).upload()` / `.download()` of one `--size` file |
| `upload-8-async`, `download-8-async` | `--many` `AsyncS3Object`s, one `--many-size` file each, under one `asyncio.gather` (each file alone in its object, so each is multipart / ranged: issue 22's D4 case) |
| `upload-8-dir`, `download-8-dir` | one `S3Object` over a folder of the `--many` files (the engine's "several large files" path: one streamed PUT or GET per file up to 512 MiB, multipart with one part at a time above) |

``--tracemalloc`` also prints the peak of Python's traced allocations (and the ten lines holding
the most at the end): when that peak stays near the bound while RSS does not, the excess is the
C allocator's, not objects s3lync keeps. Slower; for finding where memory goes, not for figures.

Data is random, written once under ``benchmarks/.work/memory/`` (git-ignored), straight into the
server's folder for downloads; the upload sources are hard links to the same files. Everything
is removed at the end unless ``--keep``. Disk needed: about 3 x (size + many x many-size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_env import log, setup_tools  # noqa: E402
from bench_server import ACCESS_KEY, BUCKET, REGION, SECRET_KEY, RcloneServer, _write_file  # noqa: E402

WORK = HERE / ".work" / "memory"
CASES = [
    "tiny",
    "upload-1",
    "download-1",
    "upload-8-async",
    "download-8-async",
    "upload-8-dir",
    "download-8-dir",
]
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*([kmg]?)i?b?", text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GiB, 256MiB)")
    return int(m.group(1)) * _UNITS[m.group(2)]


def mib(n: float) -> str:
    return f"{n / 1024**2:.0f} MiB"


# -- the child: one case in a fresh interpreter ------------------------------------------------


def _hwm_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child(case: str, spec: dict[str, Any]) -> None:
    """Run CASE as SPEC says and print one JSON line: peaks, times, the scheduler's figures."""
    if spec.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start(5)
    from s3lync import AsyncS3Object, S3Object
    from s3lync.store.scheduler import scheduler_for

    endpoint, workers = spec["endpoint"], spec["workers"]
    direction, _, shape = ("download-1" if case == "tiny" else case).partition("-")
    pairs: list[tuple[str, str]] = spec["pairs"]  # (uri, local path)
    if shape == "8-async":
        objs: list[Any] = [
            AsyncS3Object(uri, local, endpoint_url=endpoint, max_workers=workers)
            for uri, local in pairs
        ]
    else:
        objs = [
            S3Object(uri, local, endpoint_url=endpoint, max_workers=workers) for uri, local in pairs
        ]
    before = _hwm_kib()
    t0, c0 = time.perf_counter(), time.process_time()
    if shape == "8-async":

        async def all_at_once() -> None:
            await asyncio.gather(*(getattr(o, direction)() for o in objs))

        asyncio.run(all_at_once())
    else:
        for o in objs:
            getattr(o, direction)()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sched = scheduler_for(workers)
    out: dict[str, Any] = {
        "case": case,
        "workers": workers,
        "setup_hwm_kib": before,
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_requests": sched.peak_requests,
        "peak_parts": getattr(sched, "peak_parts", None) or sched._parts.peak,
    }
    if spec.get("tracemalloc"):
        import tracemalloc

        _, peak = tracemalloc.get_traced_memory()
        out["traced_peak_kib"] = peak // 1024
        snap = tracemalloc.take_snapshot()
        out["traced_now_top"] = [str(s) for s in snap.statistics("lineno")[:10]]
    print(json.dumps(out))


# -- the harness -------------------------------------------------------------------------------


def client_env(endpoint: str, empty: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "S3LYNC_", "PYTHON", "RCLONE_"))
    }
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        XDG_CACHE_HOME=str(WORK / "cache"),
        # On a loaded 2-core machine the local server has taken more than the default 10 s to
        # answer an 8 MiB part: what is measured here is memory, not patience.
        S3LYNC_READ_TIMEOUT="120",
    )
    return env


def prepare(args: argparse.Namespace, root: Path) -> dict[str, list[Path]]:
    """The seed files in the server's folder (downloads) and their hard links (uploads)."""
    seeds: dict[str, list[Path]] = {}
    one = root / BUCKET / "seed-1" / "big.bin"
    many = [root / BUCKET / "seed-8" / f"f{i}.bin" for i in range(args.many)]
    tiny = root / BUCKET / "seed-tiny" / "tiny.bin"
    for path, size in [(tiny, 1024), (one, args.size)] + [(p, args.many_size) for p in many]:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size != size:
            log(f"[data] writing {path.relative_to(WORK)} ({mib(size)})")
            _write_file(path, size)
    src = WORK / "src"
    for path in [tiny, one, *many]:
        link = src / path.parent.name / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.link(path, link)
    seeds["tiny"], seeds["1"], seeds["8"] = [tiny], [one], many
    return seeds


def pairs_for(case: str, seeds: dict[str, list[Path]], run: int) -> tuple[list[Any], Path]:
    """(uri, local path) pairs for CASE, and what to delete afterwards (the copy it made)."""
    direction, _, shape = ("download-tiny" if case == "tiny" else case).partition("-")
    files = seeds[shape.split("-")[0]]
    dst = WORK / "dst" / f"{case}-{run}"
    if direction == "upload":
        prefix = f"up-{case}-{run}"
        made = WORK / "root" / BUCKET / prefix
        if shape.endswith("dir"):
            return [[f"s3://{BUCKET}/{prefix}/", str(WORK / "src" / "seed-8") + "/"]], made
        return [
            [f"s3://{BUCKET}/{prefix}/{f.name}", str(WORK / "src" / f.parent.name / f.name)]
            for f in files
        ], made
    if shape.endswith("dir"):
        return [[f"s3://{BUCKET}/seed-8/", str(dst) + "/"]], dst
    dst.mkdir(parents=True, exist_ok=True)
    return [[f"s3://{BUCKET}/{f.parent.name}/{f.name}", str(dst / f.name)] for f in files], dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=parse_size, default=parse_size("2GiB"))
    p.add_argument("--many", type=int, default=8)
    p.add_argument("--many-size", type=parse_size, default=parse_size("256MiB"))
    p.add_argument("--workers", default="16", help="max_workers, one or a comma-separated list")
    p.add_argument("--only", default=",".join(CASES), help=", ".join(CASES))
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep benchmarks/.work/memory afterwards")
    p.add_argument("--s3lync-python", help="interpreter with this checkout's s3lync installed")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, json.loads(args.spec))
        return 0
    cases = [c for c in args.only.split(",") if c]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; choose from {', '.join(CASES)}")
    levels = [int(n) for n in args.workers.split(",") if n]

    tc = setup_tools(args.s3lync_python, False, {"rclone", "s3lync-lib"})
    python = str(tc.s3lync_python)
    root = WORK / "root"
    root.mkdir(parents=True, exist_ok=True)
    empty = WORK / "empty.conf"
    empty.write_text("")
    seeds = prepare(args, root)
    chunk = _chunksize(python)
    results: list[dict[str, Any]] = []
    log(f"[setup] part size {mib(chunk)}; load average {_load()}")
    try:
        with RcloneServer(tc.rclone, root, WORK) as server:
            env = client_env(server.endpoint, empty)
            for workers in levels:
                for run, case in enumerate(cases):
                    pairs, made = pairs_for(case, seeds, run)
                    spec = {
                        "endpoint": server.endpoint,
                        "workers": workers,
                        "pairs": pairs,
                        "tracemalloc": args.tracemalloc,
                    }
                    argv_ = [python, __file__, "--child", case, "--spec", json.dumps(spec)]
                    proc = subprocess.run(argv_, env=env, capture_output=True, text=True)
                    shutil.rmtree(made, ignore_errors=True)
                    if proc.returncode != 0:
                        log(f"[{case}] failed:\n{proc.stderr[-3000:]}")
                        continue
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    r["load"] = _load()
                    results.append(r)
                    log(
                        f"[{case} w={workers}] peak {mib(r['peak_kib'] * 1024)}; "
                        f"bound {mib(workers * chunk)}; "
                        f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU; "
                        f"{r['peak_requests']} requests / {r['peak_parts']} parts at once; "
                        f"load {r['load']}"
                    )
                    for line in r.get("traced_now_top", []):
                        log(f"    {line}")
                    if "traced_peak_kib" in r:
                        log(f"    traced peak {mib(r['traced_peak_kib'] * 1024)}")
    finally:
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    print(report(args, results, chunk))
    return 0


def _chunksize(python: str) -> int:
    code = "from s3lync.settings import Settings; print(Settings.from_env().multipart_chunksize)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return max(5 * 1024**2, int(out.stdout))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def report(args: argparse.Namespace, results: list[dict[str, Any]], chunk: int) -> str:
    tiny = {r["workers"]: r["peak_kib"] for r in results if r["case"] == "tiny"}
    lines = [
        f"one file: {mib(args.size)}; {args.many} at once: {args.many} x {mib(args.many_size)}; "
        f"part size {mib(chunk)}",
        "",
        "| case | max_workers | peak RSS | over `tiny` | bound (workers x part) "
        "| requests / parts at once | wall s | CPU s | load (1/5/15 min) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        base = tiny.get(r["workers"])
        over = "-" if base is None or r["case"] == "tiny" else mib((r["peak_kib"] - base) * 1024)
        lines.append(
            f"| {r['case']} | {r['workers']} | {mib(r['peak_kib'] * 1024)} | {over} "
            f"| {mib(r['workers'] * chunk)} | {r['peak_requests']} / {r['peak_parts']} "
            f"| {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['load']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
