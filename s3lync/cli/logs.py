"""The CLI's logging: one stderr handler for s3lync (and botocore at DEBUG), secrets filtered out.

The library only ever gets loggers; installing a handler is the application's choice, here the CLI's.
"""

from __future__ import annotations

import logging
import sys

from s3lync.redact import redact
from s3lync.settings import Config

# botocore's own DEBUG output (request headers, signing steps) goes through the same filter.
_LOGGERS = ("s3lync", "botocore")


class RedactFilter(logging.Filter):
    """Rewrites each record's message without secrets (tokens, signatures, credentials)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, its message redacted (formatted once here, so args cannot leak)."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RedactFilter())
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Emit to the current stderr."""
        self.stream = sys.stderr
        super().emit(record)


def level_for(verbose: int, configured_level: str | None = None) -> int:
    """``-v``: INFO, ``-vv``: DEBUG; else ``S3LYNC_DEBUG`` / ``S3LYNC_LOG_LEVEL``, else WARNING."""
    if verbose >= 2:
        return logging.DEBUG
    configured = logging.getLevelName(configured_level or Config.get_log_level())
    assert isinstance(configured, int)
    return min(configured, logging.INFO) if verbose == 1 else configured


def install(verbose: int = 0, configured_level: str | None = None) -> None:
    """Install the stderr handler (once) at the level ``verbose`` and the environment ask for."""
    # The CLI passes the level its Settings already read: reading the environment again would
    # warn a second time about a bad S3LYNC_LOG_LEVEL.
    level = level_for(verbose, configured_level)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
            logger.removeHandler(old)
        if name == "botocore" and level > logging.DEBUG:
            continue  # botocore speaks only at DEBUG; its warnings reach Python's last resort
        logger.setLevel(level)
        logger.addHandler(_StderrHandler())
