"""The real `s3lync` command (click's CliRunner and a subprocess) against the real test servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_server) -> dict[str, str]:
    values = {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "NO_COLOR"):
        monkeypatch.delenv(k, raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_manifest(path: Path, endpoint: str, mappings: str) -> Path:
    path.write_text(f"version: 1\ndefaults:\n  endpoint_url: {endpoint}\nmappings:\n{mappings}")
    return path


def listing(client, bucket: str) -> dict[str, str]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for c in page.get("Contents", []):
            out[c["Key"]] = c["ETag"]
    return out


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def seeded(s3_server, bucket, tmp_path, env):
    """A bucket with three objects under data/ and a download manifest pointing at it."""
    client = s3_server.client()
    for name, body in {"a.txt": b"alpha", "sub/b.txt": b"bravo", "c.tmp": b"scratch"}.items():
        client.put_object(Bucket=bucket, Key=f"data/{name}", Body=body)
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: data\n    s3: s3://{bucket}/data/\n    local: out\n    direction: download\n"
        "    exclude: '.*\\.tmp$'\n",
    )
    return client, manifest, tmp_path / "out"


def test_validate_ok_and_error_names_file_line_and_field(tmp_path, env, s3_server):
    good = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        "  - s3: s3://bucket-x/p/\n    local: x\n    direction: download\n",
    )
    code, out, _ = run("-f", str(good), "validate")
    assert code == 0, out
    assert "valid" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nmappings:\n  - s3: s3://bucket-x/p/\n    local: x\n"
        "    direction: sideways\n    colour: red\n"
    )
    code, _, err = run("-f", str(bad), "validate")
    assert code == 1
    assert "bad.yaml:5:" in err and "direction" in err  # the wrong value's own line
    assert "bad.yaml:6:" in err and "colour" in err  # the unknown key's own line


def test_missing_manifest_is_a_clear_error(tmp_path, env):
    code, _, err = run("-f", str(tmp_path / "nope.yaml"), "plan")
    assert code == 1
    assert "nope.yaml" in err


def test_plan_changes_nothing_and_lists_operations(seeded):
    client, manifest, out_dir = seeded
    before_remote = {
        b["Name"]: listing(client, b["Name"]) for b in client.list_buckets()["Buckets"]
    }
    code, out, _ = run("-f", str(manifest), "plan")
    assert code == 0, out
    assert "+ a.txt" in out and "+ sub/b.txt" in out
    assert "c.tmp" not in out  # excluded
    assert "Plan: 2 to add, 0 to change, 0 to delete, 0 unchanged (10 B to transfer)." in out
    assert "\x1b[" not in out  # no colour without a terminal
    after_remote = {b["Name"]: listing(client, b["Name"]) for b in client.list_buckets()["Buckets"]}
    assert after_remote == before_remote
    assert not out_dir.exists()


def test_dry_run_changes_nothing(seeded):
    _client, manifest, out_dir = seeded
    out_dir.mkdir()
    (out_dir / "local-only.txt").write_text("keep me")
    before = tree(out_dir)
    code, out, _ = run("-f", str(manifest), "apply", "--dry-run")
    assert code == 0, out
    assert "Dry run" in out
    assert tree(out_dir) == before


def test_apply_then_noop_and_detailed_exitcode(seeded, s3_server):
    client, manifest, out_dir = seeded
    code, out, _ = run("-f", str(manifest), "plan", "--detailed-exitcode")
    assert code == 2, out
    code, out, _ = run("-f", str(manifest), "apply")
    assert code == 0, out
    assert "2 transferred" in out
    assert tree(out_dir) == {"a.txt": b"alpha", "sub/b.txt": b"bravo"}
    code, out, _ = run("-f", str(manifest), "plan", "--detailed-exitcode")
    assert code == 0, out
    assert "2 unchanged" in out
    bucket = manifest.read_text().split("s3://")[1].split("/")[0]
    client.put_object(Bucket=bucket, Key="data/a.txt", Body=b"alpha v2")
    code, out, _ = run("-f", str(manifest), "plan", "--detailed-exitcode")
    assert code == 2
    assert "~ a.txt" in out


def test_plan_json_is_one_versioned_document(seeded):
    _, manifest, _ = seeded
    code, out, _ = run("-f", str(manifest), "plan", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["kind"] == "plan"
    assert doc["summary"]["add"] == 2 and doc["summary"]["bytes_to_transfer"] == 10
    ops = doc["plan"]["mappings"][0]["operations"]
    assert sorted(o["rel"] for o in ops) == ["a.txt", "sub/b.txt"]


def test_saved_plan_applies_and_stale_plan_is_refused(seeded, tmp_path):
    client, manifest, out_dir = seeded
    bucket = manifest.read_text().split("s3://")[1].split("/")[0]
    plan_file = tmp_path / "plan.json"
    code, out, _ = run("-f", str(manifest), "plan", "--out", str(plan_file))
    assert code == 0 and plan_file.exists()
    client.put_object(Bucket=bucket, Key="data/a.txt", Body=b"changed after the plan")
    code, _, err = run("-f", str(manifest), "apply", str(plan_file))
    assert code == 1
    assert "stale" in err and "a.txt" in err
    assert not out_dir.exists()  # nothing changed

    code, _, _ = run("-f", str(manifest), "plan", "--out", str(plan_file))
    code, out, _ = run("-f", str(manifest), "apply", str(plan_file))
    assert code == 0, out
    assert (out_dir / "a.txt").read_bytes() == b"changed after the plan"


def test_deletions_need_yes_without_a_terminal_and_respect_max_delete(seeded, tmp_path):
    _client, manifest, out_dir = seeded
    text = manifest.read_text().replace(
        "direction: download\n", "direction: download\n    delete: true\n"
    )
    manifest.write_text(text)
    out_dir.mkdir()
    for n in ("x1.txt", "x2.txt", "keep.tmp"):
        (out_dir / n).write_text(n)

    code, _, err = run("-f", str(manifest), "apply")
    assert code == 1
    assert "--yes" in err
    assert (out_dir / "x1.txt").exists() and not (out_dir / "a.txt").exists()

    code, _, err = run("-f", str(manifest), "apply", "--yes", "--max-delete", "1")
    assert code == 1 and "max-delete" in err
    assert (out_dir / "x1.txt").exists()

    code, _, err = run("-f", str(manifest), "apply", "--yes", "--max-delete", "10%")
    assert code == 1 and "%" in err

    code, out, _ = run("-f", str(manifest), "apply", "--yes", "--max-delete", "2")
    assert code == 0, out
    assert "2 deleted" in out
    assert tree(out_dir) == {"a.txt": b"alpha", "sub/b.txt": b"bravo", "keep.tmp": b"keep.tmp"}


def test_a_failing_plan_says_so_and_its_mapping_is_not_applied(seeded):
    _client, manifest, out_dir = seeded
    out_dir.mkdir()
    (out_dir / "sub").write_text("a file where a folder must go")

    code, out, err = run("-f", str(manifest), "plan")
    assert code == 1
    # After the diff (not one line among the + lines), on stderr, and counted in the summary.
    errors_at = out.index("Errors:")
    assert out.index("+ a.txt") < errors_at
    assert "local file 'sub' stands where a folder should be created" in out[errors_at:]
    assert "Mapping 'data' cannot be applied" in out[errors_at:]
    assert out.rstrip().splitlines()[-1].endswith(", 1 error.")
    assert "error: data: data/sub/: local file 'sub'" in err

    code, out, err = run("-f", str(manifest), "apply")
    assert code == 1
    assert "local file 'sub' stands where a folder should be created" in err
    # The mapping is refused as a whole: nothing transferred, nothing failed file by file.
    assert tree(out_dir) == {"sub": b"a file where a folder must go"}
    assert "0 transferred" in out and "0 failed" in out


def test_upload_mapping_and_json_apply(s3_server, bucket, tmp_path, env):
    src = tmp_path / "reports"
    (src / "q1").mkdir(parents=True)
    (src / "q1" / "r.csv").write_text("1,2\n")
    (src / ".hidden").write_text("no")
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: reports\n    s3: s3://{bucket}/reports/\n    local: reports\n"
        "    direction: upload\n    exclude: ['(^|/)\\.']\n",
    )
    code, out, _ = run("-f", str(manifest), "apply", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["kind"] == "apply" and doc["summary"]["transferred"] == 1
    assert doc["results"][0]["operations"][0]["ok"] is True
    assert set(listing(s3_server.client(), bucket)) == {"reports/q1/r.csv"}


def test_global_endpoint_override(s3_server, bucket, tmp_path, env):
    s3_server.client().put_object(Bucket=bucket, Key="k/f.txt", Body=b"x")
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:9",  # nothing listens there: the override must win
        f"  - s3: s3://{bucket}/k/\n    local: o\n    direction: download\n",
    )
    code, out, _ = run("-f", str(manifest), "--endpoint-url", s3_server.endpoint_url, "apply")
    assert code == 0, out
    assert (tmp_path / "o" / "f.txt").read_bytes() == b"x"


def test_unreachable_endpoint_is_one_clear_error(tmp_path, env, s3_server):
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:9",
        "  - s3: s3://bucket-x/k/\n    local: o\n    direction: download\n",
    )
    os.environ["S3LYNC_MAX_ATTEMPTS"] = "1"
    try:
        code, _, err = run("-f", str(manifest), "plan")
    finally:
        del os.environ["S3LYNC_MAX_ATTEMPTS"]
    assert code == 1
    assert err.startswith("error:") and "bucket-x" in err and "Traceback" not in err


def test_concurrent_apply_is_refused_while_locked(seeded):
    from s3lync.sync.engine import run_lock

    _, manifest, out_dir = seeded
    with run_lock(str(manifest)):
        code, _, err = run("-f", str(manifest), "apply")
    assert code == 1
    assert "lock" in err
    assert not out_dir.exists()


def test_apply_reads_the_manifest_once(seeded, monkeypatch):
    """The mappings apply runs and the ones its lock file is checked against are one reading."""
    from s3lync.manifest import loader

    _, manifest, _ = seeded
    reads = []
    real = loader.load_manifest

    def counted(path, *args, **kwargs):
        reads.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader, "load_manifest", counted)
    code, out, _ = run("-f", str(manifest), "apply")
    assert code == 0, out
    assert len(reads) == 1
    code, out, err = run("-f", str(manifest), "lock")
    assert code == 0, err
    reads.clear()
    code, out, err = run("-f", str(manifest), "apply", "--locked")
    assert code == 0, err
    assert "0 transferred" in out
    assert len(reads) == 1


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path, env):
    target = tmp_path / "s3lync.yaml"
    code, _, _ = run("-f", str(target), "init")
    assert code == 0 and target.exists()
    code, _out, err = run("-f", str(target), "validate")
    assert code == 0, err
    code, _, err = run("-f", str(target), "init")
    assert code == 1 and "exists" in err


def test_python_dash_m_works(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "s3lync", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    for command in ("validate", "plan", "apply", "init"):
        assert command in proc.stdout
