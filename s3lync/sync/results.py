"""What executing plans did: per operation (OpResult), per mapping (MappingResult), per library call (SyncResult)."""

from __future__ import annotations

from dataclasses import dataclass, field

from s3lync.errors import TransferCancelledError
from s3lync.sync.integrity import Status, Verdict
from s3lync.sync.plan import MappingPlan, Operation, OpKind


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


@dataclass(frozen=True)
class OpResult:
    """How one operation ended."""

    op: Operation
    error: str | None = None
    error_type: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    # How the transferred bytes were checked (None: not a transfer, or check_hash off).
    verdict: Verdict | None = None

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.error is None

    @classmethod
    def failed(cls, op: Operation, exc: BaseException) -> OpResult:
        """``op`` ended with ``exc`` (its message and class name kept for reports)."""
        return cls(op, str(exc), type(exc).__name__, exc)

    @classmethod
    def cancelled(cls, op: Operation, bucket: str) -> OpResult:
        """``op`` did not run, or did not finish, because the run was cancelled."""
        return cls.failed(
            op, TransferCancelledError(f"{op.kind.value} s3://{bucket}/{op.key}: cancelled")
        )


@dataclass
class MappingResult:
    """What executing one MappingPlan did."""

    plan: MappingPlan
    results: list[OpResult] = field(default_factory=list)
    # Set when transfers stopped starting because the endpoint stopped answering (breaker.py).
    halted: Exception | None = None

    @property
    def not_tried(self) -> list[OpResult]:
        """Operations never started because their endpoint was given up on."""
        return [r for r in self.results if r.error_type == "EndpointDownError"]

    @property
    def failed(self) -> list[OpResult]:
        """Operations that failed (deletions skipped after a failure count here too)."""
        return [r for r in self.results if not r.ok]

    def done(self, *kinds: OpKind) -> list[OpResult]:
        """Successful operations of these kinds."""
        return [r for r in self.results if r.ok and r.op.kind in kinds]

    @property
    def transferred(self) -> int:
        """Files created or updated."""
        return len(self.done(OpKind.CREATE, OpKind.UPDATE))

    @property
    def transferred_bytes(self) -> int:
        """Bytes moved."""
        return sum(r.op.size for r in self.done(OpKind.CREATE, OpKind.UPDATE))

    @property
    def deleted(self) -> int:
        """Files deleted on the target side."""
        return len(self.done(OpKind.DELETE))

    @property
    def unverified(self) -> list[OpResult]:
        """Transfers that succeeded but could not be verified (each was logged at WARNING)."""
        return [
            r
            for r in self.results
            if r.ok and r.verdict is not None and r.verdict.status is Status.UNVERIFIED
        ]

    @property
    def verified(self) -> int:
        """Transfers whose bytes were proven equal on both sides."""
        return sum(1 for r in self.results if r.ok and r.verdict is not None and r.verdict.verified)
