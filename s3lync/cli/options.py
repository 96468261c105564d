"""The command line's shared options and parameter types: global options accepted after the
command too, verbosity, scope and detail flags, upload arguments, filters in command-line order."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s3lync import filters
from s3lync.cli import commands, logs, render
from s3lync.errors import ConfigError
from s3lync.sync.policy import DeleteLimit, parse_max_delete
from s3lync.sync.shard import ShardError, parse_shard

# Upload flags spelled as `aws s3 sync` spells them -> boto3's ExtraArgs names.
UPLOAD_FLAGS = (
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

FILTER_FLAGS = ("exclude", "include", "exclude_glob", "include_glob")


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


def check_shard_total(shard_spec: str | None, shard_total: int | None) -> None:
    """``--shard-total`` belongs to ``--shard auto``: anything else is a usage error (exit 2)."""
    if shard_total is not None and shard_spec != "auto":
        raise click.BadParameter(
            "goes with --shard auto (I/N already names N)" if shard_spec else "needs --shard auto",
            param_hint="'--shard-total'",
        )


def checked_endpoint(value: str | None) -> str | None:
    """``--endpoint-url`` as given, once it is a usable URL; a usage error (exit 2) naming what to
    add otherwise (``localhost:9000``: add http:// or https://)."""
    if value is None:
        return None
    from s3lync.manifest.semantics import endpoint_problem

    problem = endpoint_problem(value)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="'--endpoint-url'")
    return value


def global_here(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    """A subcommand's copy of a global option: sets what the group's option would have."""

    def store(cctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and not cctx.resilient_parsing:
            if name == "endpoint_url":
                value = checked_endpoint(value)
            setattr(cctx.find_object(commands.Context), name, value)

    return store


def global_options(fn: Callable[..., None]) -> Callable[..., None]:
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
            callback=global_here(name),
            help=f"As `s3lync {decls[-1]} ... COMMAND` (before the command).",
        )(fn)
    return fn


def more_verbose(cctx: click.Context, param: click.Parameter, value: int) -> None:
    """``-v`` after the command adds to ``-v`` before it (logging is installed again)."""
    if value and not cctx.resilient_parsing:
        total = cctx.meta.get("s3lync.verbosity", 0) + value
        obj = cctx.find_object(commands.Context)
        logs.install(total, obj.settings.log_level if obj is not None else None)


def verbose_option(fn: Callable[..., None]) -> Callable[..., None]:
    """``-v`` / ``--verbose`` after a command that has no ``-v`` of its own (plan's lists
    unchanged files)."""
    return click.option(
        "-v",
        "--verbose",
        "more_verbose",
        count=True,
        expose_value=False,
        callback=more_verbose,
        help="As `s3lync -v COMMAND`: log INFO, -vv DEBUG.",
    )(fn)


def detail_options(fn: Callable[..., None]) -> Callable[..., None]:
    """``--summary`` / ``--quiet``: less output for plans of thousands of files."""
    fn = click.option(
        "-q", "--quiet", is_flag=True, help="Print only errors and the summary line."
    )(fn)
    return click.option(
        "--summary", "summary", is_flag=True, help="One line of counts per mapping, no file lines."
    )(fn)


def scope_options(fn: Callable[..., None]) -> Callable[..., None]:
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


def upload_options(fn: Callable[..., None]) -> Callable[..., None]:
    """The upload flags (``--cache-control``, ``--metadata``, ...) as ``upload_*`` parameters."""
    for flag, arg, text in reversed(UPLOAD_FLAGS):
        fn = click.option(flag, f"upload_{arg}", default=None, metavar="VALUE", help=text)(fn)
    return fn


def extra_args(given: dict[str, str | None]) -> dict[str, Any]:
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


def progress_option(fn: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--progress",
        type=click.Choice(["auto", "bar", "plain", "none"], case_sensitive=False),
        default=None,
        help="Progress on stderr: a live bar on a terminal (auto), periodic lines, or none "
        "[default: $S3LYNC_PROGRESS, else auto].",
    )(fn)


def detail(summary: bool, quiet: bool) -> str:
    if quiet:
        return render.DETAIL_QUIET
    return render.DETAIL_SUMMARY if summary else render.DETAIL_FULL


class FiltersInOrder(click.Command):
    """A command that remembers the order its filter flags were given in (the last match wins,
    so ``--exclude '*' --include '*.csv'`` is not ``--include '*.csv' --exclude '*'``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse once more for the order of the filter flags only (click keeps values per flag)."""
        with contextlib.suppress(click.UsageError):
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            ctx.meta["s3lync.filter_order"] = [
                p.name for p in order if getattr(p, "name", None) in FILTER_FLAGS
            ]
        return super().parse_args(ctx, args)


def ordered_filters(**given: tuple[str, ...]) -> list[tuple[str, str]]:
    """(flag, pattern) pairs in command-line order."""
    order = click.get_current_context().meta.get("s3lync.filter_order", [])
    left = {name: list(values) for name, values in given.items()}
    out = [(name.replace("_", "-"), left[name].pop(0)) for name in order if left.get(name)]
    # Anything the order missed (none expected) keeps its flag's own order.
    return out + [(n.replace("_", "-"), v) for n, vs in left.items() for v in vs]
