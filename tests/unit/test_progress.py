"""apply's progress line: silent for short work, files/bytes/rate on stderr for long work."""

from __future__ import annotations

import io
import time

from s3lync.commands import Progress
from s3lync.plan import Operation, OpKind


def op(size: int) -> Operation:
    return Operation(OpKind.CREATE, "f", "k/f", "/tmp/f", size, "missing locally")


def test_short_work_prints_nothing() -> None:
    out = io.StringIO()
    p = Progress(out, total_ops=2, total_bytes=2048, tty=False)
    p.on_done(op=op(1024), error=None)
    p.on_done(op=op(1024), error=None)
    p.finish()
    assert out.getvalue() == ""


def test_long_work_reports_files_bytes_rate_and_failures() -> None:
    out = io.StringIO()
    p = Progress(out, total_ops=3, total_bytes=3 * 1024 * 1024, tty=False)
    p.start = p.last = time.monotonic() - 10  # ten seconds into the run
    p.on_done(op=op(1024 * 1024), error=None)
    p.on_done(op=op(1024 * 1024), error="boom")
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1/3 files, 1.0 MiB/3.0 MiB, ")
    assert lines[0].endswith("/s")
    assert lines[-1].startswith("2/3 files, 1.0 MiB/3.0 MiB") and lines[-1].endswith("1 failed")


def test_terminal_progress_rewrites_one_line() -> None:
    out = io.StringIO()
    p = Progress(out, total_ops=1, total_bytes=10, tty=True)
    p.start = p.last = time.monotonic() - 5
    p.on_done(op=op(10), error=None)
    p.finish()
    text = out.getvalue()
    assert text.startswith("\r1/1 files") and text.endswith("\n")
