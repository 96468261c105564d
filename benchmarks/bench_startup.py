"""Start-up: `s3lync --help`, `validate` / a no-op `plan` of a one-mapping manifest, a no-op download().

Run by hand (never by pytest): ``python benchmarks/bench_startup.py [--runs N] [--pythonpath DIR]``.
It starts `rclone serve s3` (the `rclone` next to this interpreter) on a free loopback port with
200 small objects, applies the manifest once, then times N runs of each command: wall-clock minimum
and median, and the median CPU time (user + system) of the child, which moves less than wall time
on a busy machine. ``--pythonpath`` runs another checkout's s3lync (``git archive REV s3lync | tar
-x -C DIR``) with this venv's dependencies, for a before/after on the same machine and minute.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY, SECRET = "benchaccesskey", "benchsecretkey"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _time(cmd: list[str], cwd: Path, env: dict[str, str], runs: int) -> str:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()}")
    ms = [1000 * min(walls), 1000 * statistics.median(walls), 1000 * statistics.median(cpus)]
    return "wall min {:.0f} ms, median {:.0f} ms; CPU median {:.0f} ms".format(*ms)


def main() -> None:
    """Print the three figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--pythonpath", help="a checkout whose s3lync to time instead of this one")
    args = p.parse_args()
    bindir = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="s3lync-startup-"))
    (work / "srv" / "bench" / "p").mkdir(parents=True)
    for i in range(200):
        (work / "srv" / "bench" / "p" / f"f{i:03d}.bin").write_bytes(os.urandom(1024))
    (work / "rclone.conf").touch()
    port = _free_port()
    serve = ["serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{KEY},{SECRET}"]
    server = subprocess.Popen(
        [str(bindir / "rclone"), *serve, str(work / "srv")],
        env={**os.environ, "RCLONE_CONFIG": str(work / "rclone.conf")},
        stderr=subprocess.DEVNULL,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        XDG_CACHE_HOME=str(work / "cache"),
    )
    if args.pythonpath:
        env["PYTHONPATH"] = os.path.abspath(args.pythonpath)
    (work / "s3lync.yaml").write_text(
        f"version: 1\ndefaults:\n  endpoint_url: http://127.0.0.1:{port}\nmappings:\n"
        "  - {name: d, s3: 's3://bench/p/', local: data, direction: download}\n"
    )
    s3lync = str(bindir / "s3lync")
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run(
            [s3lync, "apply", "--yes"], cwd=work, env=env, check=True, capture_output=True
        )
        print("s3lync --help       :", _time([s3lync, "--help"], work, env, args.runs))
        print("s3lync validate     :", _time([s3lync, "validate"], work, env, args.runs))
        print("s3lync plan (no-op) :", _time([s3lync, "plan"], work, env, args.runs))
        # The library face: one no-op S3Object(...).download() of the same 200 objects.
        lib = (
            "from s3lync import S3Object; "
            f"S3Object('s3://bench/p/', 'data', endpoint_url='http://127.0.0.1:{port}').download()"
        )
        print("download() (no-op)  :", _time([sys.executable, "-c", lib], work, env, args.runs))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
