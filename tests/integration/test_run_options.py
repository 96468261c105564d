"""A run is ``engine.plan(mappings, options)`` then ``engine.apply(plan, options)``: what is per
run (the deletion budget) lives in its RunOptions, and the library face enters the same pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli
from s3lync.errors import ApplyRefusedError
from s3lync.mapping import Direction, Mapping
from s3lync.sync.engine import Engine
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.run import RunOptions


def _mirror(bucket: str, prefix: str, local: Path) -> Mapping:
    return Mapping(
        s3_uri=f"s3://{bucket}/{prefix}/",
        local=str(local),
        direction=Direction.DOWNLOAD,
        delete=True,
        name=prefix,
    )


def test_max_delete_counts_across_the_mappings_of_one_run_not_the_engine(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    roots = {}
    for prefix in ("one", "two"):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/keep.txt", Body=b"k")
        root = roots[prefix] = tmp_path / prefix
        root.mkdir()
        for extra in ("x", "y"):
            (root / extra).write_bytes(b"only here")
    mappings = [_mirror(bucket, p, roots[p]) for p in ("one", "two")]
    policy = ApplyPolicy(max_delete=3)
    with Engine(endpoint_url=s3_server.endpoint_url) as engine:
        run = RunOptions(policy=policy)
        plan = engine.plan(mappings, run)
        with pytest.raises(ApplyRefusedError, match="deletes 4 file"):
            engine.apply(plan, run)
        # The first mapping's two deletions count against the second's within the run.
        assert sorted(p.name for p in roots["one"].iterdir()) == ["keep.txt"]
        assert sorted(p.name for p in roots["two"].iterdir()) == ["x", "y"]
        # A new run on the same engine has its own budget.
        again = RunOptions(policy=policy)
        (result,) = engine.apply(engine.plan(mappings[1:], again), again)
        assert result.deleted == 2
        assert sorted(p.name for p in roots["two"].iterdir()) == ["keep.txt"]


def _record_pipeline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, RunOptions]]:
    """Record each Engine.plan_mapping / Engine.execute call, with the run options it got."""
    calls: list[tuple[str, RunOptions]] = []
    real_plan, real_execute = Engine.plan_mapping, Engine.execute

    def plan_mapping(self: Engine, mapping: Mapping, options: RunOptions, **kw: Any) -> Any:
        calls.append(("plan", options))
        return real_plan(self, mapping, options, **kw)

    def execute(self: Engine, mplan: Any, options: RunOptions) -> Any:
        calls.append(("execute", options))
        return real_execute(self, mplan, options)

    monkeypatch.setattr(Engine, "plan_mapping", plan_mapping)
    monkeypatch.setattr(Engine, "execute", execute)
    return calls


def test_s3object_download_enters_the_engines_pipeline(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    calls = _record_pipeline(monkeypatch)
    make_obj(f"s3://{bucket}/p/", local_path=tmp_path / "d").download()
    assert [what for what, _ in calls] == ["plan", "execute"]
    # One call is one run: planning and executing share its options.
    assert calls[0][1] is calls[1][1]
    assert (tmp_path / "d" / "a.txt").read_bytes() == b"a"


def test_cli_apply_enters_the_same_pipeline(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="q/b.txt", Body=b"b")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\nmappings:\n  - s3: s3://{bucket}/q/\n    local: out\n    direction: download\n"
    )
    calls = _record_pipeline(monkeypatch)
    ep = ["--endpoint-url", s3_server.endpoint_url]
    result = CliRunner().invoke(cli, ["apply", "-f", str(manifest), "--yes", *ep])
    assert result.exit_code == 0, result.output
    assert [what for what, _ in calls] == ["plan", "execute"]
    # One run: the options executing the plan carry the same run state (budget, breaker).
    assert calls[0][1].state is calls[1][1].state
    assert (tmp_path / "out" / "b.txt").read_bytes() == b"b"
