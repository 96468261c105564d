"""Fixtures for the fault-injection and bad-input suite.

- ``proxy``: a :class:`~tests.reliability.faultproxy.FaultProxy` in front of the current ``s3_server``;
  point s3lync at ``proxy.url``.
- ``dedicated_moto``: a moto server of the test's own (it may be killed).
- every test here runs in the clean AWS/XDG environment ``tests/conftest.py`` gives integration tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .helpers import ACCESS_KEY, REGION, SECRET_KEY, MotoProcess

_ENV_DROP = (
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
)


@pytest.fixture(autouse=True)
def _reliability_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The environment tests/conftest.py gives integration tests, for every test in this folder."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in _ENV_DROP:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    """A fault-injection proxy in front of the current server."""
    with FaultProxy(s3_server.endpoint_url) as p:
        yield p


@pytest.fixture
def dedicated_moto() -> Iterator[MotoProcess]:
    """A moto server only this test uses (so it can be killed)."""
    m = MotoProcess()
    m.start()
    try:
        yield m
    finally:
        m.kill()
        os.unlink(m.log_path)


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry sleeps short in-process (throttling backs off 1 s, 2 s, ... otherwise).

    Only the sleep between attempts changes: which errors are retried, and how many attempts are made,
    stay botocore's and s3lync's own decisions. Subprocess runs keep the real backoff.
    """
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.02)
