"""`apply --progress` and S3LYNC_PROGRESS: a bad flag fails before anything moves, a bad variable
is ignored with a warning."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_bad_environment_value_is_ignored_with_one_warning_naming_it(manifest: Path) -> None:
    """As for every S3LYNC_* value: a bad one is ignored with a warning naming it (README)."""
    proc = subprocess.run(
        [sys.executable, "-m", "s3lync", "-f", str(manifest), "apply"],
        env={**os.environ, "S3LYNC_PROGRESS": "fancy"},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "ignoring S3LYNC_PROGRESS='fancy': not one of auto, bar, plain, none\n"
    assert (manifest.parent / "out" / "a.txt").read_bytes() == b"a"


def test_the_flag_wins_and_bad_flags_are_usage_errors(
    manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_PROGRESS", "fancy")
    ok = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--progress", "plain"])
    assert ok.exit_code == 0, ok.output
    assert (manifest.parent / "out" / "a.txt").read_bytes() == b"a"
    bad = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--progress", "fancy"])
    assert bad.exit_code == 2 and "'fancy' is not one of" in bad.stderr
