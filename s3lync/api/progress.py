"""Progress of a run: thread-safe counters fed by executor events, shown as a bar or plain lines.

The executor emits ``on_start``/``on_progress``/``on_done`` events (bytes as they move, files as
they end); this module turns them into numbers (files and bytes done out of the plan's totals)
for a callback, a terminal bar (tqdm, imported only when a bar is shown) or periodic plain lines
for logs. It never prints unless asked to.
"""

from __future__ import annotations

import sys
import threading
import time
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
    """Counts finished operations and their bytes; an executor subscriber."""

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

    def begin(self, files_total: int, bytes_total: int) -> None:
        """Set the totals once the plan is known (and report the zero point)."""
        with self._lock:
            self.files_total, self.bytes_total = files_total, bytes_total
            self.start = time.monotonic()
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

    def line(self, now: float | None = None) -> str:
        """``12/500 files, 1.2 MiB/5.0 MiB, 3.4 MiB/s[, 2 failed]``."""
        elapsed = max((now or time.monotonic()) - self.start, 1e-6)
        return (
            f"{self.files_done}/{self.files_total} files, {format_size(self.bytes_done)}/"
            f"{format_size(self.bytes_total)}, {format_size(int(self.bytes_done / elapsed))}/s"
            + (f", {self.failed} failed" if self.failed else "")
        )


class PlainLines(Counter):
    """A plain line every few seconds, for logs (CI); silent for work shorter than a second."""

    def __init__(
        self, stream: TextIO, files_total: int = 0, bytes_total: int = 0, interval: float = 5.0
    ) -> None:
        super().__init__(files_total, bytes_total)
        self.stream = stream
        self.interval = interval
        self.last = self.start
        self.printed = False

    def begin(self, files_total: int, bytes_total: int) -> None:
        """Set the totals; the clock starts now."""
        super().begin(files_total, bytes_total)
        self.last = self.start

    def _changed(self) -> None:
        now = time.monotonic()
        if now - self.start >= 1.0 and now - self.last >= self.interval:
            self.last = now
            self._write(now)

    def _write(self, now: float) -> None:
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self.printed = True

    def finish(self) -> None:
        """A last line, if any was printed."""
        with self._lock:
            if self.printed:
                self._write(time.monotonic())


class Bar(Counter):
    """One live bar on a terminal (tqdm): files, bytes, rate, ETA, failures; erased at the end.

    tqdm draws and erases with carriage returns and padding only (``leave=False``), so the
    summary printed afterwards is all that stays on the screen.
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
        from tqdm import tqdm

        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(
            total=max(self.bytes_total, 1),
            file=self.stream,
            unit="iB",  # with 1024 as divisor: KiB, MiB, as in the summary
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.2,
            delay=self.delay,
            bar_format="{desc} {bar} {rate_fmt} ETA {remaining}{postfix}",
            desc=self._desc(),
        )

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

    def _changed(self) -> None:
        if self._bar is None:
            self._open()
        if self._paused:
            return
        bar = self._bar
        bar.set_description_str(self._desc(), refresh=False)
        if self.failed:
            bar.set_postfix_str(f"{self.failed} failed", refresh=False)
        # Bytes move the bar; a delete or a folder moves only the file count.
        bar.update(self.bytes_done - bar.n)
        if self.bytes_total == 0:
            bar.refresh()

    def refresh(self) -> None:
        """Redraw now (tqdm otherwise redraws at most five times a second)."""
        with self._lock:
            if self._bar is not None and not self._paused:
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
