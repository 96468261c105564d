"""Environment-driven settings (s3lync.settings)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3lync import Config
from s3lync.settings import DEFAULT_MAX_WORKERS, configure_logging, parse_size

_VARS = (
    "S3LYNC_DEBUG",
    "S3LYNC_LOG_LEVEL",
    "S3LYNC_MAX_WORKERS",
    "S3LYNC_MULTIPART_THRESHOLD",
    "S3LYNC_MULTIPART_CHUNKSIZE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- debug / log level


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", " yes "])
def test_debug_enabled(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_DEBUG", value)
    assert Config.is_debug_enabled() is True


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "maybe"])
def test_debug_disabled(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_DEBUG", value)
    assert Config.is_debug_enabled() is False


def test_debug_unset() -> None:
    assert Config.is_debug_enabled() is False


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_log_level_valid(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", level)
    assert Config.get_log_level() == level
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", level.lower())
    assert Config.get_log_level() == level


def test_log_level_default_is_warning() -> None:
    assert Config.get_log_level() == "WARNING"


@pytest.mark.parametrize("value", ["LOUD", "verbose", "5", "WARN_ING"])
def test_log_level_invalid_falls_back(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", value)
    assert Config.get_log_level() == "WARNING"
    monkeypatch.setenv("S3LYNC_DEBUG", "1")
    assert Config.get_log_level() == "DEBUG"


def test_debug_implies_debug_level_but_explicit_level_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_DEBUG", "true")
    assert Config.get_log_level() == "DEBUG"
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "ERROR")
    assert Config.get_log_level() == "ERROR"


@pytest.fixture
def s3lync_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("s3lync")
    root = logging.getLogger()
    saved, saved_root = logger.level, root.level
    yield logger
    logger.setLevel(saved)
    root.setLevel(saved_root)


def test_configure_logging_sets_only_the_s3lync_logger(
    monkeypatch: pytest.MonkeyPatch, s3lync_logger: logging.Logger
) -> None:
    root_level = logging.getLogger().level
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "ERROR")
    configure_logging()
    assert s3lync_logger.level == logging.ERROR
    assert logging.getLogger().level == root_level
    monkeypatch.delenv("S3LYNC_LOG_LEVEL")
    monkeypatch.setenv("S3LYNC_DEBUG", "yes")
    configure_logging()
    assert s3lync_logger.level == logging.DEBUG


# --------------------------------------------------------------------------- region


def test_region_aws_region_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Config.get_aws_region() == "us-west-2"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert Config.get_aws_region() == "eu-central-1"


def test_region_unset_is_none() -> None:
    assert Config.get_aws_region() is None


# --------------------------------------------------------------------------- cache folder


def test_cache_dir_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Config.get_cache_dir() == tmp_path / "xdg" / "s3lync"
    # Buckets land under objects/, s3lync's own files under state/: no bucket name reaches them.
    assert Config.get_objects_dir() == tmp_path / "xdg" / "s3lync" / "objects"
    assert Config.get_state_path() == tmp_path / "xdg" / "s3lync" / "state" / "hashes.sqlite3"
    assert Config.get_lock_dir() == tmp_path / "xdg" / "s3lync" / "state" / "locks"


@pytest.mark.parametrize("xdg", [None, ""])
def test_cache_dir_home_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    if xdg is not None:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert Config.get_cache_dir() == home / ".cache" / "s3lync"


# --------------------------------------------------------------------------- workers


@pytest.mark.parametrize(("value", "expected"), [("8", 8), (" 4 ", 4), ("64", 64), ("1", 1)])
def test_max_workers(monkeypatch: pytest.MonkeyPatch, value: str, expected: int) -> None:
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", value)
    assert Config.get_max_workers() == expected


def test_max_workers_default() -> None:
    assert DEFAULT_MAX_WORKERS == 16
    assert Config.get_max_workers() == 16


@pytest.mark.parametrize("value", ["", "abc", "4.5", "lots", "0x10", "   "])
def test_max_workers_garbage_is_default(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", value)
    assert Config.get_max_workers() == 16


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_workers_never_below_one(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", value)
    assert Config.get_max_workers() >= 1


def test_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    """The XDG base-directory spec: relative paths in XDG_* variables are invalid."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert Config.get_cache_dir() == tmp_path / ".cache" / "s3lync"


# --------------------------------------------------------------------------- sizes and bad values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8388608", 8388608),
        ("64MB", 64 * 1024**2),
        ("64MiB", 64 * 1024**2),
        ("64mb", 64 * 1024**2),
        ("64 MiB", 64 * 1024**2),
        ("5KB", 5 * 1024),
        ("1GiB", 1024**3),
        ("2TB", 2 * 1024**4),
        ("100B", 100),
    ],
)
def test_sizes_read_as_the_aws_cli_reads_them(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: int
) -> None:
    # awscli's human_readable_to_bytes: KB/MB/GB/TB and KiB/MiB/GiB/TiB are both powers of 1024.
    assert parse_size(text) == expected
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", text)
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", text)
    assert Config.get_multipart_threshold() == expected
    assert Config.get_multipart_chunksize() == expected


@pytest.mark.parametrize("text", ["", "MB", "1.5GB", "64XB", "-1MB", "64 M B", "lots"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_bad_size_variable_warns_and_keeps_the_default(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", "1.5GB")
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        assert Config.get_multipart_chunksize() == 8 * 1024 * 1024
    assert caplog.messages == [
        "ignoring S3LYNC_MULTIPART_CHUNKSIZE='1.5GB': not a size (e.g. 8388608, 64MB or 64MiB)"
    ]


def test_bad_log_level_warns_like_other_bad_variables(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", "lots")
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        assert Config.get_log_level() == "WARNING"
        assert Config.get_max_workers() == 16
    assert caplog.messages == [
        "ignoring S3LYNC_LOG_LEVEL='LOUD': not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        "ignoring S3LYNC_MAX_WORKERS='lots': not a whole number",
    ]


def test_warn_is_warning_and_an_empty_level_is_silent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        monkeypatch.setenv("S3LYNC_LOG_LEVEL", "warn")
        assert Config.get_log_level() == "WARNING"
        monkeypatch.setenv("S3LYNC_LOG_LEVEL", " ")
        assert Config.get_log_level() == "WARNING"
    assert caplog.messages == []
