"""Deletion safety: deletes only after every transfer of the mapping worked, never after a listing or
transfer error; an empty or missing source never mirrors into deletions unless allowed; ``--max-delete``
takes a count or a percentage; excluded paths are never deleted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import S3lyncError, S3Object, SyncError
from s3lync.cli.main import cli
from s3lync.errors import LocalPathNotFoundError, RemoteNotFoundError

from .faultproxy import FaultProxy
from .helpers import (
    BOTH_SERVERS,
    MOTO_ONLY,
    blob,
    put_objects,
    remote_tree,
    temporaries,
    tree,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

SRC = {"a.bin": blob(21, 3000), "b.bin": blob(22, 2000), "sub/c.bin": blob(23, 1000)}
REMOTE = {f"p/{k}": v for k, v in SRC.items()}


def apply(endpoint: str, manifest: Path, *args: str) -> Any:
    """``s3lync -f MANIFEST --endpoint-url URL apply ARGS`` in-process (stdout/stderr kept apart)."""
    result = CliRunner().invoke(
        cli,
        ["-f", str(manifest), "--endpoint-url", endpoint, "apply", *args],
        catch_exceptions=False,
    )
    return result


def one_mapping(tmp_path: Path, bucket: str, direction: str, **extra: Any) -> tuple[Path, Path]:
    proj = tmp_path / "proj"
    local = proj / "data"
    local.mkdir(parents=True, exist_ok=True)
    m = {"name": "m", "s3": f"s3://{bucket}/p/", "local": "data", "direction": direction, **extra}
    return write_manifest(proj / "s3lync.yaml", [m]), local


# --------------------------------------------------------------------------- after a failed transfer


@BOTH_SERVERS
def test_download_force_sync_skips_deletes_when_a_transfer_fails(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    put_objects(s3, bucket, REMOTE)
    dest = tmp_path / "out"
    old = {"a.bin": b"old a", "b.bin": b"old b", "extra.txt": b"only local"}
    write_files(dest, old)
    proxy.add_rule("error", method="GET", key="/p/b.bin", status=500, times=None)

    with pytest.raises(SyncError) as info:
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=proxy.url).download(force_sync=True)

    assert "p/b.bin" in str(info.value)
    assert tree(dest) == {**SRC, "b.bin": b"old b", "extra.txt": b"only local"}

    proxy.clear()
    S3Object(f"s3://{bucket}/p/", dest, endpoint_url=proxy.url).download(force_sync=True)
    assert tree(dest) == SRC


@MOTO_ONLY
def test_upload_delete_skipped_when_a_transfer_fails_and_reported(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    put_objects(s3, bucket, {"p/extra.txt": b"only remote"})
    manifest, local = one_mapping(tmp_path, bucket, "upload", delete=True)
    write_files(local, SRC)
    proxy.add_rule("error", method="PUT", key="/p/b.bin", status=503, times=None)

    result = apply(proxy.url, manifest, "--yes", "--json")

    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    ops = {o["rel"]: o for o in doc["results"][0]["operations"]}
    assert ops["b.bin"]["ok"] is False and "p/b.bin" in ops["b.bin"]["error"]
    assert ops["extra.txt"]["ok"] is False and ops["extra.txt"]["error_type"] == "SkippedDeletion"
    assert doc["summary"]["deleted"] == 0
    remote = {k: v for k, v in REMOTE.items() if k != "p/b.bin"} | {"p/extra.txt": b"only remote"}
    assert remote_tree(s3, bucket) == remote
    assert proxy.requests("POST") == [] and proxy.requests("DELETE") == []


@MOTO_ONLY
def test_deletes_are_sent_only_after_every_transfer(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/x1.txt": b"1", "p/x2.txt": b"2"})
    src = tmp_path / "src"
    write_files(src, SRC)

    S3Object(f"s3://{bucket}/p/", src, endpoint_url=proxy.url).upload(force_sync=True)

    kinds = [
        "put" if s.method == "PUT" else "delete"
        for s in proxy.log
        if s.method == "PUT" or s.method == "DELETE" or "delete" in s.query
    ]
    assert kinds == ["put"] * 3 + ["delete"]
    assert remote_tree(s3, bucket) == REMOTE


# --------------------------------------------------------------------------- after a listing error


@MOTO_ONLY
@pytest.mark.parametrize("direction", ["download", "upload"])
def test_listing_error_changes_and_deletes_nothing(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    direction: str,
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    remote_before = {**REMOTE, "p/extra-remote.txt": b"r"}
    put_objects(s3, bucket, remote_before)
    manifest, local = one_mapping(tmp_path, bucket, direction, delete=True)
    local_before = {"a.bin": b"changed", "extra-local.txt": b"l"}
    write_files(local, local_before)
    proxy.add_rule("error", method="GET", query="list-type=2", status=500, times=None)

    result = apply(proxy.url, manifest, "--yes")

    assert result.exit_code == 1
    assert f"s3://{bucket}/p" in result.stderr
    assert tree(local) == local_before
    assert remote_tree(s3, bucket) == remote_before
    # Only listing attempts were sent (retried), no transfer and no delete.
    assert len(proxy.log) >= 2
    assert all(s.method == "GET" and "list-type" in s.query for s in proxy.log)


# --------------------------------------------------------------------------- empty or missing source


@MOTO_ONLY
@pytest.mark.parametrize("flag", ["delete", "force_sync"])
def test_empty_local_source_refused_unless_allowed(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, flag: str
) -> None:
    put_objects(s3, bucket, REMOTE)
    manifest, _local = one_mapping(tmp_path, bucket, "upload", **{flag: True})

    refused = apply(s3_server.endpoint_url, manifest, "--yes")
    assert refused.exit_code == 1
    assert "empty" in refused.stderr
    assert remote_tree(s3, bucket) == REMOTE

    allowed = apply(s3_server.endpoint_url, manifest, "--yes", "--allow-empty-source")
    assert allowed.exit_code == 0, allowed.stderr
    assert remote_tree(s3, bucket) == {}


@MOTO_ONLY
@pytest.mark.parametrize("flag", ["delete", "force_sync"])
def test_empty_remote_source_refused_unless_allowed(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, flag: str
) -> None:
    put_objects(s3, bucket, {"other/keep.txt": b"not under p/"})
    manifest, local = one_mapping(tmp_path, bucket, "download", **{flag: True})
    write_files(local, SRC)

    refused = apply(s3_server.endpoint_url, manifest, "--yes")
    assert refused.exit_code == 1
    assert "empty" in refused.stderr
    assert tree(local) == SRC

    allowed = apply(s3_server.endpoint_url, manifest, "--yes", "--allow-empty-source")
    assert allowed.exit_code == 0, allowed.stderr
    assert tree(local) == {}


@MOTO_ONLY
def test_missing_local_source_is_refused(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, REMOTE)
    manifest, local = one_mapping(tmp_path, bucket, "upload", delete=True)
    local.rmdir()

    refused = apply(s3_server.endpoint_url, manifest, "--yes")
    assert refused.exit_code == 1
    assert "does not exist" in refused.stderr
    assert remote_tree(s3, bucket) == REMOTE

    with pytest.raises(LocalPathNotFoundError):
        S3Object(f"s3://{bucket}/p/", local, endpoint_url=s3_server.endpoint_url).upload(
            force_sync=True
        )
    assert remote_tree(s3, bucket) == REMOTE


@MOTO_ONLY
def test_library_force_sync_with_empty_source_deletes_nothing(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    put_objects(s3, bucket, REMOTE)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(S3lyncError):
        S3Object(f"s3://{bucket}/p/", empty, endpoint_url=url).upload(force_sync=True)
    assert remote_tree(s3, bucket) == REMOTE

    local = tmp_path / "local"
    write_files(local, SRC)
    with pytest.raises(RemoteNotFoundError):
        S3Object(f"s3://{bucket}/nothing-here/", local, endpoint_url=url).download(force_sync=True)
    assert tree(local) == SRC


# --------------------------------------------------------------------------- --max-delete


@MOTO_ONLY
@pytest.mark.parametrize("accepted", ["3", "34%"])
def test_max_delete_count_and_percentage(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, accepted: str
) -> None:
    """6 files in sync, 3 only local, 1 new remote: 3 deletions of 9 target files (33.3%)."""
    same = {f"f{i}.txt": f"file {i}".encode() for i in range(6)}
    put_objects(s3, bucket, {f"p/{k}": v for k, v in same.items()} | {"p/new.txt": b"new"})
    manifest, local = one_mapping(tmp_path, bucket, "download", delete=True)
    extra = {"x1.txt": b"x", "x2.txt": b"x", "x3.txt": b"x"}
    write_files(local, same | extra)
    url = s3_server.endpoint_url

    for limit, why in (("2", "--max-delete 2"), ("30%", "--max-delete 30%")):
        refused = apply(url, manifest, "--yes", "--max-delete", limit)
        assert refused.exit_code == 1
        assert why in refused.stderr
        assert tree(local) == same | extra  # nothing changed: not even the new file came down
    bad = apply(url, manifest, "--yes", "--max-delete", "lots")
    assert bad.exit_code == 2  # a click usage error, before any listing
    assert "--max-delete" in bad.stderr
    assert tree(local) == same | extra

    ok = apply(url, manifest, "--yes", "--max-delete", accepted)
    assert ok.exit_code == 0, ok.stderr
    assert tree(local) == same | {"new.txt": b"new"}


# --------------------------------------------------------------------------- excluded paths


@MOTO_ONLY
def test_excluded_paths_are_never_deleted_or_transferred(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(
        s3,
        bucket,
        {
            "down/a.txt": b"a",
            "down/remote.keep": b"remote keep",
            "up/stale.txt": b"stale",
            "up/sub/remote.keep": b"remote keep",
        },
    )
    proj = tmp_path / "proj"
    write_files(proj / "down", {"local.keep": b"local keep", "sub/x.keep": b"x", "gone.txt": b"g"})
    write_files(proj / "up", {"b.txt": b"b", "local.keep": b"local keep"})
    manifest = write_manifest(
        proj / "s3lync.yaml",
        [
            {
                "s3": f"s3://{bucket}/down/",
                "local": "down",
                "direction": "download",
                "force_sync": True,
                "exclude": r"\.keep$",
            },
            {
                "s3": f"s3://{bucket}/up/",
                "local": "up",
                "direction": "upload",
                "delete": True,
                "exclude": [r"\.keep$"],
            },
        ],
    )

    result = apply(s3_server.endpoint_url, manifest, "--yes")

    assert result.exit_code == 0, result.stderr
    assert tree(proj / "down") == {"a.txt": b"a", "local.keep": b"local keep", "sub/x.keep": b"x"}
    remote = remote_tree(s3, bucket)
    assert {k: v for k, v in remote.items() if k.startswith("up/")} == {
        "up/b.txt": b"b",
        "up/sub/remote.keep": b"remote keep",
    }
    assert temporaries(proj) == []


@BOTH_SERVERS
def test_library_exclude_pattern_protects_remote_files_from_force_sync(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/old.bak": b"bak", "p/stale.txt": b"stale"})
    src = tmp_path / "src"
    write_files(src, {"a.txt": b"a", "skip.tmp": b"tmp", "d/e.bak": b"e"})

    S3Object(f"s3://{bucket}/p/", src, endpoint_url=s3_server.endpoint_url).upload(
        exclude_pattern=r"(.*\.tmp$|.*\.bak$)", force_sync=True
    )

    assert remote_tree(s3, bucket) == {"p/a.txt": b"a", "p/old.bak": b"bak"}
