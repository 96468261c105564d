"""One run of apply or sync: plan and apply mapping by mapping, with every safety rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from s3lync.cli import render
from s3lync.cli.commands.context import EXIT_ERROR, EXIT_OK, ApplyOptions, Context
from s3lync.cli.commands.planning import shard_document
from s3lync.cli.commands.progress import Progress
from s3lync.cli.commands.saved_plans import check_saved
from s3lync.errors import ApplyRefusedError
from s3lync.mapping import Mapping
from s3lync.sync.engine import Engine, feeder
from s3lync.sync.plan import MappingPlan, OpKind, Plan
from s3lync.sync.results import MappingResult
from s3lync.sync.run import RunOptions
from s3lync.sync.shard import Shard

if TYPE_CHECKING:
    from s3lync.sync import lockfile


def confirm_deletes(ctx: Context, options: RunOptions, mp: MappingPlan, opts: ApplyOptions) -> None:
    """The deletion rules for one mapping: the run's policy and budget, then --yes or a
    terminal's answer."""
    try:
        options.check_deletes(mp)
    except ApplyRefusedError as exc:
        raise in_flags(exc) from None
    deletes = mp.count(OpKind.DELETE)
    if not deletes or opts.yes:
        return
    if ctx.interactive and ctx.confirm is not None:
        if not ctx.confirm(f"Mapping {mp.mapping.label!r} deletes {deletes} file(s). Apply it?"):
            raise ApplyRefusedError("apply cancelled")
        return
    raise ApplyRefusedError(
        f"the plan deletes {deletes} file(s) and there is no terminal to confirm; "
        "re-run with --yes to allow it"
    )


def preflight(
    ctx: Context,
    engine: Engine,
    options: RunOptions,
    mappings: Sequence[Mapping],
    opts: ApplyOptions,
    fresh: dict[int, MappingPlan],
) -> tuple[list[MappingPlan], str] | None:
    """Refuse, before the first change, what the plans already forbid (as terraform does).

    Deletions that need a confirmation no terminal can give, and deletion limits, are judged on
    every mapping's plan first: the plans, and the reason, when the apply must be refused. A plan
    of a mapping no earlier mapping feeds is kept in ``fresh`` and applied as it is (nothing
    earlier in the run touches either side of it); a fed mapping is planned again after its
    feeder ran, and its own deletions are confirmed then.
    """
    ask = not opts.yes and not (ctx.interactive and ctx.confirm is not None)
    limits = options.policy.max_delete is not None or any(
        m.max_delete is not None for m in mappings
    )
    if not ask and not limits:
        return None
    plans: list[MappingPlan] = []
    deleting: list[str] = []
    total = 0
    for i, m in enumerate(mappings):
        fed_by = feeder(mappings[:i], m)
        mp = fresh.get(i)
        if mp is None:
            mp = engine.plan_mapping(m, options, fed_by=fed_by)
            if fed_by is None:
                fresh[i] = mp
        plans.append(mp)
        deletes = mp.count(OpKind.DELETE)
        if mp.blocking or not deletes:
            continue
        try:
            options.policy.check_deletes(mp, total)
        except ApplyRefusedError as exc:
            return plans, str(in_flags(exc))
        total += deletes
        deleting.append(f"{m.label!r} {deletes}")
    if ask and deleting:
        return plans, (
            f"the plan deletes {total} file(s) ({', '.join(deleting)}) and there is no terminal "
            "to confirm; re-run with --yes to allow it"
        )
    return None


def refused_ahead(
    ctx: Context,
    mappings: Sequence[Mapping],
    ahead: tuple[list[MappingPlan], str],
    manifest_path: str | None,
    opts: ApplyOptions,
) -> int:
    """Show the whole plan and why it is refused; nothing was changed (exit 1)."""
    plans, why = ahead
    message = f"{why}. Nothing was changed"
    if opts.as_json:
        raise ApplyRefusedError(message)
    for mp in plans:
        for line in render.mapping_lines(mp, color=ctx.color, detail=opts.detail):
            ctx.echo(line)
        for line in render.error_lines([mp], color=ctx.color):
            ctx.echo(line)
    ctx.warn(f"error: {message}")
    ctx.echo(render.final_line(Plan(mappings=tuple(plans), manifest=manifest_path)))
    ctx.echo(f"\nApply refused: {message}.")
    return EXIT_ERROR


def in_flags(exc: ApplyRefusedError) -> ApplyRefusedError:
    """The library's refusal with the CLI's words: ``--max-delete 10`` for the policy's limit."""
    if exc.setting is None or not exc.setting[2].startswith("ApplyPolicy("):
        return exc
    name, value, phrase = exc.setting
    reworded = ApplyRefusedError(str(exc).replace(phrase, f"--{name.replace('_', '-')} {value}"))
    reworded.setting = exc.setting
    return reworded


@dataclass
class RunReport:
    """One run's options and what it has done so far, mapping by mapping (its summary is drawn
    from this)."""

    options: RunOptions
    plans: list[MappingPlan] = field(default_factory=list)
    results: list[MappingResult] = field(default_factory=list)
    not_applied: set[str] = field(default_factory=set)
    unreached: list[str] = field(default_factory=list)
    stopped: str | None = None
    changed: bool = False


def run_mappings(
    ctx: Context,
    mappings: Sequence[Mapping],
    manifest_path: str | None,
    opts: ApplyOptions,
    saved: Plan | None,
    shard: Shard | None,
    the_lock: lockfile.LockFile | None,
) -> int:
    """Plan and apply mapping by mapping, in order, with every safety rule; summarise."""
    run = RunReport(RunOptions(policy=opts.policy, shard=shard, lock=the_lock))
    with ctx.engine(jobs=opts.jobs) as engine:
        # Every pinned listing is checked before the first mapping runs: drift changes nothing.
        engine.verify_lock(mappings, run.options)
        if not opts.as_json and shard is not None:
            ctx.echo(f"Shard {shard.label}: this shard's share of the work only.\n")
        fresh = check_saved(engine, run.options, saved, opts.plan_file or "") if saved else {}
        ahead = None if opts.dry_run else preflight(ctx, engine, run.options, mappings, opts, fresh)
        if ahead is not None:
            return refused_ahead(ctx, mappings, ahead, manifest_path, opts)
        progress = start_progress(ctx, run, opts)
        # Mapping by mapping, in order, each planned just before it runs: an upload followed by
        # a download of the same prefix sees what the upload put there.
        for i in range(len(mappings)):
            if not run_one(ctx, engine, mappings, i, opts, fresh.get(i), run, progress):
                break
        progress.finish()
        ctx.progress = None
    the_plan = Plan(mappings=tuple(run.plans), manifest=manifest_path, meta=run.options.meta)
    report_failures(ctx, run)
    return summarise(ctx, the_plan, run, opts, shard)


def start_progress(ctx: Context, run: RunReport, opts: ApplyOptions) -> Progress:
    """The run's progress, subscribed to the run (none with ``--quiet``)."""
    quiet = opts.detail == render.DETAIL_QUIET
    mode = "none" if quiet else opts.progress or ctx.settings.progress
    progress = Progress(ctx.err, 0, 0, opts.progress_tty, mode, ctx.settings.progress_interval)
    if not quiet:
        # The same run (its state: budget, breaker, checked pins), now with its progress.
        run.options = replace(run.options, subscribers=(progress,))
    # On Ctrl-C the error handler erases the bar and says how far the run got.
    ctx.progress = progress
    return progress


def run_one(
    ctx: Context,
    engine: Engine,
    mappings: Sequence[Mapping],
    i: int,
    opts: ApplyOptions,
    planned: MappingPlan | None,
    run: RunReport,
    progress: Progress,
) -> bool:
    """Plan, show and apply mapping ``i`` (``planned``: its plan, already checked); False stops
    the run."""
    m = mappings[i]
    fed_by = feeder(mappings[:i], m)
    if run.options.breaker.is_open(engine.remote(m).endpoint):
        # Listing it would only wait for the same timeouts again.
        run.unreached.append(m.label)
        return True
    # A saved plan's independent mappings were just checked: no earlier mapping of this run
    # touches either side of theirs (the manifest forbids overlapping targets).
    mp = planned
    if mp is None:
        mp = engine.plan_mapping(m, run.options, fed_by=fed_by if opts.dry_run else None)
    run.plans.append(mp)
    show_mapping(ctx, mp, opts)
    if mp.blocking or (fed_by in run.not_applied and not opts.dry_run):
        if not mp.blocking:
            ctx.warn(
                f"error: {m.label}: skipped: mapping {fed_by!r} writes its source "
                "and was not applied"
            )
        run.not_applied.add(m.label)
        run.results.append(MappingResult(plan=mp))
        return True
    if opts.dry_run:
        return True
    try:
        confirm_deletes(ctx, run.options, mp, opts)
    except ApplyRefusedError as exc:
        if not run.changed:
            raise ApplyRefusedError(f"{exc}. Nothing was changed") from None
        run.stopped = (
            f"{exc}; mapping {m.label!r} and the ones after it were not applied "
            "(the ones before it were)"
        )
        return False
    progress.add(len(mp.operations), mp.bytes_to_transfer)
    r = engine.execute(mp, run.options) if mp.operations else MappingResult(plan=mp)
    progress.pause()  # the next mapping's plan is printed where the bar was
    run.results.append(r)
    run.changed = run.changed or bool(r.transferred or r.deleted or r.done(OpKind.MKDIR))
    return True


def show_mapping(ctx: Context, mp: MappingPlan, opts: ApplyOptions) -> None:
    """One mapping's plan and errors on stdout (not with ``--json``), its problems on stderr."""
    if not opts.as_json:
        for line in render.mapping_lines(mp, color=ctx.color, detail=opts.detail):
            ctx.echo(line)
        for line in render.error_lines([mp], color=ctx.color):
            ctx.echo(line)
    for line in render.problem_messages(mp):
        ctx.warn(f"error: {line}")


def report_failures(ctx: Context, run: RunReport) -> None:
    """Failed files, a dead endpoint and a refusal mid-run, on stderr."""
    for r in run.results:
        for line in failure_lines(r):
            ctx.warn(f"error: {line}")
    breaker = run.options.breaker
    for endpoint in breaker.tripped:
        not_tried = sum(len(r.not_tried) for r in run.results)
        unreached = run.unreached
        ctx.warn(
            f"error: {breaker.error(endpoint)}: {not_tried} file(s) not tried"
            + (f", mapping(s) {', '.join(map(repr, unreached))} not applied" if unreached else "")
            + "; run again when it answers"
        )
    if run.stopped:
        ctx.warn(f"error: {run.stopped}")


def summarise(
    ctx: Context, the_plan: Plan, run: RunReport, opts: ApplyOptions, shard: Shard | None
) -> int:
    """The run's summary on stdout (a document with ``--json``); the exit code."""
    failed = any(r.failed for r in run.results)
    fatal = any(p.fatal for mp in run.plans for p in mp.problems)
    if opts.as_json:
        results = [] if opts.dry_run else run.results
        doc = render.apply_document(the_plan, results, dry_run=opts.dry_run)
        if shard is not None:
            doc.update(shard_document(the_plan, shard))
        ctx.echo(json.dumps(doc, indent=2))
    else:
        if opts.detail == render.DETAIL_SUMMARY:
            ctx.echo()
        ctx.echo(render.final_line(the_plan))
        if opts.dry_run:
            ctx.echo("\nDry run: nothing was changed.")
        else:
            prefix = f"Shard {shard.label}: " if shard is not None else ""
            # The last line says what the exit code says.
            head = (
                "Apply refused"
                if run.stopped
                else "Apply failed"
                if (failed or fatal or run.unreached)
                else "Apply complete"
            )
            errors = sum(1 for mp in run.plans for p in mp.problems if p.fatal)
            ctx.echo("\n" + prefix + render.apply_summary(run.results, head=head, errors=errors))
    return EXIT_ERROR if (failed or fatal or run.stopped or run.unreached) else EXIT_OK


#: Failures of one kind shown by name per mapping; the rest are counted ("and 297 more").
SHOWN_PER_KIND = 3


def failure_lines(result: MappingResult) -> list[str]:
    """A mapping's failures, grouped: each kind of error named for its first few files, then
    counted, and the files a dead endpoint kept from being tried in one line."""
    label = result.plan.mapping.label
    groups: dict[str, list[Any]] = {}
    for o in result.failed:
        if o.error_type != "EndpointDownError":
            groups.setdefault(_error_shape(o), []).append(o)
    lines = []
    for ops in groups.values():
        for o in ops[:SHOWN_PER_KIND]:
            lines.append(f"{label}: {o.op.kind.symbol} {o.op.rel or o.op.key}: {o.error}")
        if len(ops) > SHOWN_PER_KIND:
            lines.append(f"{label}: ... and {len(ops) - SHOWN_PER_KIND} more failed the same way")
    not_tried = result.not_tried
    if not_tried:
        first = not_tried[0].op
        lines.append(
            f"{label}: {len(not_tried)} file(s) not tried (e.g. {first.rel or first.key}): the "
            "endpoint is not answering"
        )
    return lines


def _error_shape(o: Any) -> str:
    """An error message with its file's own names taken out: equal shapes are "the same way"."""
    from urllib.parse import quote

    text = o.error or ""
    names = {o.op.key, quote(o.op.key), o.op.rel, o.op.local_path} - {""}
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "*")
    return f"{o.error_type} {o.op.kind.value} {text}"
