"""AsyncS3Object against real servers: the S3Object API awaited, without blocking the loop."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import s3lync
from s3lync import AsyncS3Object, S3ObjectError
from s3lync.errors import RemoteNotFoundError


@pytest.fixture
def make_aobj(s3_server: Any) -> Any:
    def make(uri: str, local_path: Any = None, **kw: Any) -> AsyncS3Object:
        kw.setdefault("endpoint_url", s3_server.endpoint_url)
        return AsyncS3Object(uri, local_path, **kw)

    return make


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_exported_and_lazy() -> None:
    assert s3lync.AsyncS3Object is AsyncS3Object
    assert "AsyncS3Object" in s3lync.__all__


def test_the_whole_api_awaited(s3: Any, bucket: str, make_aobj: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="d/a.txt", Body=b"A")
    s3.put_object(Bucket=bucket, Key="d/sub/b.txt", Body=b"BB")

    async def main() -> None:
        folder = make_aobj(f"s3://{bucket}/d/", tmp_path / "d")
        assert await folder.download() == str(tmp_path / "d")
        assert (tmp_path / "d" / "sub" / "b.txt").read_bytes() == b"BB"
        (tmp_path / "d" / "c.txt").write_text("C")
        assert await folder.upload() == f"s3://{bucket}/d/"
        assert _get(s3, bucket, "d/c.txt") == b"C"

        one = make_aobj(f"s3://{bucket}/d/a.txt")
        async with one.open("r") as f:
            assert f.read() == "A"
        async with one.open("a") as f:
            f.write("+")
        assert _get(s3, bucket, "d/a.txt") == b"A+"
        assert await one.exists()
        assert await one.delete()
        assert not await one.exists()

    asyncio.run(main())


def test_same_exception_classes(bucket: str, make_aobj: Any, tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(RemoteNotFoundError):
            await make_aobj(f"s3://{bucket}/missing.txt", tmp_path / "m").download()
        with pytest.raises(S3ObjectError):
            await make_aobj(f"s3://{bucket}/up/", tmp_path / "nope").upload()
        with pytest.raises(S3ObjectError, match="not a prefix"):
            async with make_aobj(f"s3://{bucket}/d/").open("r"):
                pass

    asyncio.run(main())


def test_failed_block_uploads_nothing(bucket: str, make_aobj: Any, remote_keys: Any) -> None:
    async def main() -> None:
        with pytest.raises(ZeroDivisionError):
            async with make_aobj(f"s3://{bucket}/w.txt").open("w") as f:
                f.write("half")
                raise ZeroDivisionError

    asyncio.run(main())
    assert remote_keys(bucket) == []


_CONTROL = """
import time
gaps, last = [], time.monotonic()
while True:
    time.sleep(0.05)
    now = time.monotonic()
    gaps.append(now - last)
    last = now
    if len(gaps) % 4 == 0:
        print(max(gaps), flush=True)
"""


def test_the_loop_keeps_running_during_a_500_file_download(
    s3_server: Any, s3: Any, bucket: str, make_aobj: Any, tmp_path: Path
) -> None:
    """A 50 ms heartbeat keeps beating (no gap above 200 ms) while 500 files download.

    The 200 ms allows for the machine itself: a separate process beating alongside measures how
    late any sleeper is woken on this (possibly loaded) machine, and that lateness is added.
    """
    import subprocess
    import sys

    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(Bucket=bucket, Key=f"many/f{i:03d}", Body=b"x" * 2048),
                range(500),
            )
        )
    ticks: list[float] = []

    async def heartbeat(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.05)

    async def main() -> tuple[float, float]:
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeat(stop))
        await asyncio.sleep(0.06)
        start = time.monotonic()
        await make_aobj(f"s3://{bucket}/many/", tmp_path / "many").download()
        end = time.monotonic()
        stop.set()
        await beat
        return start, end

    # The test runner's own heap (hundreds of tests' objects) would make every full garbage
    # collection a long pause that no library causes; freeze it, and time the collections left.
    gc_pauses: list[float] = []
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started.append(time.monotonic())
        elif gc_started:
            gc_pauses.append(time.monotonic() - gc_started.pop())

    gc.collect()
    gc.freeze()
    gc.callbacks.append(on_gc)
    control = subprocess.Popen([sys.executable, "-c", _CONTROL], stdout=subprocess.PIPE, text=True)
    try:
        start, end = asyncio.run(main())
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
        control.kill()
        out, _ = control.communicate(timeout=10)
    machine_lateness = max([float(x) for x in out.split()] or [0.05]) - 0.05
    assert len(list((tmp_path / "many").iterdir())) == 500
    during = [t for t in ticks if start - 0.06 <= t <= end + 0.06]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    # A blocked loop shows one gap as long as the whole download (seconds).
    assert len(gaps) >= 2, "the heartbeat never ran during the download"
    worst = max(range(len(gaps)), key=gaps.__getitem__)
    assert gaps[worst] < 0.2 + machine_lateness, (
        f"longest gap {gaps[worst] * 1000:.0f} ms at {during[worst] - start:.2f} s of "
        f"{end - start:.1f} s (machine lateness {machine_lateness * 1000:.0f} ms, longest "
        f"garbage collection {max(gc_pauses, default=0) * 1000:.0f} ms)"
    )
