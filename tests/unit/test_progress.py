"""Progress: counters fed by executor events, plain lines for logs, a bar that erases itself."""

from __future__ import annotations

import io
import time

import pytest

from s3lync import S3lyncError
from s3lync.api.progress import Bar, Counter, PlainLines, for_library, resolve_mode
from s3lync.cli.commands import Progress
from s3lync.settings import Settings
from s3lync.sync.plan import Operation, OpKind


def op(size: int, kind: OpKind = OpKind.CREATE) -> Operation:
    return Operation(kind, "f", "k/f", "/tmp/f", size, "missing locally")


def test_short_work_prints_nothing() -> None:
    out = io.StringIO()
    p = Progress(out, total_ops=2, total_bytes=2048, tty=False)
    p.on_done(op=op(1024), error=None)
    p.on_done(op=op(1024), error=None)
    p.finish()
    assert p.mode == "plain"
    assert out.getvalue() == ""


def test_long_work_reports_files_bytes_rate_and_failures() -> None:
    out = io.StringIO()
    p = PlainLines(out, interval=5.0)
    p.begin(3, 3 * 1024 * 1024)
    p.start = p.last = time.monotonic() - 10  # ten seconds into the run
    p.on_done(op=op(1024 * 1024), error=None)
    p.on_done(op=op(1024 * 1024), error="boom")
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1/3 files, 1.0 MiB/3.0 MiB, ")
    assert lines[0].endswith("/s")
    assert lines[-1].startswith("2/3 files, 1.0 MiB/3.0 MiB") and lines[-1].endswith("1 failed")


def test_callback_gets_files_and_bytes_done_out_of_totals() -> None:
    seen: list[tuple[int, int, int, int]] = []
    c = Counter(callback=lambda *a: seen.append(a))
    c.begin(3, 300)
    c.on_done(op=op(100), error=None)
    c.on_done(op=op(200), error="failed")  # a failed transfer moved no bytes
    c.on_done(op=op(0, OpKind.DELETE), error=None)
    assert seen == [(0, 3, 0, 300), (1, 3, 100, 300), (2, 3, 100, 300), (3, 3, 100, 300)]


def test_bar_draws_counts_and_erases_itself() -> None:
    out = io.StringIO()
    bar = Bar(out, delay=0)
    bar.begin(2, 2048)
    bar.on_done(op=op(1024), error="boom")
    bar.on_done(op=op(1024), error=None)
    bar.refresh()
    drawn = out.getvalue()
    bar.finish()
    assert "2/2 files" in drawn and "1 failed" in drawn and "ETA" in drawn
    # Erased: what is left on the line after the last carriage return is blank.
    assert out.getvalue().rsplit("\r", 1)[-1].strip() == ""
    assert "\x1b" not in out.getvalue()


@pytest.mark.parametrize(
    ("mode", "env", "tty", "expected"),
    [
        (None, "", True, "bar"),
        (None, "", False, "plain"),
        ("auto", "none", True, "bar"),  # the flag wins over the environment
        (None, "plain", True, "plain"),
        (None, "NONE", False, "none"),
        ("bar", "", False, "bar"),
    ],
)
def test_mode_from_flag_then_environment(
    monkeypatch: pytest.MonkeyPatch, mode: str | None, env: str, tty: bool, expected: str
) -> None:
    monkeypatch.setenv("S3LYNC_PROGRESS", env)
    assert resolve_mode(mode, tty, Settings.from_env().progress) == expected


def test_bad_mode_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_PROGRESS", "fancy")
    with pytest.raises(S3lyncError, match="'fancy' is not one of auto, bar, plain, none"):
        resolve_mode(None, True, Settings.from_env().progress)


def test_library_progress_values() -> None:
    assert for_library(False) is None
    assert for_library(None) is None
    assert isinstance(for_library(lambda *a: None), Counter)
    with pytest.raises(TypeError):
        for_library("yes")  # type: ignore[arg-type]
