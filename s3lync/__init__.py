"""s3lync: use Amazon S3 like a local file system, and keep S3 <-> local mappings in sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import Config
from .errors import (
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
from .plan import Direction, Mapping, Plan
from .results import SyncResult
from .s3object import S3Object

if TYPE_CHECKING:
    from .aio import AsyncS3Object

__all__ = [
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
    "SyncError",
    "SyncResult",
    "TransferCancelledError",
    "UnsafeKeyError",
    "UnverifiedError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # AsyncS3Object is imported on first use: plain scripts and the CLI never pay for asyncio.
    if name == "AsyncS3Object":
        from .aio import AsyncS3Object

        return AsyncS3Object
    raise AttributeError(f"module 's3lync' has no attribute {name!r}")
