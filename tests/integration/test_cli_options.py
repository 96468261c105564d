"""`sync` takes apply's options for one mapping; global options work after the subcommand too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_global_options_after_the_subcommand(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k/f.txt", Body=b"x")
    manifest = tmp_path / "ci.yaml"
    # The manifest's endpoint is wrong: only the override after the subcommand reaches the store.
    manifest.write_text(
        "version: 1\ndefaults:\n  endpoint_url: http://127.0.0.1:9\nmappings:\n"
        f"  - s3: s3://{bucket}/k/\n    local: out\n    direction: download\n"
    )
    ep = s3_server.endpoint_url
    code, out, err = run("plan", "-f", str(manifest), "--endpoint-url", ep, "--region", "us-east-1")
    assert code == 0, out + err
    assert "+ f.txt" in out
    code, out, err = run("apply", "--file", str(manifest), "--endpoint-url", ep)
    assert code == 0, out + err
    assert (tmp_path / "out" / "f.txt").read_bytes() == b"x"
    # A global option the subcommand does not know is still named with its place.
    code, _, err = run("-f", str(manifest), "plan", "--verbose-log")
    assert code == 2 and "No such option '--verbose-log'" in err


def test_sync_allows_an_empty_source_only_when_asked(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"a")
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["sync", str(empty), f"s3://{bucket}/p/", "--delete", "--yes"]
    ep = ["--endpoint-url", s3_server.endpoint_url]
    code, out, err = run(*base, *ep)
    assert code == 1 and "empty" in err, out + err
    assert "--allow-empty-source" in err
    assert remote_keys(bucket, "p/") == ["p/a.txt"]
    code, out, err = run(*base, "--allow-empty-source", *ep)
    assert code == 0, out + err
    assert remote_keys(bucket, "p/") == []


def test_sync_takes_apply_options_for_one_mapping(
    s3_server: Any, bucket: str, tmp_path: Path, remote_keys: Any
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i:02d}.txt").write_bytes(b"x" * i)
    ep = ["--endpoint-url", s3_server.endpoint_url]
    base = ["sync", str(src), f"s3://{bucket}/p/", *ep, "--progress", "none", "--lock-timeout", "5"]
    # Two shards together do exactly the whole sync, each its own share.
    code, out, err = run(*base, "--shard", "1/2", "--require-verified")
    assert code == 0 and err == "", out + err
    first = remote_keys(bucket, "p/")
    assert 0 < len(first) < 12
    code, out, err = run(*base, "--shard", "2/2", "--require-verified")
    assert code == 0, out + err
    assert remote_keys(bucket, "p/") == [f"p/f{i:02d}.txt" for i in range(12)]
    code, out, err = run(*base, "--exclude-glob", "*.txt", "--delete", "--yes", "--quiet")
    assert code == 0, out + err
    # Excluded paths are never deleted.
    assert len(remote_keys(bucket, "p/")) == 12


def test_library_refusals_speak_library(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    from s3lync import S3lyncError

    s3.put_object(Bucket=bucket, Key="full/a.txt", Body=b"a")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(S3lyncError) as info:
        make_obj(f"s3://{bucket}/full/", empty).upload(delete=True)
    assert "policy=ApplyPolicy(allow_empty_source=True) allows it" in str(info.value)
    assert "--" not in str(info.value)


def test_sync_sends_the_older_upload_flags_too(moto_server: Any, tmp_path: Path) -> None:
    client = moto_server.client()
    bucket = "flags-" + tmp_path.name[-8:].lower().replace("_", "-")
    client.create_bucket(Bucket=bucket)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.bin").write_bytes(b"a")
    code, out, err = run(
        "sync", str(tmp_path / "site"), f"s3://{bucket}/s/", "--endpoint-url",
        moto_server.endpoint_url, "--sse", "AES256", "--storage-class", "STANDARD_IA",
        "--content-type", "application/x-mine", "--acl", "private",
    )  # fmt: skip
    assert code == 0, out + err
    head = client.head_object(Bucket=bucket, Key="s/a.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ContentType"] == "application/x-mine"


def test_validate_says_valid_only_when_it_exits_0(tmp_path: Path) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n  - s3: s3://my-bucket/d/\n    local: d\n    direction: download\n"
    )
    code, out, err = run("-f", str(manifest), "validate")
    assert code == 0 and "s3lync.yaml: valid (1 mapping)" in out, out + err
    (tmp_path / "s3lync.lock").write_text("{not a lock")
    code, out, err = run("-f", str(manifest), "validate")
    assert code == 1, out + err
    assert "valid" not in out and "s3lync.lock" in err


def test_an_endpoint_without_a_scheme_says_what_to_add(tmp_path: Path) -> None:
    from s3lync import ConfigError, S3Object

    for args in (
        ["--endpoint-url", "localhost:9000", "sync", "s3://my-bucket/x/", str(tmp_path / "x")],
        ["sync", "s3://my-bucket/x/", str(tmp_path / "x"), "--endpoint-url", "localhost:9000"],
    ):
        code, out, err = run(*args)
        assert code == 2, out + err
        assert "add http:// or https:// in front (e.g. 'http://localhost:9000')" in err
    with pytest.raises(ConfigError, match=r"add http:// or https:// in front"):
        S3Object("s3://my-bucket/x", tmp_path / "x", endpoint_url="localhost:9000").exists()


def test_verbose_after_the_command_adds_to_the_one_before(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    import logging

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    ep = ["--endpoint-url", s3_server.endpoint_url]
    level = logging.getLogger("s3lync").getEffectiveLevel
    try:
        for before, after, expected in (
            ([], ["-vv"], logging.DEBUG),
            ([], ["-v"], logging.INFO),
            (["-v"], ["-v"], logging.DEBUG),  # -v before and -v after: -vv
        ):
            code, out, err = run(*before, "sync", str(src), f"s3://{bucket}/v/", *ep, *after)
            assert code == 0, out + err
            assert level() == expected, (before, after)
    finally:
        from s3lync.cli import logs

        logs.install(0, "WARNING")
        logging.getLogger("s3lync").setLevel(logging.NOTSET)
