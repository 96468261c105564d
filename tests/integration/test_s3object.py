"""S3Object against real servers: download/upload of files and prefixes, open(), exists/delete."""

from __future__ import annotations

import glob
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3lyncError, S3Object
from s3lync.errors import RemoteNotFoundError


def _put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` as {relative posix path: bytes}."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- download


def test_download_file_to_default_local_path(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _put(s3, bucket, "dir/file.txt", b"hello")
    obj = make_obj(f"s3://{bucket}/dir/file.txt")
    expected = tmp_path / "cache" / "s3lync" / "objects" / bucket / "dir" / "file.txt"

    assert obj.local_path == str(expected)
    assert obj.download() == str(expected)
    assert expected.read_bytes() == b"hello"


def test_download_file_to_custom_local_path(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _put(s3, bucket, "file.bin", b"\x00\x01binary")
    target = tmp_path / "new" / "nested" / "copy.bin"
    obj = make_obj(f"s3://{bucket}/file.bin", local_path=str(target))

    assert obj.local_path == str(target)
    assert obj.download() == str(target)
    assert target.read_bytes() == b"\x00\x01binary"
    assert not (tmp_path / "cache" / "s3lync" / "objects" / bucket).exists()


@pytest.mark.parametrize("suffix", ["/", ""], ids=["trailing-slash", "no-slash"])
def test_download_prefix(s3: Any, bucket: str, make_obj: Any, tmp_path: Path, suffix: str) -> None:
    files = {"a.txt": b"A", "sub/b.txt": b"BB", "sub/deeper/c.json": b"{}"}
    for rel, body in files.items():
        _put(s3, bucket, f"data/{rel}", body)
    _put(s3, bucket, "data2/outside.txt", b"not under data/")
    target = tmp_path / "out"

    path = make_obj(f"s3://{bucket}/data{suffix}", local_path=target).download()

    assert path == str(target)
    assert _tree(target) == files


def test_download_whole_bucket(s3: Any, bucket: str, make_obj: Any, tmp_path: Path) -> None:
    _put(s3, bucket, "top.txt", b"1")
    _put(s3, bucket, "d/x.txt", b"2")
    obj = make_obj(f"s3://{bucket}/")

    path = Path(obj.download())

    assert path == tmp_path / "cache" / "s3lync" / "objects" / bucket
    assert _tree(path) == {"top.txt": b"1", "d/x.txt": b"2"}


# --------------------------------------------------------------------------- upload


def test_upload_file(s3: Any, bucket: str, make_obj: Any, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"payload")
    uri = f"s3://{bucket}/up/one.txt"

    assert make_obj(uri, local_path=src).upload() == uri

    assert _get(s3, bucket, "up/one.txt") == b"payload"
    head = s3.head_object(Bucket=bucket, Key="up/one.txt")
    assert head["ETag"].strip('"') == hashlib.md5(b"payload").hexdigest()


@pytest.mark.parametrize("suffix", ["/", ""], ids=["trailing-slash", "no-slash"])
def test_upload_folder(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path, suffix: str
) -> None:
    src = tmp_path / "folder"
    files = {"a.txt": b"a", "sub/b.txt": b"bb", "sub/deep/c.txt": b"ccc"}
    for rel, body in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(body)

    make_obj(f"s3://{bucket}/pre{suffix}", local_path=src).upload()

    assert remote_keys(bucket) == sorted(f"pre/{rel}" for rel in files)
    for rel, body in files.items():
        assert _get(s3, bucket, f"pre/{rel}") == body


def test_upload_then_download_roundtrip(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {f"f{i}.dat": os.urandom(100 + i) for i in range(5)} | {"x/y/z.txt": "ünïcödé".encode()}
    for rel, body in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(body)

    make_obj(f"s3://{bucket}/rt/", local_path=src).upload()
    back = Path(make_obj(f"s3://{bucket}/rt/", local_path=tmp_path / "back").download())

    assert _tree(back) == files


# --------------------------------------------------------------------------- open()


def test_open_w_creates_parents_and_uploads(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    target = tmp_path / "a" / "b" / "note.txt"
    obj = make_obj(f"s3://{bucket}/notes/note.txt", local_path=target)

    with obj.open("w") as f:
        f.write("Hello, S3! ✓")

    assert _get(s3, bucket, "notes/note.txt") == "Hello, S3! ✓".encode()
    assert target.read_text(encoding="utf-8") == "Hello, S3! ✓"


def test_open_w_replaces_existing_object(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "k.txt", b"old old old")
    with make_obj(f"s3://{bucket}/k.txt").open("w") as f:
        f.write("new")
    assert _get(s3, bucket, "k.txt") == b"new"


def test_open_wb_uploads_bytes(s3: Any, bucket: str, make_obj: Any) -> None:
    data = bytes(range(256))
    with make_obj(f"s3://{bucket}/bin/all.bin").open("wb") as f:
        f.write(data)
    assert _get(s3, bucket, "bin/all.bin") == data


def test_open_w_honours_encoding(s3: Any, bucket: str, make_obj: Any) -> None:
    with make_obj(f"s3://{bucket}/latin.txt").open("w", encoding="latin-1") as f:
        f.write("café")
    assert _get(s3, bucket, "latin.txt") == "café".encode("latin-1")


def test_open_x_creates_new_object(s3: Any, bucket: str, make_obj: Any) -> None:
    with make_obj(f"s3://{bucket}/x.txt").open("x") as f:
        f.write("exclusive")
    assert _get(s3, bucket, "x.txt") == b"exclusive"


def test_open_x_refuses_existing_local_file(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    target = tmp_path / "exists.txt"
    target.write_text("already here")
    obj = make_obj(f"s3://{bucket}/x.txt", local_path=target)

    with pytest.raises(FileExistsError), obj.open("x") as f:
        f.write("nope")

    assert remote_keys(bucket) == []
    assert target.read_text() == "already here"


def test_open_r_downloads_text(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "r.txt", "héllo wörld ✓".encode())
    with make_obj(f"s3://{bucket}/r.txt").open("r") as f:
        assert f.read() == "héllo wörld ✓"


def test_open_default_mode_is_read(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "d.txt", b"default")
    with make_obj(f"s3://{bucket}/d.txt").open() as f:
        assert f.read() == "default"


def test_open_rb_downloads_bytes(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "r.bin", b"\xff\x00\xfe")
    with make_obj(f"s3://{bucket}/r.bin").open("rb") as f:
        assert f.read() == b"\xff\x00\xfe"


def test_open_r_refreshes_stale_local_copy(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    target = tmp_path / "stale.txt"
    target.write_text("stale local")
    _put(s3, bucket, "fresh.txt", b"fresh remote")
    with make_obj(f"s3://{bucket}/fresh.txt", local_path=target).open("r") as f:
        assert f.read() == "fresh remote"


def test_open_r_does_not_upload(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any
) -> None:
    _put(s3, bucket, "ro.txt", b"read only")
    client = s3_server.client()
    log = request_counter(client)
    with make_obj(f"s3://{bucket}/ro.txt", client=client).open("r") as f:
        f.read()
    assert log.object_writes() == []


def test_open_r_missing_key_raises_not_found(bucket: str, make_obj: Any, tmp_path: Path) -> None:
    target = tmp_path / "none.txt"
    obj = make_obj(f"s3://{bucket}/none.txt", local_path=target)
    with pytest.raises(RemoteNotFoundError), obj.open("r"):
        pass
    assert not target.exists()


def test_open_a_appends_to_existing_object(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "log.txt", b"line1\n")
    with make_obj(f"s3://{bucket}/log.txt").open("a") as f:
        f.write("line2\n")
    assert _get(s3, bucket, "log.txt") == b"line1\nline2\n"


def test_open_a_creates_missing_object(s3: Any, bucket: str, make_obj: Any) -> None:
    with make_obj(f"s3://{bucket}/new/log.txt").open("a") as f:
        f.write("first\n")
    assert _get(s3, bucket, "new/log.txt") == b"first\n"


def test_open_ab_appends_bytes(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "b.bin", b"\x01\x02")
    with make_obj(f"s3://{bucket}/b.bin").open("ab") as f:
        f.write(b"\x03")
    assert _get(s3, bucket, "b.bin") == b"\x01\x02\x03"


def test_open_r_plus_edits_in_place(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "edit.txt", b"hello world")
    with make_obj(f"s3://{bucket}/edit.txt").open("r+") as f:
        assert f.read() == "hello world"
        f.seek(0)
        f.write("HELLO")
    assert _get(s3, bucket, "edit.txt") == b"HELLO world"


@pytest.mark.parametrize("mode", ["w", "wb", "x", "a", "r+"])
def test_open_uploads_nothing_when_block_raises(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, request_counter: Any, mode: str
) -> None:
    _put(s3, bucket, "keep.txt", b"original")
    key = "fresh.txt" if mode == "x" else "keep.txt"
    client = s3_server.client()
    log = request_counter(client)
    obj = make_obj(f"s3://{bucket}/{key}", client=client)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), obj.open(mode) as f:
        f.write(b"CHANGED" if "b" in mode else "CHANGED")
        raise Boom

    assert log.object_writes() == []
    assert _get(s3, bucket, "keep.txt") == b"original"
    if mode == "x":
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=bucket, Key="fresh.txt")


# --------------------------------------------------------------------------- exists / delete


def test_exists(s3: Any, bucket: str, make_obj: Any) -> None:
    _put(s3, bucket, "dir/sub/file.txt", b"x")
    assert make_obj(f"s3://{bucket}/dir/sub/file.txt").exists() is True
    assert make_obj(f"s3://{bucket}/dir/").exists() is True
    assert make_obj(f"s3://{bucket}/dir").exists() is True
    assert make_obj(f"s3://{bucket}/dir/sub").exists() is True
    assert make_obj(f"s3://{bucket}/dir/sub/file").exists() is False  # a key prefix is not a folder
    assert make_obj(f"s3://{bucket}/di").exists() is False
    assert make_obj(f"s3://{bucket}/missing.txt").exists() is False
    assert make_obj(f"s3://{bucket}/missing/").exists() is False


def test_delete_object_keeps_local_file(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any
) -> None:
    _put(s3, bucket, "del/me.txt", b"bye")
    _put(s3, bucket, "del/other.txt", b"stay")
    obj = make_obj(f"s3://{bucket}/del/me.txt")
    local = Path(obj.download())

    assert obj.delete() is True
    assert remote_keys(bucket) == ["del/other.txt"]
    assert obj.exists() is False
    assert local.read_bytes() == b"bye"
    assert obj.delete() is False


def test_delete_prefix_only_under_prefix(
    s3: Any, bucket: str, make_obj: Any, remote_keys: Any
) -> None:
    for key in ("data/a.txt", "data/b/c.txt", "data2/keep.txt", "database.txt", "top.txt"):
        _put(s3, bucket, key, b"x")

    assert make_obj(f"s3://{bucket}/data/").delete() is True

    assert remote_keys(bucket) == ["data2/keep.txt", "database.txt", "top.txt"]
    assert make_obj(f"s3://{bucket}/data/").delete() is False


def test_delete_prefix_without_slash(s3: Any, bucket: str, make_obj: Any, remote_keys: Any) -> None:
    for key in ("data/a.txt", "data/b/c.txt", "data2/keep.txt"):
        _put(s3, bucket, key, b"x")

    assert make_obj(f"s3://{bucket}/data").delete() is True

    assert remote_keys(bucket) == ["data2/keep.txt"]


def test_delete_missing_returns_false(bucket: str, make_obj: Any) -> None:
    assert make_obj(f"s3://{bucket}/nothing/here.txt").delete() is False


def test_delete_prefix_over_1000_keys_is_batched(
    s3_server: Any, s3: Any, bucket: str, make_obj: Any, remote_keys: Any, request_counter: Any
) -> None:
    if not s3_server.bulk:
        pytest.skip("creating 1000+ objects is slow on this server; batching is server-agnostic")
    keys = [f"many/{i:05d}.txt" for i in range(1005)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: _put(s3, bucket, k, b""), keys))
    _put(s3, bucket, "other/keep.txt", b"keep")
    client = s3_server.client()
    log = request_counter(client)

    assert make_obj(f"s3://{bucket}/many/", client=client).delete() is True

    assert remote_keys(bucket) == ["other/keep.txt"]
    batch_posts = [u for m, u in log.requests if m == "POST" and "delete" in u.split("?", 1)[-1]]
    single_deletes = [u for m, u in log.requests if m == "DELETE"]
    assert len(batch_posts) == 2, log.requests
    assert single_deletes == []


# --------------------------------------------------------------------------- seed README examples


def test_seed_readme_examples(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed README's snippets, verbatim apart from the bucket, against the server via env."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    _put(s3, bucket, "path/to/file.txt", b"from s3")

    # Basic usage
    obj = S3Object(f"s3://{bucket}/path/to/file.txt")
    obj.download(check_hash=True)
    local_file = obj.local_path
    assert Path(local_file).read_bytes() == b"from s3"
    Path(local_file).write_text("edited locally")
    obj.upload()
    assert _get(s3, bucket, "path/to/file.txt") == b"edited locally"

    # Custom local path
    custom = tmp_path / "Users" / "john" / "tech" / "data" / "file.txt"
    obj = S3Object(f"s3://{bucket}/path/to/file.txt", local_path=str(custom))
    assert obj.local_path == str(custom)

    # Context manager
    with obj.open(mode="w") as f:
        f.write("Hello, S3!")
    with obj.open(mode="r") as f:
        content = f.read()
    assert content == "Hello, S3!"
    assert _get(s3, bucket, "path/to/file.txt") == b"Hello, S3!"

    # Traditional file operations on a folder
    _put(s3, bucket, "folder/a.json", b'{"a": 1}')
    _put(s3, bucket, "folder/b.json", b'{"b": 2}')
    _put(s3, bucket, "folder/c.txt", b"c")
    obj = S3Object(f"s3://{bucket}/folder")
    obj.download()
    found = sorted(os.path.basename(p) for p in glob.glob(obj.local_path + "/*.json"))
    assert found == ["a.json", "b.json"]
    with open(os.path.join(obj.local_path, "a.json"), "w") as fh:
        fh.write('{"a": 42}')
    obj.upload()
    assert _get(s3, bucket, "folder/a.json") == b'{"a": 42}'

    # Force sync both ways
    Path(obj.local_path, "local-only.txt").write_text("local only")
    obj.download(force_sync=True)
    assert not Path(obj.local_path, "local-only.txt").exists()
    os.remove(os.path.join(obj.local_path, "c.txt"))
    obj.upload(force_sync=True)
    assert sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="folder/")["Contents"]
    ) == ["folder/a.json", "folder/b.json"]


def test_errors_are_s3lync_errors(bucket: str, make_obj: Any) -> None:
    with pytest.raises(S3lyncError):
        make_obj(f"s3://{bucket}/does/not/exist.txt").download()
