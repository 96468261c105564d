"""AsyncS3Object against real servers: the S3Object API awaited, without blocking the loop."""

from __future__ import annotations

import asyncio
import os
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


def test_the_loop_keeps_running_during_a_500_file_download(
    s3: Any, bucket: str, make_aobj: Any, tmp_path: Path
) -> None:
    """A heartbeat task keeps beating all through a 500-file download.

    Each beat notes how many files have landed so far. A loop blocked by the download would beat
    before it (0 files) and after it (500) only; a loop blocked for part of it would miss every
    beat of that part. So the beats must see each fifth of the download (files 1-99, 100-199, ...,
    400-499) in flight: counted in files, not seconds, so a slow machine cannot fail it.
    """
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: s3.put_object(Bucket=bucket, Key=f"many/f{i:03d}", Body=b"x" * 2048),
                range(500),
            )
        )
    target = tmp_path / "many"
    seen: list[int] = []

    def landed() -> int:
        # Temporaries are dot-files until they are renamed into place.
        with os.scandir(target) as entries:
            return sum(not e.name.startswith(".") for e in entries)

    async def heartbeat(stop: asyncio.Event) -> None:
        while not stop.is_set():
            seen.append(landed() if target.is_dir() else 0)
            await asyncio.sleep(0.005)

    async def main() -> None:
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeat(stop))
        await asyncio.sleep(0)
        await make_aobj(f"s3://{bucket}/many/", target).download()
        stop.set()
        await beat

    asyncio.run(main())
    assert landed() == 500
    fifths = sorted({n // 100 for n in seen if 0 < n < 500})
    # A blocked loop sees no file in flight at all (only 0, then 500).
    assert fifths == [0, 1, 2, 3, 4], (
        f"the heartbeat saw the download only at {fifths} (hundreds of files landed); "
        f"{len(seen)} beats"
    )
