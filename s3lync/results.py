"""What one library sync did, as plain frozen data (``S3Object.last_result``)."""

from __future__ import annotations

from dataclasses import dataclass

from .executor import MappingResult


@dataclass(frozen=True)
class SyncResult:
    """Counts of one ``download()`` / ``upload()``: files moved, deleted, left alone, unverified."""

    transferred: int = 0
    deleted: int = 0
    unchanged: int = 0
    unverified: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, result: MappingResult) -> SyncResult:
        """Summarise an executed mapping."""
        return cls(
            transferred=result.transferred,
            deleted=result.deleted,
            unchanged=result.plan.unchanged,
            unverified=len(result.unverified),
            bytes=result.transferred_bytes,
        )
