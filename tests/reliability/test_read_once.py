"""Nothing read twice: a ranged download is hashed as it arrives, a large upload's parts are
not hashed again after the file's hashing, and a file written to in between is refused.

Reads of the downloaded file are watched with an audit hook (``open`` events under the test's
folder); hashing in the upload pipeline by counting ``hashlib.md5`` calls in ``upload.py``.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from s3lync import HashMismatchError, S3Object, SyncError
from s3lync.hashing import digest_file
from s3lync.settings import Settings
from s3lync.store import upload as upload_module
from s3lync.store.clients import get_wire
from s3lync.store.remote import Remote

from .faultproxy import FaultProxy
from .helpers import BOTH_SERVERS, blob, parts_put, temporaries

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _five_mib_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))


_watch: dict[str, Any] = {"root": None, "reads": []}
_watch_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or _watch["root"] is None:
        return
    path, mode, flags = args
    if not isinstance(path, (str, bytes)):
        return
    path = os.fsdecode(path)
    if not path.startswith(_watch["root"]):
        return
    if mode is not None:
        reading = "r" in mode and "+" not in mode
    else:
        reading = (flags & os.O_ACCMODE) == os.O_RDONLY
    if reading:
        with _watch_lock:
            _watch["reads"].append(path)


sys.addaudithook(_audit)


@BOTH_SERVERS
@pytest.mark.parametrize("written_as", ["single-put", "multipart"])
def test_a_ranged_download_is_verified_without_reading_the_file_back(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    written_as: str,
) -> None:
    data = blob(7, 17 * MiB)
    if written_as == "multipart":
        if not s3_server.caps.multipart_etags:
            pytest.skip(f"{s3_server.name} keeps no S3-form multipart ETags")
        sizes = [5 * MiB] * 3 + [2 * MiB]
        assert parts_put(s3, bucket, "big.bin", data, sizes).endswith("-4")
    else:
        s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    out = tmp_path / "out"
    out.mkdir()
    obj = S3Object(f"s3://{bucket}/big.bin", out / "big.bin", endpoint_url=proxy.url)

    _watch["root"] = str(out)
    try:
        obj.download()
    finally:
        _watch["root"] = None
    reads, _watch["reads"] = list(_watch["reads"]), []

    assert (out / "big.bin").read_bytes() == data
    # It did go in ranges: four GETs with a Range each.
    ranged = [s for s in proxy.requests("GET", "/big.bin") if s.header("range")]
    assert len(ranged) == 4
    assert obj.last_result is not None
    assert (obj.last_result.transferred, obj.last_result.unverified) == (1, 0)
    assert reads == [], f"the downloaded file was read back: {reads}"


@BOTH_SERVERS
def test_a_range_flipped_after_the_first_still_fails_the_download(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = blob(8, 17 * MiB)
    s3.put_object(Bucket=bucket, Key="big.bin", Body=data)
    target = tmp_path / "big.bin"
    target.write_bytes(b"the previous local version")
    # Only the range at 10 MiB arrives damaged, every time it is asked for.
    proxy.add_rule(
        "flip",
        method="GET",
        key="/big.bin",
        header=("range", "bytes=10485760-"),
        offset=100,
        times=None,
    )
    with pytest.raises(HashMismatchError):
        S3Object(f"s3://{bucket}/big.bin", target, endpoint_url=proxy.url).download()
    assert target.read_bytes() == b"the previous local version"
    assert temporaries(tmp_path) == []


class _CountingHashlib:
    """Stands in for ``hashlib`` in upload.py: counts the MD5s it computes there."""

    def __init__(self) -> None:
        import hashlib

        self._real = hashlib
        self.md5_calls = 0

    def md5(self, *args: Any) -> Any:
        self.md5_calls += 1
        return self._real.md5(*args)


@BOTH_SERVERS
def test_a_large_upload_sends_the_part_md5s_of_its_one_hashing(
    s3_server: Any,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counting = _CountingHashlib()
    monkeypatch.setattr(upload_module, "hashlib", counting)
    data = blob(9, 12 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    S3Object(f"s3://{bucket}/big.bin", src, endpoint_url=s3_server.endpoint_url).upload()
    got = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert got == data
    if s3_server.caps.multipart_etags:
        assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"').endswith("-3")
    assert counting.md5_calls == 0, "the parts were hashed again while being sent"


@BOTH_SERVERS
def test_a_file_written_to_after_its_hashing_is_refused_not_stored(
    s3_server: Any,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not s3_server.caps.checks_content_md5:
        pytest.skip(f"{s3_server.name} does not check Content-MD5")
    data = blob(10, 12 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    part = 5 * MiB
    hashed = digest_file(src, [part])
    # Written to between the hashing and the upload: same size, other bytes in part 2.
    with open(src, "r+b") as f:
        f.seek(part + 10)
        f.write(b"X" * 10)
    settings = Settings.from_env()
    wire = get_wire(endpoint_url=s3_server.endpoint_url, settings=settings)
    remote = Remote(wire=wire, settings=settings)
    with pytest.raises(SyncError, match="changed while it was being uploaded"):
        remote.upload(
            str(src), bucket, "big.bin", hashed.size, hashed.md5, part_md5s=hashed.part_md5s[part]
        )
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    if s3_server.caps.lists_uploads:
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
