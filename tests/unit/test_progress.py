"""Progress: counters fed by executor events, plain lines for logs, a bar that erases itself."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from s3lync import S3lyncError
from s3lync.api.progress import (
    Bar,
    Counter,
    PlainLines,
    for_library,
    format_duration,
    resolve_mode,
)
from s3lync.cli.commands.progress import Progress
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


class Lines(io.StringIO):
    """A stream that tells when its n-th line was written."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        self.wrote.set()
        return n

    def next_line(self) -> None:
        self.wrote.clear()
        assert self.wrote.wait(30), "no progress line came"


def test_plain_lines_come_on_a_timer_even_while_nothing_moves() -> None:
    """One large file, no file finished, then a stall: a line still comes every interval."""
    out = Lines()
    p = PlainLines(out, interval=0.05)
    big = op(10 * 1024 * 1024)
    p.begin(1, big.size)
    p.on_progress(op=big, bytes_transferred=3 * 1024 * 1024)
    out.next_line()
    out.next_line()  # nothing moved in between: the timer writes anyway
    p.on_done(op=big, error=None)
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("0/1 files, 3.0 MiB/10.0 MiB, "), lines
    assert lines[1].startswith("0/1 files, 3.0 MiB/10.0 MiB, "), lines
    assert lines[-1].startswith("1/1 files, 10.0 MiB/10.0 MiB, "), lines
    assert all(re.search(r", (\?|[\d.]+) (B|KiB|MiB|GiB)/s, ETA \S+", x) for x in lines), lines
    assert "iB/s" not in out.getvalue().replace("KiB/s", "").replace("MiB/s", "").replace(
        "GiB/s", ""
    )


def test_paused_plain_lines_stay_quiet() -> None:
    out = Lines()
    p = PlainLines(out, interval=0.02)
    p.begin(0, 0)  # nothing known yet: planning
    time.sleep(0.2)
    p.grow(1, 100)
    out.next_line()
    p.pause()
    out.seek(0, io.SEEK_END)
    size = out.tell()
    time.sleep(0.2)
    p.finish()
    # Paused: at most one line from a tick that was already under way, then only the last one.
    assert len(out.getvalue()[size:].splitlines()) <= 2


def test_rate_and_eta_come_from_bytes_as_they_move() -> None:
    c = Counter()
    c.begin(1, 100 * 1024 * 1024)
    big = op(100 * 1024 * 1024)
    c.on_progress(op=big, bytes_transferred=20 * 1024 * 1024)
    now = c.start + 10.0  # 20 MiB in 10 s: 2 MiB/s, 40 s left
    line = c.line(now)
    assert line == "0/1 files, 20.0 MiB/100.0 MiB, 2.0 MiB/s, ETA 00:40", line
    # A later stall: the rate falls to zero over the window and the ETA is unknown.
    c.rate(now + 20)
    assert c.line(now + 40).endswith("0 B/s, ETA ?")


def test_bytes_taken_back_on_a_retry_and_a_failed_file_counts_none() -> None:
    c = Counter()
    c.begin(2, 300)
    a, b = op(100), op(200)
    c.on_progress(op=a, bytes_transferred=80)
    c.on_progress(op=b, bytes_transferred=150)
    c.on_progress(op=b, bytes_transferred=-150)  # the attempt failed; s3transfer-style take-back
    c.on_progress(op=b, bytes_transferred=250)  # more than its size is never counted
    assert c.bytes_done == 80 + 200
    c.on_done(op=a, error="boom")
    c.on_done(op=b, error=None)
    assert (c.files_done, c.bytes_done, c.failed) == (2, 200, 1)
    assert c.summary() == "1 of 2 file(s) done (200 B of 300 B), 1 failed, 0 not done"


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
    assert re.search(r" (\?|[\d.]+) (B|KiB|MiB)/s ETA ", drawn), drawn
    assert "iB/s" not in re.sub(r"[KMG]iB/s", "", drawn), drawn
    # Erased: what is left on the line after the last carriage return is blank.
    assert out.getvalue().rsplit("\r", 1)[-1].strip() == ""
    assert "\x1b" not in out.getvalue()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "00:00"), (42.4, "00:42"), (3599, "59:59"), (3723, "1:02:03"), (4e6, ">99h")],
)
def test_durations(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


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
    # Settings warns about a bad S3LYNC_PROGRESS and ignores it; a bad mode given in code is an error.
    monkeypatch.setenv("S3LYNC_PROGRESS", "fancy")
    assert Settings.from_env().progress == ""
    with pytest.raises(S3lyncError, match="'fancy' is not one of auto, bar, plain, none"):
        resolve_mode("fancy", True)


def test_library_progress_values() -> None:
    assert for_library(False) is None
    assert for_library(None) is None
    assert isinstance(for_library(lambda *a: None), Counter)
    with pytest.raises(TypeError):
        for_library("yes")  # type: ignore[arg-type]


def test_plain_lines_come_every_5_s_by_default_and_the_interval_is_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("S3LYNC_PROGRESS_INTERVAL", raising=False)
    settings = Settings.from_env()
    p = Progress(io.StringIO(), 0, 0, tty=False, mode="plain", interval=settings.progress_interval)
    assert isinstance(p.impl, PlainLines) and p.impl.interval == 5.0
    monkeypatch.setenv("S3LYNC_PROGRESS_INTERVAL", "2")
    assert Settings.from_env().progress_interval == 2.0
