"""Upload extra_args (encryption, storage class, content type) reach the store on every path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import ConfigError, S3Object, Settings, UnverifiedError
from s3lync.store.remote import Remote

ARGS = {"ServerSideEncryption": "AES256", "StorageClass": "STANDARD_IA"}


@pytest.fixture
def moto(moto_server: Any) -> Any:
    return moto_server


def _head(moto: Any, bucket: str, key: str) -> dict[str, Any]:
    got: dict[str, Any] = moto.client().head_object(Bucket=bucket, Key=key)
    return got


def _path_env(monkeypatch: pytest.MonkeyPatch, lean: str) -> None:
    """The lean or botocore path, with 5 MiB multipart so a 6 MiB file goes in parts."""
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * 1024 * 1024))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * 1024 * 1024))


def _bucket(moto: Any) -> str:
    name = f"x-{os.urandom(4).hex()}"
    moto.client().create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
@pytest.mark.parametrize("size", [100, 6 * 1024 * 1024], ids=["small", "multipart"])
def test_s3object_extra_args_are_stored(
    moto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: str, size: int
) -> None:
    _path_env(monkeypatch, lean)
    bucket = _bucket(moto)
    src = tmp_path / "report.csv"
    src.write_bytes(os.urandom(size))
    obj = S3Object(
        f"s3://{bucket}/r/report.csv",
        src,
        endpoint_url=moto.endpoint_url,
        extra_args={**ARGS, "ContentType": "application/x-mine"},
    )
    obj.upload()
    head = _head(moto, bucket, "r/report.csv")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    # A given ContentType wins over the one guessed from the name.
    assert head["ContentType"] == "application/x-mine"


def test_content_type_is_guessed_when_not_given_and_settings_args_apply(
    moto: Any, tmp_path: Path
) -> None:
    bucket = _bucket(moto)
    src = tmp_path / "page.html"
    src.write_bytes(b"<h1>hi</h1>")
    settings = Settings.from_env().with_(extra_args={"StorageClass": "STANDARD_IA"})
    S3Object(
        f"s3://{bucket}/page.html", src, endpoint_url=moto.endpoint_url, settings=settings
    ).upload()
    head = _head(moto, bucket, "page.html")
    assert head["ContentType"] == "text/html"
    assert head["StorageClass"] == "STANDARD_IA"


def test_a_bad_extra_args_key_is_a_config_error_naming_it() -> None:
    with pytest.raises(
        ConfigError, match=r"extra_args key 'CacheControl' is not allowed; use one of ACL"
    ):
        S3Object("s3://bucket/k", "/tmp/k", extra_args={"CacheControl": "no-cache"})
    with pytest.raises(ConfigError, match="Settings: extra_args key 'Metadata'"):
        Settings(extra_args={"Metadata": "x"})  # type: ignore[arg-type]


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
@pytest.mark.parametrize("size", [100, 6 * 1024 * 1024], ids=["small", "multipart"])
def test_sse_kms_uploads_are_judged_by_content_md5(
    moto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: str, size: int
) -> None:
    """SSE-KMS makes ETags opaque: on AWS the upload still counts as verified (the store checked
    our Content-MD5). moto stands for AWS here (``Remote.checks_content_md5``); on a store not
    known to check Content-MD5 (127.0.0.1) the same upload is unverified, and strict refuses it.
    """
    _path_env(monkeypatch, lean)
    bucket = _bucket(moto)
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(size))
    obj = S3Object(
        f"s3://{bucket}/model.bin",
        src,
        endpoint_url=moto.endpoint_url,
        extra_args={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/mine"},
    )
    with pytest.raises(UnverifiedError):
        obj.upload(check_hash="strict")
    src.write_bytes(os.urandom(size))
    monkeypatch.setattr(Remote, "checks_content_md5", lambda self: True)
    obj.upload(check_hash="strict")
    head = _head(moto, bucket, "model.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert "alias/mine" in head["SSEKMSKeyId"]


def test_manifest_extra_args_reach_the_store_and_a_bad_key_is_file_line(
    moto: Any, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from s3lync.cli.main import cli

    bucket = _bucket(moto)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_bytes(b"<h1>hi</h1>")
    (tmp_path / "site" / "data.bin").write_bytes(b"\0\1")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\n"
        "defaults:\n"
        "  extra_args:\n"
        "    StorageClass: STANDARD_IA\n"
        "mappings:\n"
        f"  - s3: s3://{bucket}/site/\n"
        "    local: ./site\n"
        "    direction: upload\n"
        "    extra_args:\n"
        "      ServerSideEncryption: AES256\n"
    )
    argv = ["-f", str(manifest), "--endpoint-url", moto.endpoint_url, "apply", "--yes"]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    head = _head(moto, bucket, "site/index.html")
    assert (head["StorageClass"], head["ServerSideEncryption"]) == ("STANDARD_IA", "AES256")
    assert head["ContentType"] == "text/html"
    manifest.write_text(manifest.read_text() + "      CacheControl: no-cache\n")
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code != 0
    assert f"{manifest}:11:" in result.output + (result.stderr or "")
    assert "extra_args.CacheControl: unknown key 'CacheControl'" in result.output + (
        result.stderr or ""
    )
