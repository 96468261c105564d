"""Progress counts bytes as they move, on every transfer path, not only when a file ends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

MiB = 1024 * 1024
SIZE = 11 * MiB  # above the 5 MiB threshold below: two parts, or one streamed request


def _paths(monkeypatch: pytest.MonkeyPatch, lean: str) -> None:
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))


class Calls:
    """Every (files_done, files_total, bytes_done, bytes_total) the callback heard."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, int, int]] = []

    def __call__(self, files_done: int, files_total: int, done: int, total: int) -> None:
        self.seen.append((files_done, files_total, done, total))

    def check(self, nbytes: int) -> None:
        # Bytes moved before any file ended: the bar moves during one large transfer.
        mid = [c for c in self.seen if c[0] == 0 and 0 < c[2] < nbytes]
        assert len(mid) >= 2, self.seen
        assert all(0 <= c[2] <= c[3] for c in self.seen), self.seen
        assert self.seen[-1][2] == self.seen[-1][3] == nbytes, self.seen[-1]


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
@pytest.mark.parametrize("files", [1, 2], ids=["one-ranged", "two-streamed"])
def test_bytes_are_counted_as_they_move(
    s3_server: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
    files: int,
) -> None:
    """One large file moves in parts or ranges; two move as one request each: both count bytes."""
    _paths(monkeypatch, lean)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(files):
        (src / f"big{i}.bin").write_bytes(os.urandom(SIZE))
    up = Calls()
    make_obj(f"s3://{bucket}/d/", src, progress=up).upload()
    up.check(files * SIZE)

    down = Calls()
    make_obj(f"s3://{bucket}/d/", tmp_path / "dst", progress=down).download()
    down.check(files * SIZE)
    assert (tmp_path / "dst" / "big0.bin").read_bytes() == (src / "big0.bin").read_bytes()


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
def test_small_files_count_their_bytes(
    bucket: str, make_obj: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: str
) -> None:
    _paths(monkeypatch, lean)
    src = tmp_path / "small.txt"
    src.write_bytes(b"x" * 3000)
    up = Calls()
    make_obj(f"s3://{bucket}/small.txt", src, progress=up).upload()
    assert up.seen[-1] == (1, 1, 3000, 3000)
    down = Calls()
    make_obj(f"s3://{bucket}/small.txt", tmp_path / "got.txt", progress=down).download()
    assert down.seen[-1] == (1, 1, 3000, 3000)


def test_sse_kms_single_put_through_botocore_counts_bytes(
    moto_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSE-KMS through botocore goes as one streamed PUT of an open file: metered too."""
    from s3lync import S3Object

    _paths(monkeypatch, "0")
    name = f"k-{os.urandom(4).hex()}"
    moto_server.client().create_bucket(Bucket=name)
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(SIZE))
    up = Calls()
    S3Object(
        f"s3://{name}/model.bin",
        src,
        endpoint_url=moto_server.endpoint_url,
        extra_args={"ServerSideEncryption": "aws:kms"},
        progress=up,
    ).upload()
    up.check(SIZE)
