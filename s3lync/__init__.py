"""s3lync: use Amazon S3 like a local file system, and keep S3 <-> local mappings in sync."""

from __future__ import annotations

from ._version import __version__
from .config import Config
from .errors import (
    HashMismatchError,
    InvalidURIError,
    ManifestError,
    S3lyncError,
    S3ObjectError,
    SyncError,
)
from .plan import Direction, Mapping, Plan
from .s3object import S3Object

__all__ = [
    "Config",
    "Direction",
    "HashMismatchError",
    "InvalidURIError",
    "ManifestError",
    "Mapping",
    "Plan",
    "S3Object",
    "S3ObjectError",
    "S3lyncError",
    "SyncError",
    "__version__",
]
