"""Config set in code (upstream's Config.set_*): used when the environment says nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lync import Config, ConfigError
from s3lync.settings import DEFAULT_MAX_WORKERS

_VARS = (
    "S3LYNC_DEBUG",
    "S3LYNC_LOG_LEVEL",
    "S3LYNC_MAX_WORKERS",
    "S3LYNC_MULTIPART_THRESHOLD",
    "S3LYNC_MULTIPART_CHUNKSIZE",
    "S3LYNC_MAX_ATTEMPTS",
    "AWS_MAX_ATTEMPTS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    Config.reset()
    yield
    Config.reset()


@pytest.mark.parametrize(
    ("setter", "getter", "value", "env"),
    [
        ("set_max_workers", "get_max_workers", 3, "S3LYNC_MAX_WORKERS"),
        (
            "set_multipart_threshold",
            "get_multipart_threshold",
            6_000_000,
            "S3LYNC_MULTIPART_THRESHOLD",
        ),
        (
            "set_multipart_chunksize",
            "get_multipart_chunksize",
            7_000_000,
            "S3LYNC_MULTIPART_CHUNKSIZE",
        ),
        ("set_max_attempts", "get_max_attempts", 2, "S3LYNC_MAX_ATTEMPTS"),
    ],
)
def test_whole_number_setters_and_the_environment_still_wins(
    monkeypatch: pytest.MonkeyPatch, setter: str, getter: str, value: int, env: str
) -> None:
    default = getattr(Config, getter)()
    getattr(Config, setter)(value)
    assert getattr(Config, getter)() == value
    monkeypatch.setenv(env, "9")
    assert getattr(Config, getter)() == 9
    monkeypatch.delenv(env)
    Config.reset()
    assert getattr(Config, getter)() == default


def test_aws_max_attempts_also_wins_over_code(monkeypatch: pytest.MonkeyPatch) -> None:
    Config.set_max_attempts(2)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    assert Config.get_max_attempts() == 4


@pytest.mark.parametrize("bad", [0, -1, 2.5, "8", True, None])
def test_bad_whole_number_is_a_config_error(bad: object) -> None:
    with pytest.raises(ConfigError, match="set_max_workers: expected a whole number >= 1"):
        Config.set_max_workers(bad)  # type: ignore[arg-type]
    assert Config.get_max_workers() == DEFAULT_MAX_WORKERS
    assert isinstance(ConfigError("x"), ValueError)


def test_region(monkeypatch: pytest.MonkeyPatch) -> None:
    Config.set_aws_region("eu-west-3")
    assert Config.get_aws_region() == "eu-west-3"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert Config.get_aws_region() == "us-east-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    Config.set_aws_region(None)
    assert Config.get_aws_region() is None


def test_log_level_applies_to_the_s3lync_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("s3lync")
    Config.set_log_level("info")
    assert Config.get_log_level() == "INFO"
    assert logger.level == logging.INFO
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "ERROR")
    assert Config.get_log_level() == "ERROR"
    with pytest.raises(ConfigError, match="'LOUD' is not one of DEBUG, INFO"):
        Config.set_log_level("LOUD")
    monkeypatch.delenv("S3LYNC_LOG_LEVEL")
    Config.reset()
    assert logger.level == logging.NOTSET
    assert Config.get_log_level() == "WARNING"


def test_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    Config.set_debug(True)
    assert Config.is_debug_enabled() and Config.get_log_level() == "DEBUG"
    monkeypatch.setenv("S3LYNC_DEBUG", "0")  # set, so it wins
    assert not Config.is_debug_enabled()


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Config.set_cache_dir(tmp_path / "mine")
    assert Config.get_cache_dir() == tmp_path / "mine"
    assert Config.get_state_path().is_relative_to(tmp_path / "mine")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Config.get_cache_dir() == tmp_path / "xdg" / "s3lync"
