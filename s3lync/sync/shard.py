"""Shards: split one mapping's work across N independent workers by a stable hash of each path.

Shard ``i`` of ``N`` (1-based on the command line, 0-based here) owns the relative paths whose
hash -- the first 8 bytes of SHA-256 of the UTF-8 path, as a big-endian unsigned integer -- is
``i`` modulo ``N``. Every worker sees the same listing and computes the same hashes, so N shards
together do exactly what one apply would, with no coordinator and whatever order they run in.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from s3lync.errors import S3lyncError
from s3lync.mapping import Direction
from s3lync.sync.plan import MappingPlan, OpKind

if TYPE_CHECKING:
    from s3lync.sync.pairing import Pairing

log = logging.getLogger(__name__)

# Shard counts that ``plan --json`` previews when no shard is given (to help size N).
PREVIEW_COUNTS = (2, 4, 8, 16, 32)


class ShardError(S3lyncError, ValueError):
    """A ``--shard`` value, or the scheduler variables behind ``--shard auto``, cannot be used."""


def path_hash(rel: str) -> int:
    """The stable 64-bit hash of a relative path that decides its shard."""
    return int.from_bytes(
        hashlib.sha256(rel.encode("utf-8", "surrogateescape")).digest()[:8], "big"
    )


@dataclass(frozen=True)
class Shard:
    """One share of the work: ``index`` is 0-based, ``total`` the number of shards."""

    index: int
    total: int

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ShardError(f"shard {self.index + 1}/{self.total}: expected 1 <= I <= N")

    @property
    def label(self) -> str:
        """The 1-based ``I/N`` form the command line uses."""
        return f"{self.index + 1}/{self.total}"

    def owns(self, rel: str) -> bool:
        """True when this shard transfers or deletes ``rel``."""
        return self.total == 1 or path_hash(rel) % self.total == self.index


def parse_shard(value: str) -> Shard:
    """Parse ``I/N`` (1-based), e.g. ``2/4``."""
    text = value.strip()
    head, sep, tail = text.partition("/")
    try:
        if not sep:
            raise ValueError
        index, total = int(head), int(tail)
    except ValueError:
        raise ShardError(
            f"--shard {value!r}: expected I/N with 1 <= I <= N (e.g. 2/4), or 'auto'"
        ) from None
    if total < 1 or not 1 <= index <= total:
        raise ShardError(f"--shard {value!r}: the index is 1-based, 1 <= I <= N (got {text})")
    return Shard(index - 1, total)


def _int_var(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "")
    try:
        return int(raw.strip())
    except ValueError:
        raise ShardError(f"--shard auto: {name}={raw!r} is not a whole number") from None


def _total(env: Mapping[str, str], name: str, given: int | None) -> int:
    total = _int_var(env, name)
    if given is not None and given != total:
        raise ShardError(f"--shard auto: --shard-total {given} disagrees with {name}={total}")
    return total


def _checked(index: int, total: int, source: str) -> Shard:
    if total < 1 or not 0 <= index < total:
        raise ShardError(f"--shard auto: {source} gives shard {index + 1} of {total}")
    log.info("shard %d/%d from %s", index + 1, total, source)
    return Shard(index, total)


def auto_shard(env: Mapping[str, str], shard_total: int | None = None) -> Shard:
    """The shard the CI or cluster scheduler assigned to this worker, from its variables.

    Checked in this order (the first scheduler whose index variable is set wins):
    GitLab ``CI_NODE_INDEX`` (1-based) / ``CI_NODE_TOTAL``; Kubernetes Indexed Job
    ``JOB_COMPLETION_INDEX`` (0-based) with ``shard_total`` (the Job's ``completions``);
    Slurm ``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT``, where task ids run from
    ``SLURM_ARRAY_TASK_MIN`` in steps of ``SLURM_ARRAY_TASK_STEP``; Buildkite
    ``BUILDKITE_PARALLEL_JOB`` (0-based) / ``BUILDKITE_PARALLEL_JOB_COUNT``.
    """
    if env.get("CI_NODE_INDEX"):
        total = _total(env, "CI_NODE_TOTAL", shard_total)
        return _checked(_int_var(env, "CI_NODE_INDEX") - 1, total, "GitLab CI_NODE_INDEX")
    if env.get("JOB_COMPLETION_INDEX"):
        if shard_total is None:
            raise ShardError(
                "--shard auto: JOB_COMPLETION_INDEX is set but Kubernetes does not say how many "
                "completions there are; pass --shard-total N (the Job's spec.completions)"
            )
        return _checked(
            _int_var(env, "JOB_COMPLETION_INDEX"), shard_total, "Kubernetes JOB_COMPLETION_INDEX"
        )
    if env.get("SLURM_ARRAY_TASK_ID"):
        return _slurm(env, shard_total)
    if env.get("BUILDKITE_PARALLEL_JOB"):
        total = _total(env, "BUILDKITE_PARALLEL_JOB_COUNT", shard_total)
        return _checked(_int_var(env, "BUILDKITE_PARALLEL_JOB"), total, "BUILDKITE_PARALLEL_JOB")
    raise ShardError(
        "--shard auto: no scheduler variables found (CI_NODE_INDEX, JOB_COMPLETION_INDEX, "
        "SLURM_ARRAY_TASK_ID, BUILDKITE_PARALLEL_JOB); pass --shard I/N"
    )


def _slurm(env: Mapping[str, str], shard_total: int | None) -> Shard:
    # https://slurm.schedmd.com/job_array.html: ids need not start at 0 (--array=1-16) and may
    # step (--array=0-30:2); a list such as --array=1,3,7 has no step we can map back.
    task = _int_var(env, "SLURM_ARRAY_TASK_ID")
    count = _total(env, "SLURM_ARRAY_TASK_COUNT", shard_total)
    low = _int_var(env, "SLURM_ARRAY_TASK_MIN") if env.get("SLURM_ARRAY_TASK_MIN") else 0
    step = _int_var(env, "SLURM_ARRAY_TASK_STEP") if env.get("SLURM_ARRAY_TASK_STEP") else 1
    high = _int_var(env, "SLURM_ARRAY_TASK_MAX") if env.get("SLURM_ARRAY_TASK_MAX") else None
    regular = step >= 1 and (high is None or low + (count - 1) * step == high)
    if not regular or (task - low) % step:
        raise ShardError(
            f"--shard auto: Slurm array ids {low}..{high} (step {step}, {count} tasks) are not "
            "an evenly spaced range; submit --array=0-N or pass --shard I/N"
        )
    return _checked((task - low) // step, count, "Slurm SLURM_ARRAY_TASK_ID")


def resolve(
    value: str | None, shard_total: int | None = None, env: Mapping[str, str] | None = None
) -> Shard | None:
    """``--shard`` as given: None, ``I/N``, or ``auto`` (the scheduler variables in ``env``)."""
    if value is None:
        if shard_total is not None:
            raise ShardError("--shard-total needs --shard auto")
        return None
    if value.strip().lower() == "auto":
        return auto_shard({} if env is None else env, shard_total)
    if shard_total is not None:
        raise ShardError("--shard-total goes with --shard auto (I/N already names N)")
    return parse_shard(value)


def split(
    items: Iterable[tuple[str, int]], counts: Iterable[int] = PREVIEW_COUNTS
) -> dict[str, list[dict[str, int]]]:
    """How (rel, size) work items would spread over each shard count: files and bytes per shard."""
    hashed = [(path_hash(rel), size) for rel, size in items]
    out: dict[str, list[dict[str, int]]] = {}
    for n in counts:
        files = [0] * n
        sizes = [0] * n
        for h, size in hashed:
            files[h % n] += 1
            sizes[h % n] += size
        out[str(n)] = [{"files": f, "bytes": b} for f, b in zip(files, sizes, strict=True)]
    return out


def restrict(pairing: Pairing, shard: Shard) -> tuple[bool, frozenset[str]]:
    """Keep only ``shard``'s files in ``pairing`` (in place), before any digest or HEAD.

    Returns whether the mapping's whole source had files (the empty-source rule is judged on the
    whole mapping, so every shard reaches the same verdict) and the folders that hold remote files
    (created implicitly by those files, in whichever shard owns them).
    """
    download = pairing.mapping.direction is Direction.DOWNLOAD
    source_nonempty = bool(pairing.remote if download else pairing.local)
    holders: set[str] = set()
    if download and pairing.remote_dirs:
        for rel in pairing.remote:
            parent = rel.rpartition("/")[0]
            while parent and parent not in holders:
                holders.add(parent)
                parent = parent.rpartition("/")[0]
    pairing.local = {r: f for r, f in pairing.local.items() if shard.owns(r)}
    pairing.remote = {r: o for r, o in pairing.remote.items() if shard.owns(r)}
    return source_nonempty, frozenset(holders)


def finish(mplan: MappingPlan, shard: Shard, holders: frozenset[str]) -> MappingPlan:
    """Drop the folder markers another shard owns, or that files of any shard create anyway."""
    ops = tuple(
        o
        for o in mplan.operations
        if o.kind is not OpKind.MKDIR or (shard.owns(o.rel) and o.rel not in holders)
    )
    return replace(mplan, operations=ops)
