"""Smart sync: only what differs is transferred; force_sync mirrors; exclude_pattern is honoured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

FILES = {"a.txt": b"alpha", "sub/b.txt": b"bravo", "sub/deep/c.txt": b"charlie"}


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _put_tree(s3: Any, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for rel, body in files.items():
        s3.put_object(Bucket=bucket, Key=prefix + rel, Body=body)


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _last_modified(s3: Any, bucket: str, prefix: str) -> dict[str, Any]:
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: (o["LastModified"], o["ETag"]) for o in page.get("Contents", ())}


def _mtimes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


# --------------------------------------------------------------------------- download


def test_download_unchanged_prefix_transfers_nothing(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    _put_tree(s3, bucket, "data/", FILES)
    client = s3_server.client()
    log = request_counter(client)
    target = tmp_path / "out"
    obj = make_obj(f"s3://{bucket}/data/", local_path=target, client=client)

    obj.download()
    assert len(log.object_gets()) == len(FILES)
    before = _mtimes(target)
    log.clear()

    obj.download()
    assert log.object_gets() == []
    assert log.object_writes() == []
    assert _mtimes(target) == before
    assert _tree(target) == FILES


def test_download_unchanged_with_new_s3object_transfers_nothing(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    """A second S3Object (new process in real life) decides from the local files, not from memory."""
    _put_tree(s3, bucket, "data/", FILES)
    target = tmp_path / "out"
    make_obj(f"s3://{bucket}/data/", local_path=target).download()
    client = s3_server.client()
    log = request_counter(client)

    make_obj(f"s3://{bucket}/data/", local_path=target, client=client).download()

    assert log.object_gets() == []


def test_download_unchanged_single_file_transfers_nothing(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any
) -> None:
    s3.put_object(Bucket=bucket, Key="one.txt", Body=b"just one")
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/one.txt", client=client)

    obj.download()
    assert len(log.object_gets()) == 1
    log.clear()
    obj.download()
    assert log.object_gets() == []


def test_download_transfers_only_changed_file(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    _put_tree(s3, bucket, "data/", FILES)
    target = tmp_path / "out"
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/data/", local_path=target, client=client)
    obj.download()
    # Same size, different bytes: only a hash comparison can notice.
    s3.put_object(Bucket=bucket, Key="data/sub/b.txt", Body=b"BRAVO")
    s3.put_object(Bucket=bucket, Key="data/new.txt", Body=b"new")
    log.clear()

    obj.download()

    assert sorted(u.rsplit("/", 1)[-1] for u in log.object_gets()) == ["b.txt", "new.txt"]
    assert _tree(target) == FILES | {"sub/b.txt": b"BRAVO", "new.txt": b"new"}


def test_download_restores_locally_modified_file(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _put_tree(s3, bucket, "data/", FILES)
    target = tmp_path / "out"
    obj = make_obj(f"s3://{bucket}/data/", local_path=target)
    obj.download()
    (target / "a.txt").write_bytes(b"ALPHA")  # same size, different content

    obj.download()

    assert (target / "a.txt").read_bytes() == b"alpha"


def test_download_without_force_keeps_local_only_files(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _put_tree(s3, bucket, "data/", FILES)
    target = tmp_path / "out"
    _write_tree(target, {"mine.txt": b"local only"})

    make_obj(f"s3://{bucket}/data/", local_path=target).download()

    assert _tree(target) == FILES | {"mine.txt": b"local only"}


def test_download_force_sync_retransfers_and_deletes_local_only(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    _put_tree(s3, bucket, "data/", FILES)
    root = tmp_path / "work"
    target = root / "data"
    # Neighbours of the local root that a careless delete would hit.
    _write_tree(root, {"data2/keep.txt": b"sibling", "data.txt": b"sibling file"})
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/data/", local_path=target, client=client)
    obj.download()
    _write_tree(target, {"extra.txt": b"x", "sub/extra2.txt": b"y", "only/local/z.txt": b"z"})
    log.clear()

    obj.download(force_sync=True)

    assert len(log.object_gets()) == len(FILES)
    assert _tree(target) == FILES
    assert (root / "data2" / "keep.txt").read_bytes() == b"sibling"
    assert (root / "data.txt").read_bytes() == b"sibling file"


def test_download_force_sync_single_file(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="f.txt", Body=b"remote")
    neighbour = tmp_path / "neighbour.txt"
    neighbour.write_text("leave me")
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/f.txt", local_path=tmp_path / "f.txt", client=client)
    obj.download()
    log.clear()

    obj.download(force_sync=True)

    assert len(log.object_gets()) == 1
    assert (tmp_path / "f.txt").read_bytes() == b"remote"
    assert neighbour.read_text() == "leave me"


# --------------------------------------------------------------------------- upload


def test_upload_unchanged_folder_transfers_nothing(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _write_tree(src, FILES)
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/up/", local_path=src, client=client)

    obj.upload()
    assert len(log.object_writes()) == len(FILES)
    before = _last_modified(s3, bucket, "up/")
    log.clear()

    obj.upload()
    assert log.object_writes() == []
    assert log.object_gets() == []
    assert _last_modified(s3, bucket, "up/") == before


def test_upload_unchanged_single_file_transfers_nothing(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    src = tmp_path / "one.txt"
    src.write_bytes(b"single")
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/one.txt", local_path=src, client=client)
    obj.upload()
    assert len(log.object_writes()) == 1
    log.clear()

    obj.upload()

    assert log.object_writes() == []


def test_upload_skips_file_already_identical_on_remote(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    """Skipping is decided by comparing MD5 with the remote ETag, not by remembering past uploads."""
    _put_tree(s3, bucket, "up/", FILES)
    src = tmp_path / "src"
    _write_tree(src, FILES)
    client = s3_server.client()
    log = request_counter(client)

    make_obj(f"s3://{bucket}/up/", local_path=src, client=client).upload()

    assert log.object_writes() == []


def test_upload_transfers_only_changed_file(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _write_tree(src, FILES)
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/up/", local_path=src, client=client)
    obj.upload()
    (src / "sub" / "b.txt").write_bytes(b"BRAVO")  # same size
    (src / "added.txt").write_bytes(b"added")
    log.clear()

    obj.upload()

    assert sorted(u.split("?")[0].rsplit("/", 1)[-1] for u in log.object_writes()) == [
        "added.txt",
        "b.txt",
    ]
    assert _get(s3, bucket, "up/sub/b.txt") == b"BRAVO"
    assert _get(s3, bucket, "up/a.txt") == b"alpha"


def test_upload_without_force_keeps_remote_only(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="up/remote-only.txt", Body=b"r")
    src = tmp_path / "src"
    _write_tree(src, FILES)

    make_obj(f"s3://{bucket}/up/", local_path=src).upload()

    assert "up/remote-only.txt" in remote_keys(bucket)


def test_upload_force_sync_retransfers_and_deletes_remote_only(
    s3_server: Any,
    s3: Any,
    bucket: str,
    make_obj: Any,
    remote_keys: Any,
    request_counter: Any,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    _write_tree(src, FILES)
    outside = ["up2/keep.txt", "up.txt", "upx/keep.txt", "other/keep.txt"]
    for key in [*outside, "up/stale.txt", "up/sub/stale2.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"k")
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/up/", local_path=src, client=client)
    obj.upload()
    log.clear()

    obj.upload(force_sync=True)

    assert len(log.object_writes()) == len(FILES)
    assert remote_keys(bucket) == sorted([*outside, *(f"up/{rel}" for rel in FILES)])


def test_upload_force_sync_never_deletes_excluded(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _write_tree(src, FILES | {"local.tmp": b"scratch"})
    for key in ("up/remote.tmp", "up/sub/remote.tmp", "up/gone.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"r")

    make_obj(f"s3://{bucket}/up/", local_path=src).upload(
        exclude_pattern=r".*\.tmp$", force_sync=True
    )

    assert remote_keys(bucket) == sorted(
        ["up/remote.tmp", "up/sub/remote.tmp", *(f"up/{rel}" for rel in FILES)]
    )


def test_download_force_sync_after_upload_makes_target_equal_source(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write_tree(a, FILES)
    _write_tree(b, {"a.txt": b"different", "zzz.txt": b"b only"})
    make_obj(f"s3://{bucket}/mirror/", local_path=a).upload()

    make_obj(f"s3://{bucket}/mirror/", local_path=b).download(force_sync=True)

    assert _tree(b) == FILES


# --------------------------------------------------------------------------- exclude_pattern


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r".*\.tmp$", ["keep.txt", "notes.bak", "skip/a.txt", "sub/keep.txt", "sub/skip/b.txt"]),
        (r"(.*\.tmp$|.*\.bak$)", ["keep.txt", "skip/a.txt", "sub/keep.txt", "sub/skip/b.txt"]),
        # Matched against the path relative to the sync root with '/' separators.
        (
            r"^skip/",
            ["keep.txt", "notes.bak", "scratch.tmp", "sub/keep.txt", "sub/skip/b.txt", "sub/x.tmp"],
        ),
        (r"skip/", ["keep.txt", "notes.bak", "scratch.tmp", "sub/keep.txt", "sub/x.tmp"]),
    ],
    ids=["tmp", "tmp-or-bak", "anchored-folder", "any-folder"],
)
def test_upload_exclude_pattern(
    bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path, pattern: str, expected: list[str]
) -> None:
    src = tmp_path / "src"
    _write_tree(
        src,
        {
            "keep.txt": b"k",
            "scratch.tmp": b"t",
            "notes.bak": b"b",
            "sub/keep.txt": b"k",
            "sub/x.tmp": b"t",
            "skip/a.txt": b"a",
            "sub/skip/b.txt": b"b",
        },
    )

    make_obj(f"s3://{bucket}/ex/", local_path=src).upload(exclude_pattern=pattern)

    assert remote_keys(bucket) == sorted(f"ex/{rel}" for rel in expected)


def test_upload_exclude_pattern_on_single_file_still_uploads_other_names(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    src = tmp_path / "data.csv"
    src.write_bytes(b"1,2,3")

    make_obj(f"s3://{bucket}/data.csv", local_path=src).upload(exclude_pattern=r".*\.tmp$")

    assert _get(s3, bucket, "data.csv") == b"1,2,3"
