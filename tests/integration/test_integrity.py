"""Integrity: atomic downloads, hash mismatches keep the previous file, multipart verification."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from s3lync import SyncError
from s3lync.localfs.tempfiles import new_temp_path

MiB = 1024 * 1024
TEMP_MARK = ".s3lync-tmp"


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMP_MARK in p.name]


def _crashed_run_temporaries(paths: list[Path]) -> None:
    """Temporaries a run registered and wrote before it died (a real, dead owner process)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from s3lync.settings import Config\n"
        "from s3lync.localfs.tempfiles import TempRegistry\n"
        "TempRegistry(Config.get_temporaries_path()).register(sys.argv[1:])\n"
        "for p in sys.argv[1:]:\n"
        "    Path(p).write_bytes(b'partial')\n"
    )
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], check=True)


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def _metadata(head: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in head.get("Metadata", {}).items()}


def _multipart_put(s3: Any, bucket: str, key: str, data: bytes, part: int, **extra: Any) -> str:
    """Upload ``data`` in ``part``-sized parts with plain boto3; returns the ETag."""
    mp = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    parts = []
    for n, off in enumerate(range(0, len(data), part), 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=mp["UploadId"],
            PartNumber=n,
            Body=data[off : off + part],
        )
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=mp["UploadId"], MultipartUpload={"Parts": parts}
    )
    return str(done["ETag"])


# --------------------------------------------------------------------------- atomic downloads


def test_download_leaves_no_temporaries(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"d/sub{i % 2}/f{i}.bin", Body=os.urandom(1000 + i))
    target = tmp_path / "out"

    make_obj(f"s3://{bucket}/d/", local_path=target).download()

    assert len([p for p in target.rglob("*") if p.is_file()]) == 6
    assert _temps(tmp_path) == []


def test_stale_temporaries_are_removed(s3: Any, bucket: str, make_obj: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="d/sub/f.txt", Body=b"content")
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    stale = [Path(new_temp_path(str(target / "f.txt"))), Path(new_temp_path(str(target / "sub/f")))]
    _crashed_run_temporaries(stale)
    make_obj(f"s3://{bucket}/d/", local_path=target).download()

    assert (target / "sub" / "f.txt").read_bytes() == b"content"
    assert _temps(tmp_path) == []


def test_stale_temporaries_are_not_uploaded(
    bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_bytes(b"real")
    _crashed_run_temporaries([Path(new_temp_path(str(src / "real.txt")))])

    make_obj(f"s3://{bucket}/up/", local_path=src).upload()

    assert remote_keys(bucket) == ["up/real.txt"]


def test_failed_download_keeps_previous_file(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_bytes(b"previous version")
    obj = make_obj(f"s3://{bucket}/missing.txt", local_path=target)

    with pytest.raises(SyncError):
        obj.download()

    assert target.read_bytes() == b"previous version"
    assert _temps(tmp_path) == []


# --------------------------------------------------------------------------- hash mismatch


def test_wrong_md5chksum_never_outvotes_the_stores_etag(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path, caplog: Any
) -> None:
    """md5chksum is the uploader's claim: an ETag the store computed decides, with a warning.

    (Corrupted bytes are caught by tests/reliability/test_verification.py, through a proxy.)
    """
    if not s3_server.caps.keeps_metadata:
        pytest.skip("this server drops x-amz-meta-* (probed): there is no md5chksum to outvote")
    data = os.urandom(5 * MiB + 1024)
    wrong = _md5_b64(b"something else entirely")
    etag = _multipart_put(s3, bucket, "big.bin", data, 5 * MiB, Metadata={"md5chksum": wrong})
    if s3_server.caps.multipart_etags:
        assert etag.strip('"').endswith("-2")
    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous local version")

    with caplog.at_level("WARNING", logger="s3lync"):
        make_obj(f"s3://{bucket}/big.bin", local_path=target).download()

    assert target.read_bytes() == data
    assert "md5chksum metadata" in caplog.text and "disagrees" in caplog.text
    assert _temps(tmp_path) == []


# --------------------------------------------------------------------------- multipart


@pytest.mark.parametrize("part_mib", [5, 8])
def test_plain_boto3_multipart_object_is_verified_and_not_refetched(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    request_counter: Any,
    tmp_path: Path,
    part_mib: int,
) -> None:
    data = os.urandom(11 * MiB)
    etag = _multipart_put(s3, bucket, "mp.bin", data, part_mib * MiB)
    if s3_server.caps.multipart_etags:
        assert etag.strip('"').endswith(f"-{-(-11 // part_mib)}")
    client = s3_server.client()
    log = request_counter(client)
    target = tmp_path / "mp.bin"
    obj = make_obj(f"s3://{bucket}/mp.bin", local_path=target, client=client)

    obj.download()
    assert hashlib.md5(target.read_bytes()).digest() == hashlib.md5(data).digest()
    assert _temps(tmp_path) == []
    assert log.object_gets(), "the object was not downloaded at all"
    log.clear()

    obj.download()
    assert log.object_gets() == []
    # Deciding "unchanged" must come from the listing (a HEAD at most), never a re-download.
    assert [m for m in log.methods() if m not in ("GET", "HEAD")] == []


def test_s3lync_multipart_upload_stores_md5chksum(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    request_counter: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    data = os.urandom(11 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/big.bin", local_path=src, client=client)

    obj.upload()

    parts = [u for u in log.object_writes() if "partNumber=" in u]
    assert len(parts) == 3, log.requests
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    # A store that drops x-amz-meta-* (probed) keeps none, or computes its own (rclone).
    want = _md5_b64(data)
    assert _metadata(head).get("md5chksum") in (
        (want,) if s3_server.caps.keeps_metadata else (None, want)
    )
    if s3_server.caps.multipart_etags:
        assert head["ETag"].strip('"').endswith("-3")
    log.clear()

    obj.upload()  # unchanged: nothing is sent again
    assert log.object_writes() == []

    back = tmp_path / "back.bin"
    fresh = make_obj(f"s3://{bucket}/big.bin", local_path=back, client=client)
    fresh.download()
    assert back.read_bytes() == data
    log.clear()
    fresh.download()
    assert log.object_gets() == []


def test_small_upload_stores_md5chksum(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    src = tmp_path / "small.txt"
    src.write_bytes(b"small file")

    make_obj(f"s3://{bucket}/small.txt", local_path=src).upload()

    head = s3.head_object(Bucket=bucket, Key="small.txt")
    want = _md5_b64(b"small file")
    assert _metadata(head).get("md5chksum") in (
        (want,) if s3_server.caps.keeps_metadata else (None, want)
    )
    assert head["ETag"].strip('"') == hashlib.md5(b"small file").hexdigest()
