"""The console script hands the interpreter's exit a frozen collector, and its exit code intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_PROBE = (
    "import atexit, gc, sys\n"
    "atexit.register(lambda: print('frozen', gc.get_freeze_count()))\n"
    "from s3lync.cli.main import main\n"
    "sys.argv = ['s3lync', *sys.argv[1:]]\n"
    "main()\n"
)


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_the_exit_walks_no_module_objects(tmp_path: Path) -> None:
    done = _run(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    frozen = int(done.stdout.split("frozen")[-1])
    assert frozen > 1000  # the modules' objects, frozen before the interpreter's exit


def test_a_failing_command_keeps_its_exit_code(tmp_path: Path) -> None:
    done = _run(tmp_path, "-f", str(tmp_path / "missing.yaml"), "plan")
    assert done.returncode not in (0, None)
    assert "missing.yaml" in done.stderr
    assert int(done.stdout.split("frozen")[-1]) > 1000
