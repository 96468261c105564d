"""Sharded applies: N concurrent ``apply --shard I/N`` processes against one server do exactly what one
apply does, and one shard's failure leaves the other shards' work intact and is reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from s3lync.sync.shard import Shard

from .faultproxy import FaultProxy
from .helpers import (
    BOTH_SERVERS,
    blob,
    cli_env,
    put_objects,
    run_cli,
    start_cli,
    tree,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

N = 4
SRC = {f"d{i % 3}/f{i:02d}.bin": blob(i, 200 + 37 * i) for i in range(40)}
STALE = {f"d{i % 3}/stale{i:02d}.txt": b"only local" for i in range(8)}


def project(tmp_path: Path, name: str, bucket: str, endpoint: str) -> tuple[Path, Path]:
    proj = tmp_path / name
    local = proj / "data"
    write_files(local, {**STALE, "d0/f00.bin": b"an old version"})
    m = {"name": "m", "s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [{**m, "delete": True}], endpoint_url=endpoint)
    return manifest, local


def run_shards(manifest: Path, env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start N shard applies at once; (exit code, stdout, stderr) of each."""
    procs = [
        start_cli(
            "-f",
            str(manifest),
            "apply",
            "--yes",
            "--shard",
            f"{i}/{N}",
            cwd=manifest.parent,
            env=env,
        )
        for i in range(1, N + 1)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


@BOTH_SERVERS
def test_four_concurrent_shards_equal_one_apply(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    env = cli_env(tmp_path)
    single, single_local = project(tmp_path, "single", bucket, s3_server.endpoint_url)
    sharded, sharded_local = project(tmp_path, "sharded", bucket, s3_server.endpoint_url)

    r = run_cli("-f", str(single), "apply", "--yes", cwd=single.parent, env=env)
    assert r.returncode == 0, r.stderr
    results = run_shards(sharded, env)

    for code, _out, err in results:
        assert code == 0, err
    assert tree(sharded_local) == tree(single_local) == SRC
    # Each shard did its own share: the summaries add up to one apply's work.
    transferred = [
        int(out.split("Shard ")[-1].split(" transferred")[0].split()[-1]) for _c, out, _e in results
    ]
    assert sum(transferred) == len(SRC)


@BOTH_SERVERS
def test_a_failed_shard_leaves_the_others_intact_and_is_reported(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    env = cli_env(tmp_path, S3LYNC_MAX_ATTEMPTS="2")
    manifest, local = project(tmp_path, "proj", bucket, proxy.url)
    bad = "d1/f07.bin"
    owner = next(i for i in range(N) if Shard(i, N).owns(bad))
    proxy.add_rule("error", method="GET", key=f"/p/{bad}", status=403, times=None)

    results = run_shards(manifest, env)

    for i, (code, _out, err) in enumerate(results):
        if i == owner:
            assert code == 1
            assert f"p/{bad}" in err
            assert "AccessDenied" in err or "403" in err
        else:
            assert code == 0, err
    got = tree(local)
    for rel, data in SRC.items():
        if rel == bad:
            assert rel not in got
        else:
            assert got[rel] == data, rel
    # Deletions: the failed shard skipped its own (no deletes after a failure); the others ran theirs.
    for rel in STALE:
        assert (rel in got) == Shard(owner, N).owns(rel), rel

    # A re-run of the failed shard alone, once the fault is gone, completes the work.
    proxy.clear()
    r = run_cli(
        "-f",
        str(manifest),
        "apply",
        "--yes",
        "--shard",
        f"{owner + 1}/{N}",
        cwd=manifest.parent,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert tree(local) == SRC


@BOTH_SERVERS
def test_plan_json_previews_one_share_and_the_split(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    env = cli_env(tmp_path)
    manifest, _local = project(tmp_path, "proj", bucket, s3_server.endpoint_url)

    r = run_cli("-f", str(manifest), "plan", "--json", cwd=manifest.parent, env=env)
    assert r.returncode == 0, r.stderr
    whole = json.loads(r.stdout)
    ops = whole["plan"]["mappings"][0]["operations"]
    assert whole["shard"] is None
    four = whole["shard_preview"]["4"]
    assert sum(s["files"] for s in four) == len(ops)
    assert sum(s["bytes"] for s in four) == whole["summary"]["bytes_to_transfer"]

    for i in range(1, N + 1):
        r = run_cli(
            "-f",
            str(manifest),
            "plan",
            "--json",
            "--shard",
            f"{i}/{N}",
            cwd=manifest.parent,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["shard"] == {"index": i, "total": N}
        mine = doc["plan"]["mappings"][0]["operations"]
        assert len(mine) == four[i - 1]["files"]
        assert doc["summary"]["bytes_to_transfer"] == four[i - 1]["bytes"]
        assert all(Shard(i - 1, N).owns(o["rel"]) for o in mine)

    # --shard auto from a Kubernetes Indexed Job's variables.
    k8s = {**env, "JOB_COMPLETION_INDEX": "2"}
    r = run_cli(
        "-f",
        str(manifest),
        "plan",
        "--json",
        "--shard",
        "auto",
        "--shard-total",
        "4",
        cwd=manifest.parent,
        env=k8s,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["shard"] == {"index": 3, "total": 4}
    r = run_cli("-f", str(manifest), "plan", "--shard", "auto", cwd=manifest.parent, env=k8s)
    assert r.returncode == 1
    assert "--shard-total" in r.stderr


@BOTH_SERVERS
def test_max_delete_counts_one_shards_deletions(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    env = cli_env(tmp_path)
    manifest, local = project(tmp_path, "proj", bucket, s3_server.endpoint_url)
    counts = [sum(1 for rel in STALE if Shard(i, N).owns(rel)) for i in range(N)]
    i = max(range(N), key=lambda k: counts[k])
    assert counts[i] >= 2

    r = run_cli(
        "-f",
        str(manifest),
        "apply",
        "--yes",
        "--shard",
        f"{i + 1}/{N}",
        "--max-delete",
        str(counts[i] - 1),
        cwd=manifest.parent,
        env=env,
    )
    assert r.returncode == 1
    assert "more than --max-delete" in r.stderr
    assert tree(local).keys() >= STALE.keys()
    # The whole mapping deletes more than that, but this shard's share fits.
    r = run_cli(
        "-f",
        str(manifest),
        "apply",
        "--yes",
        "--shard",
        f"{i + 1}/{N}",
        "--max-delete",
        str(counts[i]),
        cwd=manifest.parent,
        env=env,
    )
    assert r.returncode == 0, r.stderr


@BOTH_SERVERS
def test_a_saved_shard_plan_applies_that_share_only(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    env = cli_env(tmp_path)
    manifest, local = project(tmp_path, "proj", bucket, s3_server.endpoint_url)
    cwd = manifest.parent
    r = run_cli("-f", str(manifest), "plan", "--shard", "2/4", "--out", "p.json", cwd=cwd, env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli("-f", str(manifest), "apply", "p.json", "--shard", "1/4", "--yes", cwd=cwd, env=env)
    assert r.returncode == 1
    assert "made for shard 2/4" in r.stderr
    r = run_cli("-f", str(manifest), "apply", "p.json", "--yes", cwd=cwd, env=env)
    assert r.returncode == 0, r.stderr
    got = tree(local)
    for rel, data in SRC.items():
        if Shard(1, 4).owns(rel):
            assert got[rel] == data
        elif rel != "d0/f00.bin":
            assert rel not in got
