"""``s3_server`` for the integration suite: moto, rclone, SeaweedFS and the JuiceFS gateway.

By default SeaweedFS and the JuiceFS gateway run the files about what a store does
(``_ON_EVERY_SERVER``); the others (caching, configuration, progress, the async face, 0.4
compatibility...) test s3lync's own logic, which does not change with the store, and run on moto
and rclone. That keeps the whole CI run (fresh venv, gates, every test) under 10 minutes on two
cores. ``S3LYNC_TEST_SERVERS`` (comma-separated, e.g. ``seaweedfs,juicefs``) runs every file on the
servers it names, and only those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

_ALL = ("moto", "rclone", "seaweedfs", "juicefs")
_NEW = ("seaweedfs", "juicefs")
_ON_EVERY_SERVER = {
    "test_capabilities.py",
    "test_s3object.py",
    "test_smart_sync.py",
    "test_integrity.py",
    "test_safety.py",
    "test_errors.py",
    "test_open_and_folders.py",
    "test_content_type_and_mtime.py",
    "test_concurrent_multipart.py",
}
_RAW = os.environ.get("S3LYNC_TEST_SERVERS", "").strip()


def _selected() -> list[str]:
    if not _RAW:
        return list(_ALL)
    names = {n.strip() for n in _RAW.split(",") if n.strip()}
    unknown = sorted(names - set(_ALL))
    if unknown:
        raise pytest.UsageError(f"S3LYNC_TEST_SERVERS: unknown server(s) {unknown}")
    return [n for n in _ALL if n in names]


_SERVERS = _selected()


@pytest.fixture(params=_SERVERS, ids=_SERVERS)
def s3_server(request: pytest.FixtureRequest) -> Any:
    """The server under test; tests using it run once per server."""
    return request.getfixturevalue(f"{request.param}_server")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _RAW:
        return
    here = Path(__file__).parent
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        server = callspec.params.get("s3_server") if callspec is not None else None
        path = Path(str(item.path))
        if server in _NEW and here in path.parents and path.name not in _ON_EVERY_SERVER:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
