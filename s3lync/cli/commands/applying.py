"""``s3lync apply``: a manifest's mappings or a saved plan, under the run lock."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from s3lync.cli.commands.context import ApplyOptions, Context, load_selected
from s3lync.cli.commands.locking import use_lock
from s3lync.cli.commands.running import run_mappings
from s3lync.cli.commands.saved_plans import read_plan, saved_shard
from s3lync.errors import S3lyncError
from s3lync.mapping import Mapping
from s3lync.sync.engine import run_lock
from s3lync.sync.plan import Plan

if TYPE_CHECKING:
    from s3lync.manifest.loader import Manifest
    from s3lync.sync import lockfile


def apply(ctx: Context, names: Sequence[str] = (), opts: ApplyOptions | None = None) -> int:
    """Plan (or load a saved plan), check the safety rules, execute, summarise."""
    opts = opts or ApplyOptions()
    source = _lock_source(ctx, opts.plan_file)
    if opts.shard is not None:
        # Shards of one manifest run side by side; two runs of the same shard do not.
        source += f" (shard {opts.shard.label})"
    with run_lock(source, opts.lock_timeout, ctx.settings):
        return _apply_locked(ctx, names, opts)


def _lock_source(ctx: Context, plan_file: str | None) -> str:
    """One lock per manifest (a saved plan locks the manifest it was made from)."""
    source = os.path.abspath(ctx.manifest)
    if plan_file:
        try:
            source = read_plan(plan_file).manifest or source
        except S3lyncError:
            pass  # the run itself reports an unreadable plan file
    return source


def _apply_inputs(
    ctx: Context, names: Sequence[str], plan_file: str | None
) -> tuple[Plan | Manifest, list[Mapping], str | None]:
    """The saved plan or the manifest, the mappings to run in order, and the manifest path."""
    if not plan_file:
        manifest, mappings = load_selected(ctx, names)
        return manifest, list(mappings), str(manifest.path)
    saved = read_plan(plan_file)
    if names:
        raise S3lyncError("give either mapping names or a saved plan file, not both")
    return saved, [mp.mapping for mp in saved.mappings], saved.manifest


def _apply_lock(
    source: Plan | Manifest, opts: ApplyOptions, mappings: Sequence[Mapping]
) -> lockfile.LockFile | None:
    """The lock apply honours: the saved plan's, or the manifest's (checked with it)."""
    if not isinstance(source, Plan):
        # The manifest the mappings came from: read once, so both answer for the same text.
        return use_lock(source.path, source.mappings, mappings, opts.lock_mode)
    from s3lync.sync import lockfile

    if opts.lock_mode != "ignore" and source.meta.get("lock"):
        # The plan was made under this lock: it is checked again under it.
        return lockfile.load(Path(source.meta["lock"]))
    if opts.lock_mode == "require":
        raise lockfile.LockFileError(
            f"--locked: the saved plan {opts.plan_file} was not made from a lock file"
        )
    return None


def _apply_locked(ctx: Context, names: Sequence[str], opts: ApplyOptions) -> int:
    source, mappings, manifest_path = _apply_inputs(ctx, names, opts.plan_file)
    saved = source if isinstance(source, Plan) else None
    shard = saved_shard(saved, opts.plan_file, opts.shard)
    the_lock = _apply_lock(source, opts, mappings)
    return run_mappings(ctx, mappings, manifest_path, opts, saved, shard, the_lock)
