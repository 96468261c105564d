"""Verification that can fail: corrupted bytes are refused whatever wrote the object.

Objects written by other tools (boto3's TransferManager at 5-16 MiB parts, a last part larger than
the others), our own multipart uploads with a part damaged on the way, SSE-KMS objects whose ETag is
not an MD5 (emulated by the proxy, moto has no KMS), and objects replaced mid-download. Each case
runs through the fault proxy; the bytes on both sides are compared afterwards.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from s3lync import HashMismatchError, S3Object, SyncError, UnverifiedError
from s3lync.store.remote import Remote

from .faultproxy import FaultProxy, Seen
from .helpers import (
    BOTH_SERVERS,
    MOTO_ONLY,
    blob,
    cli_env,
    parts_put,
    run_cli,
    temporaries,
    write_manifest,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
OLD = b"the previous local version"


def _foreign_multipart(s3: Any, bucket: str, key: str, data: bytes, part: int) -> str:
    """Upload as boto3 does by default (TransferManager, CRC32 checksums): its ETag."""
    import boto3

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3.meta.endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="testsecret",
        region_name="us-east-1",
    )
    cfg = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    import io

    client.upload_fileobj(io.BytesIO(data), bucket, key, Config=cfg)
    return str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')


PATHS = {
    "lean": {},
    "botocore": {"S3LYNC_LEAN": "0"},
    # Every size goes by s3transfer's concurrent ranged GETs.
    "ranged": {"S3LYNC_MULTIPART_THRESHOLD": str(5 * MiB)},
}
LAYOUTS = [
    ("5MiB", [5 * MiB, 1 * MiB]),
    ("6MiB", [6 * MiB, 1 * MiB]),
    ("7MiB", [7 * MiB, 1 * MiB]),
    ("8MiB", [8 * MiB, 1 * MiB]),
    ("16MiB", [16 * MiB, 1 * MiB]),
    ("last-part-larger", [5 * MiB, 5 * MiB, 7 * MiB]),
]
CASES = [
    pytest.param(path, sizes, id=f"{name}-{path}")
    for name, sizes in LAYOUTS
    for path in ("lean", "botocore")
] + [pytest.param("ranged", sizes, id=f"{name}-ranged") for name, sizes in LAYOUTS[1::3]]


@MOTO_ONLY
@pytest.mark.parametrize(("path", "sizes"), CASES)
def test_foreign_multipart_object_corrupted_in_transit_is_refused(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    sizes: list[int],
) -> None:
    for k, v in PATHS[path].items():
        monkeypatch.setenv(k, v)
    data = blob(len(sizes), sum(sizes))
    if len(set(sizes[:-1])) == 1 and sizes[-1] <= sizes[0]:
        etag = _foreign_multipart(s3, bucket, "big.bin", data, sizes[0])
    else:
        etag = parts_put(s3, bucket, "big.bin", data, sizes)
    assert etag.endswith(f"-{len(sizes)}")
    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()
    target.write_bytes(OLD)
    obj = S3Object(f"s3://{bucket}/big.bin", target, endpoint_url=proxy.url)

    # Every GET body arrives with its first byte flipped.
    proxy.add_rule("flip", method="GET", key="/big.bin", offset=0, times=None)
    with pytest.raises(HashMismatchError) as info:
        obj.download()
    assert "big.bin" in str(info.value)
    assert target.read_bytes() == OLD
    assert temporaries(tmp_path) == []

    proxy.clear()
    obj.download()
    assert target.read_bytes() == data

    # Verified once, layout cached: the next sync transfers nothing and asks nothing per object.
    proxy.log.clear()
    obj.download()
    assert proxy.requests("GET", "/big.bin") == []
    assert proxy.requests("HEAD", "/big.bin") == []


@BOTH_SERVERS
@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
def test_own_multipart_upload_with_a_damaged_part_is_repaired(
    s3_server: Any,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    if s3_server.caps.checks_content_md5:
        pytest.skip("this server refuses the damaged part itself (probed: it checks Content-MD5)")
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    data = blob(7, 11 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    obj = S3Object(f"s3://{bucket}/big.bin", src, endpoint_url=proxy.url)

    # Damaged once (moto does not check a part's Content-MD5): detected, sent again, right.
    proxy.add_rule("flip_request", method="PUT", query="partNumber=2", times=1)
    obj.upload()
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data

    # Damaged every time: the wrong object does not stay in the bucket.
    s3.delete_object(Bucket=bucket, Key="big.bin")
    proxy.clear()
    proxy.add_rule("flip_request", method="PUT", query="partNumber=2", times=None)
    with pytest.raises(HashMismatchError) as info:
        obj.upload()
    assert "deleted" in str(info.value)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)

    # The next run is not a no-op: it uploads, and what is stored is right.
    proxy.clear()
    obj.upload()
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


@pytest.fixture
def kms_proxy(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A proxy standing for AWS serving SSE-KMS objects (ETags that are not MD5s).

    It checks Content-MD5 as AWS does, so s3lync is told to trust that check as it does on
    AWS's own host names (``Remote.checks_content_md5``); on 127.0.0.1 it would not.
    """
    monkeypatch.setattr(Remote, "checks_content_md5", lambda self: True)
    with FaultProxy(s3_server.endpoint_url, emulate_kms=True) as p:
        yield p


@MOTO_ONLY
def test_an_accepted_content_md5_is_no_evidence_where_the_store_is_not_known_to_check_it(
    s3_server: Any, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The KMS front end on 127.0.0.1, not passed off as AWS: the upload is visibly unverified."""
    with FaultProxy(s3_server.endpoint_url, emulate_kms=True) as proxy:
        src = tmp_path / "src"
        src.mkdir()
        (src / "mine.bin").write_bytes(blob(1, 3000))
        obj = S3Object(f"s3://{bucket}/k/", src, endpoint_url=proxy.url)
        with caplog.at_level(logging.WARNING, logger="s3lync"):
            obj.upload()
        assert "mine.bin: not verified" in caplog.text
        assert obj.last_result is not None and obj.last_result.unverified == 1
        with pytest.raises(UnverifiedError):
            (src / "mine.bin").write_bytes(blob(2, 3000))
            obj.upload(check_hash="strict")


@pytest.mark.parametrize(
    ("endpoint", "checks"),
    [
        (None, True),
        ("https://s3.eu-west-1.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("https://s3-fips.us-east-1.amazonaws.com", True),
        ("http://127.0.0.1:9000", False),
        ("https://minio.example.com", False),
        ("https://amazonaws.com.example.com", False),
        ("https://storage.googleapis.com", False),
    ],
)
def test_content_md5_counts_as_evidence_only_on_aws_endpoints(
    endpoint: str | None, checks: bool
) -> None:
    from s3lync.settings import Settings
    from s3lync.store.clients import get_client

    settings = Settings.from_env()
    remote = Remote(get_client(region="us-east-1", endpoint_url=endpoint, settings=settings))
    assert remote.checks_content_md5() is checks


@MOTO_ONLY
def test_sse_kms_objects_verify_by_checksum_or_metadata(
    s3_server: Any,
    s3: Any,
    bucket: str,
    kms_proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mine = blob(1, 3000)
    theirs = blob(2, 4000)
    src = tmp_path / "src"
    src.mkdir()
    (src / "mine.bin").write_bytes(mine)
    # Uploaded by s3lync through the KMS front end: the opaque ETag cannot verify it; the
    # store's Content-MD5 check does.
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        S3Object(f"s3://{bucket}/k/", src, endpoint_url=kms_proxy.url).upload()
    assert "not verified" not in caplog.text
    # Written by another tool with a CRC32 checksum and no md5chksum.
    s3.put_object(Bucket=bucket, Key="k/theirs.bin", Body=theirs, ChecksumAlgorithm="CRC32")

    out = tmp_path / "out"
    obj = S3Object(f"s3://{bucket}/k/", out, endpoint_url=kms_proxy.url)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        obj.download()
    assert (out / "mine.bin").read_bytes() == mine
    assert (out / "theirs.bin").read_bytes() == theirs
    assert "not verified" not in caplog.text

    # Verified ETags are remembered: the next sync is a no-op, though the ETags are not MD5s.
    kms_proxy.log.clear()
    obj.download()
    assert kms_proxy.requests("GET", "/k/mine.bin") == []
    assert kms_proxy.requests("GET", "/k/theirs.bin") == []

    # Corrupted on the way down: both are refused, the local copies stay.
    (out / "mine.bin").write_bytes(b"x")
    (out / "theirs.bin").write_bytes(b"y")
    kms_proxy.add_rule("flip", method="GET", key="/k/", offset=0, times=None)
    with pytest.raises(HashMismatchError):
        obj.download()
    assert (out / "mine.bin").read_bytes() == b"x"
    assert (out / "theirs.bin").read_bytes() == b"y"

    # Corrupted on the way up: the store (as AWS does) refuses the body.
    kms_proxy.clear()
    (src / "mine.bin").write_bytes(blob(3, 3000))
    kms_proxy.add_rule("flip_request", method="PUT", key="/k/mine.bin", times=None)
    with pytest.raises(SyncError):
        S3Object(f"s3://{bucket}/k/", src, endpoint_url=kms_proxy.url).upload()
    assert s3.get_object(Bucket=bucket, Key="k/mine.bin")["Body"].read() == mine


@MOTO_ONLY
def test_unverifiable_object_warns_and_strict_mode_refuses_it(
    s3_server: Any,
    s3: Any,
    bucket: str,
    kms_proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An SSE-KMS object with neither a checksum nor md5chksum: nothing can prove its bytes.
    s3.put_object(Bucket=bucket, Key="plain.bin", Body=b"no evidence at all")
    target = tmp_path / "plain.bin"
    target.write_bytes(OLD)
    obj = S3Object(f"s3://{bucket}/plain.bin", target, endpoint_url=kms_proxy.url)

    with pytest.raises(UnverifiedError) as info:
        obj.download(check_hash="strict")
    assert "aws:kms" in str(info.value)
    assert target.read_bytes() == OLD
    assert temporaries(tmp_path) == []

    with caplog.at_level(logging.WARNING, logger="s3lync"):
        obj.download()
    assert target.read_bytes() == b"no evidence at all"
    assert "not verified" in caplog.text and "plain.bin" in caplog.text
    assert obj.last_result is not None and obj.last_result.unverified == 1


def _replace_object(s3: Any, bucket: str, key: str, data: bytes) -> Any:
    def hook(_: Seen) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    return hook


@pytest.mark.parametrize("size", [3000, 12 * MiB], ids=["streamed", "ranged"])
def test_object_replaced_between_attempts_fails_instead_of_mixing_versions(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, size: int
) -> None:
    v1, v2 = blob(10, size), blob(20, size)
    s3.put_object(Bucket=bucket, Key="d/obj.bin", Body=v1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "obj.bin").write_bytes(OLD)
    # The first GET breaks half-way; before the next one, another writer replaces the object.
    proxy.add_rule("reset", method="GET", key="/d/obj.bin", times=1)
    proxy.add_rule(
        "pass",
        method="GET",
        key="/d/obj.bin",
        times=1,
        before=_replace_object(s3, bucket, "d/obj.bin", v2),
    )
    with pytest.raises(SyncError) as info:
        S3Object(f"s3://{bucket}/d/", out, endpoint_url=proxy.url).download()
    assert "obj.bin" in str(info.value)
    assert (out / "obj.bin").read_bytes() == OLD
    assert temporaries(tmp_path) == []
    # Every GET after the listing named the version that was listed.
    gets = proxy.requests("GET", "/d/obj.bin")
    assert gets and all(g.header("If-Match") for g in gets)


@MOTO_ONLY
def test_cli_counts_unverified_and_require_verified_fails(
    s3_server: Any, s3: Any, bucket: str, kms_proxy: FaultProxy, tmp_path: Path
) -> None:
    import json

    s3.put_object(Bucket=bucket, Key="u/a.bin", Body=b"unprovable")
    s3.put_object(Bucket=bucket, Key="u/b.bin", Body=b"provable", ChecksumAlgorithm="CRC32")
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"name": "u", "s3": f"s3://{bucket}/u/", "local": "data", "direction": "download"}
    write_manifest(proj / "s3lync.yaml", [m], endpoint_url=kms_proxy.url)
    env = cli_env(tmp_path)

    strict = run_cli("apply", "--require-verified", cwd=proj, env=env)
    assert strict.returncode == 1, strict.stderr
    assert "a.bin" in strict.stderr and "could not be verified" in strict.stderr
    assert not (proj / "data" / "a.bin").exists()
    assert (proj / "data" / "b.bin").read_bytes() == b"provable"

    done = run_cli("apply", "--json", cwd=proj, env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["summary"]["unverified"] == 1
    ops = {o["rel"]: o for r in doc["results"] for o in r["operations"]}
    assert ops["a.bin"]["verification"]["status"] == "unverified"
    assert "not verified" in done.stderr and "a.bin" in done.stderr

    (proj / "data" / "a.bin").unlink()
    text = run_cli("apply", cwd=proj, env=env)
    assert text.returncode == 0, text.stderr
    assert "(1 unverified)" in text.stdout

    # check_hash: strict in the manifest is the same as --require-verified.
    (proj / "data" / "a.bin").unlink()
    write_manifest(
        proj / "s3lync.yaml", [{**m, "check_hash": "strict"}], endpoint_url=kms_proxy.url
    )
    again = run_cli("apply", cwd=proj, env=env)
    assert again.returncode == 1
    assert not (proj / "data" / "a.bin").exists()


@MOTO_ONLY
def test_own_multipart_upload_is_checked_without_a_second_read(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MD5 and the ETag at the part size the upload uses come from one read of the file."""
    import s3lync.sync.executor as executor

    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    reads: list[tuple[Any, ...]] = []
    real = executor.digest_file

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        reads.append((path, args, kwargs))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(executor, "digest_file", counting)
    data = blob(9, 11 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    S3Object(f"s3://{bucket}/big.bin", src, endpoint_url=s3_server.endpoint_url).upload()
    etag = str(s3.head_object(Bucket=bucket, Key="big.bin")["ETag"]).strip('"')
    assert etag.endswith("-3")  # a multipart object, checked at its layout
    assert len(reads) == 1, reads
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data


@MOTO_ONLY
def test_sse_kms_multipart_upload_is_verified_by_the_parts_content_md5(
    s3_server: Any,
    s3: Any,
    bucket: str,
    kms_proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An opaque multipart ETag: each part's Content-MD5, checked by the store, is the evidence."""
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    data = blob(4, 11 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    obj = S3Object(f"s3://{bucket}/big.bin", src, endpoint_url=kms_proxy.url)
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        obj.upload()
    assert "not verified" not in caplog.text
    assert obj.last_result is not None and obj.last_result.unverified == 0
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    # A part damaged on the way is refused by the store (as AWS does), nothing wrong is stored.
    s3.delete_object(Bucket=bucket, Key="big.bin")
    kms_proxy.add_rule("flip_request", method="PUT", query="partNumber=2", times=None)
    with pytest.raises(SyncError):
        obj.upload()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
