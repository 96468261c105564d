"""Nothing lost (issue 14, items 1-3): read-only commands delete nothing, a user file named like a
temporary is an ordinary file, any name Linux allows can be downloaded, and a saved plan never
overwrites or deletes a target that changed after it was made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import S3Object
from s3lync.cli.main import cli

from .faultproxy import FaultProxy
from .helpers import (
    ANY_SERVER,
    BOTH_SERVERS,
    blob,
    put_objects,
    remote_tree,
    temporaries,
    tree,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

# The issue's own example (our temporaries of an older version looked like this), and the exact
# shape of today's temporaries: both are ordinary user files unless s3lync registered them.
LOOKALIKES = {
    ".data.csv.s3lync-tmp-999983-0123abcd": b"user data one",
    ".s3lync-tmp-0123456789abcdef": b"user data two",
    "sub/.x.s3lync-tmp-1-00000000": b"user data three",
}


def cli_run(endpoint: str, manifest: Path, *args: str) -> Any:
    """``s3lync -f MANIFEST --endpoint-url URL ARGS`` in-process (stdout/stderr kept apart)."""
    return CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", endpoint, *args], catch_exceptions=False
    )


def project(tmp_path: Path, bucket: str, direction: str, **extra: Any) -> tuple[Path, Path]:
    proj = tmp_path / "proj"
    local = proj / "data"
    local.mkdir(parents=True, exist_ok=True)
    m = {"name": "m", "s3": f"s3://{bucket}/p/", "local": "data", "direction": direction, **extra}
    return write_manifest(proj / "s3lync.yaml", [m]), local


# --------------------------------------------------------------------------- 1. temporaries


@BOTH_SERVERS
def test_user_files_named_like_temporaries_survive_read_only_commands_and_are_uploaded(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    manifest, data = project(tmp_path, bucket, "upload", delete=True)
    files = {"data.csv": b"a,b\n", **LOOKALIKES}
    write_files(data, files)

    assert cli_run(url, manifest, "validate").exit_code == 0
    planned = cli_run(url, manifest, "plan")
    assert planned.exit_code == 0, planned.stderr
    assert tree(data) == files, "plan deleted a user file"
    for rel in LOOKALIKES:
        assert f"+ {rel}" in planned.stdout, f"{rel} not planned for upload"
    assert not S3Object(f"s3://{bucket}/p/", local_path=data, endpoint_url=url).exists()
    assert tree(data) == files

    applied = cli_run(url, manifest, "apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert tree(data) == files
    assert remote_tree(s3, bucket, "p/") == {f"p/{k}": v for k, v in files.items()}
    # A second run sees them as unchanged, not as missing on either side.
    assert "No changes" in cli_run(url, manifest, "plan").stdout


@BOTH_SERVERS
def test_user_files_named_like_temporaries_are_downloaded_and_kept_like_any_file(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    put_objects(s3, bucket, {f"p/{k}": v for k, v in LOOKALIKES.items()})
    put_objects(s3, bucket, {"p/data.csv": b"a,b\n"})
    manifest, data = project(tmp_path, bucket, "download")
    # One of them is already there locally with the same bytes: unchanged, not "missing locally".
    write_files(data, {".s3lync-tmp-0123456789abcdef": b"user data two"})

    planned = cli_run(url, manifest, "plan")
    assert planned.exit_code == 0, planned.stderr
    assert "+ .data.csv.s3lync-tmp-999983-0123abcd" in planned.stdout
    assert ".s3lync-tmp-0123456789abcdef" not in planned.stdout
    assert "1 unchanged" in planned.stdout

    applied = cli_run(url, manifest, "apply", "--yes")
    assert applied.exit_code == 0, applied.stderr
    assert tree(data) == {"data.csv": b"a,b\n", **LOOKALIKES}
    # The library's exists() on the default local path touches nothing local either.
    obj = S3Object(f"s3://{bucket}/p/", endpoint_url=url)
    write_files(Path(obj.local_path), LOOKALIKES)
    assert obj.exists()
    assert tree(Path(obj.local_path)) == LOOKALIKES


# --------------------------------------------------------------------------- 2. long names

LONG_NAMES = [
    "a" * 227,
    "b" * 240 + ".csv",
    "c" * 255,
    "é" * 127,  # 254 bytes in UTF-8
]


@BOTH_SERVERS
def test_names_of_227_to_255_bytes_download_and_update(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One large file too: it goes through s3transfer's ranged download, whose own temporary
    # (name + 9 bytes) would not fit either.
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * 1024 * 1024))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * 1024 * 1024))
    objects = {f"p/{n}": blob(i, 100 + i) for i, n in enumerate(LONG_NAMES)}
    objects["p/sub/" + "d" * 255] = blob(99, 6 * 1024 * 1024)
    put_objects(s3, bucket, objects)
    target = tmp_path / "out"
    obj = S3Object(f"s3://{bucket}/p/", local_path=target, endpoint_url=s3_server.endpoint_url)

    obj.download()
    assert tree(target) == {k[2:]: v for k, v in objects.items()}
    assert temporaries(tmp_path) == []

    # An update replaces an existing file through a temporary too.
    changed = {k: v + b"!" for k, v in objects.items()}
    put_objects(s3, bucket, changed)
    obj.download()
    assert tree(target) == {k[2:]: v for k, v in changed.items()}
    assert temporaries(tmp_path) == []


@BOTH_SERVERS
def test_a_255_byte_single_file_downloads_to_its_own_name(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    name = "z" * 255
    put_objects(s3, bucket, {f"one/{name}": b"single"})
    target = tmp_path / name
    got = S3Object(
        f"s3://{bucket}/one/{name}", local_path=target, endpoint_url=s3_server.endpoint_url
    ).download()
    assert Path(got).read_bytes() == b"single"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == [name]


# --------------------------------------------------------------------------- 3. saved plans


def _touch_later(path: Path) -> None:
    """Move the mtime a second on, so a same-size edit is seen even on coarse clocks."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _saved_plan(url: str, manifest: Path, tmp_path: Path) -> Path:
    plan_file = tmp_path / "p.json"
    made = cli_run(url, manifest, "plan", "--out", str(plan_file))
    assert made.exit_code == 0, made.stderr
    return plan_file


def _refused_as_stale(url: str, manifest: Path, plan_file: Path, rel: str) -> None:
    applied = cli_run(url, manifest, "apply", "--yes", str(plan_file))
    assert applied.exit_code == 1, applied.stdout
    assert "stale" in applied.stderr and rel in applied.stderr, applied.stderr
    assert "nothing was changed" in applied.stderr


@BOTH_SERVERS
def test_saved_plan_refuses_to_overwrite_a_local_file_edited_after_planning(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    manifest, data = project(tmp_path, bucket, "download")
    write_files(data, {"a.txt": b"old local"})
    put_objects(s3, bucket, {"p/a.txt": b"new remote", "p/b.txt": b"also new"})
    plan_file = _saved_plan(url, manifest, tmp_path)
    (data / "a.txt").write_bytes(b"edited by the user after planning")

    _refused_as_stale(url, manifest, plan_file, "a.txt")
    assert tree(data) == {"a.txt": b"edited by the user after planning"}  # b.txt not created


@BOTH_SERVERS
def test_saved_plan_refuses_to_delete_a_local_file_edited_with_the_same_size(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    manifest, data = project(tmp_path, bucket, "download", delete=True)
    put_objects(s3, bucket, {"p/keep.txt": b"keep"})
    write_files(data, {"keep.txt": b"keep", "only-local.txt": b"draft 1"})
    plan_file = _saved_plan(url, manifest, tmp_path)
    (data / "only-local.txt").write_bytes(b"draft 2")  # same size
    _touch_later(data / "only-local.txt")

    _refused_as_stale(url, manifest, plan_file, "only-local.txt")
    assert tree(data) == {"keep.txt": b"keep", "only-local.txt": b"draft 2"}


@BOTH_SERVERS
def test_saved_plan_refuses_to_overwrite_a_remote_object_another_writer_replaced(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    manifest, data = project(tmp_path, bucket, "upload")
    put_objects(s3, bucket, {"p/a.txt": b"old remote"})
    write_files(data, {"a.txt": b"new local", "b.txt": b"new file"})
    plan_file = _saved_plan(url, manifest, tmp_path)
    put_objects(s3, bucket, {"p/a.txt": b"another writer's version"})

    _refused_as_stale(url, manifest, plan_file, "a.txt")
    assert remote_tree(s3, bucket, "p/") == {"p/a.txt": b"another writer's version"}


@BOTH_SERVERS
def test_saved_plan_refuses_to_delete_a_remote_object_replaced_with_the_same_size(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    manifest, data = project(tmp_path, bucket, "upload", delete=True)
    put_objects(s3, bucket, {"p/keep.txt": b"keep", "p/only-remote.txt": b"version 1"})
    write_files(data, {"keep.txt": b"keep"})
    plan_file = _saved_plan(url, manifest, tmp_path)
    put_objects(s3, bucket, {"p/only-remote.txt": b"version 2"})  # same size, new ETag

    _refused_as_stale(url, manifest, plan_file, "only-remote.txt")
    assert remote_tree(s3, bucket, "p/") == {
        "p/keep.txt": b"keep",
        "p/only-remote.txt": b"version 2",
    }


# ----------------------------------------------------- 3. changes while a run is under way


@BOTH_SERVERS
def test_local_file_edited_while_its_download_runs_is_kept(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    manifest, data = project(tmp_path, bucket, "download", delete=True)
    write_files(data, {"a.txt": b"old local", "gone.txt": b"old"})
    put_objects(s3, bucket, {"p/a.txt": b"new remote", "p/b.txt": b"b"})

    def user_edits(_seen: Any) -> None:
        (data / "a.txt").write_bytes(b"the user's edit, made mid-run")

    proxy.add_rule("pass", method="GET", key="/p/a.txt", before=user_edits)
    applied = cli_run(proxy.url, manifest, "apply", "--yes")

    assert applied.exit_code == 1
    assert "a.txt" in applied.stderr and "stale" in applied.stderr, applied.stderr
    # The edit survives; the other file arrived; the mirror delete was skipped after the failure.
    assert tree(data) == {
        "a.txt": b"the user's edit, made mid-run",
        "b.txt": b"b",
        "gone.txt": b"old",
    }
    assert temporaries(tmp_path) == []


@BOTH_SERVERS
def test_remote_object_replaced_while_a_run_is_under_way_is_neither_overwritten_nor_deleted(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Another writer acts between the plan and the write: the HEAD before the write sees it."""
    manifest, data = project(tmp_path, bucket, "upload", delete=True)
    put_objects(s3, bucket, {"p/a.txt": b"old remote", "p/x.txt": b"remote only 1"})
    write_files(data, {"a.txt": b"new local"})

    def other_writer(key: str, body: bytes) -> Any:
        return lambda _seen: s3.put_object(Bucket=bucket, Key=key, Body=body)

    proxy.add_rule("pass", method="HEAD", key="/p/a.txt", before=other_writer("p/a.txt", b"theirs"))
    applied = cli_run(proxy.url, manifest, "apply", "--yes")
    assert applied.exit_code == 1
    assert "a.txt" in applied.stderr and "stale" in applied.stderr, applied.stderr
    assert remote_tree(s3, bucket, "p/") == {"p/a.txt": b"theirs", "p/x.txt": b"remote only 1"}

    # Now only the deletion is left to do, and the object is replaced (same size) as it happens.
    write_files(data, {"a.txt": b"theirs"})
    proxy.clear()
    proxy.add_rule(
        "pass", method="HEAD", key="/p/x.txt", before=other_writer("p/x.txt", b"remote only 2")
    )
    applied = cli_run(proxy.url, manifest, "apply", "--yes")
    assert applied.exit_code == 1
    assert "x.txt" in applied.stderr and "stale" in applied.stderr, applied.stderr
    assert remote_tree(s3, bucket, "p/") == {"p/a.txt": b"theirs", "p/x.txt": b"remote only 2"}


@ANY_SERVER
def test_if_match_refuses_an_overwrite_that_races_the_head(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Another writer acts after the HEAD, as the PUT goes out: If-Match refuses, on a store that
    honours it (probed). Where it is ignored, the HEAD alone guards (the gap is one round trip).
    """
    if not s3_server.caps.conditional_writes:
        pytest.skip("this server ignores If-Match (probed)")
    manifest, data = project(tmp_path, bucket, "upload")
    put_objects(s3, bucket, {"p/a.txt": b"old remote"})
    write_files(data, {"a.txt": b"new local"})
    rule = proxy.add_rule(
        "pass",
        method="PUT",
        key="/p/a.txt",
        before=lambda _seen: s3.put_object(Bucket=bucket, Key="p/a.txt", Body=b"theirs"),
    )
    applied = cli_run(proxy.url, manifest, "apply", "--yes")
    assert rule.hits == 1
    assert applied.exit_code == 1
    assert "a.txt" in applied.stderr and "stale" in applied.stderr, applied.stderr
    assert remote_tree(s3, bucket, "p/") == {"p/a.txt": b"theirs"}
