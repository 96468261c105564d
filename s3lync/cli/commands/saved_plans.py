"""A saved plan (``plan --out``) read back and checked against a fresh plan before apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s3lync.errors import PlanStaleError, S3lyncError
from s3lync.mapping import Direction
from s3lync.sync import shard as sharding
from s3lync.sync.engine import Engine, feeder
from s3lync.sync.plan import MappingPlan, Operation, Plan
from s3lync.sync.run import RunOptions
from s3lync.sync.shard import Shard


def read_plan(plan_file: str) -> Plan:
    """The saved plan in ``plan_file`` (S3lyncError naming the file when it cannot be read)."""
    try:
        text = Path(plan_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise S3lyncError(f"cannot read plan file {plan_file}: {exc.strerror}") from exc
    return Plan.from_json(text)


def _op_fingerprint(o: Operation) -> tuple[Any, ...]:
    return (o.kind, o.rel, o.size, o.source_etag, o.source_mtime_ns)


def plan_differences(saved: MappingPlan, fresh: MappingPlan) -> list[str]:
    """What changed between a saved plan and a fresh one of the same mapping."""
    old = {(o.kind, o.rel): o for o in saved.operations}
    new = {(o.kind, o.rel): o for o in fresh.operations}
    diffs: list[str] = []
    for k in sorted(old.keys() - new.keys(), key=lambda k: k[1]):
        diffs.append(f"{k[0].symbol} {k[1] or saved.root_key}: no longer needed")
    for k in sorted(new.keys() - old.keys(), key=lambda k: k[1]):
        diffs.append(f"{k[0].symbol} {k[1] or fresh.root_key}: new since the plan was made")
    for k in sorted(old.keys() & new.keys(), key=lambda k: k[1]):
        if _op_fingerprint(old[k]) != _op_fingerprint(new[k]):
            diffs.append(f"{k[0].symbol} {k[1] or saved.root_key}: source changed since the plan")
        elif old[k].target_state != new[k].target_state:
            # The target side counts too: applying would overwrite or delete what someone
            # changed after the plan was reviewed.
            what = (
                "the remote object changed since the plan"
                if saved.mapping.direction is Direction.UPLOAD
                else "the local file changed since the plan"
            )
            diffs.append(f"{k[0].symbol} {k[1] or saved.root_key}: {what}")
    return diffs


def saved_shard(saved: Plan | None, plan_file: str | None, shard: Shard | None) -> Shard | None:
    """The shard to apply: a saved plan's own (``--shard``, if given, must agree), else ``shard``."""
    if saved is None:
        return shard
    label = saved.meta.get("shard")
    if shard is not None and label != shard.label:
        raise S3lyncError(
            f"the saved plan {plan_file} was made for shard {label or 'none'}, "
            f"not --shard {shard.label}"
        )
    return sharding.parse_shard(label) if label else None


def check_saved(
    engine: Engine, options: RunOptions, saved: Plan, plan_file: str
) -> dict[int, MappingPlan]:
    """Refuse a stale saved plan before anything changes; returns the fresh plans it took.

    A mapping whose source an earlier mapping of the plan writes cannot be checked before that one
    runs: it is planned again just before it is applied.
    """
    mappings = [mp.mapping for mp in saved.mappings]
    fresh: dict[int, MappingPlan] = {}
    diffs: list[str] = []
    for i, old in enumerate(saved.mappings):
        if feeder(mappings[:i], old.mapping) is not None:
            continue
        new = engine.plan_mapping(old.mapping, options)
        fresh[i] = new
        diffs += [f"{old.mapping.label}: {d}" for d in plan_differences(old, new)]
    if diffs:
        shown = "; ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else "")
        raise PlanStaleError(
            f"the saved plan {plan_file} is stale; nothing was changed. {shown}. "
            "Run `s3lync plan --out` again."
        )
    return fresh
