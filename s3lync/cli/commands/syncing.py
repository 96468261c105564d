"""``s3lync sync SRC DST``: a one-mapping manifest made from the command line, then applied."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from s3lync.cli.commands.context import ApplyOptions, Context
from s3lync.cli.commands.running import run_mappings
from s3lync.errors import S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.sync.engine import run_lock


def sync(
    ctx: Context,
    source: str,
    target: str,
    *,
    delete: bool = False,
    exclude: Sequence[str] = (),
    allow_missing: bool = False,
    opts: ApplyOptions | None = None,
    filters: Sequence[tuple[str, str]] = (),
    extra_args: dict[str, str] | None = None,
) -> int:
    """``s3lync sync SRC DST``: a one-mapping manifest made from the command line, then applied.

    ``filters``: the command line's ``(flag, pattern)`` pairs in the order given (``exclude``,
    ``include``, ``exclude-glob``, ``include-glob``); ``exclude`` regexes come before them.
    """
    opts = opts or ApplyOptions()
    rules = cli_filters([*(("exclude", p) for p in exclude), *filters], ctx.warn)
    mapping = sync_mapping(
        source,
        target,
        delete=delete,
        allow_missing=allow_missing,
        rules=rules,
        extra_args=extra_args,
    )
    with run_lock(f"sync {target}", opts.lock_timeout, ctx.settings):
        return run_mappings(ctx, [mapping], None, opts, None, opts.shard, None)


def cli_filters(
    given: Sequence[tuple[str, str]], warn: Callable[[str], None] | None = None
) -> list[tuple[str, str]]:
    """``--exclude``/``--include`` regexes and ``--exclude-glob``/``--include-glob`` globs, in the
    order given, as ordered filters; a bad regex is an error with the regex a glob means, a valid
    regex that looks like a glob a warning."""
    from s3lync import filters

    rules: list[tuple[str, str]] = []
    for flag, pattern in given:
        kind = filters.INCLUDE if flag.startswith("include") else filters.EXCLUDE
        if flag.endswith("-glob"):
            rules.append((kind, filters.glob_to_regex(pattern)))
            continue
        problem = filters.regex_problem(pattern, kind, style="shell")
        if problem is not None:
            raise S3lyncError(f"--{flag}: {problem}")
        reading = filters.glob_reading(pattern, kind, style="shell")
        if reading is not None and warn is not None:
            warn(f"warning: --{flag}: {reading}")
        rules.append((kind, pattern))
    return rules


def sync_mapping(
    source: str,
    target: str,
    *,
    delete: bool = False,
    exclude: Sequence[str] = (),
    allow_missing: bool = False,
    rules: Sequence[tuple[str, str]] = (),
    extra_args: dict[str, str] | None = None,
) -> Mapping:
    """The mapping ``s3lync sync SOURCE TARGET`` means: exactly one side must be ``s3://``.

    ``rules``: ordered (include|exclude, regex) filters, as :func:`cli_filters` makes them.
    """
    from s3lync import filters
    from s3lync.upload_args import check_extra_args
    from s3lync.uri import parse_s3_uri

    src_s3, dst_s3 = source.startswith("s3://"), target.startswith("s3://")
    if src_s3 == dst_s3:
        raise S3lyncError(
            f"sync {source} {target}: exactly one side must be an s3:// URI and the other a local "
            "path (e.g. `s3lync sync s3://bucket/data/ ./data`)"
        )
    uri, local_path = (source, target) if src_s3 else (target, source)
    parse_s3_uri(uri)  # an invalid URI is an InvalidURIError now, not at the first request
    rules = [*cli_filters([("exclude", p) for p in exclude]), *rules]
    only_excludes = all(kind == filters.EXCLUDE for kind, _ in rules)
    return Mapping(
        s3_uri=uri,
        local=os.path.abspath(os.path.expanduser(local_path)),
        direction=Direction.DOWNLOAD if src_s3 else Direction.UPLOAD,
        exclude=tuple(p for _, p in rules) if only_excludes else (),
        filters=() if only_excludes else tuple(rules),
        delete=delete,
        allow_missing=allow_missing,
        extra_args=check_extra_args(dict(extra_args or {}), "sync") if extra_args else (),
    )
