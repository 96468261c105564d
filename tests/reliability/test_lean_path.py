"""Which path carries what: the lean client (default) or botocore (``S3LYNC_LEAN=0``), told apart
by the User-Agent each request reaches the server with."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3Object

from .faultproxy import FaultProxy

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))


def _agents(proxy: FaultProxy) -> set[str]:
    return {"lean" if "(fast)" in (s.header("user-agent") or "") else "botocore" for s in proxy.log}


@pytest.mark.parametrize("lean", ["1", "0"])
def test_every_request_of_a_sync_takes_one_path(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a b+c.txt").write_bytes(b"lean")
    (src / "e.bin").write_bytes(os.urandom(3000))
    # Two large files: one streamed PUT and one streamed GET each (several move at once).
    for name in ("big1.bin", "big2.bin"):
        (src / name).write_bytes(os.urandom(11 * MiB + 17))

    S3Object(f"s3://{bucket}/p/", src, endpoint_url=proxy.url).upload()
    S3Object(f"s3://{bucket}/p/", tmp_path / "dst", endpoint_url=proxy.url).download()

    assert _agents(proxy) == ({"lean"} if lean == "1" else {"botocore"})
    assert (tmp_path / "dst" / "d" / "a b+c.txt").read_bytes() == b"lean"
    assert (tmp_path / "dst" / "e.bin").read_bytes() == (src / "e.bin").read_bytes()
    for name in ("big1.bin", "big2.bin"):
        data = (src / name).read_bytes()
        assert (tmp_path / "dst" / name).read_bytes() == data
        head = s3.head_object(Bucket=bucket, Key=f"p/{name}")
        # The whole-file MD5 travels as metadata with the upload, whichever path sent it.
        expected = base64.b64encode(hashlib.md5(data).digest()).decode()
        meta = {k.lower(): v for k, v in head["Metadata"].items()}  # rclone capitalises names
        assert meta.get("md5chksum") == expected
        assert head["ContentLength"] == len(data)


def test_one_large_file_goes_up_in_lean_parts_each_with_its_md5(
    s3: Any, s3_server: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    data = os.urandom(11 * MiB + 5)
    src.write_bytes(data)

    S3Object(f"s3://{bucket}/one/big.bin", src, endpoint_url=proxy.url).upload()

    parts = [s for s in proxy.requests("PUT", "/one/big.bin") if "partNumber=" in s.query]
    assert len(parts) == 3 and _agents(proxy) == {"lean"}
    for seen in parts:
        number = int(seen.query.split("partNumber=")[1].split("&")[0])
        chunk = data[(number - 1) * 5 * MiB : number * 5 * MiB]
        # Each part is guarded by its own Content-MD5, so the store refuses a damaged part.
        assert seen.header("content-md5") == base64.b64encode(hashlib.md5(chunk).digest()).decode()
    got = s3.get_object(Bucket=bucket, Key="one/big.bin")
    assert got["Body"].read() == data
    if s3_server.caps.multipart_etags:
        # Three 5 MiB-or-less parts: S3's multipart ETag form proves it went up in parts.
        assert got["ETag"].strip('"').endswith("-3")
    if s3_server.caps.lists_uploads:
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
