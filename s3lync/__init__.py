"""s3lync: use Amazon S3 like a local file system, and keep S3 <-> local mappings in sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from s3lync._version import __version__
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

if TYPE_CHECKING:
    from s3lync.api.aio import AsyncS3Object
    from s3lync.api.s3object import S3Object

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


def __getattr__(name: str) -> Any:
    # The faces are imported on first use, so importing one layer (s3lync.sync.planner, the
    # manifest) does not load the store and its HTTP stack, and plain scripts never pay for asyncio.
    if name == "S3Object":
        from s3lync.api.s3object import S3Object

        return S3Object
    if name == "AsyncS3Object":
        from s3lync.api.aio import AsyncS3Object

        return AsyncS3Object
    raise AttributeError(f"module 's3lync' has no attribute {name!r}")
