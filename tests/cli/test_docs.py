"""The README's promises: its set-up commands work and CI runs exactly its test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up: the two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the set-up section has a bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_test_command():
    quickstart, test_command = _readme_commands()
    assert quickstart == "bash examples/quickstart.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in [line.strip() for line in ci], test_command


@pytest.mark.integration
def test_quickstart_runs_the_main_job(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        ["bash", "examples/quickstart.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Apply complete: 4 transferred" in proc.stdout
    assert "No changes." in proc.stdout
    assert "labels.csv: id,label" in proc.stdout
    assert proc.stdout.rstrip().endswith("quickstart: OK")


# --------------------------------------------------------------------------- a fresh machine


def _base_python() -> str:
    """The interpreter this test run's venv was made from: no s3lync, no test tools."""
    for name in ("python3", "python"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    pytest.skip("no base interpreter beside this virtual environment")


def _fresh_env(tmp_path: Path) -> dict[str, str]:
    """No usable Python on offer ($PYTHON cannot import s3lync, no active venv), and a venv left by
    an earlier set-up at $S3LYNC_VENV: it has no pip, so an install attempt would fail loudly."""
    base = _base_python()
    probe = subprocess.run([base, "-c", "import s3lync"], cwd="/", capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("the base interpreter can already import s3lync")
    venv = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    outer = [p for p in sys.path if p.endswith("site-packages")]
    (site / "earlier-setup.pth").write_text("\n".join([*outer, str(ROOT)]) + "\n")
    rclone = Path(sys.executable).parent / "rclone"
    if rclone.exists():
        (venv / "bin" / "rclone").symlink_to(rclone)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if Path(sys.executable).parent != Path(p)
    )
    env.update(PYTHON=base, S3LYNC_VENV=str(venv), HOME=str(tmp_path))
    return env


@pytest.mark.integration
def test_test_command_finds_the_checkouts_venv_when_python_cannot_import_s3lync(tmp_path):
    env = _fresh_env(tmp_path)
    proc = subprocess.run(
        ["bash", ".ci/test", "--co", "-q", "tests/unit/test_uri.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_uri.py::" in proc.stdout
    assert "installing" not in proc.stderr  # reused, not reinstalled


@pytest.mark.integration
def test_quickstart_finds_the_checkouts_venv_when_python_cannot_import_s3lync(tmp_path):
    proc = subprocess.run(
        ["bash", "examples/quickstart.sh"],
        cwd=ROOT,
        env=_fresh_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("quickstart: OK")


def _readme_example(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(f"<!-- docs-test: {name} -->\n", 1)[1]
    block = re.match(r"```python\n(.*?)```", after, re.S)
    assert block, f"a python block follows the docs-test marker {name!r}"
    return block.group(1)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["async", "progress", "policy"])
def test_readme_library_examples_run_as_written(name: str, s3_server: Any, tmp_path: Path) -> None:
    """The README's async, progress and policy examples, verbatim, against a local server."""
    s3 = s3_server.client()
    s3.create_bucket(Bucket="my-bucket")
    try:
        for key in ("datasets/train/a.csv", "datasets/test/b.csv"):
            s3.put_object(Bucket="my-bucket", Key=key, Body=b"id,label\n1,cat\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3LYNC_"))}
        env.update(
            AWS_ENDPOINT_URL=s3_server.endpoint_url,
            AWS_ACCESS_KEY_ID=s3_server.access_key,
            AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
            AWS_DEFAULT_REGION=s3_server.region,
            XDG_CACHE_HOME=str(tmp_path / "cache"),
        )
        proc = subprocess.run(
            [sys.executable, "-c", _readme_example(name)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (tmp_path / "data" / "train" / "a.csv").read_bytes() == b"id,label\n1,cat\n"
        if name == "async":
            assert proc.stdout.splitlines() == [
                str([str(tmp_path / "data" / "train"), str(tmp_path / "data" / "test")]),
                "True",
            ]
            assert s3.get_object(Bucket="my-bucket", Key="notes/today.txt")["Body"].read() == (
                b"synced\n"
            )
        elif name == "policy":
            assert (tmp_path / "data" / "test" / "b.csv").exists()
        else:
            # Bytes are reported as they move, then the file as it ends.
            assert proc.stdout.splitlines() == [
                "0/1 files, 0/15 bytes",
                "0/1 files, 15/15 bytes",
                "1/1 files, 15/15 bytes",
            ]
            assert (tmp_path / "data" / "test" / "b.csv").exists()
            assert proc.stderr == ""  # progress=True without a terminal draws nothing
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="my-bucket"):
            for o in page.get("Contents", ()):
                s3.delete_object(Bucket="my-bucket", Key=o["Key"])
        s3.delete_bucket(Bucket="my-bucket")
