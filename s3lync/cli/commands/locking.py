"""``s3lync lock`` (and ``--check``), and the lock plan and apply honour."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lync.api import progress as progress_mod
from s3lync.cli.commands.context import EXIT_CHANGES, EXIT_OK, Context, LockMode
from s3lync.errors import S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.sync.lockname import lock_path

if TYPE_CHECKING:
    # Imported where a lock is read or written: a plan without a lock file loads none of them.
    from s3lync.sync import lockfile

log = logging.getLogger(__name__)


def use_lock(
    manifest_path: str | os.PathLike[str],
    mappings: Sequence[Any],
    selected: Sequence[Any],
    mode: LockMode = "auto",
) -> lockfile.LockFile | None:
    """The lock plan/apply must honour: loaded and checked against the manifest, or None."""
    if mode == "ignore":
        return None
    path = lock_path(manifest_path)
    if not path.exists() and mode != "require":
        return None
    from s3lync.sync import lockfile, lockrules

    if not path.exists():
        raise lockfile.LockFileError(
            f"--locked: {path} does not exist; run 's3lync lock' to write it"
        )
    lf = lockfile.load(path)
    lockrules.check_manifest(lf, mappings, selected, manifest_path)
    return lf


def lock(
    ctx: Context, names: Sequence[str] = (), *, check: bool = False, checksums: bool = True
) -> int:
    """Write s3lync.lock for the download mappings, or (``check``) exit 2 if the remote drifted."""
    from s3lync.manifest.loader import load_manifest
    from s3lync.sync import lockfile, lockrules, lockwrite

    manifest = load_manifest(ctx.manifest)
    selected = manifest.select(list(names))
    uploads = [m.label for m in selected if m.direction is not Direction.DOWNLOAD]
    if names and uploads:
        raise S3lyncError(
            f"mapping {', '.join(map(repr, uploads))} is an upload; only download mappings are locked"
        )
    downloads = [m for m in selected if m.direction is Direction.DOWNLOAD]
    if not downloads:
        raise S3lyncError(f"{ctx.manifest}: no download mappings to lock")
    path = lock_path(manifest.path)
    if check:
        return _lock_check(ctx, manifest, selected, downloads, path)
    keep = _kept(manifest.mappings, names, downloads, path)
    digest = lockfile.manifest_digest(manifest.mappings)
    with ctx.engine() as engine:
        fresh = [
            lockrules.pin(engine.remote(m), m, checksums=checksums, workers=engine.max_workers)
            for m in downloads
        ]
        # Written as the objects are listed: a large mapping is never held whole.
        changed, totals = lockwrite.write(path, digest, [*keep, *fresh])
    count = sum(t.object_count for t in totals[len(keep) :])
    size = sum(t.total_bytes for t in totals[len(keep) :])
    versioned = [e.label for e in fresh if e.versioned]
    ctx.echo(
        f"{'Wrote' if changed else 'Unchanged:'} {path.name}: {len(fresh)} mapping(s) locked, "
        f"{count} object(s), {progress_mod.format_size(size)}"
        + (f"; versions pinned for {', '.join(versioned)}" if versioned else "")
    )
    return EXIT_OK


def _kept(
    mappings: Sequence[Mapping], names: Sequence[str], downloads: Sequence[Mapping], path: Path
) -> list[lockfile.LockedMapping]:
    """The entries of the lock in ``path`` that this run keeps: the download mappings not being
    locked again, when the manifest still names them with the same s3 and exclude."""
    from s3lync.sync import lockfile

    others = [m for m in mappings if m.direction is Direction.DOWNLOAD and m not in downloads]
    # Nothing to keep and no names to refuse a broken lock for: the old lock (maybe large) is
    # replaced whole, never read.
    if not path.exists() or (not others and not names):
        return []
    try:
        old = lockfile.load(path)
    except lockfile.LockFileError as exc:
        if names:
            raise lockfile.LockFileError(
                f"{exc.errors[0]} (run 's3lync lock' without names to rewrite it whole)",
                exc.errors,
            ) from None
        log.warning("rewriting %s: %s", path, exc.errors[0])
        return []
    keep: list[lockfile.LockedMapping] = []
    for m in others:
        lm = old.find(m)
        if lm is not None and lm.s3 == m.s3_uri and lm.exclude == m.filter_key:
            keep.append(lm)
    return keep


def _lock_check(
    ctx: Context,
    manifest: Any,
    selected: Sequence[Any],
    downloads: Sequence[Any],
    path: Path,
) -> int:
    from s3lync.sync import lockfile, lockrules

    lf = lockfile.load(path)
    lockrules.check_manifest(lf, manifest.mappings, selected, manifest.path)
    drifted = 0
    with ctx.engine() as engine:
        for m in downloads:
            lm = lf.find(m)
            assert lm is not None  # check_manifest refused unlocked mappings
            now = lockrules.take(engine.remote(m), m, checksums=False)
            if now.versioned != lm.versioned:
                ctx.echo(
                    f"{m.label}: the bucket is {'now' if now.versioned else 'no longer'} versioned"
                )
                drifted += 1
                continue
            changed, removed, added = lockrules.drift(lm, now.pinned())
            if not (changed or removed or added):
                continue
            drifted += 1
            ctx.echo(
                f"{m.label}: {len(changed)} changed, {len(added)} added, {len(removed)} deleted "
                f"since {path.name} was written"
            )
            lines = (
                [f"  ~ {k}" for k in changed]
                + [f"  + {k}" for k in added]
                + [f"  - {k}" for k in removed]
            )
            for line in lines[:20]:
                ctx.echo(line)
            if len(lines) > 20:
                ctx.echo(f"  (+{len(lines) - 20} more)")
    if drifted:
        ctx.echo(f"{path.name} is out of date: run 's3lync lock' to accept the changes.")
        return EXIT_CHANGES
    count = sum(len(e.objects) for e in lf.mappings if any(e is lf.find(m) for m in downloads))
    ctx.echo(f"{path.name} matches the remote ({len(downloads)} mapping(s), {count} object(s)).")
    return EXIT_OK
