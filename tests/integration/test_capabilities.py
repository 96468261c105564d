"""What each server does, probed once per server fixture (``s3_server.caps``), against the table
in docs/reliability.md ("Any S3 store: what each server does"), and what s3lync does where a
capability is missing that no other test covers."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
_COLUMNS = {
    "moto": "moto",
    "rclone": "rclone",
    "SeaweedFS": "seaweedfs",
    "JuiceFS gateway": "juicefs",
}
MiB = 1024 * 1024


def documented() -> dict[str, dict[str, bool]]:
    """{server: {capability: documented value}} from the table's header and rows."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| capability (`caps.` name) |")
    rows = [r for r in text[start:].split("\n\n", 1)[0].splitlines() if r.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    servers = {i: _COLUMNS[h] for i, h in enumerate(header) if h in _COLUMNS}
    out: dict[str, dict[str, bool]] = {s: {} for s in servers.values()}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = re.search(r"\(`(\w+)`\)", cells[0])
        assert name, row
        for i, server in servers.items():
            assert cells[i] in ("yes", "no"), row
            out[server][name.group(1)] = cells[i] == "yes"
    return out


def test_the_documented_capabilities_are_what_the_server_does(s3_server: Any) -> None:
    table = documented()[s3_server.name]
    assert table == s3_server.caps.table()


def _multipart_put(s3: Any, bucket: str, key: str, data: bytes, part: int) -> str:
    mp = s3.create_multipart_upload(Bucket=bucket, Key=key)
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


def test_a_multipart_etag_at_an_unusual_part_size_needs_head_part_number(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """6 MiB parts (no common tool's size): only ``HEAD ?partNumber=1`` tells the layout. Where the
    store answers it, the download is verified; where it does not (and the ETag is in S3's
    multipart form, with no md5chksum), it is downloaded, byte-exact, and visibly unverified."""
    data = os.urandom(13 * MiB)
    _multipart_put(s3, bucket, "six.bin", data, 6 * MiB)
    target = tmp_path / "six.bin"
    obj = make_obj(f"s3://{bucket}/six.bin", local_path=target)
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        obj.download()
    assert target.read_bytes() == data
    listed = s3.head_object(Bucket=bucket, Key="six.bin")["ETag"].strip('"')
    verifiable = s3_server.caps.part_head or not listed.endswith("-3")
    assert (obj.last_result.unverified == 0) is verifiable, caplog.text
    assert ("not verified" in caplog.text) is not verifiable
    if not verifiable:
        assert "layout" in caplog.text  # says why: the part layout is unknown
