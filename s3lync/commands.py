"""The CLI's commands as plain functions returning exit codes; click stays in ``cli``."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import render
from .engine import Engine, run_lock
from .errors import ApplyRefusedError, ManifestError, PlanStaleError, S3lyncError
from .executor import MappingResult
from .plan import MappingPlan, Operation, OpKind, Plan

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


@dataclass
class Context:
    """What every command needs: the manifest path, overrides, and where output goes."""

    manifest: Path = Path("s3lync.yaml")
    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False
    jobs: int | None = None
    confirm: Callable[[str], bool] | None = None
    interactive: bool = False

    def engine(self, subscribers: Sequence[Any] = ()) -> Engine:
        """An engine honouring the global overrides."""
        return Engine(
            max_workers=self.jobs,
            subscribers=subscribers,
            region=self.region,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
        )

    def echo(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.out.write(text + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        """Write a line to stderr."""
        self.err.write(text + "\n")
        self.err.flush()


def _load(ctx: Context, names: Sequence[str]) -> tuple[str, Sequence[Any]]:
    from .manifest import load_manifest

    manifest = load_manifest(ctx.manifest)
    return str(manifest.path), manifest.select(list(names))


def validate(ctx: Context) -> int:
    """Schema and semantic checks of the manifest."""
    from .manifest import load_manifest

    manifest = load_manifest(ctx.manifest)
    n = len(manifest.mappings)
    ctx.echo(f"{ctx.manifest}: valid ({n} mapping{'s' if n != 1 else ''})")
    return EXIT_OK


def plan(
    ctx: Context,
    names: Sequence[str] = (),
    *,
    out_file: str | None = None,
    as_json: bool = False,
    detailed_exitcode: bool = False,
    verbose: bool = False,
    allow_empty_source: bool = False,
) -> int:
    """Read-only: show what apply would do; optionally save it."""
    path, mappings = _load(ctx, names)
    with ctx.engine() as engine:
        the_plan = engine.plan(
            mappings, manifest=path, allow_empty_source=allow_empty_source, verbose=verbose
        )
    if out_file:
        tmp = out_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(the_plan.to_json())
        os.replace(tmp, out_file)
    if as_json:
        ctx.echo(json.dumps(render.plan_document(the_plan), indent=2))
    else:
        ctx.echo(render.render_plan(the_plan, color=ctx.color, verbose=verbose))
        if out_file:
            ctx.echo(f"\nSaved the plan to {out_file}; run `s3lync apply {out_file}` to apply it.")
    if any(p.fatal for m in the_plan.mappings for p in m.problems):
        return EXIT_ERROR
    if detailed_exitcode and the_plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


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
    return diffs


def _parse_max_delete(value: str | None) -> tuple[int | None, float | None]:
    if value is None:
        return None, None
    v = value.strip()
    try:
        if v.endswith("%"):
            pct = float(v[:-1])
            if not 0 <= pct <= 100:
                raise ValueError
            return None, pct
        n = int(v)
        if n < 0:
            raise ValueError
        return n, None
    except ValueError:
        raise ApplyRefusedError(
            f"--max-delete {value!r}: expected a whole number (e.g. 10) or a percentage (e.g. 5%)"
        ) from None


def check_delete_limits(the_plan: Plan, max_delete: str | None) -> None:
    """Refuse a plan that deletes more than ``--max-delete`` (a count, or a % of target files)."""
    count, pct = _parse_max_delete(max_delete)
    total = the_plan.count(OpKind.DELETE)
    if count is not None and total > count:
        raise ApplyRefusedError(
            f"the plan deletes {total} file(s), more than --max-delete {count}; nothing was changed"
        )
    if pct is not None:
        for mp in the_plan.mappings:
            d = mp.count(OpKind.DELETE)
            existing = d + mp.count(OpKind.UPDATE) + mp.unchanged
            if d and existing and 100.0 * d / existing > pct:
                raise ApplyRefusedError(
                    f"mapping {mp.mapping.label!r} would delete {d} of {existing} target file(s) "
                    f"({100.0 * d / existing:.1f}%), more than --max-delete {pct:g}%; "
                    "nothing was changed"
                )


class Progress:
    """Reports files and bytes done, with the rate, on stderr for work longer than a second."""

    def __init__(self, stream: TextIO, total_ops: int, total_bytes: int, tty: bool) -> None:
        self.stream = stream
        self.total_ops = total_ops
        self.total_bytes = total_bytes
        self.tty = tty
        self.done_ops = 0
        self.done_bytes = 0
        self.failed = 0
        self.start = time.monotonic()
        self.last = self.start
        self.printed = False
        self._lock = threading.Lock()

    def on_start(self, **kwargs: Any) -> None:
        """Unused: progress counts finished operations."""

    def on_done(self, *, op: Operation, error: str | None, **kwargs: Any) -> None:
        """Count one finished operation and maybe print."""
        with self._lock:
            self.done_ops += 1
            if error is None and op.kind in (OpKind.CREATE, OpKind.UPDATE):
                self.done_bytes += op.size
            if error is not None:
                self.failed += 1
            now = time.monotonic()
            interval = 0.5 if self.tty else 5.0
            if now - self.start >= 1.0 and now - self.last >= interval:
                self.last = now
                self._print(now)

    def _print(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-6)
        rate = render.format_size(int(self.done_bytes / elapsed))
        line = (
            f"{self.done_ops}/{self.total_ops} files, {render.format_size(self.done_bytes)}/"
            f"{render.format_size(self.total_bytes)}, {rate}/s"
            + (f", {self.failed} failed" if self.failed else "")
        )
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()
        self.printed = True

    def finish(self) -> None:
        """End the progress line."""
        if self.printed:
            self._print(time.monotonic())
            if self.tty:
                self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True)
class ApplyOptions:
    """Flags of ``s3lync apply``."""

    plan_file: str | None = None
    dry_run: bool = False
    yes: bool = False
    as_json: bool = False
    max_delete: str | None = None
    allow_empty_source: bool = False
    progress_tty: bool = False
    lock_timeout: float = 0.0


def apply(ctx: Context, names: Sequence[str] = (), opts: ApplyOptions | None = None) -> int:
    """Plan (or load a saved plan), check the safety rules, execute, summarise."""
    opts = opts or ApplyOptions()
    with run_lock(_lock_source(ctx, opts.plan_file), opts.lock_timeout):
        return _apply_locked(ctx, names, opts)


def _lock_source(ctx: Context, plan_file: str | None) -> str:
    """One lock per manifest (a saved plan locks the manifest it was made from)."""
    source = os.path.abspath(ctx.manifest)
    if plan_file:
        try:
            source = Plan.from_json(Path(plan_file).read_text(encoding="utf-8")).manifest or source
        except (OSError, S3lyncError):
            pass
    return source


def _apply_locked(ctx: Context, names: Sequence[str], opts: ApplyOptions) -> int:
    plan_file, as_json = opts.plan_file, opts.as_json
    if plan_file:
        try:
            text = Path(plan_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise S3lyncError(f"cannot read plan file {plan_file}: {exc.strerror}") from exc
        saved = Plan.from_json(text)
        if names:
            raise S3lyncError("give either mapping names or a saved plan file, not both")
        mappings: Sequence[Any] = [mp.mapping for mp in saved.mappings]
        manifest_path = saved.manifest
    else:
        saved = None
        manifest_path, mappings = _load(ctx, names)

    with ctx.engine() as engine:
        the_plan = engine.plan(
            mappings, manifest=manifest_path, allow_empty_source=opts.allow_empty_source
        )
        if saved is not None:
            diffs = [
                f"{old.mapping.label}: {d}"
                for old, new in zip(saved.mappings, the_plan.mappings, strict=True)
                for d in plan_differences(old, new)
            ]
            if diffs:
                shown = "; ".join(diffs[:5]) + (
                    f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else ""
                )
                raise PlanStaleError(
                    f"the saved plan {plan_file} is stale; nothing was changed. {shown}. "
                    "Run `s3lync plan --out` again."
                )
        if not as_json:
            ctx.echo(render.render_plan(the_plan, color=ctx.color))
        fatal = [p for m in the_plan.mappings for p in m.problems if p.fatal]
        check_delete_limits(the_plan, opts.max_delete)
        deletes = the_plan.count(OpKind.DELETE)
        if opts.dry_run:
            if as_json:
                ctx.echo(json.dumps(render.apply_document(the_plan, [], dry_run=True), indent=2))
            else:
                ctx.echo("\nDry run: nothing was changed.")
            return EXIT_ERROR if fatal else EXIT_OK
        if deletes and not opts.yes:
            question = f"The plan deletes {deletes} file(s). Apply it?"
            if ctx.interactive and ctx.confirm is not None:
                if not ctx.confirm(question):
                    raise ApplyRefusedError("apply cancelled; nothing was changed")
            else:
                raise ApplyRefusedError(
                    f"the plan deletes {deletes} file(s) and there is no terminal to confirm; "
                    "re-run with --yes to allow it. Nothing was changed"
                )
        progress = Progress(
            ctx.err,
            sum(len(m.operations) for m in the_plan.mappings),
            the_plan.bytes_to_transfer,
            opts.progress_tty,
        )
        engine.subscribers.append(progress)
        results: list[MappingResult] = []
        for mp in the_plan.mappings:
            if mp.operations:
                results.append(engine.execute(mp))
            else:
                results.append(MappingResult(plan=mp))
        progress.finish()

    failed = [(r.plan.mapping.label, o) for r in results for o in r.failed]
    for label, o in failed:
        ctx.warn(f"error: {label}: {o.op.kind.symbol} {o.op.rel or o.op.key}: {o.error}")
    for p in fatal:
        ctx.warn(f"error: {p.key}: {p.message}")
    if as_json:
        ctx.echo(json.dumps(render.apply_document(the_plan, results), indent=2))
    else:
        ctx.echo("\n" + render.apply_summary(results))
    return EXIT_ERROR if (failed or fatal) else EXIT_OK


def init(ctx: Context, *, force: bool = False) -> int:
    """Write a commented starter manifest."""
    from .manifest import STARTER_MANIFEST

    target = ctx.manifest
    if target.exists() and not force:
        raise S3lyncError(f"{target} already exists; use --force to overwrite it")
    target.write_text(STARTER_MANIFEST, encoding="utf-8")
    ctx.echo(f"Wrote {target}. Edit it, then run `s3lync validate` and `s3lync plan`.")
    return EXIT_OK


def handle_error(ctx: Context, exc: BaseException) -> int:
    """Map an exception to a message on stderr and an exit code (the one error handler)."""
    if isinstance(exc, KeyboardInterrupt):
        ctx.warn("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, ManifestError):
        for line in exc.errors:
            ctx.warn(f"error: {line}")
        return EXIT_ERROR
    if isinstance(exc, S3lyncError):
        ctx.warn(f"error: {exc}")
        return EXIT_ERROR
    raise exc
