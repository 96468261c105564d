"""``s3lync plan``: read-only, shows what apply would do, optionally saves it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from typing import Any

from s3lync.cli import render
from s3lync.cli.commands.context import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    Context,
    LockMode,
    read_manifest,
)
from s3lync.cli.commands.locking import use_lock
from s3lync.errors import S3lyncError
from s3lync.sync import shard as sharding
from s3lync.sync.plan import OpKind, Plan
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.run import RunOptions
from s3lync.sync.shard import Shard


def plan(
    ctx: Context,
    names: Sequence[str] = (),
    *,
    out_file: str | None = None,
    as_json: bool = False,
    detailed_exitcode: bool = False,
    verbose: bool = False,
    policy: ApplyPolicy | None = None,
    detail: str = render.DETAIL_FULL,
    shard: Shard | None = None,
    lock_mode: LockMode = "auto",
) -> int:
    """Read-only: show what apply would do (``shard``: that shard's share; ``policy``: the rules
    the plan is judged by, e.g. an empty source allowed); optionally save it."""
    if out_file:
        # Before anything is listed: a plan that cannot be saved is not worth making.
        folder = os.path.dirname(os.path.abspath(out_file))
        if not os.path.isdir(folder):
            raise S3lyncError(f"plan --out {out_file}: the folder {folder} does not exist")
    manifest = read_manifest(ctx)
    mappings = manifest.select(list(names))
    path = str(manifest.path)
    the_lock = use_lock(path, manifest.mappings, mappings, lock_mode)
    options = RunOptions(
        policy=policy or ApplyPolicy(),
        shard=shard,
        lock=the_lock,
        verbose=verbose,
    )
    with ctx.engine() as engine:
        the_plan = engine.plan(mappings, options, manifest=path)
    if out_file:
        write_plan(the_plan, out_file)
    if as_json:
        doc = render.plan_document(the_plan)
        doc.update(shard_document(the_plan, shard))
        ctx.echo(json.dumps(doc, indent=2))
    else:
        if shard is not None:
            ctx.echo(f"Shard {shard.label}: this shard's share of the work only.\n")
        ctx.echo(render.render_plan(the_plan, color=ctx.color, verbose=verbose, detail=detail))
        if out_file:
            ctx.echo(f"\nSaved the plan to {out_file}; run `s3lync apply {out_file}` to apply it.")
    messages = [line for mp in the_plan.mappings for line in render.problem_messages(mp)]
    for line in messages:
        ctx.warn(f"error: {line}")
    if messages:
        return EXIT_ERROR
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def write_plan(the_plan: Plan, out_file: str) -> None:
    """Save ``the_plan`` as JSON to ``out_file``, whole or not at all (a temporary, renamed)."""
    tmp = out_file + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            the_plan.write_json(f)
        os.replace(tmp, out_file)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise S3lyncError(
            f"plan --out {out_file}: cannot write the plan: {exc.strerror or exc}"
        ) from None


def shard_document(the_plan: Plan, shard: Shard | None) -> dict[str, Any]:
    """The ``--json`` shard fields: the shard planned, or how the work would split over N shards."""
    if shard is not None:
        return {"shard": {"index": shard.index + 1, "total": shard.total}}
    work = [
        (o.rel, o.size if o.kind in (OpKind.CREATE, OpKind.UPDATE) else 0)
        for o in the_plan.operations
    ]
    return {"shard": None, "shard_preview": sharding.split(work)}
