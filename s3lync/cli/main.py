"""The ``s3lync`` command line (click): parses arguments and dispatches to ``commands``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s3lync import filters
from s3lync._version import __version__
from s3lync.cli import commands, logs, render
from s3lync.errors import ConfigError, S3lyncError
from s3lync.settings import Settings
from s3lync.sync.policy import ApplyPolicy, DeleteLimit, parse_max_delete
from s3lync.sync.shard import ShardError, parse_shard
from s3lync.sync.shard import resolve as resolve_shard

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class DeleteLimitType(click.ParamType[DeleteLimit]):
    """``--max-delete``: a whole number or a percentage, checked before any I/O (exit 2)."""

    name = "N|N%"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> DeleteLimit:
        """The value as given, once it parses; a usage error otherwise."""
        try:
            parse_max_delete(value)
        except ConfigError:
            self.fail(
                f"{value!r}: expected a whole number (e.g. 10) or a percentage (e.g. 5%)",
                param,
                ctx,
            )
        return value if isinstance(value, int) else str(value)


DELETE_LIMIT = DeleteLimitType()


class ShardType(click.ParamType[str]):
    """``--shard``: ``I/N`` (1-based) or ``auto``, checked before any I/O (exit 2)."""

    name = "I/N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The value as given, once it parses; a usage error otherwise."""
        text = str(value).strip()
        if text.lower() == "auto":
            return "auto"
        try:
            parse_shard(text)
        except ShardError as exc:
            self.fail(str(exc).removeprefix(f"--shard {value!r}: "), param, ctx)
        return text


class RegexType(click.ParamType[str]):
    """A regular expression (``--exclude``, ``--include``), compiled before any I/O (exit 2); a
    glob-looking one gets the regex it means, quoted for the shell."""

    name = "RE"

    def __init__(self, kind: str = "exclude") -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The pattern as given, once it compiles; a usage error otherwise."""
        problem = filters.regex_problem(str(value), self.kind, style="shell")
        if problem is not None:
            self.fail(problem, param, ctx)
        return str(value)


def _check_shard_total(shard_spec: str | None, shard_total: int | None) -> None:
    """``--shard-total`` belongs to ``--shard auto``: anything else is a usage error (exit 2)."""
    if shard_total is not None and shard_spec != "auto":
        raise click.BadParameter(
            "goes with --shard auto (I/N already names N)" if shard_spec else "needs --shard auto",
            param_hint="'--shard-total'",
        )


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
    callback=lambda c, p, v: _checked_endpoint(v),
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


def _checked_endpoint(value: str | None) -> str | None:
    """``--endpoint-url`` as given, once it is a usable URL; a usage error (exit 2) naming what to
    add otherwise (``localhost:9000``: add http:// or https://)."""
    if value is None:
        return None
    from s3lync.manifest.semantics import endpoint_problem

    problem = endpoint_problem(value)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="'--endpoint-url'")
    return value


def _global_here(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A subcommand's copy of a global option: sets what the group's option would have."""

    def store(cctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and not cctx.resilient_parsing:
            if name == "endpoint_url":
                value = _checked_endpoint(value)
            setattr(cctx.find_object(commands.Context), name, value)

    return store


def _global_options(fn: Callable[..., None]) -> Callable[..., None]:
    """``-f``, ``--profile``, ``--endpoint-url``, ``--region`` after the subcommand too (as the aws
    cli takes them): ``s3lync apply --endpoint-url URL`` is ``s3lync --endpoint-url URL apply``."""
    for decls, name, kind in reversed(
        (
            (("-f", "--file"), "manifest", click.Path(dir_okay=False, path_type=Path)),
            (("--profile",), "profile", None),
            (("--endpoint-url",), "endpoint_url", None),
            (("--region",), "region", None),
        )
    ):
        fn = click.option(
            *decls,
            name,
            type=kind,
            default=None,
            expose_value=False,
            callback=_global_here(name),
            help=f"As `s3lync {decls[-1]} ... COMMAND` (before the command).",
        )(fn)
    return fn


def _more_verbose(cctx: click.Context, param: click.Parameter, value: int) -> None:
    """``-v`` after the command adds to ``-v`` before it (logging is installed again)."""
    if value and not cctx.resilient_parsing:
        total = cctx.meta.get("s3lync.verbosity", 0) + value
        obj = cctx.find_object(commands.Context)
        logs.install(total, obj.settings.log_level if obj is not None else None)


def _verbose_option(fn: Callable[..., None]) -> Callable[..., None]:
    """``-v`` / ``--verbose`` after a command that has no ``-v`` of its own (plan's lists
    unchanged files)."""
    return click.option(
        "-v",
        "--verbose",
        "more_verbose",
        count=True,
        expose_value=False,
        callback=_more_verbose,
        help="As `s3lync -v COMMAND`: log INFO, -vv DEBUG.",
    )(fn)


@cli.command()
@_global_options
@_verbose_option
def validate() -> None:
    """Check the manifest against its schema and semantic rules (exit 0 or 1)."""
    _run(commands.validate)


def _detail_options(fn: Callable[..., None]) -> Callable[..., None]:
    """``--summary`` / ``--quiet``: less output for plans of thousands of files."""
    fn = click.option(
        "-q", "--quiet", is_flag=True, help="Print only errors and the summary line."
    )(fn)
    return click.option(
        "--summary", "summary", is_flag=True, help="One line of counts per mapping, no file lines."
    )(fn)


def _scope_options(fn: Callable[..., None]) -> Callable[..., None]:
    """``--shard`` / ``--shard-total`` / ``--locked`` / ``--no-lock`` (plan and apply alike)."""
    for option in reversed(
        (
            click.option(
                "--shard",
                "shard_spec",
                type=ShardType(),
                default=None,
                help="Only this shard's share (1-based I of N, or 'auto' from CI/cluster variables).",
            ),
            click.option(
                "--shard-total",
                type=click.IntRange(1),
                default=None,
                help="With --shard auto on a Kubernetes Indexed Job: the number of completions.",
            ),
            click.option(
                "--locked", is_flag=True, help="Require s3lync.lock and use it (error without one)."
            ),
            click.option("--no-lock", is_flag=True, help="Ignore s3lync.lock even when it exists."),
        )
    ):
        fn = option(fn)
    return fn


# Upload flags spelled as `aws s3 sync` spells them -> boto3's ExtraArgs names.
_UPLOAD_FLAGS = (
    ("--acl", "ACL", "Canned ACL, e.g. private, public-read, bucket-owner-full-control."),
    ("--cache-control", "CacheControl", "Cache-Control of every uploaded object."),
    ("--content-disposition", "ContentDisposition", "Content-Disposition of every object."),
    ("--content-encoding", "ContentEncoding", "Content-Encoding, e.g. gzip."),
    ("--content-language", "ContentLanguage", "Content-Language of every object."),
    ("--content-type", "ContentType", "Content-Type (default: guessed from each file name)."),
    ("--expires", "Expires", "Expires: an ISO 8601 time or an HTTP date."),
    ("--metadata", "Metadata", "User metadata: KEY=VALUE[,KEY=VALUE...] or a JSON object."),
    ("--request-payer", "RequestPayer", "'requester' for requester-pays buckets."),
    ("--sse", "ServerSideEncryption", "Server-side encryption: AES256, aws:kms, aws:kms:dsse."),
    ("--sse-kms-key-id", "SSEKMSKeyId", "The KMS key for --sse aws:kms."),
    ("--storage-class", "StorageClass", "e.g. STANDARD_IA, GLACIER_IR, INTELLIGENT_TIERING."),
    ("--tagging", "Tagging", "Object tags, URL-encoded: KEY=VALUE[&KEY=VALUE...]."),
    ("--website-redirect", "WebsiteRedirectLocation", "x-amz-website-redirect-location."),
)


def _upload_options(fn: Callable[..., None]) -> Callable[..., None]:
    """The upload flags (``--cache-control``, ``--metadata``, ...) as ``upload_*`` parameters."""
    for flag, arg, text in reversed(_UPLOAD_FLAGS):
        fn = click.option(flag, f"upload_{arg}", default=None, metavar="VALUE", help=text)(fn)
    return fn


def _extra_args(given: dict[str, str | None]) -> dict[str, Any]:
    """The ``upload_*`` flag values as extra_args (``--metadata a=1,b=2`` becomes a mapping)."""
    import json

    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        arg = name.removeprefix("upload_")
        if arg == "Metadata" and not value.lstrip().startswith("{"):
            pairs = [p.partition("=") for p in value.split(",") if p.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise click.BadParameter(
                    f"{value!r}: expected KEY=VALUE[,KEY=VALUE...] or a JSON object",
                    param_hint="'--metadata'",
                )
            out[arg] = {k.strip(): v.strip() for k, _, v in pairs}
        elif arg == "Metadata":
            try:
                out[arg] = json.loads(value)
            except ValueError as exc:
                raise click.BadParameter(
                    f"{value!r}: not a JSON object ({exc})", param_hint="'--metadata'"
                ) from None
        else:
            out[arg] = value
    return out


def _progress_option(fn: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--progress",
        type=click.Choice(["auto", "bar", "plain", "none"], case_sensitive=False),
        default=None,
        help="Progress on stderr: a live bar on a terminal (auto), periodic lines, or none "
        "[default: $S3LYNC_PROGRESS, else auto].",
    )(fn)


def _detail(summary: bool, quiet: bool) -> str:
    if quiet:
        return render.DETAIL_QUIET
    return render.DETAIL_SUMMARY if summary else render.DETAIL_FULL


@cli.command()
@_global_options
@click.argument("names", nargs=-1)
@click.option("--out", "out_file", default=None, help="Save the plan as JSON for `apply PLAN`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 on error."
)
@click.option("-v", "--verbose", is_flag=True, help="Also list unchanged files.")
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete the target.")
@_detail_options
@_scope_options
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
    _check_shard_total(shard_spec, shard_total)
    _run(
        lambda c: commands.plan(
            c,
            names,
            out_file=out_file,
            as_json=as_json,
            detailed_exitcode=detailed_exitcode,
            verbose=verbose,
            policy=ApplyPolicy(allow_empty_source=allow_empty_source),
            detail=_detail(summary, quiet),
            shard=resolve_shard(shard_spec, shard_total, c.settings.environ),
            lock_mode=_lock_mode(locked, no_lock),
        )
    )


@cli.command()
@_global_options
@_verbose_option
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
@_detail_options
@_scope_options
@_progress_option
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
    _check_shard_total(shard_spec, shard_total)
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
            detail=_detail(summary, quiet),
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
@_global_options
@_verbose_option
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


_FILTER_FLAGS = ("exclude", "include", "exclude_glob", "include_glob")


class _FiltersInOrder(click.Command):
    """A command that remembers the order its filter flags were given in (the last match wins,
    so ``--exclude '*' --include '*.csv'`` is not ``--include '*.csv' --exclude '*'``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse once more for the order of the filter flags only (click keeps values per flag)."""
        with contextlib.suppress(click.UsageError):
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            ctx.meta["s3lync.filter_order"] = [
                p.name for p in order if getattr(p, "name", None) in _FILTER_FLAGS
            ]
        return super().parse_args(ctx, args)


def _ordered_filters(**given: tuple[str, ...]) -> list[tuple[str, str]]:
    """(flag, pattern) pairs in command-line order."""
    order = click.get_current_context().meta.get("s3lync.filter_order", [])
    left = {name: list(values) for name, values in given.items()}
    out = [(name.replace("_", "-"), left[name].pop(0)) for name in order if left.get(name)]
    # Anything the order missed (none expected) keeps its flag's own order.
    return out + [(n.replace("_", "-"), v) for n, vs in left.items() for v in vs]


@cli.command(cls=_FiltersInOrder)
@_global_options
@_verbose_option
@click.argument("source")
@click.argument("target")
@click.option("--delete", is_flag=True, help="Delete target files missing from the source.")
@click.option("--allow-missing", is_flag=True, help="An empty or missing source is not an error.")
@click.option(
    "--exclude", multiple=True, type=RegexType(), help="Regex of relative paths to leave out."
)
@click.option(
    "--include",
    multiple=True,
    type=RegexType("include"),
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
@_detail_options
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
@_progress_option
@_upload_options
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
    given = _ordered_filters(
        exclude=exclude, include=include, exclude_glob=exclude_glob, include_glob=include_glob
    )
    extra_args = _extra_args(upload)

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
            detail=_detail(summary, quiet),
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
@_global_options
@_verbose_option
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
    """Console-script entry point."""
    cli(prog_name="s3lync")
