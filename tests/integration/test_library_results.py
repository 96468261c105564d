"""Library results (last_result), delete=True mirroring, 0.4 keyword names, exported exceptions."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import pytest

import s3lync
from s3lync import SyncResult


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_download_returns_the_path_and_sets_last_result(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    for name, body in {"a.txt": b"alpha", "b.txt": b"bravo!"}.items():
        s3.put_object(Bucket=bucket, Key=f"p/{name}", Body=body)
    dest = tmp_path / "dest"
    obj = make_obj(f"s3://{bucket}/p/", local_path=dest)
    assert obj.last_result is None
    assert obj.download() == str(dest)
    assert obj.last_result == SyncResult(transferred=2, deleted=0, unchanged=0, bytes=11)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.last_result.transferred = 5  # type: ignore[misc]

    s3.put_object(Bucket=bucket, Key="p/c.txt", Body=b"c")
    obj.download()
    assert obj.last_result == SyncResult(transferred=1, deleted=0, unchanged=2, bytes=1)


def test_upload_returns_the_uri_and_sets_last_result(
    bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.txt").write_bytes(b"1234")
    obj = make_obj(f"s3://{bucket}/up/", local_path=src)
    assert obj.upload() == f"s3://{bucket}/up/"
    assert obj.last_result == SyncResult(transferred=1, unchanged=0, bytes=4)
    obj.upload()
    assert obj.last_result == SyncResult(transferred=0, unchanged=1, bytes=0)


def test_download_delete_mirrors_with_smart_skipping(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="m/keep.txt", Body=b"keep")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_bytes(b"keep")  # identical: skipped, not re-downloaded
    (dest / "stale.txt").write_bytes(b"only local")
    obj = make_obj(f"s3://{bucket}/m/", local_path=dest)
    obj.download(delete=True)
    assert _tree(dest) == {"keep.txt": b"keep"}
    assert obj.last_result == SyncResult(transferred=0, deleted=1, unchanged=1, bytes=0)


def test_upload_delete_mirrors_with_smart_skipping(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="u/gone.txt", Body=b"remote only")
    src = tmp_path / "src"
    src.mkdir()
    (src / "new.txt").write_bytes(b"new")
    obj = make_obj(f"s3://{bucket}/u/", local_path=src)
    obj.upload(delete=True)
    assert remote_keys(bucket, "u/") == ["u/new.txt"]
    assert obj.last_result == SyncResult(transferred=1, deleted=1, unchanged=0, bytes=3)
    obj.upload(delete=True)
    assert obj.last_result == SyncResult(transferred=0, deleted=0, unchanged=1, bytes=0)


def test_last_result_is_set_even_when_the_sync_raises(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="q/ok.txt", Body=b"ok")
    s3.put_object(Bucket=bucket, Key="q/d/x.txt", Body=b"x")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "d").write_bytes(b"a file where a folder must be")
    obj = make_obj(f"s3://{bucket}/q/", local_path=dest)
    with pytest.raises(s3lync.S3lyncError):
        obj.download()
    assert obj.last_result == SyncResult(transferred=0, deleted=0, unchanged=0, bytes=0)


# --------------------------------------------------------------------------- 0.4 keyword names


def test_04_keyword_names_still_work_with_a_deprecation_warning(
    s3_server: Any, s3: Any, bucket: str, remote_keys: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.txt", "b.tmp", "c.bak"):
        (src / name).write_text(name)
    s3.put_object(Bucket=bucket, Key="o/remote-only.txt", Body=b"r")
    with pytest.warns(DeprecationWarning, match="boto3_client") as caught:
        obj = s3lync.S3Object(
            f"s3://{bucket}/o/", src, boto3_client=s3_server.client(), region_name="us-east-1"
        )
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(DeprecationWarning) as caught:
        obj.upload(
            use_checksum=True,
            excludes=[r"\.tmp$", r"\.bak$"],
            mirror=True,
            progress_mode="disabled",
        )
    names = " ".join(str(w.message) for w in caught)
    for old, new in (
        ("use_checksum", "check_hash"),
        ("excludes", "exclude_pattern"),
        ("mirror", "force_sync"),
        ("progress_mode", "progress"),
    ):
        assert f"{old}=" in names and f"use {new}=" in names
    # mirror=True is force_sync: the remote-only object went; the excludes held.
    assert remote_keys(bucket, "o/") == ["o/a.txt"]


def test_old_and_new_name_together_is_an_error(make_obj: Any, bucket: str, tmp_path: Path) -> None:
    obj = make_obj(f"s3://{bucket}/x/", local_path=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(TypeError, match="both 'use_checksum'"):
            obj.download(use_checksum=True, check_hash=True)


def test_documented_exceptions_import_from_the_package() -> None:
    from s3lync import (  # noqa: F401
        ApplyRefusedError,
        HashMismatchError,
        InvalidURIError,
        LocalPathNotFoundError,
        LockedError,
        ManifestError,
        PlanStaleError,
        RemoteNotFoundError,
        S3lyncError,
        S3ObjectError,
        SyncError,
        TransferCancelledError,
        UnsafeKeyError,
    )

    assert issubclass(RemoteNotFoundError, FileNotFoundError)
    assert issubclass(LocalPathNotFoundError, FileNotFoundError)
    assert issubclass(UnsafeKeyError, S3ObjectError)
    assert set(s3lync.__all__) >= {"RemoteNotFoundError", "LocalPathNotFoundError", "SyncResult"}
