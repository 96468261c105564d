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
