"""RunOptions (s3lync.sync.run): a run's options and state live in the run, never on the engine."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from s3lync.errors import ApplyRefusedError
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.sync.engine import Engine
from s3lync.sync.plan import MappingPlan, Operation, OpKind
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.run import RunOptions
from s3lync.sync.shard import Shard

PER_RUN = ("policy", "shard", "lock", "breaker", "deleted", "subscribers", "cancel")


def _deleting(n: int) -> MappingPlan:
    m = Mapping(s3_uri="s3://bkt/p/", local="/r", direction=Direction.DOWNLOAD, delete=True)
    ops = tuple(
        Operation(
            kind=OpKind.DELETE,
            rel=f"f{i}",
            key=f"p/f{i}",
            local_path=f"/r/f{i}",
            size=1,
            reason="only locally",
        )
        for i in range(n)
    )
    return MappingPlan(mapping=m, bucket="bkt", root_key="p/", is_dir=True, operations=ops)


def test_the_engine_holds_no_run_state_and_takes_none() -> None:
    with Engine(settings=Settings.from_env({})) as engine:
        for name in PER_RUN:
            assert not hasattr(engine, name), name
            with pytest.raises(AttributeError):
                setattr(engine, name, None)


def test_run_options_are_frozen() -> None:
    options = RunOptions(shard=Shard(0, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.shard = None  # type: ignore[misc]


def test_the_deletion_budget_spans_the_mappings_of_one_run_only() -> None:
    run = RunOptions(policy=ApplyPolicy(max_delete=3))
    run.check_deletes(_deleting(2))
    run.spend(2)
    # The same run: 2 deleted + 2 more is over the limit of 3.
    with pytest.raises(ApplyRefusedError, match="deletes 4 file"):
        run.check_deletes(_deleting(2))
    # Options derived for the same run keep its count; a new run starts from nothing.
    with pytest.raises(ApplyRefusedError, match="deletes 4 file"):
        dataclasses.replace(run, verbose=True).check_deletes(_deleting(2))
    RunOptions(policy=ApplyPolicy(max_delete=3)).check_deletes(_deleting(2))


def test_each_run_has_its_own_breaker_and_state() -> None:
    a = RunOptions()
    b = RunOptions()
    assert a.breaker is a.breaker and a.breaker is not b.breaker
    with_cancel = dataclasses.replace(a, cancel=threading.Event())
    assert with_cancel.breaker is a.breaker


def test_a_shard_of_one_restricts_nothing_and_the_plan_records_shard_and_lock() -> None:
    assert RunOptions(shard=Shard(0, 1)).planned_shard is None
    assert RunOptions(shard=Shard(1, 4)).planned_shard == Shard(1, 4)
    assert RunOptions(shard=Shard(1, 4)).meta == {"shard": "2/4"}
    assert RunOptions().meta == {}
