"""Fixtures for the fault-injection and bad-input suite.

- ``proxy``: a :class:`~tests.reliability.faultproxy.FaultProxy` in front of the current ``s3_server``;
  point s3lync at ``proxy.url``.
- ``dedicated_moto``: a moto server of the test's own (it may be killed).
- every test here runs in the clean AWS/XDG environment of ``tests/conftest.py`` (``_integration_env``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .helpers import MotoProcess


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
