"""The README's promises: its set-up commands work and CI runs exactly its test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
