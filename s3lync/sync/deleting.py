"""Deletions, once every transfer of a mapping worked: stored objects in one batch, each under
the condition the plan saw (guards.delete_conditions), local files one by one inside the root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3lync.errors import S3lyncError
from s3lync.localfs import scan as local
from s3lync.mapping import Direction
from s3lync.sync import guards
from s3lync.sync.plan import MappingPlan, Operation
from s3lync.sync.results import OpResult

if TYPE_CHECKING:
    from s3lync.sync.executor import Executor


def run_deletes(ex: Executor, mplan: MappingPlan, deletes: list[Operation]) -> list[OpResult]:
    """Delete what the plan says: objects in one batch (each under its condition), local files one by one."""
    out: list[OpResult] = []
    if mplan.mapping.direction is Direction.UPLOAD:
        for op in deletes:
            ex.emit("on_start", op=op, mapping=mplan)
        checked = guards.delete_conditions(ex.remote, mplan.bucket, deletes, ex.max_workers)
        conditions = {k: v for k, v in checked.items() if isinstance(v, str)}
        failed = ex.remote.delete_many(mplan.bucket, list(conditions), conditions)
        for op in deletes:
            refused = checked[op.key]
            if isinstance(refused, S3lyncError):
                out.append(OpResult.failed(op, refused))
                ex.emit("on_done", op=op, mapping=mplan, error=str(refused))
                continue
            msg = failed.get(op.key)
            out.append(OpResult(op, msg, "SyncError" if msg else None))
            ex.emit("on_done", op=op, mapping=mplan, error=msg)
        return out
    for op in deletes:
        ex.emit("on_start", op=op, mapping=mplan)
        err: str | None = None
        etype: str | None = None
        try:
            ex.guard(mplan, op)
            guards.check_local_target(op)
            local.remove_file(op.local_path)
        except FileNotFoundError:
            pass
        except S3lyncError as exc:
            err, etype = str(exc), type(exc).__name__
        except OSError as exc:
            err, etype = f"delete {op.local_path}: {exc.strerror or exc}", "S3ObjectError"
        out.append(OpResult(op, err, etype))
        ex.emit("on_done", op=op, mapping=mplan, error=err)
    return out
