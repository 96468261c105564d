"""The crash log: an unexpected exception leaves a report to attach to an issue, not a bare traceback."""

from __future__ import annotations

import platform
import shlex
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from s3lync._version import __version__
from s3lync.redact import redact
from s3lync.settings import Config

EXIT_CRASH = 3


def crash_path() -> Path:
    """Where the last crash is written: ``<cache>/state/crash.log``."""
    return Config.get_state_dir() / "crash.log"


def write_crash_log(exc: BaseException, argv: Sequence[str]) -> Path:
    """Write version, Python, platform, the (redacted) command line and the traceback; the path."""
    path = crash_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    text = (
        f"### s3lync crash, {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
        f"s3lync version: {__version__}\n"
        f"python version: {sys.version.split()[0]} ({sys.executable})\n"
        f"platform: {platform.platform()}\n"
        f"command line: {redact(shlex.join(argv))}\n\n"
        f"{redact(tb)}"
    )
    path.write_text(text, encoding="utf-8")
    return path
