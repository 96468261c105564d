"""CHANGELOG "Migrating from 0.4": every row of its table, and every 0.4 signature run positionally.

s3lync 0.4.2's calls (from its source):
``S3Object(s3_uri, local_path, boto3_client, excludes, progress_mode)``,
``AsyncS3Object(s3_uri, local_path, boto3_client, aioboto3_session, excludes, progress_mode)``,
``download(use_checksum, excludes, progress_mode, mirror)`` and ``upload(...)`` alike. A 0.4 call
must run as it did in 0.4 or raise TypeError, and never delete what 0.4 would not have deleted.
"""

from __future__ import annotations

import asyncio
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import s3lync
from s3lync import AsyncS3Object, S3Object

ROOT = Path(__file__).resolve().parents[2]

# The first cell of each CHANGELOG row -> the test that checks it.
ROWS = {
    "`S3Object(uri, local_path, boto3_client=c)`": "test_boto3_client_keyword_on_both_faces",
    "`S3Object(uri, local_path, c)` (the client third, positionally)": "test_0_4_constructors_positionally",
    "`S3Object(..., excludes=...)`, or a fourth/fifth positional argument": "test_constructor_excludes_is_refused",
    '`S3Object(..., progress_mode="progress" / "compact" / "disabled")`': "test_progress_mode_values",
    "`AsyncS3Object(uri, local_path, boto3_client=c)`, `progress_mode=`": "test_boto3_client_keyword_on_both_faces",
    "`AsyncS3Object(..., aioboto3_session=s)`": "test_aioboto3_session_is_refused",
    "`download(use_checksum=...)`, `upload(use_checksum=...)` (both faces)": "test_0_4_keywords_on_both_faces",
    "`download(excludes=...)`, `upload(excludes=...)` (both faces)": "test_0_4_keywords_on_both_faces",
    "`download(mirror=True)`, `upload(mirror=True)` (both faces)": "test_mirror_is_force_sync_and_keeps_excluded_files",
    "`download(progress_mode=...)`, `upload(progress_mode=...)` (both faces)": "test_progress_mode_values",
    '`download(True, [r"\\.tmp$"])` (excludes second, positionally)': "test_the_issue_call_deletes_nothing",
    '`upload(True, [r"\\.tmp$"])`': "test_0_4_signatures_run_positionally",
    "`download(...)` / `upload(...)` with three or four positional arguments (`progress_mode`, `mirror`)": "test_0_4_signatures_run_positionally",
    'a flag given a non-boolean (`force_sync="yes"`, `delete=1`, `check_hash="maybe"`, `mirror=None`)': "test_flags_must_be_booleans",
    "0.4's default excludes (dot files, `__pycache__`, `.egg-info`)": "test_no_default_excludes",
    "`add_exclude`, `add_excludes`, `remove_exclude`, `clear_excludes`, `get_excludes`": "test_exclude_list_methods_are_gone",
    "`s3://KEY:SECRET@host/bucket/key`": "test_credentials_in_the_uri_are_refused_unrepeated",
    "`s3://host:port@bucket/key`, `s3://https://host/bucket/key` (endpoint in the URI)": "test_endpoint_in_the_uri_shows_endpoint_url",
    "`str(obj)`, `os.fspath(obj)` / `open(obj)`, `obj.bucket`, `obj.key` (both faces)": "test_path_like_on_both_faces",
    "`obj.open(mode)`, `obj.exists()`, `obj.delete()`": "test_open_exists_delete",
    "`from s3lync import S3lyncError, S3ObjectError, SyncError, HashMismatchError`": "test_0_4_exceptions_import",
    "`from s3lync import ProgressBar, chain_callbacks, configure_logging, get_logger, retry, async_retry, RetryConfig`": "test_0_4_helpers_are_gone",
    "default local path `<cache>/<bucket>/<key>`": "test_default_local_path_moved",
}


def _changelog_rows() -> list[str]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    section = text.split("### Migrating from 0.4\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [re.split(r"(?<!\\)\|", line)[1].strip() for line in rows]
    return [c for c in cells if c != "0.4.2"]


def test_every_changelog_row_has_a_test() -> None:
    rows = _changelog_rows()
    assert len(rows) >= 20
    assert rows == list(ROWS), "keep ROWS in the CHANGELOG's order, one entry per row"
    missing = {name for name in ROWS.values() if not callable(globals().get(name))}
    assert missing == set()


# --------------------------------------------------------------------------- a fixture world


@pytest.fixture
def world(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """A prefix ``d/`` with ``keep.txt`` and ``remote-only.txt``; a local folder with its own files.

    The server is AWS_ENDPOINT_URL, so objects are built as 0.4 code builds them.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    s3.put_object(Bucket=bucket, Key="d/keep.txt", Body=b"remote keep")
    s3.put_object(Bucket=bucket, Key="d/remote-only.txt", Body=b"only remote")
    local = tmp_path / "d"
    local.mkdir()
    (local / "mine.tmp").write_bytes(b"local tmp")
    (local / "notes.txt").write_bytes(b"local notes")
    return {"uri": f"s3://{bucket}/d/", "local": local, "client": s3_server.client()}


def _state(world: dict[str, Any], remote_keys: Any) -> tuple[set[str], list[str]]:
    local = {p.name for p in world["local"].iterdir() if p.is_file()}
    bucket = world["uri"].split("/")[2]
    return local, remote_keys(bucket, "d/")


def _run(call: Any) -> Any:
    return asyncio.run(call) if asyncio.iscoroutine(call) else call


# --------------------------------------------------------------------------- positional 0.4 calls

# What 0.4 code passes in each position; mirror=True is what deletes there.
_EXCLUDES = [r"\.tmp$"]
_CTOR_CALLS = [
    # (face, extra positional arguments after (uri, local_path))
    (S3Object, ("client",)),
    (S3Object, ("client", _EXCLUDES)),
    (S3Object, ("client", _EXCLUDES, "disabled")),
    (AsyncS3Object, ("client",)),
    (AsyncS3Object, ("client", None)),
    (AsyncS3Object, ("client", None, _EXCLUDES)),
    (AsyncS3Object, ("client", None, _EXCLUDES, "disabled")),
]
_METHOD_ARGS: list[tuple[Any, ...]] = [
    (True,),
    (False,),
    (True, _EXCLUDES),
    (True, r"\.tmp$"),
    (True, None),
    (True, _EXCLUDES, "disabled"),
    (True, None, "progress"),
    (True, None, None),
    (True, _EXCLUDES, "disabled", False),
    (True, _EXCLUDES, "disabled", True),
    (True, None, None, True),
]


@pytest.mark.parametrize(("face_call", "extra"), _CTOR_CALLS, ids=lambda v: str(v)[:40])
def test_0_4_constructors_positionally(
    face_call: Any, extra: tuple[Any, ...], world: dict[str, Any]
) -> None:
    args = tuple(world["client"] if a == "client" else a for a in extra)
    with pytest.raises(TypeError) as err:
        face_call(world["uri"], world["local"], *args)
    text = str(err.value)
    name = face_call.__name__
    assert "this looks like the s3lync 0.4 call" in text and f"{name}(s3_uri, local_path" in text
    assert "boto3_client is now client=" in text
    # The client is described, never repr'd whole.
    assert "botocore.client.S3 object" in text or "positional argument" in text


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
@pytest.mark.parametrize("method", ["download", "upload"])
@pytest.mark.parametrize("args", _METHOD_ARGS, ids=repr)
def test_0_4_signatures_run_positionally(
    face: Any,
    method: str,
    args: tuple[Any, ...],
    world: dict[str, Any],
    remote_keys: Any,
    s3_server: Any,
) -> None:
    """Each 0.4 download/upload call, positionally: it runs as in 0.4 or is a TypeError."""
    before = _state(world, remote_keys)
    obj = face(world["uri"], world["local"], endpoint_url=s3_server.endpoint_url)
    mirror = len(args) == 4 and args[3] is True
    # download(use_checksum) and upload(use_checksum[, excludes]) mean what they meant in 0.4.
    works = len(args) == 1 or (method == "upload" and len(args) == 2)
    if works:
        _run(getattr(obj, method)(*args))
    else:
        with pytest.raises(TypeError) as err:
            _run(getattr(obj, method)(*args))
        text = str(err.value)
        assert f"this looks like the s3lync 0.4 call {method}(use_checksum" in text, text
        assert "pass them by keyword" in text and "#migrating-from-04" in text
        if len(args) <= 3:
            wrong = "force_sync" if method == "download" or len(args) == 3 else "exclude_pattern"
            assert f"{wrong} must be True or False" in text, text
    local, remote = _state(world, remote_keys)
    # Nothing 0.4 would have kept is gone: without mirror, 0.4 deleted nothing at all.
    if not mirror:
        assert before[0] <= local and set(before[1]) <= set(remote)
    # A refused call changed nothing.
    if not works:
        assert (local, remote) == before
    elif method == "download":
        assert (world["local"] / "keep.txt").read_bytes() == b"remote keep"
    else:
        assert "d/notes.txt" in remote
        assert ("d/mine.tmp" in remote) == (len(args) == 1 or args[1] is None)


def test_the_issue_call_deletes_nothing(world: dict[str, Any], s3_server: Any) -> None:
    """``S3Object('s3://b/d/', d).download(True, [r'\\.tmp$'])`` deleted mine.tmp and notes.txt."""
    obj = S3Object(world["uri"], world["local"], endpoint_url=s3_server.endpoint_url)
    with pytest.raises(TypeError, match=r"force_sync must be True or False, not \['"):
        obj.download(True, [r"\.tmp$"])
    assert sorted(p.name for p in world["local"].iterdir()) == ["mine.tmp", "notes.txt"]
    # Spelled by keyword it does what 0.4 did: download, exclude, delete nothing.
    obj.download(True, exclude_pattern=[r"\.tmp$"])
    assert sorted(p.name for p in world["local"].iterdir()) == [
        "keep.txt",
        "mine.tmp",
        "notes.txt",
        "remote-only.txt",
    ]


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_flags_must_be_booleans(face: Any, world: dict[str, Any], remote_keys: Any) -> None:
    before = _state(world, remote_keys)
    obj = face(world["uri"], world["local"])
    calls: list[tuple[str, Callable[[], Any], str]] = [
        ("force_sync", lambda: obj.download(force_sync="yes"), "force_sync must be True or False"),
        ("delete", lambda: obj.upload(delete=1), "delete must be True or False, not 1"),
        ("check_hash", lambda: obj.download(check_hash="maybe"), "check_hash must be True, False"),
        ("check_hash", lambda: obj.upload(check_hash=None), "check_hash must be True, False"),
        ("force_sync", lambda: obj.upload(force_sync=[]), "force_sync must be True or False"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        calls.append(("mirror", lambda: obj.download(mirror=None), "mirror must be True or False"))
    for name, call, message in calls:
        with pytest.raises(TypeError) as err, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            _run(call())
        assert message in str(err.value), (name, str(err.value))
    with pytest.raises(TypeError, match="follow_symlinks must be True or False"):
        face(world["uri"], world["local"], follow_symlinks="no")
    with pytest.raises(TypeError, match="progress must be True, False or a callable, not 'bar'"):
        face(world["uri"], world["local"], progress="bar")
    assert _state(world, remote_keys) == before
    # "strict" is the one string check_hash takes.
    _run(obj.download(check_hash="strict"))


# --------------------------------------------------------------------------- 0.4 keyword names


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_boto3_client_keyword_on_both_faces(
    face: Any, world: dict[str, Any], s3_server: Any
) -> None:
    with pytest.warns(DeprecationWarning, match=r"use client= .*#migrating-from-04") as caught:
        obj = face(world["uri"], world["local"], boto3_client=world["client"])
    assert caught[0].filename == __file__  # the warning names the caller's line
    with pytest.warns(DeprecationWarning, match="progress_mode"):
        face(world["uri"], world["local"], progress_mode="disabled")
    # The client passed under the old name is the one used: it reaches the server.
    assert _run(obj.download()) == str(world["local"])
    assert (world["local"] / "keep.txt").read_bytes() == b"remote keep"


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_0_4_keywords_on_both_faces(
    face: Any, world: dict[str, Any], remote_keys: Any, bucket: str
) -> None:
    obj = face(world["uri"], world["local"])
    with pytest.warns(DeprecationWarning) as caught:
        _run(obj.upload(use_checksum=True, excludes=[r"\.tmp$"], progress_mode="compact"))
    names = " ".join(str(w.message) for w in caught)
    for old, new in (
        ("use_checksum", "check_hash"),
        ("excludes", "exclude_pattern"),
        ("progress_mode", "progress"),
    ):
        assert f"{old}=...) is the s3lync 0.4 name; use {new}=" in names
    assert remote_keys(bucket, "d/") == ["d/keep.txt", "d/notes.txt", "d/remote-only.txt"]
    with pytest.warns(DeprecationWarning, match="excludes"):
        _run(obj.download(use_checksum=False, excludes=r"^remote-"))
    assert not (world["local"] / "remote-only.txt").exists()
    assert (world["local"] / "keep.txt").exists()


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_mirror_is_force_sync_and_keeps_excluded_files(
    face: Any, world: dict[str, Any], remote_keys: Any, bucket: str
) -> None:
    obj = face(world["uri"], world["local"])
    with pytest.warns(DeprecationWarning) as caught:
        _run(obj.download(mirror=True, excludes=r"\.tmp$"))
    assert any("use force_sync=" in str(w.message) for w in caught)
    # notes.txt was local-only: mirrored away; mine.tmp is excluded, so it stays (0.4 deleted it).
    assert sorted(p.name for p in world["local"].iterdir()) == [
        "keep.txt",
        "mine.tmp",
        "remote-only.txt",
    ]
    (world["local"] / "remote-only.txt").unlink()
    with pytest.warns(DeprecationWarning) as caught:
        _run(obj.upload(mirror=True, excludes=r"\.tmp$"))
    assert any("use force_sync=" in str(w.message) for w in caught)
    assert remote_keys(bucket, "d/") == ["d/keep.txt"]


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_progress_mode_values(face: Any, world: dict[str, Any]) -> None:
    for bad in ("invalid", "", 3):
        with pytest.raises(ValueError, match="Invalid progress_mode"), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            face(world["uri"], world["local"], progress_mode=bad)
    obj = face(world["uri"], world["local"])
    with (
        pytest.raises(ValueError, match="Must be one of: compact, disabled, progress"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        _run(obj.download(progress_mode="invalid"))
    assert not (world["local"] / "keep.txt").exists()  # refused before any transfer
    for good, drawn in (("Disabled", False), ("PROGRESS", True), ("compact", True)):
        with pytest.warns(DeprecationWarning):
            made = face(world["uri"], world["local"], progress_mode=good)
        inner = made._obj if isinstance(made, AsyncS3Object) else made
        assert inner.progress is drawn
    with pytest.warns(DeprecationWarning):
        _run(obj.download(progress_mode="disabled"))
    assert (world["local"] / "keep.txt").exists()


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_constructor_excludes_is_refused(face: Any, world: dict[str, Any]) -> None:
    with pytest.raises(
        TypeError, match=r"takes no 'excludes' \(s3lync 0.4\): pass exclude_pattern="
    ):
        face(world["uri"], world["local"], excludes=[r"\.tmp$"])
    with pytest.raises(TypeError, match="excludes: pass exclude_pattern= to each download"):
        face(world["uri"], world["local"], None, *([None] * (face is AsyncS3Object)), [r"\.tmp$"])


def test_aioboto3_session_is_refused(world: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"takes no 'aioboto3_session'.*pass client="):
        AsyncS3Object(world["uri"], world["local"], aioboto3_session=object())


def test_no_default_excludes(world: dict[str, Any], remote_keys: Any, bucket: str) -> None:
    for name in (".env", "__pycache__/m.pyc", "pkg.egg-info/PKG-INFO"):
        path = world["local"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    S3Object(world["uri"], world["local"]).upload()
    keys = remote_keys(bucket, "d/")
    assert {"d/.env", "d/__pycache__/m.pyc", "d/pkg.egg-info/PKG-INFO"} <= set(keys)


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_exclude_list_methods_are_gone(face: Any, world: dict[str, Any]) -> None:
    obj = face(world["uri"], world["local"])
    for name in ("add_exclude", "add_excludes", "remove_exclude", "clear_excludes", "get_excludes"):
        assert not hasattr(obj, name)


# --------------------------------------------------------------------------- URIs


def test_credentials_in_the_uri_are_refused_unrepeated(tmp_path: Path) -> None:
    for face in (S3Object, AsyncS3Object):
        with pytest.raises(s3lync.InvalidURIError) as err:
            face("s3://AKIAEXAMPLE:wJalrXUtnFEMI@minio.local/bucket/key", tmp_path)
        assert isinstance(err.value, ValueError)
        assert "AKIAEXAMPLE" not in str(err.value) and "wJalr" not in str(err.value)
        assert "credentials do not belong in a URI" in str(err.value)


@pytest.mark.parametrize(
    ("uri", "spelling"),
    [
        (
            "s3://127.0.0.1:9000@bucket/key",
            "S3Object('s3://bucket/key', endpoint_url='http://127.0.0.1:9000')",
        ),
        (
            "s3://localhost:9000@bucket/a/b/",
            "S3Object('s3://bucket/a/b/', endpoint_url='http://localhost:9000')",
        ),
        (
            "s3://https://minio.example.com/bucket/key",
            "S3Object('s3://bucket/key', endpoint_url='https://minio.example.com')",
        ),
        (
            "s3://http://10.0.0.5:9000@bucket/key",
            "S3Object('s3://bucket/key', endpoint_url='http://10.0.0.5:9000')",
        ),
    ],
)
def test_endpoint_in_the_uri_shows_endpoint_url(uri: str, spelling: str, tmp_path: Path) -> None:
    for face in (S3Object, AsyncS3Object):
        with pytest.raises(s3lync.InvalidURIError) as err:
            face(uri, tmp_path)
        text = str(err.value)
        assert spelling in text and "endpoint-in-URI form" in text
        assert "credentials" not in text


# --------------------------------------------------------------------------- the rest of 0.4's API


@pytest.mark.parametrize("face", [S3Object, AsyncS3Object], ids=["sync", "async"])
def test_path_like_on_both_faces(face: Any, world: dict[str, Any], bucket: str) -> None:
    obj = face(f"s3://{bucket}/d/keep.txt", world["local"] / "keep.txt")
    assert str(obj) == f"s3://{bucket}/d/keep.txt"
    assert (obj.bucket, obj.key) == (bucket, "d/keep.txt")
    assert isinstance(obj, os.PathLike)
    assert os.fspath(obj) == str(world["local"] / "keep.txt")
    assert os.path.basename(obj) == "keep.txt"
    _run(obj.download())
    with open(obj, "rb") as f:
        assert f.read() == b"remote keep"
    assert Path(obj).read_bytes() == b"remote keep"
    prefix = face(f"s3://{bucket}/d/", world["local"])
    assert (prefix.bucket, prefix.key, os.fspath(prefix)) == (bucket, "d/", str(world["local"]))


def test_open_exists_delete(world: dict[str, Any], bucket: str, remote_keys: Any) -> None:
    obj = S3Object(f"s3://{bucket}/d/new.txt", world["local"] / "new.txt")
    assert obj.exists() is False
    with obj.open("w") as f:
        f.write("written")
    assert obj.exists() is True
    with obj.open("r") as f:
        assert f.read() == "written"
    with pytest.raises(s3lync.ObjectExistsError), obj.open("x") as f:
        f.write("again")
    assert obj.delete() is True
    assert "d/new.txt" not in remote_keys(bucket, "d/")


def test_0_4_exceptions_import() -> None:
    from s3lync import HashMismatchError, S3lyncError, S3ObjectError, SyncError

    assert issubclass(HashMismatchError, SyncError) and issubclass(SyncError, S3lyncError)
    assert issubclass(S3ObjectError, S3lyncError)


def test_0_4_helpers_are_gone() -> None:
    names = ("ProgressBar", "chain_callbacks", "configure_logging", "get_logger", "retry")
    for name in (*names, "async_retry", "RetryConfig"):
        with pytest.raises(ImportError):
            exec(f"from s3lync import {name}")


def test_default_local_path_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for face in (S3Object, AsyncS3Object):
        obj = face("s3://bucket/a/b.txt")
        assert obj.local_path == str(tmp_path / "s3lync" / "objects" / "bucket" / "a" / "b.txt")
