"""Progress of one large file behind a throttled link, as a person sees it.

A :class:`~tests.reliability.netkit.ThrottleFront` limits the server to a few MiB/s (as
``rclone serve s3 --bwlimit`` would) and can pause it. In a pipe, ``--progress plain`` must write
a line on its timer while the file is still moving, and while nothing moves at all; in a real
terminal (tmux) the bar must show bytes, a rate in binary units and an ETA from the first seconds,
and Ctrl-C must erase it and say what was done and what was not.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import MOTO_ONLY
from .netkit import ThrottleFront
from .test_progress_screen import Tmux

MiB = 1024 * 1024
# "0/1 files, 3.2 MiB/24.0 MiB, 2.9 MiB/s, ETA 00:07"
LINE = re.compile(
    r"(\d+)/1 files, ([\d.]+) (B|KiB|MiB)/([\d.]+) MiB, (\?|[\d.]+) (B|KiB|MiB)/s, ETA (\S+)"
)
_UNIT = {"B": 1, "KiB": 1024, "MiB": MiB}


def _bytes(m: re.Match[str]) -> float:
    return float(m.group(2)) * _UNIT[m.group(3)]


def _setup(s3: Any, bucket: str, tmp_path: Path, endpoint: str, size: int) -> Path:
    s3.put_object(Bucket=bucket, Key="big/model.bin", Body=os.urandom(size))
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\ndefaults:\n  endpoint_url: {endpoint}\nmappings:\n"
        f"  - name: model\n    s3: s3://{bucket}/big/\n    local: out\n    direction: download\n"
    )
    return manifest


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "S3LYNC_PROGRESS")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@MOTO_ONLY
def test_plain_lines_in_a_pipe_come_on_a_timer_while_one_file_moves_and_while_nothing_does(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    size = 24 * MiB
    with ThrottleFront(s3_server.endpoint_url, 4 * MiB) as slow:
        manifest = _setup(s3, bucket, tmp_path, slow.url, size)
        proc = subprocess.Popen(
            [sys.executable, "-m", "s3lync", "-f", str(manifest), "apply", "--progress", "plain"],
            cwd=tmp_path,
            env=_env(S3LYNC_PROGRESS_INTERVAL="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        seen: list[tuple[float, str]] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.put((time.monotonic(), line.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()

        def next_line() -> str:
            got = lines.get(timeout=60)
            seen.append(got)
            return got[1]

        try:
            # Bytes show while the one file is still on its way.
            while True:
                m = LINE.fullmatch(next_line())
                if m and m.group(1) == "0" and _bytes(m) > 0:
                    break
            moving = m
            slow.pause()
            paused_from = len(seen)
            held = [LINE.fullmatch(next_line()) for _ in range(3)]
            slow.resume()
            assert proc.stdout is not None
            out = proc.stdout.read()  # stderr is the reader thread's alone
            proc.wait(timeout=120)
        finally:
            slow.resume()
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=10)
        while not lines.empty():
            seen.append(lines.get())
    (tmp_path / "pipe-lines.txt").write_text(
        "".join(f"{t - seen[0][0]:6.2f}s  {text}\n" for t, text in seen)
    )
    assert proc.returncode == 0, seen
    assert 0 < _bytes(moving) < size, moving.group(0)
    # Nothing moved for three intervals, and still three lines came: the same bytes each time.
    assert all(h is not None and h.group(1) == "0" for h in held), seen[paused_from:]
    assert held[1] is not None and held[2] is not None
    assert _bytes(held[1]) == _bytes(held[2]) < size, seen[paused_from:]
    texts = [text for _, text in seen]
    assert all(LINE.fullmatch(x) for x in texts), texts
    assert texts[-1].startswith("1/1 files, 24.0 MiB/24.0 MiB"), texts
    # A rate in binary units once bytes moved (never tqdm's bare "iB/s").
    assert any(re.search(r", [\d.]+ (KiB|MiB)/s, ETA \d", x) for x in texts), texts
    assert "Apply complete: 1 transferred (24.0 MiB)" in out
    assert "\r" not in "".join(texts)


@MOTO_ONLY
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_terminal_bar_moves_with_bytes_and_ctrl_c_erases_it_and_says_what_was_done(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    size = 48 * MiB
    with ThrottleFront(s3_server.endpoint_url, 3 * MiB) as slow:
        _setup(s3, bucket, tmp_path, slow.url, size)
        script = tmp_path / "run.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in _env().items())
        script.write_text(
            exports
            + f"cd {shlex.quote(str(tmp_path))}\n"
            # A trap (not an ignore): the shell outlives Ctrl-C and s3lync still gets SIGINT.
            + "trap 'true' INT\n"
            + f"{shlex.quote(sys.executable)} -m s3lync apply\n"
            + 'echo "EXIT=$?"\nsleep 120\n'
        )
        # "0/1 files, 5.0 MiB/48.0 MiB ████▏        2.9 MiB/s ETA 00:14"
        bar = re.compile(
            r"^0/1 files, ([\d.]+) (KiB|MiB)/48\.0 MiB \S.* [\d.]+ (KiB|MiB)/s ETA \d\d:\d\d$"
        )
        tmux = Tmux(tmp_path)
        tmux.start(script)
        try:
            during = tmux.wait_for(
                lambda ls: any((m := bar.match(x)) and float(m.group(1)) > 0 for x in ls)
            )
            tmux.run("send-keys", "C-c")
            after = tmux.wait_for(lambda ls: any(x.startswith("EXIT=") for x in ls))
        finally:
            tmux.kill()
    screen, end = "\n".join(during), "\n".join(after)
    (tmp_path / "screen-during.txt").write_text(screen + "\n")
    (tmp_path / "screen-after.txt").write_text(end + "\n")
    assert len([x for x in during if bar.match(x)]) == 1, screen
    assert "EXIT=130" in end, end
    # The bar is gone; what was done and what was not is said instead.
    assert not any(" ETA " in x or "█" in x for x in after), end
    said = [x for x in after if x.startswith("interrupted: ")]
    assert said, end
    assert re.fullmatch(
        r"interrupted: 0 of 1 file\(s\) done \([\d.]+ (KiB|MiB) of 48\.0 MiB\), 1 not done; "
        r"run it again to finish",
        said[0],
    ), said[0]
    # Nothing half-written is left behind.
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
