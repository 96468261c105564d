"""With static credentials in the environment, a sync never imports botocore (the lean path)."""

from __future__ import annotations

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


@pytest.mark.parametrize("lean", ["1", "0"])
def test_sync_without_botocore_unless_opted_out(
    s3_server: Any, bucket: str, tmp_path: Path, lean: str
) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a b+c.txt").write_bytes(b"lean")
    (src / "e.bin").write_bytes(os.urandom(3000))
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        S3LYNC_LEAN=lean,
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(src), str(tmp_path / "dst"), f"s3://{bucket}/p/"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("False" if lean == "1" else "True")
    assert (tmp_path / "dst" / "d" / "a b+c.txt").read_bytes() == b"lean"
    assert (tmp_path / "dst" / "e.bin").read_bytes() == (src / "e.bin").read_bytes()
