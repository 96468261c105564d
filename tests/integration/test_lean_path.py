"""With static credentials in the environment, a sync never imports botocore (the lean path)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = """
import sys
from pathlib import Path
from s3lync import S3Object
src, dst, uri = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
S3Object(uri, local_path=src).upload()
S3Object(uri, local_path=dst).download()
print("botocore" in sys.modules)
"""


MiB = 1024 * 1024


def _run(s3_server: Any, script: str, *args: str, lean: str = "1") -> Any:
    """Run ``script`` in a fresh interpreter against the server, 5 MiB multipart threshold."""
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        S3LYNC_LEAN=lean,
        S3LYNC_MULTIPART_THRESHOLD=str(5 * MiB),
        S3LYNC_MULTIPART_CHUNKSIZE=str(5 * MiB),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("lean", ["1", "0"])
def test_sync_without_botocore_unless_opted_out(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, lean: str
) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a b+c.txt").write_bytes(b"lean")
    (src / "e.bin").write_bytes(os.urandom(3000))
    # Two large files: one streamed PUT and one streamed GET each (several move at once).
    for name in ("big1.bin", "big2.bin"):
        (src / name).write_bytes(os.urandom(11 * MiB + 17))
    proc = _run(s3_server, SCRIPT, str(src), str(tmp_path / "dst"), f"s3://{bucket}/p/", lean=lean)
    assert proc.stdout.strip() == ("False" if lean == "1" else "True")
    assert (tmp_path / "dst" / "d" / "a b+c.txt").read_bytes() == b"lean"
    assert (tmp_path / "dst" / "e.bin").read_bytes() == (src / "e.bin").read_bytes()
    for name in ("big1.bin", "big2.bin"):
        data = (src / name).read_bytes()
        assert (tmp_path / "dst" / name).read_bytes() == data
        head = s3.head_object(Bucket=bucket, Key=f"p/{name}")
        # The whole-file MD5 travels as metadata with the multipart upload, whichever path sent it.
        expected = base64.b64encode(hashlib.md5(data).digest()).decode()
        meta = {k.lower(): v for k, v in head["Metadata"].items()}  # rclone capitalises names
        assert meta.get("md5chksum") == expected
        assert head["ContentLength"] == len(data)


UPLOAD_ONLY = """
import sys
from s3lync import S3Object
S3Object(sys.argv[2], local_path=sys.argv[1]).upload()
print("botocore" in sys.modules)
"""


def test_one_large_file_goes_up_in_lean_parts(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    data = os.urandom(11 * MiB + 5)
    src.write_bytes(data)
    proc = _run(s3_server, UPLOAD_ONLY, str(src), f"s3://{bucket}/one/big.bin")
    assert proc.stdout.strip() == "False"
    got = s3.get_object(Bucket=bucket, Key="one/big.bin")
    assert got["Body"].read() == data
    if s3_server.name == "moto":
        # Three 5 MiB-or-less parts: S3's multipart ETag form proves it went up in parts.
        assert got["ETag"].strip('"').endswith("-3")
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
