"""Nothing lost, round three (issue 20): lost updates through ``open("a")``, a hash cache that a
restored mtime fooled, a dead endpoint paid per file, an apply that stopped halfway, and the
promises the README makes about results, exit codes and the last line."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from s3lync import (
    ApplyPolicy,
    ApplyRefusedError,
    AsyncS3Object,
    PlanStaleError,
    S3Object,
    Settings,
)
from s3lync.hashing import md5_to_metadata
from s3lync.localfs.hashcache import HashCache, fingerprint

from .faultproxy import FaultProxy
from .helpers import BOTH_SERVERS, MOTO_ONLY, blob, put_objects, remote_tree, write_files

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


# --------------------------------------------------------------- 1. open("a") / open("r+")


@BOTH_SERVERS
@pytest.mark.parametrize("mode", ["a", "r+"])
def test_open_for_update_never_overwrites_another_writers_version(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, mode: str
) -> None:
    """Another writer replaces the object inside the ``with`` block: the upload is refused."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    local = tmp_path / "app.log"
    obj = S3Object(f"s3://{bucket}/logs/app.log", local, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(PlanStaleError) as info, obj.open(mode) as f:
        if mode == "r+":
            f.seek(0, 2)
        f.write("[NEW] mine\n")
        s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"line 1\ntheirs\n")
    message = str(info.value)
    assert "another writer replaced it" in message, message
    assert "nothing was uploaded" in message and str(local) in message, message
    # Both versions survive: theirs in the bucket, ours on disk.
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"line 1\ntheirs\n"}
    assert local.read_bytes() == b"line 1\n[NEW] mine\n"


@BOTH_SERVERS
def test_open_append_uploads_over_the_version_it_read(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """Without another writer the append lands, also when the local copy was already current."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    obj = S3Object(
        f"s3://{bucket}/logs/app.log", tmp_path / "app.log", endpoint_url=s3_server.endpoint_url
    )
    for line in ("line 2\n", "line 3\n"):  # the second open finds the local copy current
        with obj.open("a") as f:
            f.write(line)
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"line 1\nline 2\nline 3\n"}


@BOTH_SERVERS
def test_open_append_to_a_missing_object_never_overwrites_one_created_meanwhile(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "new.log"
    obj = S3Object(f"s3://{bucket}/logs/new.log", local, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(PlanStaleError, match="another writer created it"), obj.open("a") as f:
        f.write("mine\n")
        s3.put_object(Bucket=bucket, Key="logs/new.log", Body=b"theirs\n")
    assert remote_tree(s3, bucket, "logs/") == {"logs/new.log": b"theirs\n"}
    assert local.read_bytes() == b"mine\n"


@MOTO_ONLY
def test_open_append_if_match_carries_the_downloaded_etag(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Another writer acts after s3lync's last HEAD, as the PUT goes out: ``If-Match`` with the
    ETag that was downloaded makes the store (moto honours it) refuse the upload."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    local = tmp_path / "app.log"
    obj = S3Object(f"s3://{bucket}/logs/app.log", local, endpoint_url=proxy.url)
    downloaded = s3.head_object(Bucket=bucket, Key="logs/app.log")["ETag"]
    rule = proxy.add_rule(
        "pass",
        method="PUT",
        key="/logs/app.log",
        before=lambda _seen: s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"theirs\n"),
    )
    with pytest.raises(PlanStaleError, match="the upload was refused"), obj.open("a") as f:
        f.write("mine\n")
    assert rule.hits >= 1
    puts = proxy.requests("PUT", "/logs/app.log")
    sent = [(p.header("If-Match") or "").strip('"') for p in puts]
    assert sent and all(etag == downloaded.strip('"') for etag in sent), (sent, downloaded)
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"theirs\n"}
    assert local.read_bytes() == b"line 1\nmine\n"


# --------------------------------------------------------------- 2. the hash cache and ctime

OLD_NS = 1_600_000_000_000_000_000  # 2020: far outside any timestamp granularity


def _rewrite_in_place_keeping_the_mtime(path: Path, body: bytes) -> None:
    """What ``cp -p`` or ``rsync -t --inplace`` do: same inode, same size, the old mtime back."""
    before = os.stat(path)
    assert len(body) == before.st_size
    while os.stat(path).st_ctime_ns == before.st_ctime_ns:  # until the clock has ticked
        with open(path, "r+b") as f:
            f.write(body)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def _cached(obj: S3Object, path: Path) -> bool:
    cache = HashCache(obj.settings.state_dir / "hashes.sqlite3")
    try:
        return cache.get(str(path), fingerprint(os.stat(path))) is not None
    finally:
        cache.close()


@BOTH_SERVERS
def test_a_same_size_rewrite_with_its_mtime_restored_is_uploaded(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "data" / "report.csv"
    write_files(src.parent, {"report.csv": b"version 1,aaaa\n"})
    os.utime(src, ns=(OLD_NS, OLD_NS))
    obj = S3Object(f"s3://{bucket}/r/report.csv", src, endpoint_url=s3_server.endpoint_url)
    obj.upload()
    assert _cached(obj, src), "precondition: the upload left a (clean) hash-cache row"

    _rewrite_in_place_keeping_the_mtime(src, b"version 2,bbbb\n")
    obj.upload()
    assert obj.last_result is not None and obj.last_result.transferred == 1
    assert remote_tree(s3, bucket, "r/") == {"r/report.csv": b"version 2,bbbb\n"}


@BOTH_SERVERS
def test_a_large_rewrite_with_its_mtime_restored_gets_its_own_md5chksum(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """Uploaded anyway (the remote size differs): the md5chksum metadata is the new bytes' MD5."""
    settings = Settings.from_env().with_(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    v1, v2 = blob(1, 6 * MiB), blob(2, 6 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(v1)
    os.utime(src, ns=(OLD_NS, OLD_NS))
    uri = f"s3://{bucket}/big.bin"
    obj = S3Object(uri, src, endpoint_url=s3_server.endpoint_url, settings=settings)
    obj.upload()
    assert _cached(obj, src), "precondition: the upload left a (clean) hash-cache row"

    s3.put_object(Bucket=bucket, Key="big.bin", Body=b"another writer, another size")
    _rewrite_in_place_keeping_the_mtime(src, v2)
    obj.upload()
    meta = {
        k.lower(): v for k, v in s3.head_object(Bucket=bucket, Key="big.bin")["Metadata"].items()
    }
    assert meta.get("md5chksum") == md5_to_metadata(hashlib.md5(v2).hexdigest())
    assert remote_tree(s3, bucket, "big.bin") == {"big.bin": v2}
    # And a fresh download verifies against it.
    out = tmp_path / "out.bin"
    S3Object(uri, out, endpoint_url=s3_server.endpoint_url, settings=settings).download()
    assert out.read_bytes() == v2


# --------------------------------------------------------------- 6. last_result after a raise


@MOTO_ONLY
def test_last_result_is_set_when_the_call_raised(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"d/keep.txt": b"keep"})
    data = tmp_path / "data"
    write_files(data, {"keep.txt": b"keep", "x1.txt": b"1", "x2.txt": b"2"})
    uri, url = f"s3://{bucket}/d/", s3_server.endpoint_url

    obj = S3Object(uri, data, endpoint_url=url, policy=ApplyPolicy(max_delete=1))
    obj.download()  # nothing to do: a result with 1 unchanged
    put_objects(s3, bucket, {"d/new.txt": b"new"})
    obj.download()
    assert obj.last_result is not None and obj.last_result.transferred == 1
    with pytest.raises(ApplyRefusedError):
        obj.download(delete=True)  # 2 deletions, 1 allowed
    assert obj.last_result is not None
    assert (obj.last_result.transferred, obj.last_result.deleted) == (0, 0)
    assert obj.last_result.unchanged == 2

    aobj = AsyncS3Object(uri, data, endpoint_url=url, policy=ApplyPolicy(max_delete=1))
    assert aobj.last_result is None
    with pytest.raises(ApplyRefusedError):
        asyncio.run(aobj.download(delete=True))
    assert aobj.last_result is not None
    assert (aobj.last_result.transferred, aobj.last_result.deleted) == (0, 0)
    # Nothing was deleted.
    assert sorted(p.name for p in data.iterdir()) == ["keep.txt", "new.txt", "x1.txt", "x2.txt"]
