"""Safety: unsafe keys are refused and never written outside the root; folder markers; conflicts."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3lyncError, S3ObjectError
from s3lync.errors import UnsafeKeyError

ODD_KEYS = "this server cannot store keys with '..', leading '/' or empty segments (probed)"


def _all_paths(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _outside(tmp_path: Path) -> set[str]:
    """Everything under tmp_path except the sync root and the s3lync cache."""
    return {
        p
        for p in _all_paths(tmp_path)
        if not p.startswith(("work/deep/root/", "cache/", "cache")) or p == "work/deep/root"
    }


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "bad_rel",
    ["../evil.txt", "a/../../evil.txt", "/abs-evil.txt", "a//evil.txt", "../../../../tmp-evil.txt"],
    ids=["dotdot", "nested-dotdot", "absolute", "empty-segment", "deep-dotdot"],
)
def test_unsafe_key_refused_rest_downloaded(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path, bad_rel: str
) -> None:
    if not s3_server.caps.odd_keys:
        pytest.skip(ODD_KEYS)
    bad_key = f"pre/{bad_rel}"
    s3.put_object(Bucket=bucket, Key=bad_key, Body=b"evil")
    s3.put_object(Bucket=bucket, Key="pre/ok.txt", Body=b"ok")
    s3.put_object(Bucket=bucket, Key="pre/sub/ok2.txt", Body=b"ok2")
    work = tmp_path / "work"
    root = work / "deep" / "root"
    root.mkdir(parents=True)
    (work / "sentinel.txt").write_text("untouched")
    before = _outside(tmp_path)

    with pytest.raises(UnsafeKeyError) as info:
        make_obj(f"s3://{bucket}/pre/", local_path=root).download()

    exc = info.value
    assert isinstance(exc, S3ObjectError)
    assert isinstance(exc, S3lyncError)
    assert bad_key in str(exc)
    assert _tree(root) == {"ok.txt": b"ok", "sub/ok2.txt": b"ok2"}
    assert _outside(tmp_path) == before
    assert (work / "sentinel.txt").read_text() == "untouched"
    assert not any("evil" in p.name for p in tmp_path.parent.rglob("*evil*"))
    assert not Path("/abs-evil.txt").exists()


def test_several_unsafe_keys_all_named(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    if not s3_server.caps.odd_keys:
        pytest.skip(ODD_KEYS)
    bad = ["pre/../x1", "pre/q/../../x2"]
    for key in [*bad, "pre/fine.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    root = tmp_path / "root"

    with pytest.raises(UnsafeKeyError) as info:
        make_obj(f"s3://{bucket}/pre/", local_path=root).download()

    for key in bad:
        assert key in str(info.value)
    assert _tree(root) == {"fine.txt": b"x"}
    assert not (tmp_path / "x1").exists()
    assert not (tmp_path / "x2").exists()


def test_unsafe_key_never_deleted_or_written_by_force_sync(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    if not s3_server.caps.odd_keys:
        pytest.skip(ODD_KEYS)
    s3.put_object(Bucket=bucket, Key="pre/../victim.txt", Body=b"overwrite attempt")
    s3.put_object(Bucket=bucket, Key="pre/ok.txt", Body=b"ok")
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    root = tmp_path / "root"

    with pytest.raises(UnsafeKeyError):
        make_obj(f"s3://{bucket}/pre/", local_path=root).download(force_sync=True)

    assert victim.read_text() == "original"
    assert (root / "ok.txt").read_bytes() == b"ok"


def test_folder_markers_become_folders(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    if not s3_server.caps.folder_markers:
        pytest.skip("this server keeps no 'key/' folder markers (probed)")
    for key, body in [
        ("pre/empty/", b""),
        ("pre/sub/", b""),
        ("pre/sub/f.txt", b"f"),
        ("pre/sub/inner/", b""),
    ]:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    root = tmp_path / "root"

    make_obj(f"s3://{bucket}/pre/", local_path=root).download()

    assert (root / "empty").is_dir()
    assert (root / "sub").is_dir()
    assert (root / "sub" / "inner").is_dir()
    assert _tree(root) == {"sub/f.txt": b"f"}


def test_prefix_marker_itself_is_not_a_file(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    if not s3_server.caps.folder_markers:
        pytest.skip("this server keeps no 'key/' folder markers (probed)")
    s3.put_object(Bucket=bucket, Key="pre/", Body=b"")
    s3.put_object(Bucket=bucket, Key="pre/a.txt", Body=b"a")
    root = tmp_path / "root"

    make_obj(f"s3://{bucket}/pre/", local_path=root).download()

    assert root.is_dir()
    assert _tree(root) == {"a.txt": b"a"}


def test_key_that_is_object_and_prefix_is_reported(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not s3_server.caps.file_and_prefix:
        pytest.skip("this server cannot hold both 'a' and 'a/b' (probed)")
    s3.put_object(Bucket=bucket, Key="pre/a", Body=b"file a")
    s3.put_object(Bucket=bucket, Key="pre/a/b", Body=b"file a/b")
    s3.put_object(Bucket=bucket, Key="pre/other.txt", Body=b"other")
    root = tmp_path / "root"
    caplog.set_level(logging.WARNING, logger="s3lync")

    make_obj(f"s3://{bucket}/pre/", local_path=root).download()

    assert (root / "other.txt").read_bytes() == b"other"
    warnings = [
        r for r in caplog.records if r.name.startswith("s3lync") and r.levelno >= logging.WARNING
    ]
    assert any("pre/a" in r.getMessage() or "'a'" in r.getMessage() for r in warnings), [
        r.getMessage() for r in warnings
    ]
    # Exactly one of the two wins locally; nothing half-written.
    a = root / "a"
    assert (a.is_file() and a.read_bytes() == b"file a") or (
        a.is_dir() and (a / "b").read_bytes() == b"file a/b"
    )
    assert not any(".s3lync-tmp" in p.name for p in tmp_path.rglob("*"))


# --------------------------------------------------------------------------- symlinks on upload


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_upload_follows_file_symlink_inside_root_and_survives_folder_loops(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "real.txt").write_bytes(b"real")
    (src / "sub" / "link.txt").symlink_to(src / "real.txt")
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)

    make_obj(f"s3://{bucket}/sym/", local_path=src).upload()

    keys = remote_keys(bucket)
    assert "sym/real.txt" in keys
    assert "sym/sub/link.txt" in keys
    assert s3.get_object(Bucket=bucket, Key="sym/sub/link.txt")["Body"].read() == b"real"
    assert not any("loop/sub/loop" in k for k in keys), keys
    assert len(keys) < 10


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_upload_skips_symlink_outside_root_unless_follow_symlinks(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path, caplog: Any
) -> None:
    """Issue 5: a link resolving outside the upload root is not followed unless asked to."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"linked content")
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_bytes(b"real")
    (src / "link.txt").symlink_to(outside)

    with caplog.at_level(logging.WARNING, logger="s3lync"):
        make_obj(f"s3://{bucket}/sym/", local_path=src).upload()
    assert remote_keys(bucket) == ["sym/real.txt"]
    assert any("link.txt" in r.getMessage() and "outside" in r.getMessage() for r in caplog.records)

    make_obj(f"s3://{bucket}/sym/", local_path=src, follow_symlinks=True).upload()
    assert remote_keys(bucket) == ["sym/link.txt", "sym/real.txt"]
    assert s3.get_object(Bucket=bucket, Key="sym/link.txt")["Body"].read() == b"linked content"
