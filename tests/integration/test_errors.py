"""Errors: the right s3lync type, one line naming the bucket/key/path, the cause chained."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from s3lync import InvalidURIError, S3lyncError, S3Object, S3ObjectError, SyncError
from s3lync.errors import LocalPathNotFoundError, RemoteNotFoundError


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text.strip(), "empty error message"
    assert "\n" not in text, f"message is not one line: {text!r}"
    return text


def _assert_not_botocore(exc: BaseException) -> None:
    assert not type(exc).__module__.startswith(("botocore", "boto3", "s3transfer")), type(exc)
    assert isinstance(exc, S3lyncError)


# --------------------------------------------------------------------------- missing remote


@pytest.mark.parametrize("uri_tail", ["file.txt", "dir/", ""], ids=["key", "prefix", "bucket-root"])
def test_download_from_missing_bucket(make_obj: Any, tmp_path: Path, uri_tail: str) -> None:
    name = "no-such-bucket-s3lync"
    target = tmp_path / "out"
    with pytest.raises(RemoteNotFoundError) as info:
        make_obj(f"s3://{name}/{uri_tail}", local_path=target).download()

    exc = info.value
    assert isinstance(exc, SyncError)
    assert isinstance(exc, FileNotFoundError)
    _assert_not_botocore(exc)
    assert name in _one_line(exc)
    assert exc.__cause__ is not None
    assert not target.exists()


def test_upload_to_missing_bucket(make_obj: Any, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(RemoteNotFoundError) as info:
        make_obj("s3://no-such-bucket-s3lync/f.txt", local_path=src).upload()
    assert "no-such-bucket-s3lync" in _one_line(info.value)
    _assert_not_botocore(info.value)


def test_download_missing_key(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    target = tmp_path / "x" / "missing.txt"
    with pytest.raises(RemoteNotFoundError) as info:
        make_obj(f"s3://{bucket}/sub/missing.txt", local_path=target).download()

    text = _one_line(info.value)
    assert bucket in text
    assert "sub/missing.txt" in text
    assert isinstance(info.value, FileNotFoundError)
    assert not target.exists()


# --------------------------------------------------------------------------- credentials and network


def test_wrong_credentials(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not s3_server.caps.checks_signatures:
        pytest.skip("this server accepts any credentials (probed)")
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"s")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong")
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    target = tmp_path / "secret.txt"

    with pytest.raises(SyncError) as info:
        make_obj(f"s3://{bucket}/secret.txt", local_path=target).download()
    assert not isinstance(info.value, RemoteNotFoundError)
    _assert_not_botocore(info.value)
    assert bucket in _one_line(info.value)
    assert info.value.__cause__ is not None
    assert not target.exists()

    src = tmp_path / "up.txt"
    src.write_text("u")
    with pytest.raises(SyncError) as info:
        make_obj(f"s3://{bucket}/up.txt", local_path=src).upload()
    assert bucket in _one_line(info.value)


def test_wrong_credentials_via_client(s3_server: Any, bucket: str, make_obj: Any) -> None:
    if not s3_server.caps.checks_signatures:
        pytest.skip("this server accepts any credentials (probed)")
    bad = s3_server.client(aws_secret_access_key="wrong")
    with pytest.raises(SyncError) as info:
        make_obj(f"s3://{bucket}/x.txt", client=bad).exists()
    _assert_not_botocore(info.value)
    assert bucket in _one_line(info.value)


def test_unreachable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    target = tmp_path / "f.txt"
    obj = S3Object("s3://some-bucket/f.txt", local_path=target, endpoint_url=endpoint)

    with pytest.raises(SyncError) as info:
        obj.download()

    _assert_not_botocore(info.value)
    text = _one_line(info.value)
    assert "some-bucket" in text
    # One attempt, as S3LYNC_MAX_ATTEMPTS says: no retries and backoff before the failure.
    assert "after 1 attempt(s)" in text
    assert info.value.__cause__ is not None
    assert not target.exists()

    src = tmp_path / "up.txt"
    src.write_text("u")
    with pytest.raises(SyncError):
        S3Object("s3://some-bucket/up.txt", local_path=src, endpoint_url=endpoint).upload()
    with pytest.raises(SyncError):
        S3Object("s3://some-bucket/up.txt", endpoint_url=endpoint).exists()


# --------------------------------------------------------------------------- local input


@pytest.mark.parametrize("uri_tail", ["f.txt", "dir/"])
def test_upload_missing_local_path(
    bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path, uri_tail: str
) -> None:
    missing = tmp_path / "does" / "not" / "exist"
    with pytest.raises(LocalPathNotFoundError) as info:
        make_obj(f"s3://{bucket}/{uri_tail}", local_path=missing).upload()

    exc = info.value
    assert isinstance(exc, S3ObjectError)
    assert isinstance(exc, FileNotFoundError)
    assert str(missing) in _one_line(exc)
    assert remote_keys(bucket) == []


def test_upload_missing_local_path_force_sync_deletes_nothing(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="dir/precious.txt", Body=b"p")
    with pytest.raises(LocalPathNotFoundError):
        make_obj(f"s3://{bucket}/dir/", local_path=tmp_path / "nope").upload(force_sync=True)
    assert remote_keys(bucket) == ["dir/precious.txt"]


def test_invalid_exclude_pattern(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    (src / "a.txt").write_text("a")
    with pytest.raises(S3lyncError) as info:
        make_obj(f"s3://{bucket}/d/", local_path=src).upload(exclude_pattern="(unclosed")
    assert "(unclosed" in _one_line(info.value)


# --------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    "uri",
    [
        "bucket/key",
        "http://bucket/key",
        "s3:/bucket/key",
        "s3://",
        "s3:///key",
        "s3://ab/key",
        "s3://-bucket-/key",
        "s3://bu cket/key",
    ],
)
def test_invalid_uri(uri: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        S3Object(uri).download()
    exc = info.value
    assert isinstance(exc, S3lyncError)
    assert isinstance(exc, ValueError)
    assert uri in _one_line(exc)


def test_empty_uri() -> None:
    with pytest.raises(InvalidURIError):
        S3Object("").download()
