"""`s3lync apply` progress as a person sees it: a live bar in a real terminal (tmux), plain lines
in a pipe.

The terminal test runs apply inside tmux (a real terminal emulator), holds one download with the
fault proxy so the bar stays on screen, captures the screen, releases it and captures the end.
``screens/apply_progress.txt`` is such a capture, kept as the reference picture.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .helpers import MOTO_ONLY, run_cli

SCREENS = Path(__file__).parent / "screens"
# e.g. "22/23 files, 79.0 KiB/143.0 KiB ██████████▊      55.1 KiB/s ETA 00:01" (the tmux test
# adds a first mapping of 3 files of 1 KiB to the 20 files of 140 KiB; the others have only those)
BAR = re.compile(r"^\d+/2[03] files, [\d.]+ K?i?B/14[03]\.0 KiB .* (\?|[\d.]+) (B|KiB)/s ETA \S+")


def _seed(s3: Any, bucket: str) -> None:
    for i in range(19):
        s3.put_object(Bucket=bucket, Key=f"d/f{i:02d}.bin", Body=b"x" * 4096)
    s3.put_object(Bucket=bucket, Key="d/slow.bin", Body=b"y" * 65536)


def _manifest(tmp_path: Path, bucket: str, endpoint: str, first: bool = False) -> Path:
    """One mapping ``data`` (20 files); with ``first``, a mapping of 3 files runs before it."""
    path = tmp_path / "s3lync.yaml"
    text = f"version: 1\ndefaults:\n  endpoint_url: {endpoint}\nmappings:\n"
    if first:
        text += (
            f"  - name: first\n    s3: s3://{bucket}/e/\n    local: e\n    direction: download\n"
        )
    text += f"  - name: data\n    s3: s3://{bucket}/d/\n    local: out\n    direction: download\n"
    path.write_text(text)
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "S3LYNC_PROGRESS")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Tmux:
    """One tmux server of our own (a private socket), one window of a fixed size."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / f"tmux-{uuid.uuid4().hex[:6]}")

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, script: Path) -> None:
        self.run("new-session", "-d", "-x", "110", "-y", "30", f"sh {shlex.quote(str(script))}")

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self.run("capture-pane", "-p").splitlines()]

    def wait_for(self, predicate: Any, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError("screen never matched:\n" + "\n".join(lines))
            time.sleep(0.1)

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_terminal_shows_one_live_bar_that_leaves_only_the_summary(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    _seed(s3, bucket)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"e/g{i}.txt", Body=b"g" * 1024)
    # Two mappings: the first one's bar must be gone before the second one's plan is printed.
    manifest = _manifest(tmp_path, bucket, proxy.url, first=True)
    hold = proxy.add_rule("stall", method="GET", key="/d/slow.bin", where="body", delay=120)
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in _env().items())
    script.write_text(
        exports
        + f"cd {shlex.quote(str(tmp_path))}\n"
        + f"{shlex.quote(sys.executable)} -m s3lync -f {manifest.name} apply\n"
        + 'echo "EXIT=$?"\nsleep 120\n'
    )
    tmux = Tmux(tmp_path)
    tmux.start(script)
    try:
        # The nineteen small files are done and the held one keeps the bar on screen.
        during = tmux.wait_for(lambda ls: any(BAR.match(x) and x.startswith("22/") for x in ls))
        hold.release()
        after = tmux.wait_for(lambda ls: any(line.startswith("EXIT=") for line in ls))
    finally:
        hold.release()
        tmux.kill()
    screen = "\n".join(during)
    bars = [line for line in during if BAR.match(line)]
    assert len(bars) == 1, screen  # one live display, redrawn in place
    assert bars[0].startswith("22/23 files, 79.0 KiB/143.0 KiB"), screen
    assert "# first: " in screen and "# data: " in screen and "+ slow.bin" in screen
    # No bar remnant inside the plans: every other line is a plan line, a summary or blank.
    assert screen.index("# first: ") < screen.index("# data: ") < screen.index(bars[0]), screen
    assert not [x for x in during if "files," in x and x not in bars], screen

    end = "\n".join(after)
    assert "EXIT=0" in end, end
    assert "Apply complete: 23 transferred (143.0 KiB), 0 skipped, 0 deleted, 0 failed." in end
    assert not any(BAR.match(line) or " ETA " in line for line in after), end
    # Nothing is left where the bar was: the summary follows the plan with one blank line.
    summary = next(i for i, line in enumerate(after) if line.startswith("Apply complete"))
    assert after[summary - 1] == "" and after[summary - 2].startswith("Plan: 23 to add"), end
    (tmp_path / "screen-during.txt").write_text(screen + "\n")
    (tmp_path / "screen-after.txt").write_text(end + "\n")
    reference = (SCREENS / "apply_progress.txt").read_text()
    kept = reference.split("--- during ---\n", 1)[1].split("--- after ---\n")
    assert [x for x in kept[0].splitlines() if BAR.match(x)], "the kept picture shows the bar"
    assert "Apply complete" in kept[1] and not any(BAR.match(x) for x in kept[1].splitlines())


# What is drawn does not depend on the store, so one server is enough. Plain lines come every
# S3LYNC_PROGRESS_INTERVAL seconds into a pipe (5 by default, tests/unit/test_progress.py); 0.2 here.
@MOTO_ONLY
def test_pipe_keeps_plain_lines(s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path) -> None:
    _seed(s3, bucket)
    manifest = _manifest(tmp_path, bucket, proxy.url)
    # The slow file is held until a progress line has been printed while it was in flight.
    hold = proxy.add_rule("stall", method="GET", key="/d/slow.bin", where="before", delay=120)
    proc = subprocess.Popen(
        [sys.executable, "-m", "s3lync", "-f", str(manifest), "apply"],
        cwd=tmp_path,
        env={**_env(), "S3LYNC_PROGRESS_INTERVAL": "0.2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        hold.release()
        _out, rest = proc.communicate(timeout=120)
    finally:
        hold.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = first + rest
    assert proc.returncode == 0, stderr
    lines = stderr.splitlines()
    assert lines, "a long apply into a pipe prints progress lines"
    assert all(
        re.fullmatch(r"\d+/20 files, .*, (\?|[\d.]+) (B|KiB|MiB)/s, ETA \S+", x) for x in lines
    ), lines
    assert lines[-1].startswith("20/20 files, 140.0 KiB/140.0 KiB")
    assert "\r" not in stderr and "\x1b" not in stderr


@MOTO_ONLY
@pytest.mark.parametrize("how", ["flag", "env"])
def test_progress_none_prints_nothing(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, how: str
) -> None:
    _seed(s3, bucket)
    manifest = _manifest(tmp_path, bucket, proxy.url)
    # Held for 5 intervals: any other mode would print plain lines meanwhile.
    proxy.add_rule("stall", method="GET", key="/d/slow.bin", where="before", delay=1)
    env = {**_env(), "S3LYNC_PROGRESS_INTERVAL": "0.2"}
    args = ["-f", str(manifest), "apply"]
    if how == "flag":
        args.append("--progress=none")
    else:
        env["S3LYNC_PROGRESS"] = "none"
    proc = run_cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
