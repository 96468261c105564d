"""A plan is built with the cyclic collector paused; the engine leaves it as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.sync import planner
from s3lync.sync.engine import Engine
from s3lync.sync.run import RunOptions

pytestmark = pytest.mark.integration


@pytest.fixture
def decisions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether the collector was on each time the planner's decide stage ran."""
    seen: list[bool] = []
    real = planner.decide

    def decide(*args: Any, **kw: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kw)

    monkeypatch.setattr(planner, "decide", decide)
    was = gc.isenabled()
    gc.enable()
    yield seen
    if not was:
        gc.disable()


def test_planning_pauses_the_collector_and_applying_does_not(
    s3_server: Any, bucket: str, tmp_path: Path, decisions: list[bool]
) -> None:
    local = tmp_path / "data"
    local.mkdir()
    for i in range(3):
        (local / f"f{i}.txt").write_text(f"file {i}")
    m = Mapping(f"s3://{bucket}/p/", str(local), Direction.UPLOAD)
    with Engine(endpoint_url=s3_server.endpoint_url, settings=Settings.from_env()) as engine:
        plan = engine.plan([m], RunOptions())
        assert gc.isenabled()
        (result,) = engine.apply(plan, RunOptions())
    assert decisions == [False]
    assert result.transferred == 3 and gc.isenabled()


def test_a_failed_listing_ends_the_pause(
    s3_server: Any, tmp_path: Path, decisions: list[bool]
) -> None:
    (tmp_path / "data").mkdir()
    m = Mapping("s3://no-such-bucket-s3lync/p/", str(tmp_path / "data"), Direction.DOWNLOAD)
    settings = Settings.from_env()
    with (
        Engine(endpoint_url=s3_server.endpoint_url, settings=settings) as engine,
        pytest.raises(S3lyncError),
    ):
        engine.plan_mapping(m, RunOptions(missing_source_raises=True))
    assert gc.isenabled() and decisions == []


def test_a_collector_the_caller_switched_off_stays_off(
    s3_server: Any, bucket: str, tmp_path: Path, decisions: list[bool]
) -> None:
    (tmp_path / "data").mkdir()
    m = Mapping(f"s3://{bucket}/p/", str(tmp_path / "data"), Direction.UPLOAD)
    gc.disable()
    with Engine(endpoint_url=s3_server.endpoint_url, settings=Settings.from_env()) as engine:
        engine.plan_mapping(m, RunOptions())
    assert not gc.isenabled() and decisions == [False]
