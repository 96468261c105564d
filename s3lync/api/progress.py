"""Progress of a run: thread-safe counters fed by executor events, shown as a bar or plain lines.

The executor emits ``on_start``/``on_progress``/``on_done`` events (bytes as they move, files as
they end); this module turns them into numbers (files and bytes done out of the plan's totals)
for a callback, a terminal bar (tqdm, imported only when a bar is shown) or periodic plain lines
for logs. It never prints unless asked to.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from s3lync.sync.plan import Operation, OpKind

#: ``callback(files_done, files_total, bytes_done, bytes_total)``
ProgressCallback = Callable[[int, int, int, int], None]

MODES = ("auto", "bar", "plain", "none")


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is a terminal (a bar can redraw itself there)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def resolve_mode(mode: str | None, tty: bool, default: str = "") -> str:
    """``auto`` (or unset) becomes ``bar`` on a terminal and ``plain`` elsewhere.

    ``mode`` comes from ``--progress``; ``default`` is ``S3LYNC_PROGRESS`` (Settings.progress).
    """
    chosen = (mode or default or "auto").strip().lower()
    if chosen not in MODES:
        from s3lync.errors import S3lyncError

        raise S3lyncError(
            f"progress mode {chosen!r} is not one of {', '.join(MODES)} (--progress or "
            "S3LYNC_PROGRESS)"
        )
    if chosen == "auto":
        return "bar" if tty else "plain"
    return chosen


class Counter:
    """Counts bytes as they move and finished operations; an executor subscriber."""

    # Rate over the last few seconds: a stall shows at once, a burst does not linger.
    WINDOW = 10.0

    def __init__(
        self, files_total: int = 0, bytes_total: int = 0, callback: ProgressCallback | None = None
    ) -> None:
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = 0
        self.bytes_done = 0
        self.failed = 0
        self.callback = callback
        self.start = time.monotonic()
        self._lock = threading.Lock()
        # Bytes moved so far by each operation in flight (counted in bytes_done up to its size).
        self._moving: dict[int, int] = {}
        # (monotonic time, bytes_done) samples of the last WINDOW seconds, for the rate.
        self._samples: deque[tuple[float, int]] = deque()

    def begin(self, files_total: int, bytes_total: int) -> None:
        """Set the totals once the plan is known (and report the zero point)."""
        with self._lock:
            self.files_total, self.bytes_total = files_total, bytes_total
            self.start = time.monotonic()
            self._samples.clear()
            self._changed()

    def grow(self, files: int, nbytes: int) -> None:
        """Add one more mapping's work to the totals (apply plans mappings one at a time)."""
        with self._lock:
            self.files_total += files
            self.bytes_total += nbytes
            self._grown()

    def _grown(self) -> None:
        """Called under the lock after the totals grew."""

    def pause(self) -> None:
        """Step aside while other output is written (a bar erases itself until the next grow)."""

    def on_start(self, **kwargs: Any) -> None:
        """Unused: bytes are counted as they move, files when they end."""

    def on_progress(self, *, op: Operation, bytes_transferred: int, **kwargs: Any) -> None:
        """Count bytes of a transfer in flight (at most its planned size; negative: taken back)."""
        with self._lock:
            before = self._moving.get(id(op), 0)
            after = before + bytes_transferred
            self._moving[id(op)] = after
            self.bytes_done += _clamp(after, op.size) - _clamp(before, op.size)
            self._changed()

    def on_done(self, *, op: Operation, error: str | None, **kwargs: Any) -> None:
        """Count one finished operation: a transfer's bytes are now exactly its size, or none."""
        with self._lock:
            moved = _clamp(self._moving.pop(id(op), 0), op.size)
            self.files_done += 1
            self.bytes_done -= moved
            if error is None and op.kind in (OpKind.CREATE, OpKind.UPDATE):
                self.bytes_done += op.size
            if error is not None:
                self.failed += 1
            self._changed()

    def _changed(self) -> None:
        """Called under the lock after every change."""
        if self.callback is not None:
            self.callback(self.files_done, self.files_total, self.bytes_done, self.bytes_total)

    def finish(self) -> None:
        """End of the run."""

    def wipe(self) -> None:
        """After an interrupt: clear what the terminal echoed on the bar's line (``^C``)."""

    def rate(self, now: float | None = None) -> float | None:
        """Bytes per second over the last WINDOW seconds (None in the first half second)."""
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, self.bytes_done))
        while len(samples) > 2 and samples[1][0] <= now - self.WINDOW:
            samples.popleft()
        # Before the window fills, the run's start is the oldest point.
        t0, b0 = samples[0] if samples[0][0] <= now - self.WINDOW else (self.start, 0)
        if now - t0 < 0.5:
            return None
        return max(0.0, (self.bytes_done - b0) / (now - t0))

    def eta(self, rate: float | None) -> str:
        """Time left at ``rate``: ``00:42``, ``1:02:03``, or ``?`` (nothing moving yet)."""
        left = max(0, self.bytes_total - self.bytes_done)
        if not left:
            return "00:00"
        if not rate:
            return "?"
        return format_duration(left / rate)

    def line(self, now: float | None = None) -> str:
        """``12/500 files, 1.2 MiB/5.0 MiB, 3.4 MiB/s, ETA 00:42[, 2 failed]``."""
        rate = self.rate(now)
        return (
            f"{self.files_done}/{self.files_total} files, {format_size(self.bytes_done)}/"
            f"{format_size(self.bytes_total)}, {format_rate(rate)}, ETA {self.eta(rate)}"
            + (f", {self.failed} failed" if self.failed else "")
        )

    def summary(self) -> str:
        """What was done and what was not, for an interrupted run."""
        with self._lock:
            left = max(0, self.files_total - self.files_done)
            return (
                f"{self.files_done - self.failed} of {self.files_total} file(s) done "
                f"({format_size(self.bytes_done)} of {format_size(self.bytes_total)})"
                + (f", {self.failed} failed" if self.failed else "")
                + f", {left} not done"
            )


class PlainLines(Counter):
    """A plain line every ``interval`` seconds, for logs (CI), written by a timer: a stalled or
    single large transfer still shows it is alive. Silent for work shorter than one interval."""

    def __init__(
        self, stream: TextIO, files_total: int = 0, bytes_total: int = 0, interval: float = 5.0
    ) -> None:
        super().__init__(files_total, bytes_total)
        self.stream = stream
        self.interval = interval
        self.printed = False
        self._paused = True  # nothing to report until some work is known
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def begin(self, files_total: int, bytes_total: int) -> None:
        """Set the totals; the clock and the timer start now."""
        super().begin(files_total, bytes_total)
        with self._lock:
            self._paused = not files_total
        if self._timer is None:
            self._timer = threading.Thread(target=self._tick, name="s3lync-progress", daemon=True)
            self._timer.start()

    def _grown(self) -> None:
        self._paused = not self.files_total

    def pause(self) -> None:
        """No lines while the next mapping is planned and its plan printed."""
        with self._lock:
            self._paused = True

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if not self._paused:
                    self._write(time.monotonic())

    def _write(self, now: float) -> None:
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self.printed = True

    def finish(self) -> None:
        """Stop the timer; a last line, if any was printed."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
        with self._lock:
            if self.printed:
                self._write(time.monotonic())


class Bar(Counter):
    """One live bar on a terminal (tqdm): files, bytes, rate, ETA, failures; erased at the end.

    tqdm draws and erases with carriage returns and padding only (``leave=False``), so the
    summary printed afterwards is all that stays on the screen. Rate and ETA are s3lync's own
    (bytes over the last seconds, in the summary's binary units).
    """

    def __init__(
        self, stream: TextIO, files_total: int = 0, bytes_total: int = 0, delay: float = 1.0
    ) -> None:
        super().__init__(files_total, bytes_total)
        self.stream = stream
        self.delay = delay  # short work shows no bar at all
        self._bar: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._paused = False

    def begin(self, files_total: int, bytes_total: int) -> None:
        """Open the bar with the plan's totals."""
        with self._lock:
            self.files_total, self.bytes_total = files_total, bytes_total
            self.start = time.monotonic()
            self._samples.clear()
            self._open()
        if self._ticker is None:
            # tqdm redraws only when updated: the ticker keeps rate and ETA alive while one
            # large or stalled file holds every update back.
            self._ticker = threading.Thread(target=self._tick, name="s3lync-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            # Nothing to show while planning (no work known yet) or while paused.
            if self.files_total and time.monotonic() - self.start >= self.delay:
                self.refresh()

    def _open(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = _tqdm_class()(
            total=max(self.bytes_total, 1),
            file=self.stream,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.2,
            delay=self.delay,
            bar_format="{desc} {bar} {speed}",
            desc=self._desc(),
        )
        self._bar.speed = self._speed()

    def _grown(self) -> None:
        self._paused = False
        if self._bar is not None:
            self._bar.total = max(self.bytes_total, 1)

    def pause(self) -> None:
        """Erase the bar until the next mapping's work is added (its plan is printed meanwhile)."""
        with self._lock:
            self._paused = True
            if self._bar is not None:
                self._bar.clear()

    def _desc(self) -> str:
        return (
            f"{self.files_done}/{self.files_total} files, {format_size(self.bytes_done)}/"
            f"{format_size(self.bytes_total)}"
        )

    def _speed(self) -> str:
        rate = self.rate()
        return f"{format_rate(rate)} ETA {self.eta(rate)}" + (
            f", {self.failed} failed" if self.failed else ""
        )

    def _changed(self) -> None:
        if self._bar is None:
            self._open()
        if self._paused:
            return
        bar = self._bar
        bar.set_description_str(self._desc(), refresh=False)
        # Bytes move the bar; a delete or a folder moves only the file count.
        bar.update(self.bytes_done - bar.n)
        if self.bytes_total == 0:
            bar.refresh()

    def refresh(self) -> None:
        """Redraw now, with a fresh rate and ETA (tqdm otherwise redraws only when updated)."""
        with self._lock:
            if self._bar is not None and not self._paused:
                self._bar.speed = self._speed()
                self._bar.refresh()

    def finish(self) -> None:
        """Erase the bar."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def wipe(self) -> None:
        """Blank the whole line: the ``^C`` the terminal echoed lies beyond the bar's end."""
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return
        self.stream.write("\r" + " " * (width - 1) + "\r")
        self.stream.flush()


def _tqdm_class() -> Any:
    """tqdm with one more field for its bar_format, ``{speed}``: our rate, ETA and failures
    (tqdm's own rate reads "iB/s" below 1 KiB, and its postfix field adds a comma)."""
    from tqdm import tqdm

    class Drawn(tqdm):  # type: ignore[misc]
        speed = ""

        @property
        def format_dict(self) -> dict[str, Any]:
            d = {**super().format_dict, "speed": self.speed}
            if d.get("ncols"):
                # A few columns free: the terminal echoes "^C" after the bar, and a full-width
                # line would wrap, leaving the bar above where the erase happens.
                d["ncols"] = max(20, d["ncols"] - 4)
            return d

    return Drawn


def for_library(progress: bool | ProgressCallback | None) -> Counter | None:
    """The subscriber for ``S3Object(progress=...)``: a bar on a terminal stderr, a callback, or none."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return Bar(sys.stderr) if is_terminal(sys.stderr) else None
    if callable(progress):
        return Counter(callback=progress)
    raise TypeError("progress must be True, False or a callable(files_done, files_total, ...)")


def _clamp(n: int, size: int) -> int:
    return max(0, min(n, size))


def format_rate(rate: float | None) -> str:
    """``3.4 MiB/s`` (binary units, as sizes), or ``? B/s`` before anything can be said."""
    return "? B/s" if rate is None else f"{format_size(int(rate))}/s"


def format_duration(seconds: float) -> str:
    """``00:42``, ``59:59``, ``1:02:03``; ``>99h`` beyond four days."""
    total = int(seconds + 0.5)
    if total >= 100 * 3600:
        return ">99h"
    h, rest = divmod(total, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def format_size(n: int) -> str:
    """Human size in binary units: ``0 B``, ``512 B``, ``1.5 KiB``, ``45.6 MiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
