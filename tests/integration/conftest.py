"""``s3_server`` for the integration suite: every server (moto, rclone, SeaweedFS, the JuiceFS
gateway), or those named in ``S3LYNC_TEST_SERVERS`` (comma-separated, e.g. ``moto,rclone``)."""

from __future__ import annotations

import os
from typing import Any

import pytest

_ALL = ("moto", "rclone", "seaweedfs", "juicefs")


def _selected() -> list[str]:
    raw = os.environ.get("S3LYNC_TEST_SERVERS", "").strip()
    if not raw:
        return list(_ALL)
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - set(_ALL))
    if unknown:
        raise pytest.UsageError(f"S3LYNC_TEST_SERVERS: unknown server(s) {unknown}")
    return [n for n in _ALL if n in names]


_SERVERS = _selected()


@pytest.fixture(params=_SERVERS, ids=_SERVERS)
def s3_server(request: pytest.FixtureRequest) -> Any:
    """The server under test; tests using it run once per server."""
    return request.getfixturevalue(f"{request.param}_server")
