"""CLI logging: -v levels, the library installs no handler, the redacting filter."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from s3lync import Config, S3Object
from s3lync.cli.logs import RedactFilter, level_for
from s3lync.redact import redact


def test_verbose_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("S3LYNC_DEBUG", raising=False)
    monkeypatch.delenv("S3LYNC_LOG_LEVEL", raising=False)
    assert level_for(0) == logging.WARNING
    assert level_for(1) == logging.INFO
    assert level_for(2) == logging.DEBUG
    monkeypatch.setenv("S3LYNC_DEBUG", "1")
    assert level_for(0) == logging.DEBUG
    monkeypatch.setenv("S3LYNC_DEBUG", "0")
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "ERROR")
    assert level_for(0) == logging.ERROR


def test_the_library_installs_no_handler(tmp_path: Path) -> None:
    logger = logging.getLogger("s3lync")
    before = list(logger.handlers)
    S3Object("s3://bucket/k", tmp_path / "k")
    Config.set_log_level("DEBUG")
    try:
        assert logger.level == logging.DEBUG  # the setter still sets the level...
        assert logger.handlers == before  # ...and adds no handler
    finally:
        Config.reset()


def test_redact_removes_tokens_signatures_and_keys() -> None:
    text = (
        "{'X-Amz-Security-Token': b'TOK1', 'Authorization': b'AWS4-HMAC-SHA256 "
        "Credential=AKID/x, Signature=abc'} x-amz-security-token:TOK2 "
        "https://h/k?X-Amz-Credential=AK&X-Amz-Signature=SIG3 aws_secret_access_key = KEY4"
    )
    clean = redact(text)
    for secret in ("TOK1", "TOK2", "SIG3", "KEY4", "abc"):
        assert secret not in clean
    # Temporary credentials in response bodies: STS / S3 Express CreateSession (XML), SSO (JSON).
    bodies = (
        "b'<Credentials><SessionToken>TOK5</SessionToken><SecretAccessKey>KEY6</SecretAccessKey>"
        "<AccessKeyId>AKID</AccessKeyId></Credentials>' "
        '{"roleCredentials": {"secretAccessKey": "KEY7", "sessionToken": "TOK8"}}'
    )
    clean = redact(bodies)
    for secret in ("TOK5", "KEY6", "KEY7", "TOK8"):
        assert secret not in clean
    assert "<SessionToken>***</SessionToken>" in clean and '"secretAccessKey": "***"' in clean
    record = logging.LogRecord("botocore", logging.DEBUG, "f", 1, "headers %s", (text,), None)
    assert RedactFilter().filter(record)
    assert "TOK1" not in record.getMessage() and "headers {" in record.getMessage()
