"""The CLI's commands as plain functions returning exit codes; click stays in ``cli``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from s3lync.api import progress as progress_mod
from s3lync.cli import crash, render
from s3lync.errors import ApplyRefusedError, ManifestError, PlanStaleError, S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.redact import redact_url
from s3lync.settings import Settings
from s3lync.sync import lockfile
from s3lync.sync import shard as sharding
from s3lync.sync.breaker import Breaker
from s3lync.sync.engine import Engine, feeder, run_lock
from s3lync.sync.plan import MappingPlan, Operation, OpKind, Plan
from s3lync.sync.policy import ApplyPolicy, DeleteLimit
from s3lync.sync.results import MappingResult
from s3lync.sync.shard import Shard

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
    confirm: Callable[[str], bool] | None = None
    interactive: bool = False
    json_errors: bool = False  # --json: an error is printed as a JSON document on stdout too
    # The environment, read once for the whole command.
    settings: Settings = field(default_factory=Settings.from_env)
    # apply's progress while mappings run (an interrupt reports and erases it).
    progress: Progress | None = None

    def engine(
        self,
        subscribers: Sequence[Any] = (),
        *,
        jobs: int | None = None,
        policy: ApplyPolicy | None = None,
    ) -> Engine:
        """An engine honouring the global overrides, ``--jobs`` and the apply policy."""
        return Engine(
            max_workers=jobs,
            policy=policy,
            subscribers=subscribers,
            region=self.region,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
            settings=self.settings,
        )

    def echo(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.out.write(_printable(text) + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        """Write a line to stderr."""
        self.err.write(_printable(text) + "\n")
        self.err.flush()


def _printable(text: str) -> str:
    # A file name that is not UTF-8 reaches Python as lone surrogates (os.fsdecode), and so may a
    # ${VAR} in the manifest: show those bytes as \xNN rather than fail to print the line.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _load(ctx: Context, names: Sequence[str]) -> tuple[str, Sequence[Any]]:
    manifest = _load_manifest(ctx)
    return str(manifest.path), manifest.select(list(names))


def _load_manifest(ctx: Context) -> Any:
    """The manifest, its warnings (a glob read as a regex, a mapping reading another's target)
    on stderr, as validate shows them."""
    from s3lync.manifest.loader import load_manifest

    manifest = load_manifest(ctx.manifest)
    for line in manifest.warnings:
        ctx.warn(f"warning: {line}")
    return manifest


def validate(ctx: Context) -> int:
    """Schema and semantic checks of the manifest (and of its lock file, when there is one)."""
    manifest = _load_manifest(ctx)
    n = len(manifest.mappings)
    lines = [f"{ctx.manifest}: valid ({n} mapping{'s' if n != 1 else ''})"]
    path = lockfile.lock_path(manifest.path)
    if path.exists():
        # Checked before anything is called valid: "valid", then exit 1, would contradict itself.
        lf = lockfile.load(path)
        lockfile.check_manifest(lf, manifest.mappings, manifest.mappings, ctx.manifest)
        count = sum(len(m.objects) for m in lf.mappings)
        lines.append(
            f"{path.name}: valid ({len(lf.mappings)} locked mapping(s), {count} object(s))"
        )
    for line in lines:
        ctx.echo(line)
    return EXIT_OK


LockMode = str  # "auto" (use s3lync.lock when present), "require" (--locked), "ignore" (--no-lock)


def use_lock(
    manifest_path: str | os.PathLike[str],
    mappings: Sequence[Any],
    selected: Sequence[Any],
    mode: LockMode = "auto",
) -> lockfile.LockFile | None:
    """The lock plan/apply must honour: loaded and checked against the manifest, or None."""
    if mode == "ignore":
        return None
    path = lockfile.lock_path(manifest_path)
    if not path.exists():
        if mode == "require":
            raise lockfile.LockFileError(
                f"--locked: {path} does not exist; run 's3lync lock' to write it"
            )
        return None
    lf = lockfile.load(path)
    lockfile.check_manifest(lf, mappings, selected, manifest_path)
    return lf


def lock(
    ctx: Context, names: Sequence[str] = (), *, check: bool = False, checksums: bool = True
) -> int:
    """Write s3lync.lock for the download mappings, or (``check``) exit 2 if the remote drifted."""
    from s3lync.manifest.loader import load_manifest

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
    path = lockfile.lock_path(manifest.path)
    if check:
        return _lock_check(ctx, manifest, selected, downloads, path)
    keep: list[lockfile.LockedMapping] = []
    if path.exists():
        try:
            old = lockfile.load(path)
        except lockfile.LockFileError as exc:
            if names:
                raise lockfile.LockFileError(
                    f"{exc.errors[0]} (run 's3lync lock' without names to rewrite it whole)",
                    exc.errors,
                ) from None
            log.warning("rewriting %s: %s", path, exc.errors[0])
            old = None
        if old is not None:
            for m in manifest.mappings:
                lm = old.find(m)
                if (
                    lm is not None
                    and m not in downloads
                    and m.direction is Direction.DOWNLOAD
                    and lm.s3 == m.s3_uri
                    and lm.exclude == m.filter_key
                ):
                    keep.append(lm)
    with ctx.engine() as engine:
        fresh = [
            lockfile.take(engine.remote(m), m, checksums=checksums, workers=engine.max_workers)
            for m in downloads
        ]
    entries = keep + fresh
    text = lockfile.render(lockfile.manifest_digest(manifest.mappings), entries)
    changed = lockfile.write(path, text)
    count = sum(len(e.objects) for e in fresh)
    size = sum(o.size for e in fresh for o in e.objects)
    versioned = [e.label for e in fresh if e.versioned]
    ctx.echo(
        f"{'Wrote' if changed else 'Unchanged:'} {path.name}: {len(fresh)} mapping(s) locked, "
        f"{count} object(s), {progress_mod.format_size(size)}"
        + (f"; versions pinned for {', '.join(versioned)}" if versioned else "")
    )
    return EXIT_OK


def _lock_check(
    ctx: Context,
    manifest: Any,
    selected: Sequence[Any],
    downloads: Sequence[Any],
    path: Path,
) -> int:
    lf = lockfile.load(path)
    lockfile.check_manifest(lf, manifest.mappings, selected, manifest.path)
    drifted = 0
    with ctx.engine() as engine:
        for m in downloads:
            lm = lf.find(m)
            assert lm is not None  # check_manifest refused unlocked mappings
            now = lockfile.take(engine.remote(m), m, checksums=False)
            if now.versioned != lm.versioned:
                ctx.echo(
                    f"{m.label}: the bucket is {'now' if now.versioned else 'no longer'} versioned"
                )
                drifted += 1
                continue
            changed, removed, added = lockfile.drift(lm, now.pinned())
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


def plan(
    ctx: Context,
    names: Sequence[str] = (),
    *,
    out_file: str | None = None,
    as_json: bool = False,
    detailed_exitcode: bool = False,
    verbose: bool = False,
    allow_empty_source: bool = False,
    detail: str = render.DETAIL_FULL,
    shard: Shard | None = None,
    lock_mode: LockMode = "auto",
) -> int:
    """Read-only: show what apply would do (``shard``: that shard's share); optionally save it."""
    if out_file:
        # Before anything is listed: a plan that cannot be saved is not worth making.
        folder = os.path.dirname(os.path.abspath(out_file))
        if not os.path.isdir(folder):
            raise S3lyncError(f"plan --out {out_file}: the folder {folder} does not exist")
    manifest = _load_manifest(ctx)
    mappings = manifest.select(list(names))
    path = str(manifest.path)
    the_lock = use_lock(path, manifest.mappings, mappings, lock_mode)
    with ctx.engine() as engine:
        engine.shard = shard
        engine.lock = the_lock
        the_plan = engine.plan(
            mappings, manifest=path, allow_empty_source=allow_empty_source, verbose=verbose
        )
    if out_file:
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


def shard_document(the_plan: Plan, shard: Shard | None) -> dict[str, Any]:
    """The ``--json`` shard fields: the shard planned, or how the work would split over N shards."""
    if shard is not None:
        return {"shard": {"index": shard.index + 1, "total": shard.total}}
    work = [
        (o.rel, o.size if o.kind in (OpKind.CREATE, OpKind.UPDATE) else 0)
        for o in the_plan.operations
    ]
    return {"shard": None, "shard_preview": sharding.split(work)}


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


class Progress:
    """apply's progress on stderr: one live bar on a terminal, plain lines in logs, or nothing.

    ``mode`` is ``--progress`` (``auto``, ``bar``, ``plain``, ``none``; None: ``S3LYNC_PROGRESS``,
    else ``auto``, which is ``bar`` when ``tty``). The drawing is in :mod:`s3lync.api.progress`.
    """

    def __init__(
        self,
        stream: TextIO,
        total_ops: int,
        total_bytes: int,
        tty: bool,
        mode: str | None = None,
        interval: float = 5.0,
    ) -> None:
        self.mode = progress_mod.resolve_mode(mode, tty)
        self.impl: progress_mod.Counter
        if self.mode == "bar":
            self.impl = progress_mod.Bar(stream)
        elif self.mode == "plain":
            # ``interval``: S3LYNC_PROGRESS_INTERVAL; a person watching a terminal wants more.
            self.impl = progress_mod.PlainLines(
                stream, interval=min(interval, 0.5) if tty else interval
            )
        else:
            self.impl = progress_mod.Counter()
        self.impl.begin(total_ops, total_bytes)

    def add(self, ops: int, nbytes: int) -> None:
        """Grow the totals by one more mapping's work (mappings are planned one at a time)."""
        self.impl.grow(ops, nbytes)

    def on_start(self, **kwargs: Any) -> None:
        """Unused: bytes are counted as they move, files when they end."""

    def on_progress(self, **kwargs: Any) -> None:
        """Count bytes of a transfer in flight."""
        self.impl.on_progress(**kwargs)

    def on_done(self, **kwargs: Any) -> None:
        """Count one finished operation (and maybe redraw)."""
        self.impl.on_done(**kwargs)

    def pause(self) -> None:
        """Erase the bar while other output is printed (it returns with the next ``add``)."""
        self.impl.pause()

    def finish(self) -> None:
        """Erase the bar, or print the last plain line."""
        self.impl.finish()

    def interrupted(self) -> str:
        """Erase the bar (Ctrl-C); what was done and what was not."""
        self.impl.finish()
        self.impl.wipe()
        return self.impl.summary()


@dataclass(frozen=True)
class ApplyOptions:
    """Flags of ``s3lync apply``."""

    plan_file: str | None = None
    dry_run: bool = False
    yes: bool = False
    as_json: bool = False
    max_delete: DeleteLimit = None
    allow_empty_source: bool = False
    jobs: int | None = None
    progress_tty: bool = False
    lock_timeout: float = 0.0
    detail: str = render.DETAIL_FULL
    shard: Shard | None = None
    lock_mode: LockMode = "auto"
    progress: str | None = None
    # --require-verified: every mapping in strict mode (check_hash: strict).
    require_verified: bool = False

    @property
    def policy(self) -> ApplyPolicy:
        """The engine's rules for this apply: --max-delete, --allow-empty-source, --require-verified."""
        return ApplyPolicy(
            max_delete=self.max_delete,
            allow_empty_source=self.allow_empty_source,
            require_verified=self.require_verified,
        )


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
            source = _read_plan(plan_file).manifest or source
        except S3lyncError:
            pass  # the run itself reports an unreadable plan file
    return source


def _read_plan(plan_file: str) -> Plan:
    """The saved plan in ``plan_file`` (S3lyncError naming the file when it cannot be read)."""
    try:
        text = Path(plan_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise S3lyncError(f"cannot read plan file {plan_file}: {exc.strerror}") from exc
    return Plan.from_json(text)


def _apply_inputs(
    ctx: Context, names: Sequence[str], plan_file: str | None
) -> tuple[Plan | None, list[Mapping], str | None]:
    """The saved plan (if any), the mappings to run in order, and the manifest path."""
    if not plan_file:
        manifest_path, mappings = _load(ctx, names)
        return None, list(mappings), manifest_path
    saved = _read_plan(plan_file)
    if names:
        raise S3lyncError("give either mapping names or a saved plan file, not both")
    return saved, [mp.mapping for mp in saved.mappings], saved.manifest


def _check_saved(
    engine: Engine, saved: Plan, plan_file: str, opts: ApplyOptions
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
        new = engine.plan_mapping(
            old.mapping, missing_ok=True, allow_empty_source=opts.allow_empty_source
        )
        fresh[i] = new
        diffs += [f"{old.mapping.label}: {d}" for d in plan_differences(old, new)]
    if diffs:
        shown = "; ".join(diffs[:5]) + (f" (+{len(diffs) - 5} more)" if len(diffs) > 5 else "")
        raise PlanStaleError(
            f"the saved plan {plan_file} is stale; nothing was changed. {shown}. "
            "Run `s3lync plan --out` again."
        )
    return fresh


def _confirm_deletes(ctx: Context, engine: Engine, mp: MappingPlan, opts: ApplyOptions) -> None:
    """The deletion rules for one mapping: the engine's policy, then --yes or a terminal's answer."""
    try:
        engine.check_policy(mp)
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


def _preflight(
    ctx: Context,
    engine: Engine,
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
    limits = engine.policy.max_delete is not None or any(m.max_delete is not None for m in mappings)
    if not ask and not limits:
        return None
    plans: list[MappingPlan] = []
    deleting: list[str] = []
    total = 0
    for i, m in enumerate(mappings):
        fed_by = feeder(mappings[:i], m)
        mp = fresh.get(i)
        if mp is None:
            mp = engine.plan_mapping(m, missing_ok=True, fed_by=fed_by)
            if fed_by is None:
                fresh[i] = mp
        plans.append(mp)
        deletes = mp.count(OpKind.DELETE)
        if mp.blocking or not deletes:
            continue
        try:
            engine.policy.check_deletes(mp, total)
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


def _refused_ahead(
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


def _saved_shard(saved: Plan | None, plan_file: str | None, shard: Shard | None) -> Shard | None:
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


def _apply_lock(
    ctx: Context, saved: Plan | None, opts: ApplyOptions, mappings: Sequence[Mapping]
) -> lockfile.LockFile | None:
    """The lock apply honours: the saved plan's, or the manifest's (checked with it)."""
    if saved is None:
        from s3lync.manifest.loader import load_manifest

        manifest = load_manifest(ctx.manifest)
        return use_lock(manifest.path, manifest.mappings, mappings, opts.lock_mode)
    if opts.lock_mode != "ignore" and saved.meta.get("lock"):
        # The plan was made under this lock: it is checked again under it.
        return lockfile.load(Path(saved.meta["lock"]))
    if opts.lock_mode == "require":
        raise lockfile.LockFileError(
            f"--locked: the saved plan {opts.plan_file} was not made from a lock file"
        )
    return None


def _apply_locked(ctx: Context, names: Sequence[str], opts: ApplyOptions) -> int:
    saved, mappings, manifest_path = _apply_inputs(ctx, names, opts.plan_file)
    shard = _saved_shard(saved, opts.plan_file, opts.shard)
    the_lock = _apply_lock(ctx, saved, opts, mappings)
    return _run_mappings(ctx, mappings, manifest_path, opts, saved, shard, the_lock)


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
        return _run_mappings(ctx, [mapping], None, opts, None, opts.shard, None)


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
    from s3lync.settings import check_extra_args
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


def _run_mappings(
    ctx: Context,
    mappings: Sequence[Mapping],
    manifest_path: str | None,
    opts: ApplyOptions,
    saved: Plan | None,
    shard: Shard | None,
    the_lock: lockfile.LockFile | None,
) -> int:
    """Plan and apply mapping by mapping, in order, with every safety rule; summarise."""
    as_json, detail = opts.as_json, opts.detail
    show = not as_json
    plans: list[MappingPlan] = []
    results: list[MappingResult] = []
    not_applied: set[str] = set()
    stopped: str | None = None
    changed = False
    unreached: list[str] = []
    # One breaker for the whole run: an endpoint that stopped answering gets no new transfer,
    # in this mapping or the next ones (sync/breaker.py).
    breaker = Breaker()
    with ctx.engine(jobs=opts.jobs, policy=opts.policy) as engine:
        engine.shard = shard
        engine.lock = the_lock
        engine.breaker = breaker
        # Every pinned listing is checked before the first mapping runs: drift changes nothing.
        engine.verify_lock(mappings)
        if show and shard is not None:
            ctx.echo(f"Shard {shard.label}: this shard's share of the work only.\n")
        fresh = _check_saved(engine, saved, opts.plan_file or "", opts) if saved else {}
        ahead = None if opts.dry_run else _preflight(ctx, engine, mappings, opts, fresh)
        if ahead is not None:
            return _refused_ahead(ctx, mappings, ahead, manifest_path, opts)
        quiet = detail == render.DETAIL_QUIET
        mode = "none" if quiet else opts.progress or ctx.settings.progress
        progress = Progress(ctx.err, 0, 0, opts.progress_tty, mode, ctx.settings.progress_interval)
        if detail != render.DETAIL_QUIET:
            engine.subscribers.append(progress)
        # On Ctrl-C the error handler erases the bar and says how far the run got.
        ctx.progress = progress
        # Mapping by mapping, in order, each planned just before it runs: an upload followed by
        # a download of the same prefix sees what the upload put there.
        for i, m in enumerate(mappings):
            fed_by = feeder(mappings[:i], m)
            if breaker.is_open(engine.remote(m).endpoint):
                # Listing it would only wait for the same timeouts again.
                unreached.append(m.label)
                continue
            # A saved plan's independent mappings were just checked: no earlier mapping of this
            # run touches either side of theirs (the manifest forbids overlapping targets).
            mp = fresh.get(i)
            if mp is None:
                mp = engine.plan_mapping(
                    m,
                    missing_ok=True,
                    fed_by=fed_by if opts.dry_run else None,
                )
            plans.append(mp)
            if show:
                for line in render.mapping_lines(mp, color=ctx.color, detail=detail):
                    ctx.echo(line)
                for line in render.error_lines([mp], color=ctx.color):
                    ctx.echo(line)
            for line in render.problem_messages(mp):
                ctx.warn(f"error: {line}")
            if mp.blocking or (fed_by in not_applied and not opts.dry_run):
                if not mp.blocking:
                    ctx.warn(
                        f"error: {m.label}: skipped: mapping {fed_by!r} writes its source "
                        "and was not applied"
                    )
                not_applied.add(m.label)
                results.append(MappingResult(plan=mp))
                continue
            if opts.dry_run:
                continue
            try:
                _confirm_deletes(ctx, engine, mp, opts)
            except ApplyRefusedError as exc:
                if not changed:
                    raise ApplyRefusedError(f"{exc}. Nothing was changed") from None
                stopped = (
                    f"{exc}; mapping {m.label!r} and the ones after it were not applied "
                    "(the ones before it were)"
                )
                break
            progress.add(len(mp.operations), mp.bytes_to_transfer)
            r = engine.execute(mp) if mp.operations else MappingResult(plan=mp)
            progress.pause()  # the next mapping's plan is printed where the bar was
            results.append(r)
            changed = changed or bool(r.transferred or r.deleted or r.done(OpKind.MKDIR))
        progress.finish()
        ctx.progress = None

    the_plan = Plan(
        mappings=tuple(plans),
        manifest=manifest_path,
        meta={
            **({"shard": shard.label} if shard is not None else {}),
            **({"lock": str(the_lock.path)} if the_lock is not None else {}),
        },
    )
    failed = [(r.plan.mapping.label, o) for r in results for o in r.failed]
    for r in results:
        for line in failure_lines(r):
            ctx.warn(f"error: {line}")
    for endpoint in breaker.tripped:
        not_tried = sum(len(r.not_tried) for r in results)
        ctx.warn(
            f"error: {breaker.error(endpoint)}: {not_tried} file(s) not tried"
            + (f", mapping(s) {', '.join(map(repr, unreached))} not applied" if unreached else "")
            + "; run again when it answers"
        )
    if stopped:
        ctx.warn(f"error: {stopped}")
    fatal = any(p.fatal for mp in plans for p in mp.problems)
    if as_json:
        doc = render.apply_document(the_plan, [] if opts.dry_run else results, dry_run=opts.dry_run)
        if shard is not None:
            doc.update(shard_document(the_plan, shard))
        ctx.echo(json.dumps(doc, indent=2))
    else:
        if detail == render.DETAIL_SUMMARY:
            ctx.echo()
        ctx.echo(render.final_line(the_plan))
        if opts.dry_run:
            ctx.echo("\nDry run: nothing was changed.")
        else:
            prefix = f"Shard {shard.label}: " if shard is not None else ""
            # The last line says what the exit code says.
            head = (
                "Apply refused"
                if stopped
                else "Apply failed"
                if (failed or fatal or unreached)
                else "Apply complete"
            )
            errors = sum(1 for mp in plans for p in mp.problems if p.fatal)
            ctx.echo("\n" + prefix + render.apply_summary(results, head=head, errors=errors))
    return EXIT_ERROR if (failed or fatal or stopped or unreached) else EXIT_OK


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


def init(ctx: Context, *, force: bool = False) -> int:
    """Write a commented starter manifest."""
    from s3lync.manifest.loader import schema_reference, starter_manifest

    target = ctx.manifest
    if target.is_dir():
        raise S3lyncError(f"{target} is a folder; name the file, e.g. -f {target / 's3lync.yaml'}")
    if target.exists() and not force:
        raise S3lyncError(f"{target} already exists; use --force to overwrite it")
    folder = target.parent
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_manifest(schema_reference(target)), encoding="utf-8")
    except OSError as exc:
        raise S3lyncError(f"cannot write {target}: {exc.strerror or exc}") from None
    # The next commands must read the same file: keep -f unless it is the default.
    flag = "" if target == Path("s3lync.yaml") else f"-f {shlex.quote(str(target))} "
    made = f" (created the folder {folder})" if created else ""
    ctx.echo(
        f"Wrote {target}{made}. Edit it, then run `s3lync {flag}validate` and `s3lync {flag}plan`."
    )
    return EXIT_OK


def schema(ctx: Context, *, path: bool = False) -> int:
    """Print the manifest's JSON Schema (what editors validate with), or with ``path`` its file."""
    from s3lync.manifest.loader import schema_path

    where = schema_path()
    ctx.echo(str(where) if path else where.read_text(encoding="utf-8").rstrip("\n"))
    return EXIT_OK


def handle_error(ctx: Context, exc: BaseException) -> int:
    """Map an exception to a message on stderr and an exit code (the one error handler).

    With ``--json`` the error is also the one document on stdout (docs/json-output.md).
    """
    if ctx.json_errors:
        ctx.echo(json.dumps(render.error_document(exc), indent=2))
    if isinstance(exc, KeyboardInterrupt):
        # The bar is erased first; then what was done and what was not.
        done = ctx.progress.interrupted() if ctx.progress is not None else ""
        ctx.warn(f"interrupted: {done}; run it again to finish" if done else "interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, ManifestError):
        for line in exc.errors:
            ctx.warn(f"error: {line}")
        return EXIT_ERROR
    if isinstance(exc, S3lyncError):
        ctx.warn(f"error: {exc}")
        return EXIT_ERROR
    # A bug: the user gets one line and a report to attach, not a bare traceback.
    try:
        path = crash.write_crash_log(exc, sys.argv)
    except OSError as write_error:
        ctx.warn("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
        ctx.warn(f"error: unexpected {type(exc).__name__} (no crash log: {write_error})")
        return crash.EXIT_CRASH
    ctx.warn(
        f"error: unexpected {type(exc).__name__}: {redact_url(str(exc))}\n"
        f"This is a bug in s3lync. A crash log was written to {path}; please attach it to a bug report"
    )
    return crash.EXIT_CRASH
