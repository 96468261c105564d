"""s3lync: use Amazon S3 like a local file system, and keep S3 <-> local mappings in sync."""

from __future__ import annotations

from ._version import __version__
from .config import Config
from .errors import (
    ApplyRefusedError,
    HashMismatchError,
    InvalidURIError,
    LocalPathNotFoundError,
    LockedError,
    ManifestError,
    PlanStaleError,
    RemoteNotFoundError,
    S3lyncError,
    S3ObjectError,
    SyncError,
    TransferCancelledError,
    UnsafeKeyError,
)
from .plan import Direction, Mapping, Plan
from .results import SyncResult
from .s3object import S3Object

__all__ = [
    "ApplyRefusedError",
    "Config",
    "Direction",
    "HashMismatchError",
    "InvalidURIError",
    "LocalPathNotFoundError",
    "LockedError",
    "ManifestError",
    "Mapping",
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
    "__version__",
]
