"""The local S3 server (``rclone serve s3`` over a folder) and the data sets written straight to it.

rclone serves every sub-folder of its root as a bucket and every file below as an object, so the
download seeds are written directly on disk instead of being uploaded: fast, and identical for
every tool. The upload sources are hard links to the same files.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "benchkey"
SECRET_KEY = "benchsecret"
REGION = "us-east-1"
BUCKET = "bench"
# Every generated file gets this mtime (whole seconds, 2024-01-01T00:00:00Z): local copies and
# remote objects then compare equal by size and time for the peers that sync by mtime.
FIXED_MTIME = 1_704_067_200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RcloneServer:
    """``rclone serve s3 --addr 127.0.0.1:PORT --auth-key KEY,SECRET ROOT`` with an empty config."""

    def __init__(self, rclone: Path, root: Path, workdir: Path) -> None:
        self.rclone = rclone
        self.root = root
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        empty = self.workdir / "rclone-server-empty.conf"
        empty.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RCLONE_", "AWS_"))}
        env["RCLONE_CONFIG"] = str(empty)
        argv = [
            str(self.rclone),
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            str(self.root),
        ]
        logf = open(self.workdir / "rclone-serve.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            argv, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited early, see {logf.name}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("rclone serve s3 did not start listening within 30 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> RcloneServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_rclone_client_config(path: Path, endpoint: str) -> None:
    """The peer rclone's remote ``bench:``: same endpoint and keys as every other tool."""
    path.write_text(
        "[bench]\n"
        "type = s3\n"
        "provider = Other\n"
        f"endpoint = {endpoint}\n"
        f"access_key_id = {ACCESS_KEY}\n"
        f"secret_access_key = {SECRET_KEY}\n"
        f"region = {REGION}\n"
    )


@dataclass(frozen=True)
class DataSet:
    """COUNT files of SIZE bytes; PER_DIR > 0 spreads them over sub-folders of that many files."""

    name: str
    count: int
    size: int
    per_dir: int = 0

    def relpath(self, i: int) -> str:
        if self.per_dir:
            return f"d{i // self.per_dir:03d}/f{i:06d}.bin"
        return f"f{i:05d}.bin"

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


def _write_file(path: Path, size: int) -> None:
    chunk = 1 << 20
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def write_tree(ds: DataSet, root: Path) -> None:
    """Random content (incompressible), fixed mtime."""
    made: set[Path] = set()
    for i in range(ds.count):
        path = root / ds.relpath(i)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        _write_file(path, ds.size)


def link_tree(src: Path, dst: Path) -> None:
    """Mirror SRC at DST with hard links (same bytes, same mtime, no extra disk); copies if needed."""
    for dirpath, _dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(dirpath) / name, dst / rel / name)
            except OSError:
                shutil.copy2(Path(dirpath) / name, dst / rel / name)


def tree_state(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """relpath -> (size, mtime_ns, ctime_ns, inode): any write, rename or utime changes it."""
    out: dict[str, tuple[int, int, int, int]] = {}
    if not root.exists():
        return out
    stack = [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    rel = os.path.relpath(e.path, root)
                    out[rel] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return out


def same_files(a: dict[str, tuple[int, int, int, int]], ds: DataSet) -> str | None:
    """None when A holds exactly DS's files and sizes, else what is wrong."""
    want = {ds.relpath(i) for i in range(ds.count)}
    got = set(a)
    if got != want:
        missing, extra = len(want - got), len(got - want)
        return f"{missing} files missing, {extra} unexpected"
    bad = sum(1 for rel, st in a.items() if st[0] != ds.size)
    return f"{bad} files of the wrong size" if bad else None


def changed(before: dict[str, tuple[int, int, int, int]], after: dict[str, tuple[int, ...]]) -> int:
    keys = set(before) | set(after)
    return sum(1 for k in keys if before.get(k) != after.get(k))
