"""Config from the environment, and the AWS environment reaching a real server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync import Config, S3lyncError, S3Object


@pytest.fixture(autouse=True)
def _restore_s3lync_logger() -> Iterator[None]:
    logger = logging.getLogger("s3lync")
    level, propagate = logger.level, logger.propagate
    yield
    logger.setLevel(level)
    logger.propagate = propagate


# --------------------------------------------------------------------------- Config


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "Yes"])
def test_debug_enabled(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("S3LYNC_DEBUG", value)
    assert Config.is_debug_enabled() is True


@pytest.mark.parametrize("value", [None, "", "0", "false", "no", "nonsense"])
def test_debug_disabled(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("S3LYNC_DEBUG", raising=False)
    else:
        monkeypatch.setenv("S3LYNC_DEBUG", value)
    assert Config.is_debug_enabled() is False


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_log_level(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", level)
    assert Config.get_log_level() == level


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "info")
    assert Config.get_log_level() == "INFO"


def test_debug_implies_debug_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_DEBUG", "1")
    assert Config.get_log_level() == "DEBUG"


def test_log_level_default_is_a_valid_level(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config.get_log_level() in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert Config.get_log_level() != "DEBUG"


def test_aws_region_wins_over_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert Config.get_aws_region() == "eu-west-1"


def test_aws_default_region_used_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    assert Config.get_aws_region() == "ap-northeast-2"


def test_aws_region_used_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "sa-east-1")
    assert Config.get_aws_region() == "sa-east-1"


def test_cache_dir_from_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Config.get_cache_dir() == tmp_path / "xdg" / "s3lync"
    obj = S3Object("s3://some-bucket/deep/key.txt")
    assert obj.local_path == str(
        tmp_path / "xdg" / "s3lync" / "objects" / "some-bucket" / "deep" / "key.txt"
    )
    assert S3Object("s3://some-bucket/dir/").local_path == str(
        tmp_path / "xdg" / "s3lync" / "objects" / "some-bucket" / "dir"
    )


def test_cache_dir_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Config.get_cache_dir() == tmp_path / "home" / ".cache" / "s3lync"
    assert S3Object("s3://some-bucket/k.txt").local_path == str(
        tmp_path / "home" / ".cache" / "s3lync" / "objects" / "some-bucket" / "k.txt"
    )


# --------------------------------------------------------------------------- logging env


def test_log_level_env_controls_s3lync_logger(
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3.put_object(Bucket=bucket, Key="f.txt", Body=b"f")

    # The library configures nothing by itself (issue 13): Config.set_log_level applies the
    # level, and S3LYNC_LOG_LEVEL, which it reads, wins over the value given.
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "DEBUG")
    Config.set_log_level("ERROR")
    make_obj(f"s3://{bucket}/f.txt", local_path=tmp_path / "a.txt").download()
    chatty = [
        r for r in caplog.records if r.name.startswith("s3lync") and r.levelno < logging.WARNING
    ]
    assert chatty, "S3LYNC_LOG_LEVEL=DEBUG produced no debug/info records from the s3lync logger"

    caplog.clear()
    monkeypatch.setenv("S3LYNC_LOG_LEVEL", "ERROR")
    Config.set_log_level("DEBUG")
    make_obj(f"s3://{bucket}/f.txt", local_path=tmp_path / "b.txt").download()
    assert [
        r for r in caplog.records if r.name.startswith("s3lync") and r.levelno < logging.ERROR
    ] == []


def test_debug_env_makes_s3lync_logger_verbose(
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3.put_object(Bucket=bucket, Key="f.txt", Body=b"f")
    monkeypatch.setenv("S3LYNC_DEBUG", "1")
    Config.set_debug(True)  # the library's switch; the CLI reads S3LYNC_DEBUG itself

    make_obj(f"s3://{bucket}/f.txt", local_path=tmp_path / "a.txt").download()

    assert any(r.name.startswith("s3lync") and r.levelno <= logging.INFO for r in caplog.records)


# --------------------------------------------------------------------------- AWS environment


@pytest.mark.parametrize("var", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_endpoint_from_env(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    s3.put_object(Bucket=bucket, Key="env/f.txt", Body=b"via env")
    monkeypatch.setenv(var, s3_server.endpoint_url)

    obj = S3Object(f"s3://{bucket}/env/f.txt", local_path=tmp_path / "f.txt")
    assert obj.exists() is True
    assert Path(obj.download()).read_bytes() == b"via env"

    src = tmp_path / "up.txt"
    src.write_bytes(b"up via env")
    S3Object(f"s3://{bucket}/env/up.txt", local_path=src).upload()
    assert s3.get_object(Bucket=bucket, Key="env/up.txt")["Body"].read() == b"up via env"


def _write_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[dev]\naws_access_key_id = test\naws_secret_access_key = testsecret\n")
    config = tmp_path / "config"
    config.write_text(f"[profile dev]\nregion = us-east-1\nendpoint_url = {endpoint}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    # No credentials in the environment: only the profile's open the (rclone) server.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


def test_profile_argument(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"profile")
    _write_profile(tmp_path, monkeypatch, s3_server.endpoint_url)

    obj = S3Object(f"s3://{bucket}/p.txt", local_path=tmp_path / "p.txt", profile="dev")

    assert Path(obj.download()).read_bytes() == b"profile"


def test_aws_profile_env(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"profile env")
    _write_profile(tmp_path, monkeypatch, s3_server.endpoint_url)
    monkeypatch.setenv("AWS_PROFILE", "dev")

    obj = S3Object(f"s3://{bucket}/p.txt", local_path=tmp_path / "p.txt")

    assert Path(obj.download()).read_bytes() == b"profile env"


def test_unknown_profile_is_an_s3lync_error(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    with pytest.raises(S3lyncError) as info:
        make_obj(f"s3://{bucket}/p.txt", local_path=tmp_path / "p.txt", profile="nope").download()
    assert "nope" in str(info.value)
