"""A process that makes many S3Object calls keeps what it holds bounded (issue 24): memory,
threads, open files and connection pools stay flat, even when every call comes with settings of
its own (a session token rotated through the environment, a Settings per call).

Memory is the process's resident size after a warm-up: the bound is generous, so noise does not
fail it. Keeping one set of clients per settings ever used costs a connection pool each, a
botocore session (~0.2 MB) where botocore resolves the settings, ~12 MB where it builds a client:
those are counted, as live objects.
"""

from __future__ import annotations

import gc
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from s3lync import S3Object
from s3lync.settings import Settings
from s3lync.store.clients import get_client
from s3lync.store.transport import Transport

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the resident size from /proc"
)

MB = 1024 * 1024


def _rss() -> int:
    """This process's resident size in bytes, after a full collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _pools() -> int:
    """Connection pools (one per set of clients) alive in the process."""
    gc.collect()
    return sum(isinstance(o, Transport) for o in gc.get_objects())


def _settings(n: int, **env: str) -> Settings:
    """The environment as a process sees it after its n-th credential rotation."""
    return Settings.from_env({**os.environ, **env, "AWS_SESSION_TOKEN": f"rotated-{n}"})


def test_memory_threads_files_and_pools_stay_flat_over_1000_s3object_calls(
    moto_server: Any, tmp_path: Path
) -> None:
    s3 = moto_server.client()
    bucket = f"t-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    target = tmp_path / "k"

    def call(n: int) -> None:
        obj = S3Object(
            f"s3://{bucket}/k", target, endpoint_url=moto_server.endpoint_url, settings=_settings(n)
        )
        assert obj.exists()

    assert S3Object(f"s3://{bucket}/k", target, endpoint_url=moto_server.endpoint_url).download()
    for n in range(50):  # warm-up: allocator arenas, imports, the clients the process keeps
        call(n)
    rss, threads, files, pools = _rss(), threading.active_count(), _open_files(), _pools()
    for n in range(50, 1050):
        call(n)
    grown = _rss() - rss
    assert target.read_bytes() == b"payload"
    assert grown < 40 * MB, f"resident size grew {grown / MB:.1f} MB over 1,000 calls"
    assert threading.active_count() == threads
    assert _open_files() <= files + 4
    assert _pools() <= pools + 4


def test_botocore_sessions_stay_bounded_when_each_call_brings_new_settings(
    moto_server: Any, tmp_path: Path
) -> None:
    # With an S3 setting in the AWS config file, botocore's session reads every new set of
    # settings (~0.2 MB each, ~12 MB once it has built a client).
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n")
    s3 = moto_server.client()
    bucket = f"t-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")

    def call(n: int) -> None:
        settings = _settings(n, AWS_CONFIG_FILE=str(config))
        obj = S3Object(f"s3://{bucket}/k", endpoint_url=moto_server.endpoint_url, settings=settings)
        assert obj.exists()

    def sessions() -> int:
        gc.collect()
        return sum(isinstance(o, botocore.session.Session) for o in gc.get_objects())

    start = sessions()
    for n in range(20):
        call(n)
    before = sessions()
    assert before > start  # the settings went through botocore's session
    for n in range(20, 80):
        call(n)
    assert sessions() <= before + 2


def test_clients_for_other_settings_do_not_each_load_the_s3_models(tmp_path: Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")

    def client(n: int) -> Any:
        settings = _settings(n, AWS_CONFIG_FILE=str(config))
        return get_client(endpoint_url="http://127.0.0.1:9", settings=settings)

    first = client(-1)  # the process's first: it loads the models
    rss = _rss()
    made = [client(n) for n in range(4)]
    grown = _rss() - rss
    assert len({id(c) for c in [first, *made]}) == 5
    assert grown < 16 * MB, f"4 clients took {grown / MB:.1f} MB"
