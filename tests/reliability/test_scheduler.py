"""One process-wide transfer scheduler: requests in flight and parts in memory, bounded per process.

Before it, every single large upload started a thread pool of its own (``max_workers`` parts at
once), so four objects with ``max_workers=4`` uploading one large file each kept up to 16 parts in
flight. The proxy counts the requests it is handling at once, as the store would see them.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import AsyncS3Object, S3Object
from s3lync.store.scheduler import Scheduler, scheduler_for

from .faultproxy import FaultProxy
from .helpers import BOTH_SERVERS

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
WORKERS = 4


@pytest.fixture(autouse=True)
def _five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))


def test_large_uploads_of_several_async_objects_share_one_bound(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    files = []
    for i in range(4):
        f = tmp_path / f"big{i}.bin"
        f.write_bytes(os.urandom(21 * MiB))
        files.append(f)
    # Each part is held a moment at the store, so the parts of all four files overlap.
    proxy.add_rule("stall", method="PUT", query="partNumber=", delay=0.2, times=None)
    objs = [
        AsyncS3Object(f"s3://{bucket}/b/{f.name}", f, endpoint_url=proxy.url, max_workers=WORKERS)
        for f in files
    ]

    async def main() -> list[str]:
        return await asyncio.gather(*(o.upload() for o in objs))

    asyncio.run(main())

    parts = [s for s in proxy.log if "partNumber=" in s.query]
    assert len(parts) == 4 * 5  # every file went up in parts (21 MiB at 5 MiB)
    assert 2 <= proxy.peak_inflight <= WORKERS, proxy.peak_inflight
    for f in files:
        assert s3.get_object(Bucket=bucket, Key=f"b/{f.name}")["Body"].read() == f.read_bytes()


def test_sync_objects_in_threads_share_the_same_bound(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    import threading

    for i in range(3):
        (tmp_path / f"s{i}").mkdir()
        for j in range(12):
            (tmp_path / f"s{i}" / f"f{j}.txt").write_bytes(os.urandom(2000))
    proxy.add_rule("stall", method="PUT", delay=0.1, times=None)
    objs = [
        S3Object(f"s3://{bucket}/t{i}/", tmp_path / f"s{i}", endpoint_url=proxy.url, max_workers=3)
        for i in range(3)
    ]
    threads = [threading.Thread(target=o.upload) for o in objs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(proxy.requests("PUT")) == 36
    # Three objects of three workers each, sharing one scheduler of three.
    assert 2 <= proxy.peak_inflight <= 3, proxy.peak_inflight


def test_one_scheduler_per_worker_count_and_slots_wait() -> None:
    import threading

    assert scheduler_for(7) is scheduler_for(7)
    sched = Scheduler(2)
    assert sched.capacity == 2
    sched.acquire_request()
    sched.acquire_request()
    got = threading.Event()

    def third() -> None:
        sched.acquire_request()
        got.set()

    t = threading.Thread(target=third)
    t.start()
    assert not got.wait(0.2)  # the third waits while two are in flight
    sched.release_request()
    assert got.wait(5)
    t.join()
    assert sched.peak_requests == 2


@BOTH_SERVERS
def test_calls_with_the_same_settings_reuse_the_shared_connections(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """One object's call ending does not drop the idle connections other calls share: the
    next call (a new object, the same settings) sends on them instead of connecting again."""
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=f"p/{name}.txt", Body=name.encode())
    uri = f"s3://{bucket}/p/"
    S3Object(uri, tmp_path / "d", endpoint_url=proxy.url).download()
    assert sorted(os.listdir(tmp_path / "d")) == ["a.txt", "b.txt", "c.txt"]
    opened = proxy.accepted
    for _ in range(5):
        S3Object(uri, tmp_path / "d", endpoint_url=proxy.url).download()
    assert len(proxy.requests("GET")) >= 5  # the five calls did list the bucket
    assert proxy.accepted == opened, f"{proxy.accepted - opened} new connection(s)"
