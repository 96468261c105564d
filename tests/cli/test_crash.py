"""An unexpected exception: one line on stderr naming the crash log, the log's contents, exit 3."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3lync import __version__
from s3lync.cli import commands
from s3lync.cli.main import cli


def test_a_bug_writes_a_crash_log_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    argv = ["s3lync", "validate", "s3://b/k?X-Amz-Signature=sekrit123&a=1"]
    monkeypatch.setattr(sys, "argv", argv)

    def boom(ctx: commands.Context) -> int:
        return {}["no such key"]  # type: ignore[no-any-return]

    # The one test-only patch: an internal function fails as a bug would.
    monkeypatch.setattr(commands, "validate", boom)
    r = CliRunner().invoke(cli, ["validate"], catch_exceptions=False)

    assert r.exit_code == 3
    log = tmp_path / "cache" / "s3lync" / "state" / "crash.log"
    assert str(log) in r.stderr
    assert "unexpected KeyError" in r.stderr
    assert "Traceback" not in r.stderr
    text = log.read_text(encoding="utf-8")
    assert f"s3lync version: {__version__}" in text
    assert f"python version: {sys.version.split()[0]}" in text
    assert "platform: " in text
    assert "command line: s3lync validate" in text and "X-Amz-Signature=***" in text
    assert "sekrit123" not in text
    assert "Traceback (most recent call last)" in text and "KeyError: 'no such key'" in text


def test_s3lync_errors_keep_their_message_and_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    r = CliRunner().invoke(
        cli, ["-f", str(tmp_path / "missing.yaml"), "validate"], catch_exceptions=False
    )
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and "crash" not in r.stderr
    assert not (tmp_path / "cache" / "s3lync" / "state" / "crash.log").exists()
