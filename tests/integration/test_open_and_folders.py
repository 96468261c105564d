"""Issue 15 bugs 1-3: open("x") on an existing object, a folder as local_path, open() on a prefix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3ObjectError
from s3lync.errors import ObjectExistsError, RemoteNotFoundError


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# --------------------------------------------------------------------------- open("x")


@pytest.mark.parametrize("cached", [False, True], ids=["no-local-copy", "cached-copy"])
def test_open_x_refuses_an_existing_object_naming_its_uri(
    s3: Any, bucket: str, make_obj: Any, cached: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="x.txt", Body=b"theirs")
    obj = make_obj(f"s3://{bucket}/x.txt")
    if cached:
        obj.download()

    with (
        pytest.raises(ObjectExistsError, match=rf"s3://{bucket}/x\.txt already exists") as info,
        obj.open("x") as f,
    ):
        f.write("mine")

    assert isinstance(info.value, FileExistsError)
    assert obj.local_path not in str(info.value)
    assert _get(s3, bucket, "x.txt") == b"theirs"


def test_open_x_does_not_overwrite_an_object_created_during_the_block(
    s3: Any, bucket: str, make_obj: Any
) -> None:
    # Created after open() checked but before the upload: If-None-Match (moto) or the plan's
    # HEAD (rclone, which ignores If-None-Match) refuses the upload.
    obj = make_obj(f"s3://{bucket}/race.txt")
    with pytest.raises(ObjectExistsError, match="already exists"), obj.open("x") as f:
        f.write("mine")
        s3.put_object(Bucket=bucket, Key="race.txt", Body=b"theirs")
    assert _get(s3, bucket, "race.txt") == b"theirs"


def test_upload_with_if_none_match_is_refused_by_stores_that_support_it(
    s3_server: Any, s3: Any, bucket: str
) -> None:
    # The conditional PUT itself (the race the plan's HEAD cannot close), on both request paths.
    import hashlib

    from s3lync.errors import SyncError
    from s3lync.store.clients import get_client, get_wire
    from s3lync.store.remote import Remote

    body = b"mine"
    md5 = hashlib.md5(body).hexdigest()
    ep = s3_server.endpoint_url
    for remote in (  # the botocore-backed implementation, then the fast one
        Remote(get_client(None, ep, None, 2), max_workers=2),
        Remote(max_workers=2, wire=get_wire(None, ep, None, 2)),
    ):
        s3.put_object(Bucket=bucket, Key="k", Body=b"theirs")
        if s3_server.caps.conditional_writes:
            with pytest.raises(SyncError, match="PreconditionFailed"):
                remote.upload("unused", bucket, "k", len(body), md5, body=body, if_none_match=True)
            assert _get(s3, bucket, "k") == b"theirs"
        else:
            # This store ignores the header (probed): open("x") relies on its HEAD there.
            remote.upload("unused", bucket, "k", len(body), md5, body=body, if_none_match=True)
            assert _get(s3, bucket, "k") == b"mine"


# --------------------------------------------------------------------------- a folder as local_path


@pytest.mark.parametrize(
    "how", ["existing-folder", "trailing-slash-new", "trailing-slash-existing"]
)
def test_single_object_into_a_folder_returns_the_file_path(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path, how: str
) -> None:
    s3.put_object(Bucket=bucket, Key="m/model.bin", Body=b"weights")
    folder = tmp_path / "models"
    if how != "trailing-slash-new":
        folder.mkdir()
    arg = str(folder) if how == "existing-folder" else str(folder) + "/"
    obj = make_obj(f"s3://{bucket}/m/model.bin", local_path=arg)

    path = obj.download()

    assert path == str(folder / "model.bin")
    assert obj.local_path == path
    assert (folder / "model.bin").read_bytes() == b"weights"
    with obj.open("rb") as f:
        assert f.read() == b"weights"
    assert sorted(os.listdir(folder)) == ["model.bin"]


def test_trailing_slash_local_path_is_the_files_folder_before_download(
    bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    obj = make_obj(f"s3://{bucket}/m/model.bin", local_path=str(tmp_path / "models") + "/")
    assert obj.local_path == str(tmp_path / "models" / "model.bin")


def test_open_w_into_an_existing_folder_uploads_the_file(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    obj = make_obj(f"s3://{bucket}/r/report.txt", local_path=folder)
    with obj.open("w") as f:
        f.write("done")
    assert _get(s3, bucket, "r/report.txt") == b"done"
    assert (folder / "report.txt").read_text() == "done"
    assert obj.local_path == str(folder / "report.txt")


def test_upload_of_a_folder_with_a_trailing_slash_is_still_the_folder(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    obj = make_obj(f"s3://{bucket}/out", local_path=str(folder) + "/")
    obj.upload()
    assert remote_keys(bucket) == ["out/a.txt"]


def test_manifest_local_with_trailing_slash_puts_a_single_object_inside(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    from s3lync.cli import commands
    from s3lync.cli.commands import Context

    s3.put_object(Bucket=bucket, Key="m/model.bin", Body=b"weights")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - s3: s3://{bucket}/m/model.bin\n    local: models/\n    direction: download\n"
    )
    import io

    out, err = io.StringIO(), io.StringIO()
    ctx = Context(manifest=manifest, endpoint_url=s3_server.endpoint_url, out=out, err=err)
    assert commands.apply(ctx) == 0, out.getvalue() + err.getvalue()
    assert (tmp_path / "models" / "model.bin").read_bytes() == b"weights"
    assert not (tmp_path / "models").is_file()


# --------------------------------------------------------------------------- open() on a prefix


@pytest.mark.parametrize("mode", ["r", "rb", "a", "r+"])
@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_open_on_a_prefix_fails_at_once_without_downloading(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path, mode: str, slash: str
) -> None:
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"data/f{i}.txt", Body=b"x")
    target = tmp_path / "data"
    obj = make_obj(f"s3://{bucket}/data{slash}", local_path=target)

    with (
        pytest.raises(S3ObjectError, match=r"open\(.*\) needs an object, not a prefix"),
        obj.open(mode),
    ):
        pass

    assert not target.exists()


def test_open_r_of_a_missing_key_is_still_not_found(bucket: str, make_obj: Any) -> None:
    with (
        pytest.raises(RemoteNotFoundError, match="no such object"),
        make_obj(f"s3://{bucket}/nope.txt").open("r"),
    ):
        pass
