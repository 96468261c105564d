"""Servers started by test fixtures die with the test process, whatever happens to it (issue 20
item 9), and the next fixture removes a dead run's server folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (already dead, not yet reaped by its new parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _run(tmp_path: Path, how: str) -> tuple[int, Path, int]:
    out = tmp_path / f"server-{how}.txt"
    env = dict(os.environ, S3LYNC_LIFETIME_OUT=str(out), S3LYNC_LIFETIME_HOW=how)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            str(REPO / "tests" / "unit" / "lifetime_probe.py"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pid, workdir = out.read_text().split(" ", 1)
    return int(pid), Path(workdir), proc.returncode


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("how", ["sigkill", "exit"])
def test_a_fixture_server_dies_with_its_test_process(tmp_path: Path, how: str) -> None:
    pid, workdir, code = _run(tmp_path, how)
    assert code != 0
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"server {pid} outlived its test process ({how})"
    if how != "sigkill":
        return
    # Its folder is left behind by a killed run, and removed when the next server starts.
    assert workdir.is_dir()
    pid2, workdir2, code2 = _run(tmp_path, "normally")
    assert code2 == 0
    assert not workdir.exists()
    assert not workdir2.exists()  # a normal end removes its own
    assert not _alive(pid2)
