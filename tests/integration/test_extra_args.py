"""Upload extra_args (encryption, storage class, content type) reach the store on every path."""

from __future__ import annotations

import os
import re
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
        ConfigError, match=r"extra_args key 'SSECustomerKey' is not allowed; use one of ACL"
    ):
        S3Object("s3://bucket/k", "/tmp/k", extra_args={"SSECustomerKey": "k" * 32})
    with pytest.raises(ConfigError, match="Settings: extra_args key 'ChecksumAlgorithm'"):
        Settings(extra_args={"ChecksumAlgorithm": "SHA256"})


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
    manifest.write_text(manifest.read_text() + "      SSECustomerKey: k\n")
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code != 0
    assert f"{manifest}:11:" in result.output + (result.stderr or "")
    assert "extra_args.SSECustomerKey: unknown key 'SSECustomerKey'" in result.output + (
        result.stderr or ""
    )


# --- the headers of a published site or dataset (aws s3 sync's --cache-control, --metadata, ...) --

MORE = {
    "CacheControl": "max-age=60",
    "ContentDisposition": 'attachment; filename="r.csv"',
    "ContentEncoding": "identity",
    "ContentLanguage": "de",
    "Expires": "2030-01-02T03:04:05Z",
    "Metadata": {"owner": "me", "team": "data"},
    "Tagging": "team=data&env=ci",
    "WebsiteRedirectLocation": "/index.html",
}
_KEPT: dict[str, set[str]] = {}


def _read_back(client: Any, bucket: str, key: str) -> dict[str, Any]:
    """What the store kept, in MORE's terms, read with plain boto3."""
    head = client.head_object(Bucket=bucket, Key=key)
    got: dict[str, Any] = {k: head.get(k) for k in MORE if k not in ("Metadata", "Tagging")}
    if head.get("Expires") is not None:
        got["Expires"] = head["Expires"].strftime("%Y-%m-%dT%H:%M:%SZ")
    got["Metadata"] = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
    try:
        tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        got["Tagging"] = "&".join(f"{t['Key']}={t['Value']}" for t in tags)
    except Exception:  # a store without tagging (rclone answers 500)
        got["Tagging"] = None
    return got


def _kept_by(server: Any) -> set[str]:
    """Which of MORE this store keeps when boto3 itself sends them (probed once per server)."""
    if server.name not in _KEPT:
        client = server.client()
        bucket = _bucket(server)
        client.put_object(Bucket=bucket, Key="probe", Body=b"p", **MORE)
        got = _read_back(client, bucket, "probe")
        _KEPT[server.name] = {
            k
            for k in MORE
            if got[k] == MORE[k] or (k == "Tagging" and got[k] == "env=ci&team=data")
        }
    return _KEPT[server.name]


def _same_tags(a: str | None, b: str) -> bool:
    return a is not None and sorted(a.split("&")) == sorted(b.split("&"))


def _check(server: Any, bucket: str, key: str, md5chksum: str) -> None:
    got = _read_back(server.client(), bucket, key)
    kept = _kept_by(server)
    if server.caps.keeps_metadata:
        # Not a vacuous check: a store that keeps headers keeps at least these.
        assert {"CacheControl", "ContentDisposition", "Metadata"} <= kept, kept
    for name in kept:
        if name == "Metadata":
            # The user's entries arrive, and s3lync's own md5chksum is still its own.
            assert got[name] == {**MORE["Metadata"], "md5chksum": md5chksum}, got[name]
        elif name == "Tagging":
            assert _same_tags(got[name], str(MORE[name])), got[name]
        else:
            assert got[name] == MORE[name], (name, got[name])


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
@pytest.mark.parametrize("size", [100, 6 * 1024 * 1024], ids=["small", "multipart"])
def test_more_upload_args_reach_the_store_on_every_path(
    s3_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lean: str, size: int
) -> None:
    import base64
    import hashlib

    _path_env(monkeypatch, lean)
    bucket = _bucket(s3_server)
    src = tmp_path / "r.csv"
    data = os.urandom(size)
    src.write_bytes(data)
    S3Object(
        f"s3://{bucket}/r.csv", src, endpoint_url=s3_server.endpoint_url, extra_args=MORE
    ).upload()
    _check(s3_server, bucket, "r.csv", base64.b64encode(hashlib.md5(data).digest()).decode())


def test_sync_flags_spelled_as_aws_and_the_manifest_send_them(
    s3_server: Any, tmp_path: Path
) -> None:
    import base64
    import hashlib

    from click.testing import CliRunner

    from s3lync.cli.main import cli

    bucket = _bucket(s3_server)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "r.csv").write_bytes(b"id\n1\n")
    b64 = base64.b64encode(hashlib.md5(b"id\n1\n").digest()).decode()
    flags = [
        "--cache-control", MORE["CacheControl"],
        "--content-disposition", MORE["ContentDisposition"],
        "--content-encoding", MORE["ContentEncoding"],
        "--content-language", MORE["ContentLanguage"],
        "--expires", MORE["Expires"],
        "--metadata", "owner=me,team=data",
        "--tagging", MORE["Tagging"],
        "--website-redirect", MORE["WebsiteRedirectLocation"],
    ]  # fmt: skip
    args = ["sync", str(tmp_path / "site"), f"s3://{bucket}/cli/", *flags]
    args += ["--endpoint-url", s3_server.endpoint_url]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _check(s3_server, bucket, "cli/r.csv", b64)

    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\ndefaults:\n  endpoint_url: {s3_server.endpoint_url}\n"
        "  extra_args:\n    CacheControl: max-age=60\n    Metadata: {owner: me}\n"
        f"mappings:\n  - s3: s3://{bucket}/m/\n    local: site\n    direction: upload\n"
        "    extra_args:\n"
        "      ContentDisposition: 'attachment; filename=\"r.csv\"'\n"
        "      ContentEncoding: identity\n      ContentLanguage: de\n"
        "      Expires: '2030-01-02T03:04:05Z'\n      Metadata: {owner: me, team: data}\n"
        "      Tagging: {team: data, env: ci}\n      WebsiteRedirectLocation: /index.html\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(manifest), "apply"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _check(s3_server, bucket, "m/r.csv", b64)


def test_metadata_may_not_name_md5chksum_anywhere(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from s3lync.cli.main import cli

    with pytest.raises(ConfigError, match="Metadata 'MD5chksum' is s3lync's own"):
        S3Object("s3://bucket/k", "/tmp/k", extra_args={"Metadata": {"MD5chksum": "x"}})
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n  - s3: s3://bucket/m/\n    local: site\n    direction: upload\n"
        "    extra_args:\n      Metadata: {md5chksum: forged}\n      Expires: someday\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(manifest), "validate"])
    assert result.exit_code == 1
    assert re.search(
        r"s3lync.yaml:7:\d+: mappings\[0\].extra_args.Metadata: .*'md5chksum' is s3lync's own",
        result.stderr,
    ), result.stderr
    assert re.search(
        r"s3lync.yaml:8:\d+: mappings\[0\].extra_args.Expires: 'someday' is not a date",
        result.stderr,
    ), result.stderr
