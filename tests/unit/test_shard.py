"""Shards (s3lync.sync.shard): parsing, scheduler variables, and the union property over the planner."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3lync.hashing import Digest
from s3lync.localfs.scan import LocalFile, LocalSnapshot
from s3lync.mapping import Direction, Mapping
from s3lync.store.objects import RemoteObject
from s3lync.sync.pairing import pair
from s3lync.sync.plan import MappingPlan
from s3lync.sync.planner import decide
from s3lync.sync.shard import (
    Shard,
    ShardError,
    auto_shard,
    finish,
    parse_shard,
    path_hash,
    resolve,
    restrict,
    split,
)

ROOT = "/data/root"
PREFIX = "p/"


# --------------------------------------------------------------------------- parsing


def test_parse_is_one_based() -> None:
    assert parse_shard("1/4") == Shard(0, 4)
    assert parse_shard(" 4/4 ") == Shard(3, 4)
    assert parse_shard("2/4").label == "2/4"


@pytest.mark.parametrize("bad", ["0/4", "5/4", "1/0", "x/4", "3", "1/-2", "", "2/4/1"])
def test_parse_refuses_bad_values(bad: str) -> None:
    with pytest.raises(ShardError, match="--shard"):
        parse_shard(bad)


def test_hash_is_sha256_prefix() -> None:
    rel = "a/b/c.txt"
    assert path_hash(rel) == int.from_bytes(hashlib.sha256(rel.encode()).digest()[:8], "big")
    # A fixed value guards against the rule changing silently between releases (shards of one
    # run may come from different s3lync builds).
    assert path_hash("a") % 4 == int("ca978112ca1bbdca", 16) % 4


def test_resolve_combinations() -> None:
    assert resolve(None) is None
    assert resolve("3/8") == Shard(2, 8)
    with pytest.raises(ShardError, match="--shard-total needs --shard auto"):
        resolve(None, 4)
    with pytest.raises(ShardError, match="goes with --shard auto"):
        resolve("1/4", 4)


# --------------------------------------------------------------------------- --shard auto


@pytest.mark.parametrize(
    ("env", "total", "expected"),
    [
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, None, Shard(0, 3)),  # GitLab is 1-based
        ({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}, None, Shard(2, 3)),
        ({"JOB_COMPLETION_INDEX": "0"}, 4, Shard(0, 4)),  # Kubernetes is 0-based
        ({"JOB_COMPLETION_INDEX": "3"}, 4, Shard(3, 4)),
        ({"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, None, Shard(0, 2)),
        # Slurm --array=1-16: ids 1..16.
        (
            {
                "SLURM_ARRAY_TASK_ID": "1",
                "SLURM_ARRAY_TASK_COUNT": "16",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "16",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            None,
            Shard(0, 16),
        ),
        # Slurm --array=0-30:10: ids 0, 10, 20, 30.
        (
            {
                "SLURM_ARRAY_TASK_ID": "20",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_MAX": "30",
                "SLURM_ARRAY_TASK_STEP": "10",
            },
            None,
            Shard(2, 4),
        ),
    ],
)
def test_auto_from_scheduler_variables(
    env: dict[str, str], total: int | None, expected: Shard
) -> None:
    assert auto_shard(env, total) == expected


@pytest.mark.parametrize(
    ("env", "total", "message"),
    [
        ({}, None, "no scheduler variables found"),
        ({"JOB_COMPLETION_INDEX": "1"}, None, "pass --shard-total"),
        ({"JOB_COMPLETION_INDEX": "4"}, 4, "gives shard 5 of 4"),
        ({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "3"}, None, "gives shard 0 of 3"),
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, 4, "disagrees with CI_NODE_TOTAL=3"),
        ({"CI_NODE_INDEX": "one", "CI_NODE_TOTAL": "3"}, None, "not a whole number"),
        (
            # --array=1,3,7: not an evenly spaced range.
            {
                "SLURM_ARRAY_TASK_ID": "3",
                "SLURM_ARRAY_TASK_COUNT": "3",
                "SLURM_ARRAY_TASK_MIN": "1",
                "SLURM_ARRAY_TASK_MAX": "7",
                "SLURM_ARRAY_TASK_STEP": "1",
            },
            None,
            "not an evenly spaced range",
        ),
    ],
)
def test_auto_refuses_what_it_cannot_map(
    env: dict[str, str], total: int | None, message: str
) -> None:
    with pytest.raises(ShardError, match=message):
        auto_shard(env, total)


def test_split_preview_counts_every_item_once() -> None:
    items = [(f"f{i}", i) for i in range(100)]
    preview = split(items, (1, 3, 7))
    for n, shards in preview.items():
        assert len(shards) == int(n)
        assert sum(s["files"] for s in shards) == 100
        assert sum(s["bytes"] for s in shards) == sum(range(100))
        for i, s in enumerate(shards):
            mine = [rel for rel, _ in items if path_hash(rel) % int(n) == i]
            assert s["files"] == len(mine)


# --------------------------------------------------------------------------- the union property

_names = st.sampled_from(["a", "b", "c", "d.txt", "e f", "ü", "x"])
_rels = st.lists(_names, min_size=1, max_size=3).map("/".join)
_contents = st.sampled_from([b"", b"1", b"22", b"hello", b"world"])


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _files(tree: dict[str, bytes]) -> dict[str, bytes]:
    """Drop paths that are also a parent of another path (a file cannot be a folder)."""
    parents = {rel.rsplit("/", i)[0] for rel in tree for i in range(1, rel.count("/") + 1)}
    return {rel: data for rel, data in tree.items() if rel not in parents}


def _plan(
    direction: Direction,
    remote: dict[str, bytes],
    local: dict[str, bytes],
    markers: set[str],
    *,
    delete: bool,
    shard: Shard | None,
    allow_empty_source: bool = False,
) -> MappingPlan:
    m = Mapping(s3_uri=f"s3://b/{PREFIX}", local=ROOT, direction=direction, delete=delete)
    local_dirs = {rel.rsplit("/", i)[0] for rel in local for i in range(1, rel.count("/") + 1)}
    snap = LocalSnapshot(
        root=ROOT,
        exists=True,
        is_dir=True,
        files={
            rel: LocalFile(rel, f"{ROOT}/{rel}", len(d), 1, i)
            for i, (rel, d) in enumerate(sorted(local.items()))
        },
        dirs=local_dirs,
    )
    objects = [RemoteObject(PREFIX + rel, len(d), _md5(d)) for rel, d in remote.items()]
    objects += [RemoteObject(PREFIX + rel + "/", 0, _md5(b"")) for rel in markers]
    p = pair(m, "b", PREFIX, True, snap, objects)
    holders: frozenset[str] = frozenset()
    if shard is not None:
        nonempty, holders = restrict(p, shard)
        allow_empty_source = allow_empty_source or nonempty
    digests = {rel: Digest(size=len(d), md5=_md5(d)) for rel, d in local.items()}
    mp = decide(p, digests, allow_empty_source=allow_empty_source)
    return finish(mp, shard, holders) if shard is not None else mp


def _ops(mp: MappingPlan) -> list[tuple[Any, ...]]:
    return [(o.kind, o.rel, o.key, o.size, o.reason) for o in mp.operations]


@settings(max_examples=150, deadline=None)
@given(
    remote=st.dictionaries(_rels, _contents, max_size=12),
    local=st.dictionaries(_rels, _contents, max_size=12),
    markers=st.sets(_names, max_size=3),
    n=st.integers(min_value=1, max_value=9),
    direction=st.sampled_from([Direction.DOWNLOAD, Direction.UPLOAD]),
    delete=st.booleans(),
)
def test_shards_together_do_exactly_what_one_apply_does(
    remote: dict[str, bytes],
    local: dict[str, bytes],
    markers: set[str],
    n: int,
    direction: Direction,
    delete: bool,
) -> None:
    remote, local = _files(remote), _files(local)
    markers = {m for m in markers if m not in remote and m not in local}
    whole = _plan(direction, remote, local, markers, delete=delete, shard=None)
    shares = [
        _plan(direction, remote, local, markers, delete=delete, shard=Shard(i, n)) for i in range(n)
    ]
    union = [op for mp in shares for op in _ops(mp)]
    # Nothing missed, nothing done twice.
    assert sorted(union) == sorted(_ops(whole))
    assert len(union) == len(set(union))
    assert sum(mp.unchanged for mp in shares) == whole.unchanged
    for i, mp in enumerate(shares):
        assert all(Shard(i, n).owns(o.rel) for o in mp.operations)

    # Every refused key is reported by some shard, and no shard invents one; an empty source is
    # refused by each shard with target-only files to delete, and so by one at least.
    def refused(mp: MappingPlan) -> set[str]:
        return {p.key for p in mp.problems if p.fatal and "source side is empty" not in p.message}

    empty = any("source side is empty" in p.message for p in whole.problems)
    assert set().union(*(refused(mp) for mp in shares)) == refused(whole)
    assert empty == any("source side is empty" in p.message for mp in shares for p in mp.problems)


def test_empty_source_refusal_is_judged_on_the_whole_mapping() -> None:
    # One remote file, many shards: the shards that own none of the source still delete their
    # target-only files, because the source as a whole is not empty.
    local = {f"old{i}": b"x" for i in range(20)}
    remote = {"keep": b"k"}
    total = sum(
        len(_plan(Direction.DOWNLOAD, remote, local, set(), delete=True, shard=Shard(i, 8)).deletes)
        for i in range(8)
    )
    assert total == 20
    # An empty source is refused by every shard.
    for i in range(8):
        mp = _plan(Direction.DOWNLOAD, {}, local, set(), delete=True, shard=Shard(i, 8))
        assert not mp.deletes
        assert any("source side is empty" in p.message for p in mp.problems)
