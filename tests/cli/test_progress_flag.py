"""`apply --progress` and S3LYNC_PROGRESS: bad values fail before anything moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture
def manifest(s3: Any, s3_server: Any, bucket: str, tmp_path: Path) -> Path:
    s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    path = tmp_path / "s3lync.yaml"
    path.write_text(
        f"version: 1\ndefaults:\n  endpoint_url: {s3_server.endpoint_url}\nmappings:\n"
        f"  - s3: s3://{bucket}/p/\n    local: out\n    direction: download\n"
    )
    return path


def test_bad_environment_value_is_one_line_and_changes_nothing(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_PROGRESS", "fancy")
    result = CliRunner().invoke(cli, ["-f", str(manifest), "apply"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: progress mode 'fancy' is not one of auto, bar, plain, none (--progress or "
        "S3LYNC_PROGRESS)"
    ]
    assert not (manifest.parent / "out").exists()


def test_the_flag_wins_and_bad_flags_are_usage_errors(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_PROGRESS", "fancy")
    ok = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--progress", "plain"])
    assert ok.exit_code == 0, ok.output
    assert (manifest.parent / "out" / "a.txt").read_bytes() == b"a"
    bad = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--progress", "fancy"])
    assert bad.exit_code == 2 and "'fancy' is not one of" in bad.stderr
