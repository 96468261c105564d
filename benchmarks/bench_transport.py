"""Before/after of the transport on one rclone server: two s3lync checkouts, paired rounds.

    python benchmarks/bench_transport.py --before /path/to/old/checkout [--rounds 5]

Each round runs every workload once with each checkout, in alternating order, each run in a
fresh interpreter (``PYTHONPATH`` selects the checkout; the same venv's dependencies serve both).
Reported: the median wall time per workload and checkout, and the median of the per-round ratios
(after / before). Workloads: 1000 x 16 KiB upload and download (cold), a no-op plan of 20 000
keys (listing + local scan), 4 x 64 MiB upload and download (cold). Run by hand, never by CI.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_server import ACCESS_KEY as KEY  # noqa: E402
from bench_server import SECRET_KEY as SECRET  # noqa: E402
from bench_server import RcloneServer  # noqa: E402

LIB = """
import sys
from s3lync import S3Object
op, uri, path, endpoint = sys.argv[1:5]
obj = S3Object(uri, local_path=path, endpoint_url=endpoint)
obj.upload() if op == "upload" else obj.download()
"""


def _seed(root: Path, name: str, count: int, size: int) -> Path:
    folder = root / "bench" / name
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    return folder


CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run(checkout: Path, argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run; its CPU seconds (user + system) go to ``CPU["last"]``."""
    e = dict(env, PYTHONPATH=str(checkout))
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    CPU["last"] = [_children_cpu() - c0]
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{argv}: {proc.stderr[-2000:]}")
    return wall


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--before", required=True, type=Path, help="the old checkout")
    p.add_argument("--after", type=Path, default=HERE.parent, help="the new checkout")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--only", default="")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s3lync-bench-transport-"))
    root = work / "root"
    (root / "bench").mkdir(parents=True)
    small = _seed(root, "seed-small", 1000, 16 * 1024)
    large = _seed(root, "seed-large", 4, 64 * 1024 * 1024)
    _seed(root, "seed-20k", 20000, 1024)
    rclone = shutil.which("rclone") or str(Path(sys.executable).parent / "rclone")
    server = RcloneServer(Path(rclone), root, work)
    server.start()
    endpoint = server.endpoint
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(work / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "none"),
    }
    manifest = work / "noop.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - s3: s3://bench/seed-20k/\n    local: {root / 'bench' / 'seed-20k'}\n"
        "    direction: upload\n"
    )
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[tuple[str, str], list[float]] = {}
    ratios: dict[str, list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    workloads = [
        "small-upload",
        "small-download",
        "noop-plan-20k",
        "large-upload",
        "large-download",
    ]
    if args.only:
        workloads = [w for w in workloads if w in args.only.split(",")]
    py = sys.executable
    try:
        for rnd in range(args.rounds):
            order = ["before", "after"] if rnd % 2 == 0 else ["after", "before"]
            for w in workloads:
                got: dict[str, float] = {}
                for who in order:
                    cache = work / f"cache-{who}-{rnd}-{w}"
                    e = dict(env, XDG_CACHE_HOME=str(cache))
                    tag = f"{who}{rnd}"
                    if w == "small-upload":
                        argv = [
                            py,
                            "-c",
                            LIB,
                            "upload",
                            f"s3://bench/up-{tag}/",
                            str(small),
                            endpoint,
                        ]
                    elif w == "large-upload":
                        argv = [
                            py,
                            "-c",
                            LIB,
                            "upload",
                            f"s3://bench/upl-{tag}/",
                            str(large),
                            endpoint,
                        ]
                    elif w == "small-download":
                        dst = work / f"dl-{tag}"
                        argv = [
                            py,
                            "-c",
                            LIB,
                            "download",
                            "s3://bench/seed-small/",
                            str(dst),
                            endpoint,
                        ]
                    elif w == "large-download":
                        dst = work / f"dll-{tag}"
                        argv = [
                            py,
                            "-c",
                            LIB,
                            "download",
                            "s3://bench/seed-large/",
                            str(dst),
                            endpoint,
                        ]
                    else:
                        # Warm the hash cache once, then time the no-op plan.
                        plan = [py, "-m", "s3lync", "--endpoint-url", endpoint, "-f", str(manifest),
                                "plan", "--detailed-exitcode"]  # fmt: skip
                        _run(checkouts[who], plan, e)
                        argv = plan
                    got[who] = _run(checkouts[who], argv, e)
                    times.setdefault((w, who), []).append(got[who])
                    cpu.setdefault((w, who), []).append(CPU["last"][0])
                    for d in work.glob("dl*-*"):
                        shutil.rmtree(d, ignore_errors=True)
                ratios.setdefault(w, []).append(got["after"] / got["before"])
                print(f"round {rnd + 1} {w}: before {got['before']:.2f}s after {got['after']:.2f}s "
                      f"(CPU {cpu[(w, 'before')][-1]:.2f}s / {cpu[(w, 'after')][-1]:.2f}s)",
                      flush=True)  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        "\n| workload | wall before | wall after | wall after/before (median of rounds) "
        "| CPU before | CPU after | CPU after/before |"
    )
    print("|---|---|---|---|---|---|---|")
    for w in workloads:
        b = statistics.median(times[(w, "before")])
        a = statistics.median(times[(w, "after")])
        cb = statistics.median(cpu[(w, "before")])
        ca = statistics.median(cpu[(w, "after")])
        print(
            f"| {w} | {b:.2f} | {a:.2f} | {statistics.median(ratios[w]):.2f}x "
            f"| {cb:.2f} | {ca:.2f} | {ca / cb:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
