"""The CLI's commands as plain functions returning exit codes, one module per command.

``context`` holds what they share (the :class:`Context`, exit codes, loading the manifest);
``running`` is one apply or sync run, mapping by mapping; ``error_handler`` maps exceptions to
exit codes. Like the rest of ``cli`` they may import every layer below it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s3lync.cli.commands.applying import apply
    from s3lync.cli.commands.context import ApplyOptions, Context
    from s3lync.cli.commands.error_handler import handle_error
    from s3lync.cli.commands.locking import lock
    from s3lync.cli.commands.manifest_file import init, schema, validate
    from s3lync.cli.commands.planning import plan
    from s3lync.cli.commands.syncing import sync

# Each command's module, imported when the command runs: `s3lync --help` loads none of them.
_MODULES = {
    "apply": "applying",
    "ApplyOptions": "context",
    "Context": "context",
    "handle_error": "error_handler",
    "lock": "locking",
    "init": "manifest_file",
    "schema": "manifest_file",
    "validate": "manifest_file",
    "plan": "planning",
    "sync": "syncing",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
