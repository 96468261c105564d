"""The sharding examples (GitHub Actions matrix, Kubernetes Indexed Job) say what s3lync accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from s3lync.cli.main import cli
from s3lync.manifest.loader import load_manifest
from s3lync.sync.shard import Shard, auto_shard, parse_shard

ROOT = Path(__file__).resolve().parents[2]


def test_github_matrix_covers_every_shard_once() -> None:
    wf = yaml.safe_load((ROOT / "examples" / "shards" / "github-actions.yml").read_text())
    job = wf["jobs"]["fetch"]
    shards = job["strategy"]["matrix"]["shard"]
    assert job["strategy"]["fail-fast"] is False
    run = next(s["run"] for s in job["steps"] if "--shard" in s.get("run", ""))
    m = re.search(r"--shard \$\{\{ matrix\.shard \}\}/(\d+)", run)
    assert m, run
    n = int(m.group(1))
    assert sorted(shards) == list(range(1, n + 1))
    assert {parse_shard(f"{s}/{n}") for s in shards} == {Shard(i, n) for i in range(n)}
    manifest = ROOT / shlex.split(run)[shlex.split(run).index("-f") + 1]
    assert load_manifest(manifest).mappings


def test_kubernetes_indexed_job_shards_match_completions(tmp_path: Path) -> None:
    docs = list(
        yaml.safe_load_all((ROOT / "examples" / "shards" / "k8s-indexed-job.yaml").read_text())
    )
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    job = next(d for d in docs if d["kind"] == "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    command = spec["template"]["spec"]["containers"][0]["args"][0]
    argv = shlex.split(command.split("&&")[-1])
    assert argv[argv.index("--shard") + 1] == "auto"
    total = int(argv[argv.index("--shard-total") + 1])
    assert total == spec["completions"]
    # Every pod index Kubernetes hands out maps to a distinct shard.
    shards = {auto_shard({"JOB_COMPLETION_INDEX": str(i)}, total) for i in range(total)}
    assert shards == {Shard(i, total) for i in range(total)}
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(config["data"]["s3lync.yaml"])
    assert load_manifest(manifest).mappings[0].name == "datasets"
    # The flags parse (the command then fails only for want of a reachable bucket).
    result = CliRunner().invoke(cli, ["apply", "--help"])
    assert "--shard-total" in result.output
