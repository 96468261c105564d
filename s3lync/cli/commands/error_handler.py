"""The one error handler: an exception becomes a message on stderr and an exit code."""

from __future__ import annotations

import json
import sys
import traceback

from s3lync.cli import crash, render
from s3lync.cli.commands.context import EXIT_ERROR, EXIT_INTERRUPTED, Context
from s3lync.errors import ManifestError, S3lyncError
from s3lync.redact import redact_url


def handle_error(ctx: Context, exc: BaseException) -> int:
    """Map an exception to a message on stderr and an exit code (the one error handler).

    With ``--json`` the error is also the one document on stdout (docs/json-output.md).
    """
    if ctx.json_errors:
        ctx.echo(json.dumps(render.error_document(exc), indent=2))
    if isinstance(exc, KeyboardInterrupt):
        # The bar is erased first; then what was done and what was not.
        done = ctx.progress.interrupted() if ctx.progress is not None else ""
        ctx.warn(f"interrupted: {done}; run it again to finish" if done else "interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, ManifestError):
        for line in exc.errors:
            ctx.warn(f"error: {line}")
        return EXIT_ERROR
    if isinstance(exc, S3lyncError):
        ctx.warn(f"error: {exc}")
        return EXIT_ERROR
    # A bug: the user gets one line and a report to attach, not a bare traceback.
    try:
        path = crash.write_crash_log(exc, sys.argv)
    except OSError as write_error:
        ctx.warn("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
        ctx.warn(f"error: unexpected {type(exc).__name__} (no crash log: {write_error})")
        return crash.EXIT_CRASH
    ctx.warn(
        f"error: unexpected {type(exc).__name__}: {redact_url(str(exc))}\n"
        f"This is a bug in s3lync. A crash log was written to {path}; please attach it to a bug report"
    )
    return crash.EXIT_CRASH
