"""apply's progress on stderr, fed by the engine's subscriber calls."""

from __future__ import annotations

from typing import Any, TextIO

from s3lync.api import progress as progress_mod


class Progress:
    """apply's progress on stderr: one live bar on a terminal, plain lines in logs, or nothing.

    ``mode`` is ``--progress`` (``auto``, ``bar``, ``plain``, ``none``; None: ``S3LYNC_PROGRESS``,
    else ``auto``, which is ``bar`` when ``tty``). The drawing is in :mod:`s3lync.api.progress`.
    """

    def __init__(
        self,
        stream: TextIO,
        total_ops: int,
        total_bytes: int,
        tty: bool,
        mode: str | None = None,
        interval: float = 5.0,
    ) -> None:
        self.mode = progress_mod.resolve_mode(mode, tty)
        self.impl: progress_mod.Counter
        if self.mode == "bar":
            self.impl = progress_mod.Bar(stream)
        elif self.mode == "plain":
            # ``interval``: S3LYNC_PROGRESS_INTERVAL; a person watching a terminal wants more.
            self.impl = progress_mod.PlainLines(
                stream, interval=min(interval, 0.5) if tty else interval
            )
        else:
            self.impl = progress_mod.Counter()
        self.impl.begin(total_ops, total_bytes)

    def add(self, ops: int, nbytes: int) -> None:
        """Grow the totals by one more mapping's work (mappings are planned one at a time)."""
        self.impl.grow(ops, nbytes)

    def on_start(self, **kwargs: Any) -> None:
        """Unused: bytes are counted as they move, files when they end."""

    def on_progress(self, **kwargs: Any) -> None:
        """Count bytes of a transfer in flight."""
        self.impl.on_progress(**kwargs)

    def on_done(self, **kwargs: Any) -> None:
        """Count one finished operation (and maybe redraw)."""
        self.impl.on_done(**kwargs)

    def pause(self) -> None:
        """Erase the bar while other output is printed (it returns with the next ``add``)."""
        self.impl.pause()

    def finish(self) -> None:
        """Erase the bar, or print the last plain line."""
        self.impl.finish()

    def interrupted(self) -> str:
        """Erase the bar (Ctrl-C); what was done and what was not."""
        self.impl.finish()
        self.impl.wipe()
        return self.impl.summary()
