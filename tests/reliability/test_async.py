"""AsyncS3Object under load and cancellation: one shared pool, bounded connections, clean cancel."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3lync import AsyncS3Object
from s3lync.api.aio import shared_pool
from s3lync.localfs.tempfiles import TEMP_PREFIX

from .faultproxy import FaultProxy

WORKERS = 4


def _put_many(s3: Any, bucket: str, keys: list[str], body: bytes) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys))


def _temps(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_gather_of_20_objects_shares_one_pool_and_bounds_connections(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    _put_many(s3, bucket, [f"p{i:02d}/f{j}.bin" for i in range(20) for j in range(5)], b"z" * 1000)
    before = {t.name for t in threading.enumerate()}
    objs = [
        AsyncS3Object(
            f"s3://{bucket}/p{i:02d}/",
            tmp_path / f"p{i:02d}",
            endpoint_url=proxy.url,
            max_workers=WORKERS,
        )
        for i in range(20)
    ]

    async def main() -> list[str]:
        return await asyncio.gather(*(o.download() for o in objs))

    paths = asyncio.run(main())

    assert paths == [str(tmp_path / f"p{i:02d}") for i in range(20)]
    assert all(len(list(Path(p).iterdir())) == 5 for p in paths)
    # One pool, one engine, one Remote (so one connection pool) for all twenty.
    pool = shared_pool(WORKERS)
    assert {id(o.pool) for o in objs} == {id(pool)}
    engines = pool.engines()
    assert len(engines) == 1
    assert len(engines[0]._remotes) == 1  # one endpoint: one Remote, one connection pool
    # No per-object thread pools were created: only the shared pool's threads are new.
    new = {t.name for t in threading.enumerate()} - before
    new = {n for n in new if n.startswith("s3lync")}  # the proxy has threads of its own
    assert all(n.startswith("s3lync-aio") for n in new), new
    assert len([n for n in new if n.startswith("s3lync-aio-plan")]) <= WORKERS
    assert len([n for n in new if not n.startswith("s3lync-aio-plan")]) <= WORKERS
    # Seen from the server side: never more connections than planning + transfer threads.
    assert 1 <= proxy.peak_connections <= 2 * WORKERS, proxy.peak_connections


def test_cancel_mid_download_stops_cleans_and_raises(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 256  # 64 KiB
    _put_many(s3, bucket, [f"c/a{i}.bin" for i in range(8)], body)
    _put_many(s3, bucket, [f"c/s{i:02d}.bin" for i in range(24)], body)
    # Every s* download stalls after half its body: WORKERS of them are then in flight, with
    # half-written temporaries, and the rest are queued behind them.
    stall = proxy.add_rule("stall", method="GET", key="/c/s", times=None, where="body", delay=60)
    target = tmp_path / "c"
    obj = AsyncS3Object(f"s3://{bucket}/c/", target, endpoint_url=proxy.url, max_workers=WORKERS)

    async def main() -> None:
        task = asyncio.create_task(obj.download())
        # Until every stalled worker has written its first half into a temporary.
        for _ in range(1500):
            if stall.hits >= WORKERS and len(_temps(target)) >= WORKERS:
                break
            await asyncio.sleep(0.02)
        assert _temps(target), "the stalled downloads should have temporaries by now"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
        # In-flight temporaries are gone although their workers are still stuck in a read.
        assert _temps(target) == []
        files = sorted(p.name for p in target.iterdir())
        assert files == [f"a{i}.bin" for i in range(8)]
        assert all((target / f).read_bytes() == body for f in files)
    finally:
        stall.release()
        proxy.clear()

    # Once the stuck workers wake, they write nothing; and nothing queued ever started.
    asyncio.run(
        AsyncS3Object(
            f"s3://{bucket}/a-none/", tmp_path / "x", endpoint_url=proxy.url, max_workers=WORKERS
        ).exists()
    )
    assert _temps(target) == []
    assert sorted(p.name for p in target.iterdir()) == [f"a{i}.bin" for i in range(8)]
    started = {s.path.rsplit("/", 1)[-1] for s in proxy.requests("GET", "/c/s")}
    assert len(started) == WORKERS, started


def test_sync_download_cancelled_from_another_thread(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    from s3lync import S3Object
    from s3lync.errors import TransferCancelledError

    body = b"q" * 65536
    _put_many(s3, bucket, [f"t/s{i}.bin" for i in range(6)], body)
    stall = proxy.add_rule("stall", method="GET", key="/t/s", times=None, where="body", delay=60)
    cancel = threading.Event()
    obj = S3Object(f"s3://{bucket}/t/", tmp_path / "t", endpoint_url=proxy.url, max_workers=2)
    result: list[BaseException] = []

    def run() -> None:
        try:
            obj.download(cancel=cancel)
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert stall.matched.wait(30)
        cancel.set()
        worker.join(timeout=5)  # returns although both transfers are stuck in a read
        assert not worker.is_alive()
    finally:
        stall.release()
        proxy.clear()
    assert len(result) == 1 and isinstance(result[0], TransferCancelledError), result
    assert _temps(tmp_path / "t") == []
    assert list((tmp_path / "t").iterdir()) == []
