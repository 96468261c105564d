"""`s3lync apply` on a real terminal (a pty): it asks before deleting, and colours its diff."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def run_on_pty(
    args: list[str], answer: str | None, env: dict[str, str], cwd: Path
) -> tuple[int, str]:
    """Run a command with stdin/stdout/stderr on a pty; type ``answer`` when it asks."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    out = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if answer is not None and not answered and b"[y/N]" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(master)
    return proc.returncode, out.decode("utf-8", "replace")


@pytest.fixture
def mirror(s3_server: Any, bucket: str, tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    s3_server.client().put_object(Bucket=bucket, Key="m/keep.txt", Body=b"keep")
    local = tmp_path / "mirror"
    local.mkdir()
    (local / "stale.txt").write_text("only local")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - s3: s3://{bucket}/m/\n    local: mirror\n    direction: download\n    delete: true\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(
        AWS_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        TERM="xterm",
    )
    return [sys.executable, "-m", "s3lync", "apply"], env, tmp_path


def test_terminal_asks_before_deleting_and_no_keeps_everything(mirror) -> None:
    args, env, cwd = mirror
    code, out = run_on_pty(args, "n", env, cwd)
    assert "[y/N]" in out
    assert code == 1, out
    assert (cwd / "mirror" / "stale.txt").exists()
    assert not (cwd / "mirror" / "keep.txt").exists()  # refused before anything ran
    assert "\x1b[31m" in out  # the '-' line is red on a terminal


def test_terminal_yes_deletes_and_no_color_is_respected(mirror) -> None:
    args, env, cwd = mirror
    env = {**env, "NO_COLOR": "1"}
    code, out = run_on_pty(args, "y", env, cwd)
    assert code == 0, out
    assert not (cwd / "mirror" / "stale.txt").exists()
    assert (cwd / "mirror" / "keep.txt").read_bytes() == b"keep"
    assert "\x1b[3" not in out
