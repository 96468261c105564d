"""A symlinked folder inside the download root that leads outside must not be written through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import S3lyncError


def test_download_does_not_write_through_a_folder_link_leading_outside(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    for key, body in {"p/ok.txt": b"ok", "p/link/x.txt": b"x", "p/link/deep/y.txt": b"y"}.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(S3lyncError) as info:
        make_obj(f"s3://{bucket}/p/", local_path=root).download()

    assert "link/x.txt" in str(info.value)
    assert list(outside.iterdir()) == []  # not a file, not even a folder, was made outside
    assert (root / "ok.txt").read_bytes() == b"ok"  # the safe part still synced
