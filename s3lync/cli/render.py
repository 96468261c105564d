"""Plans and results as text (terraform-style diff, summary) and as versioned JSON documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3lync.api.progress import format_size
from s3lync.sync.plan import MappingPlan, OpKind, Plan, Problem
from s3lync.sync.results import MappingResult

JSON_SCHEMA_VERSION = 1

DETAIL_FULL = "full"
DETAIL_SUMMARY = "summary"
DETAIL_QUIET = "quiet"

_COLORS = {"+": "32", "~": "33", "-": "31", "!": "31", "?": "33", "#": "1"}


def _paint(text: str, symbol: str, color: bool) -> str:
    code = _COLORS.get(symbol)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def summary_line(plan: Plan) -> str:
    """``Plan: A to add, C to change, D to delete, U unchanged (X to transfer)[, E errors].``"""
    add = plan.count(OpKind.CREATE) + plan.count(OpKind.MKDIR)
    errors = sum(1 for m in plan.mappings for p in m.problems if p.fatal)
    tail = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    return (
        f"Plan: {add} to add, {plan.count(OpKind.UPDATE)} to change, "
        f"{plan.count(OpKind.DELETE)} to delete, {plan.unchanged} unchanged "
        f"({format_size(plan.bytes_to_transfer)} to transfer){tail}."
    )


def _counts(mp: MappingPlan) -> str:
    add = mp.count(OpKind.CREATE) + mp.count(OpKind.MKDIR)
    return (
        f"{add} to add, {mp.count(OpKind.UPDATE)} to change, {mp.count(OpKind.DELETE)} to delete, "
        f"{mp.unchanged} unchanged ({format_size(mp.bytes_to_transfer)} to transfer)"
    )


def mapping_lines(
    mp: MappingPlan, *, color: bool = False, verbose: bool = False, detail: str = DETAIL_FULL
) -> list[str]:
    """One mapping's part of the diff (fatal problems excluded: :func:`error_lines` has them).

    ``detail`` is ``full`` (a line per change), ``summary`` (the header with counts) or ``quiet``
    (nothing).
    """
    if detail == DETAIL_QUIET:
        return []
    m = mp.mapping
    arrow = "->" if m.direction.value == "download" else "<-"
    root = f"s3://{mp.bucket}/{mp.root_key}"
    header = f"# {m.label}: {root} {arrow} {m.local} ({m.direction.value}"
    flags = [f for f in ("force_sync", "delete") if getattr(m, f)]
    header += (", " + ", ".join(flags) if flags else "") + ")"
    if detail == DETAIL_SUMMARY:
        return [_paint(f"{header}: {_counts(mp)}", "#", color)]
    lines = [_paint(header, "#", color)]
    for op in mp.operations:
        name = op.rel or (mp.root_key.rsplit("/", 1)[-1] if op.kind is not OpKind.MKDIR else "")
        if op.kind is OpKind.MKDIR:
            name += "/"
        size = format_size(op.size) if op.kind is not OpKind.MKDIR else "folder"
        sym = op.kind.symbol
        lines.append(_paint(f"  {sym} {name}  ({size}, {op.reason})", sym, color))
    for prob in mp.problems:
        if not prob.fatal:
            lines.append(_paint(f"  ? {prob.key}: {flag_text(prob)}", "?", color))
    if verbose:
        lines.extend(f"    {rel or mp.root_key}" for rel in mp.unchanged_paths)
    if mp.unchanged:
        lines.append(f"  ({mp.unchanged} unchanged, {format_size(mp.unchanged_bytes)})")
    if not mp.operations and not mp.problems and not mp.unchanged:
        lines.append("  (empty)")
    lines.append("")
    return lines


def error_lines(mappings: Sequence[MappingPlan], *, color: bool = False) -> list[str]:
    """The fatal problems of these mappings, after the diff so they are not lost among its lines."""
    lines: list[str] = []
    for mp in mappings:
        for prob in mp.problems:
            if prob.fatal:
                lines.append(
                    _paint(f"  ! {mp.mapping.label}: {prob.key}: {flag_text(prob)}", "!", color)
                )
        if mp.blocking:
            lines.append(f"  Mapping {mp.mapping.label!r} cannot be applied until this is fixed.")
    if lines:
        lines = [_paint("Errors:", "!", color), *lines, ""]
    return lines


def problem_messages(mp: MappingPlan) -> list[str]:
    """One ``label: key: message`` line per fatal problem (for stderr)."""
    return [f"{mp.mapping.label}: {p.key}: {flag_text(p)}" for p in mp.problems if p.fatal]


def flag_text(p: Problem) -> str:
    """A problem's message naming the flag that would allow it (``--allow-empty-source``)."""
    return p.text("--" + (p.allowed_by or "").replace("_", "-"))


def render_plan(
    plan: Plan, *, color: bool = False, verbose: bool = False, detail: str = DETAIL_FULL
) -> str:
    """The human diff: a block per mapping, then fatal problems, then the summary."""
    lines: list[str] = []
    for mp in plan.mappings:
        lines.extend(mapping_lines(mp, color=color, verbose=verbose, detail=detail))
    if detail == DETAIL_SUMMARY and plan.mappings:
        lines.append("")
    lines.extend(error_lines(plan.mappings, color=color))
    lines.append(final_line(plan))
    return "\n".join(lines)


def final_line(plan: Plan) -> str:
    """The summary line, starting ``No changes.`` when there is nothing to do and nothing wrong."""
    if plan.has_changes or any(p.fatal for m in plan.mappings for p in m.problems):
        return summary_line(plan)
    return f"No changes. {summary_line(plan)}"


def plan_document(plan: Plan) -> dict[str, Any]:
    """The ``--json`` document for ``plan`` (see docs/json-output.md)."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "kind": "plan",
        "summary": _plan_summary(plan),
        "plan": plan.to_dict(),
    }


def _plan_summary(plan: Plan) -> dict[str, Any]:
    return {
        "add": plan.count(OpKind.CREATE) + plan.count(OpKind.MKDIR),
        "change": plan.count(OpKind.UPDATE),
        "delete": plan.count(OpKind.DELETE),
        "unchanged": plan.unchanged,
        "bytes_to_transfer": plan.bytes_to_transfer,
        "has_changes": plan.has_changes,
        "problems": sum(len(m.problems) for m in plan.mappings),
    }


def apply_counts(results: Sequence[MappingResult]) -> dict[str, int]:
    """Totals over mapping results: transferred, bytes, skipped (unchanged), deleted, failed."""
    return {
        "transferred": sum(r.transferred for r in results),
        "transferred_bytes": sum(r.transferred_bytes for r in results),
        "skipped": sum(r.plan.unchanged for r in results),
        "deleted": sum(r.deleted for r in results),
        "failed": sum(len(r.failed) for r in results),
        "not_tried": sum(len(r.not_tried) for r in results),
        "verified": sum(r.verified for r in results),
        "unverified": sum(len(r.unverified) for r in results),
    }


def apply_summary(
    results: Sequence[MappingResult], *, head: str | None = None, errors: int = 0
) -> str:
    """``Apply complete: 3 transferred (1.2 MiB) (1 unverified), 120 skipped, 2 deleted, 0 failed.``

    ``head`` says how the run ended ("Apply failed", "Apply refused"; default: by the failed
    count); ``errors`` counts problems reported with the plan (a folder where a file must be).
    """
    c = apply_counts(results)
    if head is None:
        head = "Apply complete" if not (c["failed"] or errors) else "Apply failed"
    unverified = f" ({c['unverified']} unverified)" if c["unverified"] else ""
    problems = f", {errors} error{'s' if errors != 1 else ''}" if errors else ""
    not_tried = f" ({c['not_tried']} not tried)" if c["not_tried"] else ""
    return (
        f"{head}: {c['transferred']} transferred ({format_size(c['transferred_bytes'])})"
        f"{unverified}, {c['skipped']} skipped, {c['deleted']} deleted, {c['failed']} failed"
        f"{not_tried}{problems}."
    )


def apply_document(
    plan: Plan, results: Sequence[MappingResult], *, dry_run: bool = False
) -> dict[str, Any]:
    """The ``--json`` document for ``apply`` (see docs/json-output.md)."""
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "kind": "apply",
        "dry_run": dry_run,
        "summary": {**_plan_summary(plan), **apply_counts(results)},
        "plan": plan.to_dict(),
        "results": [
            {
                "mapping": r.plan.mapping.label,
                "operations": [
                    {
                        "kind": o.op.kind.value,
                        "rel": o.op.rel,
                        "key": o.op.key,
                        "local_path": o.op.local_path,
                        "size": o.op.size,
                        "ok": o.ok,
                        "error": o.error,
                        "error_type": o.error_type,
                        "verification": o.verdict.to_dict() if o.verdict is not None else None,
                    }
                    for o in r.results
                ],
            }
            for r in results
        ],
    }


def error_document(exc: BaseException) -> dict[str, Any]:
    """The ``--json`` document for a command that failed (see docs/json-output.md)."""
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    else:
        message = str(exc) or type(exc).__name__
    error: dict[str, Any] = {"class": type(exc).__name__, "message": message}
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        error["errors"] = errors
    return {"schema_version": JSON_SCHEMA_VERSION, "kind": "error", "error": error}
