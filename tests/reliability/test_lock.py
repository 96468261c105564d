"""Two ``s3lync apply`` runs of one manifest never interleave: the second fails clearly, or waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .helpers import (
    MOTO_ONLY,
    blob,
    cli_env,
    has_open,
    put_objects,
    run_cli,
    start_cli,
    tree,
    wait_until,
    write_manifest,
)

pytestmark = [pytest.mark.integration, MOTO_ONLY]

OBJECTS = {"p/a.bin": blob(31, 3000), "p/b.bin": blob(32, 1000)}


def setup(tmp_path: Path, bucket: str) -> tuple[Path, Path]:
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    return write_manifest(proj / "s3lync.yaml", [m]), proj / "data"


def test_second_apply_fails_fast_with_a_clear_message(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, OBJECTS)
    manifest, data = setup(tmp_path, bucket)
    env = cli_env(tmp_path)
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", delay=30)
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes")

    first = start_cli(*args, cwd=tmp_path, env=env)
    try:
        assert rule.matched.wait(30)
        second = run_cli(*args, cwd=tmp_path, env=env)
        first_still_running = first.poll() is None
        rule.release()
        _out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert second.returncode == 1
    assert "another s3lync apply holds the lock" in second.stderr
    assert "--lock-timeout" in second.stderr
    assert first_still_running  # the second run did not wait for the first
    # ...nor list the bucket: the only listing is the first run's.
    assert len([s for s in proxy.log if "list-type" in s.query]) == 1
    assert first.returncode == 0, err
    assert tree(data) == {k.removeprefix("p/"): v for k, v in OBJECTS.items()}


def test_second_apply_waits_with_lock_timeout_then_runs_after_the_first(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, OBJECTS)
    manifest, data = setup(tmp_path, bucket)
    # Each run signs with an access key of its own (moto takes any), so the proxy's log tells
    # whose request each one was.
    env = cli_env(tmp_path, AWS_ACCESS_KEY_ID="FIRSTRUN")
    env2 = cli_env(tmp_path, AWS_ACCESS_KEY_ID="SECONDRUN")
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", delay=30)
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes")

    first = start_cli(*args, cwd=tmp_path, env=env)
    try:
        assert rule.matched.wait(30)
        second = start_cli(*args, "--lock-timeout", "30", cwd=tmp_path, env=env2)
        try:
            # The second run is up and at the lock (its file open, the first holding it).
            wait_until(
                lambda: has_open(second.pid, ".lock") or second.poll() is not None,
                "the second run reaches the lock",
            )
            assert second.poll() is None
            rule.release()
            _o1, err1 = first.communicate(timeout=30)
            out2, err2 = second.communicate(timeout=30)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    # No interleaving: the first run's requests all come before the second run's first request.
    runs = ["FIRSTRUN" in (seen.header("authorization") or "") for seen in proxy.log]
    first_done = runs.index(False)
    assert all(runs[:first_done]) and not any(runs[first_done:]), runs
    first_requests = proxy.log[:first_done]
    assert "list-type" in first_requests[0].query
    assert sum(1 for s in first_requests if "list-type" in s.query) == 1
    second_requests = proxy.log[first_done:]
    assert second_requests and "list-type" in second_requests[0].query
    # The second run planned after the first finished: nothing left to do.
    assert "No changes" in out2
    assert tree(data) == {k.removeprefix("p/"): v for k, v in OBJECTS.items()}
