"""Candidates for s3lync's one request engine: bare loops of the three workloads, side by side.

    python benchmarks/bench_engines.py                       # 3 rounds, every engine found
    python benchmarks/bench_engines.py --quick               # 1 round, smaller data
    python benchmarks/bench_engines.py --engines urllib3,aiohttp --rounds 5
    python benchmarks/bench_engines.py --latency-ms 20 --concurrency 64 --only small-get,small-put

Issue 22 item 6. Every engine runs the same loops against one local ``rclone serve s3``:

- ``small-get``: 1000 x 16 KiB GETs, each into a temporary file beside its target, hashed (MD5,
  compared with the ETag) as it arrives, then renamed over the target;
- ``small-put``: 1000 x 16 KiB PUTs, each file read and hashed first, sent with ``Content-MD5``
  and ``md5chksum`` metadata, the returned ETag compared with the MD5;
- ``large-get`` / ``large-put``: 4 x 64 MiB the same way, streamed in 1 MiB blocks, one request
  per file (as s3lync moves several large files today); a PUT hashes its file before sending.

Every request is signed by s3lync's own ``s3lync.store.sigv4.Signer`` (payload
``UNSIGNED-PAYLOAD`` for bodies, as s3lync streams files), so only the HTTP engine differs.
``--concurrency`` requests are in flight (default 16, s3lync's default worker count). Engines:

- ``urllib3``: a thread pool of that many workers on one urllib3 connection pool (s3lync until
  libcurl won this comparison; store/transport.py is built on ``pycurl-threads``);
- ``aiohttp``: one asyncio loop, that many worker tasks on one ``aiohttp.ClientSession`` (the
  engine of aiobotocore and s3fs); large blocks are hashed and written on the loop's executor;
- ``aiohttp-uvloop``: the same on uvloop's event loop;
- ``httpx``: one asyncio loop, ``httpx.AsyncClient`` (httpcore, h11);
- ``pycurl``: libcurl's multi interface driven from one thread (HTTP in C; Python callbacks for
  the body and headers).
- ``pycurl-threads``: libcurl's easy interface on a thread pool like urllib3's, one handle per
  thread, each request one blocking ``perform()`` (the GIL is held only in the callbacks).

An engine whose library is not installed in the s3lync interpreter is skipped with a note
(``pip install aiohttp uvloop httpx pycurl`` into that venv). Each run is a fresh interpreter; it
reports the wall time and the process CPU time (user + system, all threads) of the loop alone,
imports and interpreter start-up excluded (those are item 5's). Rounds alternate the engines'
order; reported are medians over the rounds and each engine's ratio to ``urllib3``, the median
of the ratios of the runs of one round (paired, so that a busy minute moves both). Run by hand,
never by CI; it talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_cpu import CpuMeter  # noqa: E402
from bench_env import WORK, find_s3lync_python, log, machine_info  # noqa: E402
from bench_relay import DelayRelay  # noqa: E402
from bench_server import (  # noqa: E402
    ACCESS_KEY,
    BUCKET,
    REGION,
    SECRET_KEY,
    DataSet,
    RcloneServer,
    link_tree,
    tree_state,
    write_tree,
)

KiB, MiB = 1024, 1024 * 1024
CHUNK = 1 * MiB
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ENGINES = ["urllib3", "aiohttp", "aiohttp-uvloop", "httpx", "pycurl", "pycurl-threads"]
# What each engine needs importable in the s3lync interpreter.
NEEDS = {
    "urllib3": ["urllib3"],
    "aiohttp": ["aiohttp"],
    "aiohttp-uvloop": ["aiohttp", "uvloop"],
    "httpx": ["httpx"],
    "pycurl": ["pycurl"],
    "pycurl-threads": ["pycurl"],
}
WORKLOADS = {  # name -> (data set, direction)
    "small-get": ("small", "get"),
    "small-put": ("small", "put"),
    "large-get": ("large", "get"),
    "large-put": ("large", "put"),
}


# ---------------------------------------------------------------------- the child: one loop


@dataclass(frozen=True)
class Job:
    """One object: its key and the local file it comes from (PUT) or goes to (GET)."""

    key: str
    path: str
    size: int


class Requests:
    """Signed request heads for one endpoint, by s3lync's own SigV4 signer."""

    def __init__(self, endpoint: str) -> None:
        from s3lync.store.sigv4 import Credentials, Signer

        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(endpoint).netloc
        self.signer = Signer(REGION)
        self.creds = Credentials(ACCESS_KEY, SECRET_KEY)

    def path(self, key: str) -> str:
        return f"/{BUCKET}/{quote(key, safe='/-_.~')}"

    def get(self, key: str) -> tuple[str, dict[str, str]]:
        path = self.path(key)
        headers = {"x-amz-checksum-mode": "ENABLED"}  # as s3lync's GETs
        return path, self.signer.sign(self.creds, "GET", self.host, path, {}, headers, EMPTY_SHA256)

    def put(self, key: str, size: int, md5: bytes) -> tuple[str, dict[str, str]]:
        path = self.path(key)
        b64 = base64.b64encode(md5).decode()
        headers = {
            "content-md5": b64,
            "x-amz-meta-md5chksum": b64,
            "content-length": str(size),
        }
        return path, self.signer.sign(self.creds, "PUT", self.host, path, {}, headers, UNSIGNED)


def md5_file(path: str) -> bytes:
    h = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.digest()


def temp_name(path: str) -> str:
    d, name = os.path.split(path)
    return os.path.join(d, f".{name}.part")


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def hash_write(md5: Any, fd: int, block: bytes) -> None:
    """MD5 and write one block (both release the GIL on large buffers)."""
    md5.update(block)
    write_all(fd, block)


def open_temp(path: str) -> tuple[str, int]:
    tmp = temp_name(path)
    return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def finish_get(
    tmp: str, fd: int, path: str, md5: Any, etag: str | None, size: int, job: Job
) -> None:
    os.close(fd)
    if size != job.size or (etag or "").strip('"') != md5.hexdigest():
        os.unlink(tmp)
        raise RuntimeError(f"GET {job.key}: {size} bytes, md5 {md5.hexdigest()}, etag {etag}")
    os.rename(tmp, path)


def check_put(job: Job, status: int, etag: str | None, md5: bytes) -> None:
    if status != 200 or (etag or "").strip('"') != md5.hex():
        raise RuntimeError(f"PUT {job.key}: HTTP {status}, etag {etag}, md5 {md5.hex()}")


def file_blocks(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        while block := f.read(CHUNK):
            yield block


# urllib3 with a thread pool: what s3lync sent with until libcurl became its transport.
def run_urllib3(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import urllib3

    u = urlsplit(reqs.endpoint)
    pool = urllib3.HTTPConnectionPool(
        u.hostname,
        u.port,
        maxsize=n,
        block=False,
        retries=False,
        timeout=urllib3.Timeout(connect=5, read=60),
        blocksize=CHUNK,
    )
    common: dict[str, Any] = {
        "retries": False,
        "redirect": False,
        "assert_same_host": False,
        "preload_content": False,
        "decode_content": False,
        "release_conn": False,
    }

    def get(job: Job) -> None:
        path, headers = reqs.get(job.key)
        resp = pool.urlopen("GET", path, headers=headers, **common)
        try:
            if resp.status != 200:
                raise RuntimeError(f"GET {job.key}: HTTP {resp.status}")
            md5, size = hashlib.md5(), 0
            tmp, fd = open_temp(job.path)
            if job.size <= CHUNK:  # s3lync's small-object case: one read, one hash, one write
                data = resp.read()
                hash_write(md5, fd, data)
                size = len(data)
            else:
                while block := resp.read(CHUNK):
                    hash_write(md5, fd, block)
                    size += len(block)
            finish_get(tmp, fd, job.path, md5, resp.headers.get("etag"), size, job)
        finally:
            resp.release_conn()

    def put(job: Job) -> None:
        if job.size <= CHUNK:
            with open(job.path, "rb", buffering=0) as f:
                body: Any = f.read()
            md5 = hashlib.md5(body).digest()
        else:
            md5 = md5_file(job.path)
            body = open(job.path, "rb", buffering=0)  # noqa: SIM115 - closed below
        try:
            path, headers = reqs.put(job.key, job.size, md5)
            resp = pool.urlopen("PUT", path, body=body, headers=headers, **common)
            resp.read()
            resp.release_conn()
        finally:
            if not isinstance(body, bytes):
                body.close()
        check_put(job, resp.status, resp.headers.get("etag"), md5)

    with ThreadPoolExecutor(n) as ex:
        list(ex.map(get if direction == "get" else put, jobs))
    pool.close()


# One asyncio loop with aiohttp: the engine of aiobotocore and s3fs.
async def _aiohttp_main(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import asyncio

    import aiohttp
    from yarl import URL

    loop = asyncio.get_running_loop()
    pending = list(reversed(jobs))
    connector = aiohttp.TCPConnector(limit=n, limit_per_host=n)
    session = aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
        read_bufsize=CHUNK,
    )
    offload = ThreadPoolExecutor(4)  # large blocks: hash and write off the loop

    async def get(job: Job) -> None:
        path, headers = reqs.get(job.key)
        async with session.get(URL(reqs.endpoint + path, encoded=True), headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"GET {job.key}: HTTP {r.status}")
            md5, size = hashlib.md5(), 0
            tmp, fd = open_temp(job.path)
            if job.size <= CHUNK:
                data = await r.read()
                hash_write(md5, fd, data)
                size = len(data)
            else:
                left = job.size
                while left > 0:
                    block = await r.content.readexactly(min(CHUNK, left))
                    await loop.run_in_executor(offload, hash_write, md5, fd, block)
                    size += len(block)
                    left -= len(block)
            finish_get(tmp, fd, job.path, md5, r.headers.get("etag"), size, job)

    async def put(job: Job) -> None:
        if job.size <= CHUNK:
            with open(job.path, "rb", buffering=0) as f:
                body: Any = f.read()
            md5 = hashlib.md5(body).digest()
        else:
            md5 = await loop.run_in_executor(offload, md5_file, job.path)

            async def stream() -> Any:
                it = file_blocks(job.path)
                while block := await loop.run_in_executor(offload, next, it, b""):
                    yield block

            body = stream()
        path, headers = reqs.put(job.key, job.size, md5)
        url = URL(reqs.endpoint + path, encoded=True)
        async with session.put(url, data=body, headers=headers) as r:
            await r.read()
            check_put(job, r.status, r.headers.get("etag"), md5)

    async def worker() -> None:
        while pending:
            job = pending.pop()
            await (get(job) if direction == "get" else put(job))

    try:
        await asyncio.gather(*(worker() for _ in range(n)))
    finally:
        await session.close()
        offload.shutdown()


def run_aiohttp(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import asyncio

    asyncio.run(_aiohttp_main(reqs, jobs, direction, n))


def run_aiohttp_uvloop(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import uvloop

    uvloop.run(_aiohttp_main(reqs, jobs, direction, n))


# One asyncio loop with httpx (httpcore + h11).
async def _httpx_main(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import asyncio

    import httpx

    loop = asyncio.get_running_loop()
    pending = list(reversed(jobs))
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    client = httpx.AsyncClient(limits=limits, timeout=60.0)
    offload = ThreadPoolExecutor(4)

    async def get(job: Job) -> None:
        path, headers = reqs.get(job.key)
        async with client.stream("GET", reqs.endpoint + path, headers=headers) as r:
            if r.status_code != 200:
                raise RuntimeError(f"GET {job.key}: HTTP {r.status_code}")
            md5, size = hashlib.md5(), 0
            tmp, fd = open_temp(job.path)
            if job.size <= CHUNK:
                data = await r.aread()
                hash_write(md5, fd, data)
                size = len(data)
            else:
                async for block in r.aiter_raw(CHUNK):
                    await loop.run_in_executor(offload, hash_write, md5, fd, block)
                    size += len(block)
            finish_get(tmp, fd, job.path, md5, r.headers.get("etag"), size, job)

    async def put(job: Job) -> None:
        if job.size <= CHUNK:
            with open(job.path, "rb", buffering=0) as f:
                body: Any = f.read()
            md5 = hashlib.md5(body).digest()
        else:
            md5 = await loop.run_in_executor(offload, md5_file, job.path)

            async def stream() -> Any:
                it = file_blocks(job.path)
                while block := await loop.run_in_executor(offload, next, it, b""):
                    yield block

            body = stream()
        path, headers = reqs.put(job.key, job.size, md5)
        r = await client.request("PUT", reqs.endpoint + path, content=body, headers=headers)
        check_put(job, r.status_code, r.headers.get("etag"), md5)

    async def worker() -> None:
        while pending:
            job = pending.pop()
            await (get(job) if direction == "get" else put(job))

    try:
        await asyncio.gather(*(worker() for _ in range(n)))
    finally:
        await client.aclose()
        offload.shutdown()


def run_httpx(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import asyncio

    asyncio.run(_httpx_main(reqs, jobs, direction, n))


# libcurl's multi interface from one thread.
def run_pycurl(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import io

    import pycurl

    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, n)
    free = [pycurl.Curl() for _ in range(n)]
    md5s: dict[str, bytes] = {}
    if direction == "put":  # hash every file first, in parallel (hashlib releases the GIL)
        with ThreadPoolExecutor(4) as ex:
            md5s = dict(
                zip((j.key for j in jobs), ex.map(md5_file, (j.path for j in jobs)), strict=True)
            )
    pending = list(reversed(jobs))
    state: dict[Any, dict[str, Any]] = {}

    def on_header(st: dict[str, Any]) -> Callable[[bytes], None]:
        def cb(line: bytes) -> None:
            if line[:5].lower() == b"etag:":
                st["etag"] = line[5:].strip().decode()

        return cb

    def start(c: Any, job: Job) -> None:
        st: dict[str, Any] = {"job": job, "etag": None, "size": 0}
        c.reset()
        c.setopt(pycurl.HEADERFUNCTION, on_header(st))
        c.setopt(pycurl.BUFFERSIZE, 512 * KiB)
        if direction == "get":
            path, headers = reqs.get(job.key)
            st["md5"] = hashlib.md5()
            st["tmp"], st["fd"] = open_temp(job.path)

            def body(data: bytes) -> None:
                hash_write(st["md5"], st["fd"], data)
                st["size"] += len(data)

            c.setopt(pycurl.WRITEFUNCTION, body)
        else:
            md5 = md5s[job.key]
            path, headers = reqs.put(job.key, job.size, md5)
            st["md5"] = md5
            st["file"] = open(job.path, "rb", buffering=0)  # noqa: SIM115 - closed in done()
            c.setopt(pycurl.UPLOAD, 1)
            c.setopt(pycurl.READDATA, st["file"])
            c.setopt(pycurl.INFILESIZE_LARGE, job.size)
            c.setopt(pycurl.WRITEDATA, io.BytesIO())
            headers = {**headers, "expect": ""}  # no 100-continue round trip
        c.setopt(pycurl.URL, reqs.endpoint + path)
        c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" if v else f"{k}:" for k, v in headers.items()])
        state[c] = st
        multi.add_handle(c)

    def done(c: Any) -> None:
        st = state.pop(c)
        job = st["job"]
        status = c.getinfo(pycurl.RESPONSE_CODE)
        multi.remove_handle(c)
        if direction == "get":
            if status != 200:
                raise RuntimeError(f"GET {job.key}: HTTP {status}")
            finish_get(st["tmp"], st["fd"], job.path, st["md5"], st["etag"], st["size"], job)
        else:
            st["file"].close()
            check_put(job, status, st["etag"], st["md5"])
        free.append(c)

    while pending or state:
        while pending and free:
            start(free.pop(), pending.pop())
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            queued, ok, failed = multi.info_read()
            for c in ok:
                done(c)
            for c, errno, msg in failed:
                raise RuntimeError(f"{state[c]['job'].key}: curl error {errno} {msg}")
            if not queued:
                break
        if state:
            multi.select(1.0)
    for c in free:
        c.close()
    multi.close()


# libcurl's easy interface on s3lync's own thread pool: one handle per thread, each request one
# blocking perform() that holds the GIL only in the body and header callbacks. The same threads
# as the urllib3 engine, so s3lync's scheduler would stay as it is.
def run_pycurl_threads(reqs: Requests, jobs: list[Job], direction: str, n: int) -> None:
    import io
    import threading

    import pycurl

    local = threading.local()
    handles: list[Any] = []

    def handle() -> Any:
        c = getattr(local, "curl", None)
        if c is None:
            c = local.curl = pycurl.Curl()
            handles.append(c)
        return c

    def perform(job: Job, path: str, headers: dict[str, str], setup: Callable[[Any], None]) -> Any:
        c = handle()
        st: dict[str, Any] = {"etag": None}

        def on_header(line: bytes) -> None:
            if line[:5].lower() == b"etag:":
                st["etag"] = line[5:].strip().decode()

        c.setopt(pycurl.URL, reqs.endpoint + path)
        c.setopt(pycurl.HEADERFUNCTION, on_header)
        c.setopt(pycurl.HTTPHEADER, [f"{k}: {v}" if v else f"{k}:" for k, v in headers.items()])
        setup(c)
        c.perform()
        return c.getinfo(pycurl.RESPONSE_CODE), st["etag"]

    def get(job: Job) -> None:
        path, headers = reqs.get(job.key)
        md5, got = hashlib.md5(), [0]
        tmp, fd = open_temp(job.path)

        def body(data: bytes) -> None:
            hash_write(md5, fd, data)
            got[0] += len(data)

        def setup(c: Any) -> None:
            c.setopt(pycurl.HTTPGET, 1)
            c.setopt(pycurl.WRITEFUNCTION, body)

        status, etag = perform(job, path, headers, setup)
        if status != 200:
            raise RuntimeError(f"GET {job.key}: HTTP {status}")
        finish_get(tmp, fd, job.path, md5, etag, got[0], job)

    def put(job: Job) -> None:
        md5 = md5_file(job.path)
        path, headers = reqs.put(job.key, job.size, md5)
        with open(job.path, "rb", buffering=0) as f:

            def setup(c: Any) -> None:
                c.setopt(pycurl.UPLOAD, 1)
                c.setopt(pycurl.READDATA, f)
                c.setopt(pycurl.INFILESIZE_LARGE, job.size)
                c.setopt(pycurl.WRITEDATA, io.BytesIO())

            status, etag = perform(job, path, {**headers, "expect": ""}, setup)
        check_put(job, status, etag, md5)

    with ThreadPoolExecutor(n) as ex:
        list(ex.map(get if direction == "get" else put, jobs))
    for c in handles:
        c.close()


RUNNERS: dict[str, Callable[[Requests, list[Job], str, int], None]] = {
    "urllib3": run_urllib3,
    "aiohttp": run_aiohttp,
    "aiohttp-uvloop": run_aiohttp_uvloop,
    "httpx": run_httpx,
    "pycurl": run_pycurl,
    "pycurl-threads": run_pycurl_threads,
}


def child(argv: list[str]) -> int:
    """One engine, one workload, in this fresh interpreter; prints one JSON line."""
    engine, direction, endpoint, prefix, local, count, size, n = argv
    jobs = [
        Job(f"{prefix}/f{i:05d}.bin", os.path.join(local, f"f{i:05d}.bin"), int(size))
        for i in range(int(count))
    ]
    t0 = time.perf_counter()
    for mod in NEEDS[engine]:
        __import__(mod)
    reqs = Requests(endpoint)
    imports = time.perf_counter() - t0
    c0, w0 = time.process_time(), time.perf_counter()
    RUNNERS[engine](reqs, jobs, direction, int(n))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(json.dumps({"wall": wall, "cpu": cpu, "imports": imports}))
    return 0


# ----------------------------------------------------------------- the parent: rounds, report


def available(python: Path, engine: str) -> str | None:
    """None when ENGINE can run in PYTHON, else why not."""
    code = "import " + ", ".join(["s3lync.store.sigv4", *NEEDS[engine]])
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd="/")
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["?"])[-1]


def run_child(python: Path, args: list[str], meter: CpuMeter, timeout: float) -> dict[str, Any]:
    s0 = meter.start()
    proc = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    _, server_s, foreign = meter.stop(s0)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return {"error": tail[:400], "foreign": foreign}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(server_cpu=server_s, foreign=foreign)
    return out


def report(
    results: dict[tuple[str, str], list[dict[str, Any]]], engines: list[str], workloads: list[str]
) -> str:
    """Medians per engine, and its ratio to urllib3 taken round by round (same minute)."""

    def ok(w: str, e: str) -> list[dict[str, Any]]:
        return [r for r in results.get((w, e), []) if "error" not in r]

    def paired(w: str, e: str, k: str) -> str:
        base = {r["round"]: r[k] for r in ok(w, "urllib3")}
        ratios = [r[k] / base[r["round"]] for r in ok(w, e) if base.get(r["round"])]
        return f"{statistics.median(ratios):.2f}x" if ratios else "-"

    lines = [
        "| workload | engine | wall s | CPU s | wall / urllib3 | CPU / urllib3 | server+relay CPU s "
        "| wall s of each round | imports s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        for e in engines:
            runs = ok(w, e)
            if not runs:
                errs = {r.get("error", "") for r in results.get((w, e), [])}
                lines.append(f"| {w} | {e} | failed: {'; '.join(errs)[:200]} |||||||")
                continue

            def med(k: str, runs: list[dict[str, Any]] = runs) -> float:
                return statistics.median(r[k] for r in runs)

            failed = len(results[(w, e)]) - len(runs)
            spread = ", ".join(f"{r['wall']:.2f}" for r in runs)
            spread += f" ({failed} failed)" if failed else ""
            lines.append(
                f"| {w} | {e} | {med('wall'):.2f} | {med('cpu'):.2f} | {paired(w, e, 'wall')} "
                f"| {paired(w, e, 'cpu')} | {med('server_cpu'):.2f} | {spread} "
                f"| {med('imports'):.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="1 round, 200 small and 4 x 16 MiB files")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    p.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    p.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay each request (a relay)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed")
    p.add_argument("--s3lync-python", help="interpreter with this checkout's s3lync installed")
    p.add_argument("--json", type=Path, help="write every run here")
    args = p.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    workloads = [w for w in args.only.split(",") if w]
    for w in workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    python = find_s3lync_python(args.s3lync_python, False)
    engines = []
    for e in (e for e in args.engines.split(",") if e):
        if e not in RUNNERS:
            p.error(f"unknown engine {e!r}; choose from {', '.join(ENGINES)}")
        why = available(python, e)
        if why:
            log(f"[setup] {e}: skipped ({why})")
        else:
            engines.append(e)
    if "urllib3" not in engines:
        p.error("urllib3 (the reference) cannot run")
    sets = {
        "small": DataSet("small", 200 if args.quick else 1000, 16 * KiB),
        "large": DataSet("large", 4, (16 if args.quick else 64) * MiB),
    }
    work = WORK / "engines"
    shutil.rmtree(work, ignore_errors=True)
    root, data = work / "s3root", work / "data"
    (root / BUCKET).mkdir(parents=True)
    for name in {WORKLOADS[w][0] for w in workloads}:
        write_tree(sets[name], data / name)
        link_tree(data / name, root / BUCKET / f"seed-{name}")
    sibling = Path(python).parent / "rclone"
    rclone = str(sibling) if sibling.exists() else shutil.which("rclone") or "rclone"
    server = RcloneServer(Path(rclone), root, work)
    server.start()
    relay = None
    endpoint = server.endpoint
    meter = CpuMeter(server.proc.pid if server.proc else None)
    if args.latency_ms:
        relay = DelayRelay(f"127.0.0.1:{server.port}", args.latency_ms, work)
        relay.start()
        endpoint = relay.endpoint
        meter.relay_pid = relay.proc.pid if relay.proc else None
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    try:
        for rnd in range(rounds):
            k = rnd % len(engines)
            order = engines[k:] + engines[:k]  # who goes first rotates
            for w in workloads:
                name, direction = WORKLOADS[w]
                ds = sets[name]
                for e in order:
                    tag = f"{w}-{e}-r{rnd}"
                    if direction == "get":
                        prefix, local = f"seed-{name}", work / "dl" / tag
                        local.mkdir(parents=True)
                        target = local
                    else:
                        prefix, local = f"up-{tag}", data / name
                        target = root / BUCKET / prefix
                        # rclone serve s3 answers 500 now and then when the first PUTs under a
                        # new prefix race to create its folder: made beforehand for every engine.
                        target.mkdir()
                    cmd = [e, direction, endpoint, prefix, str(local), str(ds.count), str(ds.size)]
                    r = run_child(python, [*cmd, str(args.concurrency)], meter, args.timeout)
                    if "error" not in r:
                        st = tree_state(target)
                        files = [v for k2, v in st.items() if not k2.startswith(".")]
                        if len(files) != ds.count or any(v[0] != ds.size for v in files):
                            r = {"error": f"{len(files)} of {ds.count} files", **r}
                    r["round"] = rnd
                    results.setdefault((w, e), []).append(r)
                    shown = r.get("error") or (
                        f"wall {r['wall']:.2f} s, CPU {r['cpu']:.2f} s, "
                        f"others {r['foreign']:.2f} cores"
                    )
                    log(f"round {rnd + 1} {w:9} {e:15} {shown}")
                    shutil.rmtree(target, ignore_errors=True)
    finally:
        if relay is not None:
            relay.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    foreign = [r["foreign"] for rs in results.values() for r in rs if "foreign" in r]
    head = (
        f"Run of {started}, {rounds} rounds, {args.concurrency} in flight"
        + (f", +{args.latency_ms:g} ms a request" if args.latency_ms else "")
        + f"; {machine_info()['nproc']} cores; load average "
        + f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; other processes used "
        + f"{statistics.median(foreign) if foreign else 0:.2f} cores (median over runs)."
    )
    print(head + "\n\n" + report(results, engines, workloads))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "head": head,
                    "runs": [
                        {"workload": w, "engine": e, **r}
                        for (w, e), rs in results.items()
                        for r in rs
                    ],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
