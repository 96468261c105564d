"""The CLI's commands as plain functions returning exit codes, one module per command.

``context`` holds what they share (the :class:`Context`, exit codes, loading the manifest);
``running`` is one apply or sync run, mapping by mapping; ``error_handler`` maps exceptions to
exit codes. Like the rest of ``cli`` they may import every layer below it.
"""

from s3lync.cli.commands.applying import apply
from s3lync.cli.commands.context import ApplyOptions, Context
from s3lync.cli.commands.error_handler import handle_error
from s3lync.cli.commands.locking import lock
from s3lync.cli.commands.manifest_file import init, schema, validate
from s3lync.cli.commands.planning import plan
from s3lync.cli.commands.syncing import sync

__all__ = [
    "ApplyOptions",
    "Context",
    "apply",
    "handle_error",
    "init",
    "lock",
    "plan",
    "schema",
    "sync",
    "validate",
]
