"""s3lync: use Amazon S3 like a local file system, and keep S3 <-> local mappings in sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3lync._version import __version__

if TYPE_CHECKING:
    from s3lync.api.aio import AsyncS3Object
    from s3lync.api.s3object import S3Object
    from s3lync.errors import (
        ApplyRefusedError,
        BadResponseError,
        ConfigError,
        HashMismatchError,
        InvalidURIError,
        LocalPathNotFoundError,
        LockedError,
        ManifestError,
        ObjectExistsError,
        PlanStaleError,
        RemoteNotFoundError,
        S3lyncError,
        S3ObjectError,
        SyncError,
        TransferCancelledError,
        UnsafeKeyError,
        UnverifiedError,
    )
    from s3lync.mapping import Direction, Mapping
    from s3lync.settings import Config, Settings
    from s3lync.sync.plan import Plan
    from s3lync.sync.policy import ApplyPolicy
    from s3lync.sync.results import SyncResult

__all__ = [
    "ApplyPolicy",
    "ApplyRefusedError",
    "AsyncS3Object",
    "BadResponseError",
    "Config",
    "ConfigError",
    "Direction",
    "HashMismatchError",
    "InvalidURIError",
    "LocalPathNotFoundError",
    "LockedError",
    "ManifestError",
    "Mapping",
    "ObjectExistsError",
    "Plan",
    "PlanStaleError",
    "RemoteNotFoundError",
    "S3Object",
    "S3ObjectError",
    "S3lyncError",
    "Settings",
    "SyncError",
    "SyncResult",
    "TransferCancelledError",
    "UnsafeKeyError",
    "UnverifiedError",
    "__version__",
]


# Where each public name lives, imported on first use: importing s3lync (or a layer below it,
# such as the store or the manifest) loads none of them.
_HOME = {
    "AsyncS3Object": "s3lync.api.aio",
    "S3Object": "s3lync.api.s3object",
    "Direction": "s3lync.mapping",
    "Mapping": "s3lync.mapping",
    "Config": "s3lync.settings",
    "Settings": "s3lync.settings",
    "Plan": "s3lync.sync.plan",
    "ApplyPolicy": "s3lync.sync.policy",
    "SyncResult": "s3lync.sync.results",
}


def __getattr__(name: str) -> Any:
    import importlib

    home = _HOME.get(name) or ("s3lync.errors" if name.endswith("Error") else None)
    if home is not None and name in __all__:
        value = getattr(importlib.import_module(home), name)
    elif name.isidentifier() and not name.startswith("__"):
        # A submodule (s3lync.errors after a bare `import s3lync`), as when the package
        # imported its layers eagerly.
        from importlib.util import find_spec

        if find_spec(f"s3lync.{name}") is None:
            raise AttributeError(f"module 's3lync' has no attribute {name!r}")
        value = importlib.import_module(f"s3lync.{name}")
    else:
        raise AttributeError(f"module 's3lync' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
