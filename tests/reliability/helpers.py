"""Helpers for the fault-injection and bad-input suite: file trees, objects, CLI subprocesses, moto."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "test"
SECRET_KEY = "testsecret"
REGION = "us-east-1"

MOTO_ONLY = pytest.mark.parametrize("s3_server", ["moto"], indirect=True)
BOTH_SERVERS = pytest.mark.parametrize("s3_server", ["moto", "rclone"], indirect=True)


def _selected_servers() -> list[str]:
    everything = ["moto", "rclone", "seaweedfs", "juicefs"]
    raw = os.environ.get("S3LYNC_TEST_SERVERS", "").strip()
    names = {n.strip() for n in raw.split(",") if n.strip()} if raw else set(everything)
    return [n for n in everything if n in names]


# Every server (or those in S3LYNC_TEST_SERVERS): tests that branch on ``s3_server.caps``.
ANY_SERVER = pytest.mark.parametrize("s3_server", _selected_servers(), indirect=True)


def on(server: str, *values: Any, id: str, marks: Any = ()) -> Any:
    """A ``pytest.param`` whose first value picks the server (for ``indirect=["s3_server"]``)."""
    return pytest.param(server, *values, id=f"{server}-{id}", marks=marks)


# --------------------------------------------------------------------------- file helpers


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` as {relative posix path: bytes} (symlinks not followed)."""
    out: dict[str, bytes] = {}
    if not root.exists():
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def temporaries(root: Path) -> list[str]:
    """s3lync (and s3transfer) temporaries left anywhere under ``root``."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if ".s3lync-tmp" in name:
                found.append(os.path.join(dirpath, name))
    return found


def wait_until(condition: Any, what: str, timeout: float = 30) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after a generous ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.02)


def has_open(pid: int, suffix: str) -> bool:
    """True while process ``pid`` has a file whose path ends with ``suffix`` open (Linux /proc)."""
    fds = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for fd in names:
        try:
            if os.readlink(f"{fds}/{fd}").endswith(suffix):
                return True
        except OSError:
            continue
    return False


def remote_tree(client: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under ``prefix`` as {key: bytes}."""
    out: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for c in page.get("Contents", ()):
            out[c["Key"]] = client.get_object(Bucket=bucket, Key=c["Key"])["Body"].read()
    return out


def write_files(root: Path, files: Mapping[str, bytes]) -> None:
    """Create ``files`` ({relative path: bytes}) under ``root``."""
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def put_objects(client: Any, bucket: str, objects: Mapping[str, bytes]) -> None:
    """PUT every {key: bytes}."""
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)


def blob(seed: int, size: int) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    import random

    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------- CLI helpers

REPO = Path(__file__).resolve().parents[2]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The current (clean) environment for an ``s3lync`` subprocess, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def s3lync_argv(*args: str, prelude: str = "") -> list[str]:
    """``python -c`` running the s3lync CLI, after optional ``prelude`` code (umask, rlimits).

    SIGINT is set to raise KeyboardInterrupt, as in a terminal, whatever this process inherited:
    a test run started in the background (``cmd &`` in a script) ignores SIGINT, and a Python
    started with SIGINT ignored keeps ignoring it, so the SIGINT tests would wait forever.
    """
    code = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"{prelude}\n"
        "from s3lync.cli.main import main\n"
        "sys.argv = ['s3lync', *sys.argv[1:]]\n"
        "main()\n"
    )
    return [sys.executable, "-c", code, *args]


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str],
    prelude: str = "",
    timeout: float = 60,
    in_process: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``s3lync ARGS`` to completion, as a subprocess would, but in this process.

    A subprocess proves nothing more for a run that ends by itself, and costs a Python and
    botocore start-up each: the run goes through click's test runner instead, with what a
    subprocess would have of its own (:func:`as_a_process`). ``prelude`` code (umask, rlimits)
    or ``in_process=False`` runs a real subprocess, which ``timeout`` bounds.
    """
    if prelude or not in_process:
        return subprocess.run(
            s3lync_argv(*args, prelude=prelude),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    from click.testing import CliRunner

    from s3lync.cli.main import cli

    with as_a_process(cwd, env):
        result = CliRunner().invoke(cli, list(args), prog_name="s3lync", catch_exceptions=False)
    return subprocess.CompletedProcess(
        ["s3lync", *args], result.exit_code, result.stdout, result.stderr
    )


@contextlib.contextmanager
def as_a_process(cwd: Path, env: Mapping[str, str]) -> Iterator[None]:
    """For an in-process CLI run: the environment exactly ``env`` and the working folder ``cwd``,
    and afterwards this process's own back, with the log levels and handlers the CLI set on
    s3lync's and botocore's loggers undone and ``Config.set_*`` values forgotten."""
    from s3lync import Config

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    loggers = [logging.getLogger(name) for name in ("s3lync", "botocore")]
    saved_logs = [(lg.level, list(lg.handlers)) for lg in loggers]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for lg, (level, handlers) in zip(loggers, saved_logs, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
        Config.reset()


def start_cli(
    *args: str, cwd: Path, env: Mapping[str, str], prelude: str = ""
) -> subprocess.Popen[str]:
    """Start ``s3lync ARGS`` in the background."""
    return subprocess.Popen(
        s3lync_argv(*args, prelude=prelude),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def write_manifest(path: Path, mappings: list[dict[str, Any]], **defaults: Any) -> Path:
    """Write an ``s3lync.yaml`` (JSON is valid YAML, so no quoting worries)."""
    import json

    doc: dict[str, Any] = {"version": 1, "mappings": mappings}
    if defaults:
        doc["defaults"] = defaults
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- a killable moto


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# As tests/conftest.py's launcher: the server gets SIGKILL when this test process dies.
DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


class MotoProcess:
    """A moto server subprocess owned by one test: start, kill, restart on the same port."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        fd, self.log_path = tempfile.mkstemp(prefix="s3lync-moto-", suffix=".log")
        os.close(fd)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto exited: {Path(self.log_path).read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=BotoConfig(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


def parts_put(s3: Any, bucket: str, key: str, data: bytes, sizes: list[int]) -> str:
    """A multipart upload with explicit part sizes (e.g. a last part larger than the others)."""
    mp = s3.create_multipart_upload(Bucket=bucket, Key=key)
    parts, pos = [], 0
    for n, size in enumerate(sizes, 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=mp["UploadId"],
            PartNumber=n,
            Body=data[pos : pos + size],
        )
        parts.append({"ETag": r["ETag"], "PartNumber": n})
        pos += size
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=mp["UploadId"], MultipartUpload={"Parts": parts}
    )
    return str(done["ETag"]).strip('"')
