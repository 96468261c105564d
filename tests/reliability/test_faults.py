"""Transient faults are retried to a correct result; persistent faults fail naming the key, after the rest.

Every scenario puts a :class:`FaultProxy` between s3lync and a real server and checks the end state of
both sides (local bytes, remote listing), not only the exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from s3lync import S3Object, SyncError
from s3lync.errors import HashMismatchError

from .faultproxy import FaultProxy
from .helpers import (
    BOTH_SERVERS,
    MOTO_ONLY,
    blob,
    on,
    put_objects,
    remote_tree,
    temporaries,
    tree,
    write_files,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024

# Old local content, new remote content: an interrupted update must leave OLD in place.
NEW = {"p/a.bin": blob(1, 3000), "p/b.bin": blob(2, 2000), "p/sub/c.bin": blob(3, 1000)}
OLD = {"a.bin": b"old a", "b.bin": b"old b", "sub/c.bin": b"old c"}


def expected_local() -> dict[str, bytes]:
    return {k.removeprefix("p/"): v for k, v in NEW.items()}


def _download(bucket: str, dest: Path, url: str, **kwargs: Any) -> str:
    return S3Object(f"s3://{bucket}/p/", dest, endpoint_url=url).download(**kwargs)


# --------------------------------------------------------------------------- transient: download


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "error", {"status": 500}, id="500"),
        on("rclone", "error", {"status": 500}, id="500"),
        on("moto", "error", {"status": 503}, id="503-SlowDown"),
        on("moto", "error", {"status": 503, "times": 2}, id="503-SlowDown-twice"),
        on("moto", "stall", {"delay": 1.0, "where": "body"}, id="stall-mid-body"),
        on("moto", "reset", {}, id="reset-mid-body"),
        on("rclone", "reset", {}, id="reset-mid-body"),
        on("moto", "truncate", {}, id="truncated-body"),
    ],
    indirect=["s3_server"],
)
def test_transient_download_fault_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, action: str, kwargs: Any
) -> None:
    put_objects(s3, bucket, NEW)
    dest = tmp_path / "out"
    write_files(dest, OLD)
    rule = proxy.add_rule(action, method="GET", key="/p/a.bin", **kwargs)

    _download(bucket, dest, proxy.url)

    assert rule.hits == kwargs.get("times", 1)
    assert tree(dest) == expected_local()
    assert temporaries(tmp_path) == []
    if action != "stall":  # the failed attempts were retried, not skipped
        assert len(proxy.requests("GET", "/p/a.bin")) == rule.hits + 1


@MOTO_ONLY
@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        pytest.param("error", {"status": 503}, id="503-SlowDown"),
        pytest.param("reset", {}, id="reset"),
    ],
)
def test_transient_listing_fault_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, action: str, kwargs: Any
) -> None:
    put_objects(s3, bucket, NEW)
    rule = proxy.add_rule(action, method="GET", query="list-type=2", **kwargs)

    _download(bucket, tmp_path / "out", proxy.url)

    assert rule.hits == 1
    assert tree(tmp_path / "out") == expected_local()


def _short_timeout_client(url: str) -> Any:
    """A boto3 client (so the botocore path is tested) with a 0.5 s read timeout, 3 attempts."""
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.session.Session().client(
        "s3",
        endpoint_url=url,
        config=BotoConfig(
            s3={"addressing_style": "path"},
            read_timeout=0.5,
            connect_timeout=1,
            retries={"mode": "standard", "total_max_attempts": 3},
        ),
    )


@MOTO_ONLY
def test_read_timeout_before_response_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A stall longer than the client's read timeout is a timeout, retried like a reset."""
    put_objects(s3, bucket, NEW)
    client = _short_timeout_client(proxy.url)
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", delay=2.0, where="before")
    dest = tmp_path / "out"
    write_files(dest, OLD)

    S3Object(f"s3://{bucket}/p/", dest, client=client).download()

    assert rule.hits == 1
    assert tree(dest) == expected_local()
    assert len(proxy.requests("GET", "/p/a.bin")) == 2


@MOTO_ONLY
def test_read_timeout_mid_body_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, NEW)
    client = _short_timeout_client(proxy.url)
    proxy.add_rule("stall", method="GET", key="/p/a.bin", delay=2.0, where="body")
    dest = tmp_path / "out"
    write_files(dest, OLD)
    try:
        S3Object(f"s3://{bucket}/p/", dest, client=client).download()
    finally:
        assert tree(dest)["a.bin"] in (OLD["a.bin"], NEW["p/a.bin"])
        assert temporaries(tmp_path) == []
    assert tree(dest) == expected_local()


# --------------------------------------------------------------------------- transient: upload


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "error", {"status": 500}, id="500"),
        on("moto", "error", {"status": 503}, id="503-SlowDown"),
        on("moto", "reset", {}, id="reset-before-answer"),
        on("rclone", "reset", {}, id="reset-before-answer"),
        on("moto", "stall", {"delay": 1.0}, id="stall-then-answer"),
    ],
    indirect=["s3_server"],
)
def test_transient_upload_fault_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, action: str, kwargs: Any
) -> None:
    src = tmp_path / "src"
    write_files(src, expected_local())
    rule = proxy.add_rule(action, method="PUT", key="/p/a.bin", **kwargs)

    S3Object(f"s3://{bucket}/p/", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    assert remote_tree(s3, bucket) == NEW


# --------------------------------------------------------------------------- persistent faults


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs", "error"),
    [
        on("moto", "error", {"status": 500}, SyncError, id="500"),
        on("rclone", "error", {"status": 500}, SyncError, id="500"),
        on("moto", "error", {"status": 503}, SyncError, id="503-SlowDown"),
        on("moto", "reset", {}, SyncError, id="reset"),
        on("moto", "truncate", {}, SyncError, id="truncate"),
        on("moto", "flip", {}, HashMismatchError, id="flip"),
        on("rclone", "flip", {}, HashMismatchError, id="flip"),
    ],
    indirect=["s3_server"],
)
def test_persistent_download_fault_fails_naming_key_then_rerun_completes(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    kwargs: Any,
    error: type[Exception],
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "3")
    put_objects(s3, bucket, NEW)
    dest = tmp_path / "out"
    write_files(dest, OLD)
    proxy.add_rule(action, method="GET", key="/p/a.bin", times=None, **kwargs)

    with pytest.raises(error) as info:
        _download(bucket, dest, proxy.url)

    assert "p/a.bin" in str(info.value)
    # The other operations finished; the failed file keeps its previous bytes; no temporaries.
    assert tree(dest) == {**expected_local(), "a.bin": OLD["a.bin"]}
    assert temporaries(tmp_path) == []
    if action != "flip":  # transport errors are retried before giving up
        assert len(proxy.requests("GET", "/p/a.bin")) >= 2

    proxy.clear()
    _download(bucket, dest, proxy.url)
    assert tree(dest) == expected_local()


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "error", {"status": 500}, id="500"),
        on("moto", "error", {"status": 503}, id="503-SlowDown"),
        on("moto", "reset", {}, id="reset"),
        on("rclone", "reset", {}, id="reset"),
    ],
    indirect=["s3_server"],
)
def test_persistent_upload_fault_fails_naming_key_then_rerun_completes(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    kwargs: Any,
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    client = s3
    src = tmp_path / "src"
    write_files(src, expected_local())
    rule = proxy.add_rule(action, method="PUT", key="/p/a.bin", times=None, **kwargs)

    with pytest.raises(SyncError) as info:
        S3Object(f"s3://{bucket}/p/", src, endpoint_url=proxy.url).upload()

    assert "p/a.bin" in str(info.value)
    assert rule.hits >= 2  # retried before giving up
    expected_remote = {k: v for k, v in NEW.items() if k != "p/a.bin"}
    if action == "reset":  # the PUT reached the server; only its answer was lost
        expected_remote = NEW
    assert remote_tree(client, bucket) == expected_remote

    proxy.clear()
    S3Object(f"s3://{bucket}/p/", src, endpoint_url=proxy.url).upload()
    assert remote_tree(client, bucket) == NEW


@MOTO_ONLY
def test_persistent_listing_fault_fails_and_changes_nothing(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    put_objects(s3, bucket, NEW)
    dest = tmp_path / "out"
    write_files(dest, {**OLD, "only-local.txt": b"keep me"})
    proxy.add_rule("error", method="GET", query="list-type=2", status=503, times=None)

    with pytest.raises(SyncError) as info:
        S3Object(f"s3://{bucket}/p/", dest, endpoint_url=proxy.url).download(force_sync=True)

    assert bucket in str(info.value)
    assert tree(dest) == {**OLD, "only-local.txt": b"keep me"}
    assert [s for s in proxy.log if s.method != "GET" or "list-type" not in s.query] == []


@MOTO_ONLY
@pytest.mark.parametrize(
    ("method", "key", "query"),
    [("GET", None, "list-type=2"), ("GET", "/p/a.bin", None), ("PUT", "/p/a.bin", None)],
    ids=["listing", "get", "put"],
)
def test_max_attempts_bounds_the_total_attempts(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    key: str | None,
    query: str | None,
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "3")
    put_objects(s3, bucket, {"p/a.bin": b"remote a"})
    rule = proxy.add_rule("error", method=method, key=key, query=query, status=500, times=None)
    local = tmp_path / "local"
    write_files(local, {"a.bin": b"local a, different"})
    obj = S3Object(f"s3://{bucket}/p/", local, endpoint_url=proxy.url)

    with pytest.raises(SyncError):
        obj.upload() if method == "PUT" else obj.download()

    assert rule.hits == 3


# --------------------------------------------------------------------------- multipart


@pytest.fixture
def multipart_env(monkeypatch: pytest.MonkeyPatch) -> int:
    """5 MiB threshold and parts; returns a size that makes three parts."""
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    return 11 * MiB


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "reset", {}, id="reset"),
        on("rclone", "reset", {}, id="reset"),
        on("moto", "error", {"status": 503}, id="503-SlowDown"),
    ],
    indirect=["s3_server"],
)
def test_multipart_download_part_fault_is_retried(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    action: str,
    kwargs: Any,
) -> None:
    data = blob(7, multipart_env)
    put_objects(s3, bucket, {"big/x.bin": data})
    dest = tmp_path / "x.bin"
    dest.write_bytes(b"old")
    rule = proxy.add_rule(action, method="GET", key="/big/x.bin", times=1, **kwargs)

    S3Object(f"s3://{bucket}/big/x.bin", dest, endpoint_url=proxy.url).download()

    assert rule.hits == 1
    assert dest.read_bytes() == data
    ranged = [s for s in proxy.requests("GET", "/big/x.bin") if s.header("Range")]
    assert len(ranged) >= 4  # three parts, one of them twice
    assert temporaries(tmp_path) == []


@BOTH_SERVERS
def test_multipart_download_corrupt_part_keeps_previous_file(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, multipart_env: int
) -> None:
    data = blob(8, multipart_env)
    put_objects(s3, bucket, {"big/x.bin": data})
    dest = tmp_path / "x.bin"
    dest.write_bytes(b"previous")
    proxy.add_rule("flip", method="GET", key="/big/x.bin", times=None)

    with pytest.raises(HashMismatchError) as info:
        S3Object(f"s3://{bucket}/big/x.bin", dest, endpoint_url=proxy.url).download()

    assert "big/x.bin" in str(info.value)
    assert dest.read_bytes() == b"previous"
    assert temporaries(tmp_path) == []
    proxy.clear()
    S3Object(f"s3://{bucket}/big/x.bin", dest, endpoint_url=proxy.url).download()
    assert dest.read_bytes() == data


@BOTH_SERVERS
def test_multipart_upload_part_fault_is_retried(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, multipart_env: int
) -> None:
    data = blob(9, multipart_env)
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    rule = proxy.add_rule("error", method="PUT", query="partNumber=2", status=500, times=1)

    S3Object(f"s3://{bucket}/big/x.bin", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    assert remote_tree(s3, bucket) == {"big/x.bin": data}


@MOTO_ONLY
def test_multipart_upload_persistent_part_fault_leaves_nothing_behind(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    client = s3
    data = blob(10, multipart_env)
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    proxy.add_rule("error", method="PUT", query="partNumber=2", status=500, times=None)

    with pytest.raises(SyncError) as info:
        S3Object(f"s3://{bucket}/big/x.bin", src, endpoint_url=proxy.url).upload()

    assert "big/x.bin" in str(info.value)
    assert remote_tree(client, bucket) == {}
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    proxy.clear()
    S3Object(f"s3://{bucket}/big/x.bin", src, endpoint_url=proxy.url).upload()
    assert remote_tree(client, bucket) == {"big/x.bin": data}


# ------------------------------------------------------------- several large files (streamed whole)
#
# Two or more files at or above the multipart threshold in one mapping: each large download is one
# whole-object GET hashed while streaming (no Range, no HEAD), each large upload is one streamed PUT
# with Content-MD5 followed by one HEAD. A single large file still goes in ranges / lean multipart.

LARGE = 6 * MiB  # above the 5 MiB threshold of ``multipart_env``; two of them stay under 12 MiB


def _large_pair() -> dict[str, bytes]:
    return {"big/a.bin": blob(31, LARGE), "big/b.bin": blob(32, LARGE + 1)}


def _lean(seen: Any) -> bool:
    """The request came from s3lync's own SigV4 client, not from botocore."""
    return "(fast)" in (seen.header("User-Agent") or "")


def _download_large(bucket: str, dest: Path, url: str) -> str:
    return S3Object(f"s3://{bucket}/big/", dest, endpoint_url=url).download()


@pytest.mark.parametrize(
    ("s3_server", "action"),
    [
        on("moto", "reset", id="reset-mid-body"),
        on("rclone", "reset", id="reset-mid-body"),
        on("moto", "truncate", id="truncated-body"),
    ],
    indirect=["s3_server"],
)
def test_several_large_downloads_stream_whole_and_retry_a_broken_body(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, multipart_env: int, action: str
) -> None:
    put_objects(s3, bucket, _large_pair())
    dest = tmp_path / "out"
    write_files(dest, {"a.bin": b"old a", "b.bin": b"old b"})
    rule = proxy.add_rule(action, method="GET", key="/big/a.bin", times=1)

    _download_large(bucket, dest, proxy.url)

    assert rule.hits == 1
    assert tree(dest) == {"a.bin": blob(31, LARGE), "b.bin": blob(32, LARGE + 1)}
    assert temporaries(tmp_path) == []
    for key in ("/big/a.bin", "/big/b.bin"):
        gets = proxy.requests("GET", key)
        # Whole-object GETs from the lean client: no ranges, and no HEAD before them.
        assert gets and all(s.header("Range") is None and _lean(s) for s in gets), gets
        assert proxy.requests("HEAD", key) == []
    # The broken GET was repeated whole, once.
    assert len(proxy.requests("GET", "/big/a.bin")) == 2
    assert len(proxy.requests("GET", "/big/b.bin")) == 1


@BOTH_SERVERS
def test_several_large_downloads_corrupt_stream_keeps_previous_file(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, multipart_env: int
) -> None:
    put_objects(s3, bucket, _large_pair())
    dest = tmp_path / "out"
    write_files(dest, {"a.bin": b"previous a", "b.bin": b"previous b"})
    proxy.add_rule("flip", method="GET", key="/big/a.bin", times=None)

    with pytest.raises(HashMismatchError) as info:
        _download_large(bucket, dest, proxy.url)

    assert "big/a.bin" in str(info.value)
    assert tree(dest) == {"a.bin": b"previous a", "b.bin": blob(32, LARGE + 1)}
    assert temporaries(tmp_path) == []
    gets = proxy.requests("GET", "/big/a.bin")
    # Verified inline from the one streamed GET (no HEAD, no ranges); a mismatch is not retried.
    assert len(gets) == 1 and gets[0].header("Range") is None and _lean(gets[0])
    assert proxy.requests("HEAD", "/big/") == []

    proxy.clear()
    _download_large(bucket, dest, proxy.url)
    assert tree(dest) == {"a.bin": blob(31, LARGE), "b.bin": blob(32, LARGE + 1)}


def _upload_large(bucket: str, src: Path, url: str) -> str:
    return S3Object(f"s3://{bucket}/big/", src, endpoint_url=url).upload()


@pytest.mark.parametrize(
    ("s3_server", "action", "kwargs"),
    [
        on("moto", "error", {"status": 500}, id="500"),
        on("rclone", "error", {"status": 500}, id="500"),
        on("moto", "reset", {}, id="reset-before-answer"),
    ],
    indirect=["s3_server"],
)
def test_several_large_uploads_are_single_puts_and_retry_a_fault(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    action: str,
    kwargs: Any,
) -> None:
    src = tmp_path / "src"
    write_files(src, {k.removeprefix("big/"): v for k, v in _large_pair().items()})
    rule = proxy.add_rule(action, method="PUT", key="/big/a.bin", times=1, **kwargs)

    _upload_large(bucket, src, proxy.url)

    assert rule.hits == 1
    assert remote_tree(s3, bucket) == _large_pair()
    # No multipart at all: no CreateMultipartUpload, no UploadPart, no Complete, no abort.
    assert [
        s for s in proxy.log if "upload" in s.query.lower() or "partnumber" in s.query.lower()
    ] == []
    for key, puts in (("/big/a.bin", 2), ("/big/b.bin", 1)):
        seen = [s for s in proxy.log if key in s.path and s.method in ("PUT", "HEAD")]
        # Whole-object PUTs with Content-MD5 from the lean client, then one HEAD read-back.
        assert [s.method for s in seen] == ["PUT"] * puts + ["HEAD"], seen
        assert all(s.query == "" and s.header("Content-MD5") and _lean(s) for s in seen[:-1])


@pytest.mark.parametrize(
    ("s3_server", "action", "method", "query", "kwargs"),
    [
        on("moto", "error", "POST", "uploadId=", {"status": 500}, id="complete-500"),
        on("rclone", "error", "POST", "uploadId=", {"status": 500}, id="complete-500"),
        on("moto", "reset", "PUT", "partNumber=2", {}, id="part-reset"),
        on("rclone", "reset", "PUT", "partNumber=2", {}, id="part-reset"),
    ],
    indirect=["s3_server"],
)
def test_single_large_upload_goes_multipart_and_retries_a_fault(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    action: str,
    method: str,
    query: str,
    kwargs: Any,
) -> None:
    data = blob(33, multipart_env)
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    rule = proxy.add_rule(action, method=method, key="/big/x.bin", query=query, times=1, **kwargs)

    S3Object(f"s3://{bucket}/big/x.bin", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    assert remote_tree(s3, bucket) == {"big/x.bin": data}
    seen = [s for s in proxy.log if "/big/x.bin" in s.path]
    assert all(_lean(s) for s in seen), seen
    creates = [s for s in seen if s.method == "POST" and s.query.startswith("uploads")]
    parts = sorted(s.query.split("&")[0] for s in seen if s.method == "PUT")
    completes = [s for s in seen if s.method == "POST" and "uploadId=" in s.query]
    assert len(creates) == 1  # one multipart upload, not restarted
    assert all("uploadId=" in s.query for s in seen if s.method == "PUT")  # only UploadPart
    # Three parts, the faulted request once more; nothing aborted.
    expected_parts = ["partNumber=1", "partNumber=2", "partNumber=2", "partNumber=3"]
    assert parts == (expected_parts if method == "PUT" else sorted(set(expected_parts)))
    assert len(completes) == (2 if method == "POST" else 1)
    assert [s for s in seen if s.method == "DELETE"] == []
    if s3_server.caps.lists_uploads:
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("lean", ["1", "0"])
@BOTH_SERVERS
def test_single_large_upload_complete_answer_lost_still_stores_the_object(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    """The store completed the upload but the answer was lost. A HEAD finds the object in place,
    whole and carrying our MD5: it counts as uploaded, the Complete is not sent again, no second
    upload, no error, through either implementation."""
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    data = blob(34, multipart_env)
    src = tmp_path / "x.bin"
    src.write_bytes(data)
    rule = proxy.add_rule("reset", method="POST", key="/big/x.bin", query="uploadId=", times=1)

    S3Object(f"s3://{bucket}/big/x.bin", src, endpoint_url=proxy.url).upload()

    assert rule.hits == 1
    assert remote_tree(s3, bucket) == {"big/x.bin": data}
    seen = proxy.requests(None, "/big/x.bin")
    # Either implementation asks the store (a HEAD finds our size and MD5) instead of resending
    # the Complete.
    assert len([s for s in seen if s.method == "POST" and "uploadId=" in s.query]) == 1
    assert len([s for s in seen if s.method == "POST" and "uploads" in s.query]) == 1
    assert len([s for s in seen if s.method == "PUT"]) == 3  # three parts, sent once
    if s3_server.caps.lists_uploads:
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@MOTO_ONLY
def test_several_large_uploads_refused_put_fails_once_naming_the_key(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    multipart_env: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PUT the store refuses (400) is not retried and not repeated on another path: one
    SyncError naming the key and the store's code, the other file stored, nothing left open."""
    from . import faultproxy

    # The proxy's default body for a 400 says InternalError, which S3 clients retry by its code.
    monkeypatch.setitem(faultproxy._ERROR_CODES, 400, ("InvalidArgument", "Injected bad request."))
    src = tmp_path / "src"
    write_files(src, {k.removeprefix("big/"): v for k, v in _large_pair().items()})
    rule = proxy.add_rule("error", method="PUT", key="/big/a.bin", status=400, times=None)

    with pytest.raises(SyncError) as info:
        _upload_large(bucket, src, proxy.url)

    message = str(info.value)
    assert "big/a.bin" in message and "InvalidArgument" in message and "400" in message
    assert rule.hits == 1  # one PUT: a refusal is final, and nothing repeats it elsewhere
    # Nothing half-written: the other file stored, the refused one not, no upload left open.
    assert remote_tree(s3, bucket) == {"big/b.bin": blob(32, LARGE + 1)}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    seen = [s for s in proxy.log if "/big/a.bin" in s.path]
    # One streamed PUT from the fast path, and no multipart upload opened on the way.
    assert [(s.method, s.query) for s in seen] == [("PUT", "")] and _lean(seen[0])

    proxy.clear()
    _upload_large(bucket, src, proxy.url)
    assert remote_tree(s3, bucket) == _large_pair()
