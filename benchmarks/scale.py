"""How s3lync's planning cost grows with object count: 100k and 1M keys from a synthetic listing.

    python benchmarks/scale.py                  # 100k and 1M keys
    python benchmarks/scale.py --keys 100000    # one size

A tiny in-process ListObjectsV2 server (127.0.0.1, free port) generates the listing page by page:
keys ``p/dNNNN/fNNNNNNN.bin`` (1000 per folder), sizes and MD5 ETags derived from the index, so no
store has to hold a million objects. Each measured command (``plan --out``, ``plan --shard 1/8``,
``lock --no-checksums``) runs in its own subprocess; its peak RSS comes from ``wait4``. Reported in
docs/scale.md; numbers are machine-dependent and never asserted in tests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
BUCKET = "scale"
PER_FOLDER = 1000


def key_of(i: int) -> str:
    return f"p/d{i // PER_FOLDER:04d}/f{i:07d}.bin"


def etag_of(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


class Listing(BaseHTTPRequestHandler):
    """ListObjectsV2 over ``count`` generated keys (``continuation-token`` is the next index)."""

    count = 0
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(404, b"")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if "versioning" in q:
            # Unversioned: an empty VersioningConfiguration, as S3 answers for a new bucket.
            self._send(
                200, b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
            )
            return
        if q.get("list-type") != "2":
            self._send(501, b"<Error><Code>NotImplemented</Code></Error>")
            return
        start = int(q.get("continuation-token") or 0)
        limit = min(int(q.get("max-keys") or 1000), 1000)
        end = min(start + limit, self.count)
        rows = []
        for i in range(start, end):
            rows.append(
                f"<Contents><Key>{escape(key_of(i))}</Key><LastModified>2026-01-01T00:00:00.000Z"
                f"</LastModified><ETag>&quot;{etag_of(i)}&quot;</ETag><Size>{i % 4096}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        more = end < self.count
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{BUCKET}</Name><Prefix>p/</Prefix><KeyCount>{end - start}</KeyCount>"
            f"<MaxKeys>{limit}</MaxKeys><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
            + (f"<NextContinuationToken>{end}</NextContinuationToken>" if more else "")
            + "".join(rows)
            + "</ListBucketResult>"
        ).encode()
        self._send(200, body)


def serve(count: int) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (Listing,), {"count": count})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}"


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Run one command; wall seconds, CPU seconds and peak RSS (MiB) of that process."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise RuntimeError(f"{argv} exited {code}: {err[-2000:]}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "rss_mib": round(usage.ru_maxrss / 1024, 0),
    }


def run(count: int, only: set[str] | None = None) -> dict[str, object]:
    server, url = serve(count)
    work = Path(tempfile.mkdtemp(prefix="s3lync-scale-"))
    try:
        manifest = work / "s3lync.yaml"
        manifest.write_text(
            json.dumps(
                {
                    "version": 1,
                    "defaults": {"endpoint_url": url, "region": "us-east-1"},
                    "mappings": [
                        {
                            "name": "big",
                            "s3": f"s3://{BUCKET}/p/",
                            "local": "data",
                            "direction": "download",
                        }
                    ],
                }
            )
        )
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID="x",
            AWS_SECRET_ACCESS_KEY="y",
            XDG_CACHE_HOME=str(work / "cache"),
            PYTHONPATH=str(REPO),
        )
        cli = [sys.executable, "-m", "s3lync", "-f", str(manifest)]
        out: dict[str, object] = {"keys": count, "pages": -(-count // 1000)}
        rows = {
            "plan": ["plan"],
            "plan_summary": ["plan", "--summary"],
            "plan_shard_1_of_8": ["plan", "--shard", "1/8"],
            "plan_out": ["plan", "--out", str(work / "plan.json")],
            "lock": ["lock", "--no-checksums"],
            "plan_locked": ["plan", "--locked"],
        }
        for name, args in rows.items():
            if only and name not in only and not (name == "lock" and "plan_locked" in only):
                continue
            out[name] = measure([*cli, *args], work, env)
        if (work / "plan.json").exists():
            out["plan_json_mib"] = round((work / "plan.json").stat().st_size / 2**20, 1)
        if (work / "s3lync.lock").exists():
            out["lock_mib"] = round((work / "s3lync.lock").stat().st_size / 2**20, 1)
        return out
    finally:
        server.shutdown()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> None:
    """Measure each size and print one JSON line per size."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, action="append", help="object count (repeatable)")
    ap.add_argument("--only", action="append", help="measure only these rows (repeatable)")
    args = ap.parse_args()
    only = set(args.only or [])
    for count in args.keys or [100_000, 1_000_000]:
        print(json.dumps(run(count, only)), flush=True)


if __name__ == "__main__":
    main()
