"""Writes whose answer is lost: the store may or may not have acted, so s3lync asks before resending.

A conditional PUT (If-Match from the plan, If-None-Match for ``open("x")``) replayed blindly after
its first attempt landed is refused (412) as if another writer had replaced the object; a
CreateMultipartUpload resent blindly opens a second upload and leaves the first one open. The proxy
forwards each request to the real server and then resets the connection instead of answering.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3Object, SyncError

from .faultproxy import FaultProxy

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))


def _open_uploads(s3: Any, bucket: str) -> list[Any]:
    return list(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def test_conditional_update_whose_answer_is_lost_is_not_reported_as_replaced(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="d/a.txt", Body=b"old")
    src = tmp_path / "a.txt"
    src.write_bytes(b"new content")
    rule = proxy.add_rule("reset", method="PUT", key="d/a.txt", times=1)

    S3Object(f"s3://{bucket}/d/a.txt", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    # The first PUT (carrying If-Match: the old ETag) reached the store; nobody else wrote.
    assert proxy.requests("PUT", "d/a.txt")[0].header("if-match")
    assert s3.get_object(Bucket=bucket, Key="d/a.txt")["Body"].read() == b"new content"


def test_create_only_write_whose_answer_is_lost_is_not_reported_as_existing(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    rule = proxy.add_rule("reset", method="PUT", key="x/new.txt", times=1)
    obj = S3Object(f"s3://{bucket}/x/new.txt", tmp_path / "new.txt", endpoint_url=proxy.url)

    with obj.open("x") as f:
        f.write("mine")

    assert rule.hits == 1
    assert proxy.requests("PUT", "x/new.txt")[0].header("if-none-match") == "*"
    assert s3.get_object(Bucket=bucket, Key="x/new.txt")["Body"].read() == b"mine"


def test_conditional_update_still_refuses_another_writers_object(
    s3: Any, s3_server: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The check after a lost answer does not turn a real conflict into an overwrite."""
    s3.put_object(Bucket=bucket, Key="c/a.txt", Body=b"old")
    src = tmp_path / "a.txt"
    src.write_bytes(b"mine")

    def someone_else_writes(seen: Any) -> None:
        s3_server.client().put_object(Bucket=bucket, Key="c/a.txt", Body=b"theirs")

    # The first PUT is lost before it reaches the store, and another writer replaces the object.
    proxy.add_rule(
        "error", method="PUT", key="c/a.txt", status=500, times=1, before=someone_else_writes
    )
    obj = S3Object(f"s3://{bucket}/c/a.txt", src, endpoint_url=proxy.url)
    try:
        obj.upload()
    except Exception as exc:  # a store that honours If-Match refuses; one that ignores it cannot
        assert "replaced" in str(exc)
        assert s3.get_object(Bucket=bucket, Key="c/a.txt")["Body"].read() == b"theirs"
    else:
        assert not any(s.header("if-match") is None for s in proxy.requests("PUT", "c/a.txt"))


def test_multipart_create_whose_answer_is_lost_leaves_no_upload_open(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    data = os.urandom(11 * MiB + 3)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    rule = proxy.add_rule("reset", method="POST", key="m/big.bin", query="uploads", times=1)

    S3Object(f"s3://{bucket}/m/big.bin", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    creates = [s for s in proxy.requests("POST", "m/big.bin") if s.query.startswith("uploads")]
    assert len(creates) == 2  # the lost one, then one more after aborting what it opened
    assert _open_uploads(s3, bucket) == []
    assert s3.get_object(Bucket=bucket, Key="m/big.bin")["Body"].read() == data


def test_part_failing_forever_aborts_the_upload(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(11 * MiB))
    proxy.add_rule(
        "error", method="PUT", key="f/big.bin", query="partNumber=2", status=500, times=None
    )

    with pytest.raises(SyncError, match=r"f/big\.bin"):
        S3Object(f"s3://{bucket}/f/big.bin", src, endpoint_url=proxy.url).upload()

    assert _open_uploads(s3, bucket) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="f/")


def test_an_upload_cancelled_mid_parts_leaves_no_upload_open(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Cancelling the task (the async face's Ctrl-C) while parts are in flight: the parts not
    started never start, and the multipart upload is aborted once the ones in flight return."""
    import asyncio

    from s3lync import AsyncS3Object

    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(26 * MiB))
    stall = proxy.add_rule("stall", method="PUT", query="partNumber=", delay=3, times=None)
    obj = AsyncS3Object(f"s3://{bucket}/x/big.bin", src, endpoint_url=proxy.url, max_workers=2)

    async def main() -> None:
        task = asyncio.create_task(obj.upload())
        while stall.hits < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    stall.release()
    # The abort comes once the parts in flight are answered: wait for it, boundedly.
    import time

    deadline = time.monotonic() + 30
    while _open_uploads(s3, bucket) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _open_uploads(s3, bucket) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="x/")
    parts = {s.query.split("partNumber=")[1].split("&")[0] for s in proxy.requests("PUT")}
    assert len(parts) < 6  # 26 MiB at 5 MiB: six parts; the cancel stopped the rest
