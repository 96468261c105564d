"""The ``s3lync`` command line (click): parses arguments and dispatches to ``commands``."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s3lync._version import __version__
from s3lync.cli import commands, logs, options
from s3lync.errors import S3lyncError
from s3lync.settings import Settings
from s3lync.sync.policy import ApplyPolicy, DeleteLimit
from s3lync.sync.shard import resolve as resolve_shard

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


DELETE_LIMIT = options.DeleteLimitType()


def _color(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _run(fn: Callable[[commands.Context], int]) -> None:
    cctx = click.get_current_context()
    ctx: commands.Context = cctx.obj
    # Every command with --json promises one document on stdout, an error included.
    ctx.json_errors = bool(cctx.params.get("as_json"))
    try:
        code = fn(ctx)
    except KeyboardInterrupt as exc:
        code = commands.handle_error(ctx, exc)
        # Temporaries are already gone (Executor.abort); a worker stuck in a socket read would
        # otherwise hold the interpreter's exit until its read timeout.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    except Exception as exc:
        code = commands.handle_error(ctx, exc)
    sys.exit(code)


@click.group(context_settings=_CTX)
@click.option(
    "-f",
    "--file",
    "manifest",
    default="s3lync.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The manifest to read.",
)
@click.option("--profile", default=None, help="AWS profile (overrides the manifest).")
@click.option(
    "--endpoint-url",
    default=None,
    callback=lambda c, p, v: options.checked_endpoint(v),
    help="S3 endpoint URL (overrides the manifest).",
)
@click.option("--region", default=None, help="AWS region (overrides the manifest).")
@click.option(
    "-v",
    "--verbose",
    "verbosity",
    count=True,
    help="Log to stderr: -v INFO, -vv DEBUG (also S3LYNC_DEBUG=1, S3LYNC_LOG_LEVEL).",
)
@click.version_option(__version__, prog_name="s3lync")
@click.pass_context
def cli(
    cctx: click.Context,
    manifest: Path,
    profile: str | None,
    endpoint_url: str | None,
    region: str | None,
    verbosity: int,
) -> None:
    """Keep S3 and local folders in sync from a declarative s3lync.yaml (plan, then apply)."""
    settings = Settings.from_env()
    logs.install(verbosity, settings.log_level)
    cctx.meta["s3lync.verbosity"] = verbosity
    cctx.obj = commands.Context(
        settings=settings,
        manifest=manifest,
        profile=profile,
        endpoint_url=endpoint_url,
        region=region,
        color=_color(sys.stdout),
        confirm=lambda q: click.confirm(q, default=False, err=True),
        interactive=sys.stdin.isatty(),
    )


@cli.command()
@options.global_options
@options.verbose_option
def validate() -> None:
    """Check the manifest against its schema and semantic rules (exit 0 or 1)."""
    _run(commands.validate)


@cli.command()
@options.global_options
@click.argument("names", nargs=-1)
@click.option("--out", "out_file", default=None, help="Save the plan as JSON for `apply PLAN`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 on error."
)
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged files.")
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete the target.")
@options.detail_options
@options.scope_options
def plan(
    names: tuple[str, ...],
    out_file: str | None,
    as_json: bool,
    detailed_exitcode: bool,
    verbose: bool,
    allow_empty_source: bool,
    summary: bool,
    quiet: bool,
    shard_spec: str | None,
    shard_total: int | None,
    locked: bool,
    no_lock: bool,
) -> None:
    """Show what apply would change, without changing anything."""
    options.check_shard_total(shard_spec, shard_total)
    _run(
        lambda c: commands.plan(
            c,
            names,
            out_file=out_file,
            as_json=as_json,
            detailed_exitcode=detailed_exitcode,
            verbose=verbose,
            policy=ApplyPolicy(allow_empty_source=allow_empty_source),
            detail=options.detail(summary, quiet),
            shard=resolve_shard(shard_spec, shard_total, c.settings.environ),
            lock_mode=_lock_mode(locked, no_lock),
        )
    )


@cli.command()
@options.global_options
@options.verbose_option
@click.argument("targets", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Allow deletions without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--max-delete",
    type=DELETE_LIMIT,
    default=None,
    help="Refuse plans deleting more than N or N% files.",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None, help="Parallel transfers.")
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete the target.")
@click.option(
    "--require-verified",
    is_flag=True,
    help="Fail any transfer that cannot be verified (as check_hash: strict).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another apply of the same manifest to finish.",
)
@options.detail_options
@options.scope_options
@options.progress_option
def apply(
    targets: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    as_json: bool,
    max_delete: DeleteLimit,
    jobs: int | None,
    allow_empty_source: bool,
    require_verified: bool,
    lock_timeout: float,
    summary: bool,
    quiet: bool,
    shard_spec: str | None,
    shard_total: int | None,
    locked: bool,
    no_lock: bool,
    progress: str | None,
) -> None:
    """Apply the manifest (or a saved PLAN.json): transfer, then delete what the plan says."""
    options.check_shard_total(shard_spec, shard_total)
    plan_file = None
    names = list(targets)
    if names and names[-1].endswith(".json"):
        plan_file = names.pop()

    def go(c: commands.Context) -> int:
        opts = commands.ApplyOptions(
            plan_file=plan_file,
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
            policy=ApplyPolicy(
                max_delete=max_delete,
                allow_empty_source=allow_empty_source,
                require_verified=require_verified,
            ),
            jobs=jobs,
            progress_tty=sys.stderr.isatty(),
            lock_timeout=lock_timeout,
            detail=options.detail(summary, quiet),
            shard=resolve_shard(shard_spec, shard_total, c.settings.environ),
            lock_mode=_lock_mode(locked, no_lock),
            progress=progress,
        )
        return commands.apply(c, names, opts)

    _run(go)


def _lock_mode(locked: bool, no_lock: bool) -> str:
    if locked and no_lock:
        raise S3lyncError("--locked and --no-lock contradict each other; pass one")
    return "require" if locked else "ignore" if no_lock else "auto"


@cli.command()
@options.global_options
@options.verbose_option
@click.argument("names", nargs=-1)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 2 if the remote drifted from s3lync.lock, 0 if not.",
)
@click.option(
    "--no-checksums",
    is_flag=True,
    help="Skip the one HEAD per object that reads its S3 additional checksum.",
)
def lock(names: tuple[str, ...], check: bool, no_checksums: bool) -> None:
    """Pin every object of the download mappings in s3lync.lock (beside the manifest)."""
    _run(lambda c: commands.lock(c, names, check=check, checksums=not no_checksums))


@cli.command(cls=options.FiltersInOrder)
@options.global_options
@options.verbose_option
@click.argument("source")
@click.argument("target")
@click.option("--delete", is_flag=True, help="Delete target files missing from the source.")
@click.option("--allow-missing", is_flag=True, help="An empty or missing source is not an error.")
@click.option(
    "--exclude",
    multiple=True,
    type=options.RegexType(),
    help="Regex of relative paths to leave out.",
)
@click.option(
    "--include",
    multiple=True,
    type=options.RegexType("include"),
    help="Regex of relative paths to take back in (filters in order; the last match wins).",
)
@click.option(
    "--exclude-glob", multiple=True, metavar="GLOB", help="Glob to leave out, as aws --exclude."
)
@click.option(
    "--include-glob", multiple=True, metavar="GLOB", help="Glob to take in, as aws --include."
)
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Allow deletions without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--max-delete",
    type=DELETE_LIMIT,
    default=None,
    help="Refuse plans deleting more than N or N% files.",
)
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None, help="Parallel transfers.")
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete the target.")
@click.option(
    "--require-verified",
    is_flag=True,
    help="Fail any transfer that cannot be verified (as check_hash: strict).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another sync to the same target to finish.",
)
@options.detail_options
@click.option(
    "--shard",
    "shard_spec",
    default=None,
    metavar="I/N|auto",
    help="Only this shard's share (1-based I of N, or 'auto' from CI/cluster variables).",
)
@click.option(
    "--shard-total",
    type=click.IntRange(1),
    default=None,
    help="With --shard auto on a Kubernetes Indexed Job: the number of completions.",
)
@options.progress_option
@options.upload_options
def sync(
    source: str,
    target: str,
    delete: bool,
    allow_missing: bool,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
    exclude_glob: tuple[str, ...],
    include_glob: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    as_json: bool,
    max_delete: DeleteLimit,
    jobs: int | None,
    allow_empty_source: bool,
    require_verified: bool,
    lock_timeout: float,
    summary: bool,
    quiet: bool,
    shard_spec: str | None,
    shard_total: int | None,
    progress: str | None,
    **upload: Any,
) -> None:
    """Sync SOURCE to TARGET without a manifest (one is s3://bucket/prefix, the other local).

    The same engine and safety rules as a one-mapping s3lync.yaml: only what differs moves,
    deletions (--delete) need --yes without a terminal, a missing source is an error. Filters
    (--exclude, --include, --exclude-glob, --include-glob) are read in the order given and the
    last one that matches a path decides, as in `aws s3 sync`; what they leave out is neither
    transferred nor deleted.
    """
    given = options.ordered_filters(
        exclude=exclude, include=include, exclude_glob=exclude_glob, include_glob=include_glob
    )
    extra_args = options.extra_args(upload)

    def go(c: commands.Context) -> int:
        opts = commands.ApplyOptions(
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
            policy=ApplyPolicy(
                max_delete=max_delete,
                allow_empty_source=allow_empty_source,
                require_verified=require_verified,
            ),
            jobs=jobs,
            progress_tty=sys.stderr.isatty(),
            lock_timeout=lock_timeout,
            detail=options.detail(summary, quiet),
            shard=resolve_shard(shard_spec, shard_total, c.settings.environ),
            progress=progress,
        )
        return commands.sync(
            c,
            source,
            target,
            delete=delete,
            allow_missing=allow_missing,
            opts=opts,
            filters=given,
            extra_args=extra_args,
        )

    _run(go)


@cli.command()
@options.global_options
@options.verbose_option
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
def init(force: bool) -> None:
    """Write a commented starter s3lync.yaml."""
    _run(lambda c: commands.init(c, force=force))


@cli.command()
@click.option("--path", "as_path", is_flag=True, help="Print the schema file's path instead.")
def schema(as_path: bool) -> None:
    """Print the JSON Schema of s3lync.yaml (for editors: `s3lync schema > s3lync.schema.json`)."""
    _run(lambda c: commands.schema(c, path=as_path))


def main() -> None:
    """Console-script entry point; it ends the process (in-process callers use ``cli``).

    Before the interpreter exits it freezes the collector's view of what is alive (below): a
    caller that caught the SystemExit and went on would keep those objects frozen."""
    try:
        cli(prog_name="s3lync")
    finally:
        # The process ends next. What lives now lives to the end, and the interpreter's exit
        # would walk it in several full collections (~15 ms, the modules' objects). Frozen,
        # the collector skips it; the run's own garbage is collected first, finalizers and all.
        gc.collect()
        gc.freeze()
