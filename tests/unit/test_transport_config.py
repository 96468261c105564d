"""Timeouts and attempts: defaults, variables, manifest values and the AWS config file, as the
botocore client and the lean client both receive them (no request is sent)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from s3lync.settings import Config
from s3lync.store.clients import get_attempts, get_wire, make_client


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "S3LYNC_CONNECT_TIMEOUT",
        "S3LYNC_READ_TIMEOUT",
        "S3LYNC_MAX_ATTEMPTS",
        "AWS_MAX_ATTEMPTS",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "S3LYNC_LEAN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_defaults_fail_a_dead_endpoint_well_under_a_minute() -> None:
    assert (Config.get_connect_timeout(), Config.get_read_timeout()) == (5.0, 10.0)
    assert Config.get_max_attempts() == 3
    client = make_client(endpoint_url="http://127.0.0.1:9")
    cfg = client.meta.config
    assert (cfg.connect_timeout, cfg.read_timeout) == (5.0, 10.0)
    assert get_attempts(endpoint_url="http://127.0.0.1:9") == 3


def test_variables_win_over_manifest_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config.get_read_timeout(30.0) == 30.0
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("S3LYNC_CONNECT_TIMEOUT", "1")
    assert Config.get_read_timeout(30.0) == 2.5
    client = make_client(endpoint_url="http://127.0.0.1:9", timeouts=(7.0, 30.0))
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (1.0, 2.5)


def test_manifest_timeouts_reach_both_clients() -> None:
    client = make_client(endpoint_url="http://127.0.0.1:9", timeouts=(2.0, 4.0))
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.0, 4.0)
    wire = get_wire(endpoint_url="http://127.0.0.1:9", timeouts=(2.0, 4.0))
    transport = wire.transport  # type: ignore[attr-defined]
    assert (transport.timeout.connect_timeout, transport.timeout.read_timeout) == (2, 4)


@pytest.mark.parametrize("raw", ["soon", "0", "-3", "inf", "nan"])
def test_a_bad_timeout_variable_warns_and_keeps_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", raw)
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        assert Config.get_read_timeout() == 10.0
    assert "S3LYNC_READ_TIMEOUT" in caplog.text


def test_max_attempts_from_the_aws_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nmax_attempts = 7\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    # One retry policy for every request: botocore makes one attempt per call, s3lync repeats.
    client = make_client(endpoint_url="http://127.0.0.1:9")
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert get_attempts(endpoint_url="http://127.0.0.1:9") == 7
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")  # s3lync's own variable wins
    assert get_attempts(endpoint_url="http://127.0.0.1:9") == 2


@pytest.mark.parametrize("workers", [1, 16, 64, 256])
def test_the_connection_pool_keeps_a_connection_for_every_request_in_flight(workers: int) -> None:
    # The scheduler lets max_workers requests through at once. A pool smaller than that would
    # open a connection for each request beyond it and discard it afterwards (urllib3's
    # block=False): no keep-alive at high concurrency, a new TCP (and TLS) handshake per request.
    wire = get_wire(endpoint_url="http://127.0.0.1:9", max_workers=workers)
    transport = wire.transport  # type: ignore[attr-defined]
    assert transport.scheduler.capacity == workers
    assert transport.maxsize >= workers
