"""What other S3 implementations answer, put in front of moto and rclone by the fault proxy (issue 19).

- a listing in another XML namespace, or in none, reads like AWS's on every path that lists;
- a listing that cannot be what it claims (``KeyCount`` > 0 or ``IsTruncated`` with nothing in it,
  a continuation token that repeats) is a ``BadResponseError`` naming endpoint and prefix;
- DeleteObjects carries ``Content-MD5`` (a caller's ``client=`` keeps its own requests as they were);
  ``NotImplemented`` gets one DeleteObject per key; a store that answers 200 to DeleteObjects but
  deletes nothing makes the delete fail, naming the keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import S3Object
from s3lync.cli.main import cli
from s3lync.errors import BadResponseError, SyncError
from s3lync.settings import Settings
from s3lync.store.clients import get_wire
from s3lync.store.remote import Remote

from .faultproxy import FaultProxy, Seen
from .helpers import BOTH_SERVERS, MOTO_ONLY, put_objects, remote_tree, tree, write_files

LEAN = pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
_LISTING = "list-type=2"
_FILES = {"d/a.txt": b"alpha", "d/sub/b.txt": b"bravo!", "d/c.bin": b"\x00" * 100}


def _env(monkeypatch: pytest.MonkeyPatch, lean: str) -> None:
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")


def _namespace(ns: str) -> Any:
    """A body rewrite giving a listing's root element ``ns`` as its namespace ("" for none)."""

    def rewrite(body: bytes) -> bytes:
        attr = f' xmlns="{ns}"'.encode() if ns else b""
        return re.sub(
            rb"<ListBucketResult[^>]*>", b"<ListBucketResult" + attr + b">", body, count=1
        )

    return rewrite


@BOTH_SERVERS
@LEAN
@pytest.mark.parametrize(
    "ns", ["http://doc.s3.amazonaws.com/2006-03-01/", ""], ids=["older-namespace", "no-namespace"]
)
def test_a_listing_in_another_namespace_or_none_reads_like_aws(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
    ns: str,
) -> None:
    _env(monkeypatch, lean)
    put_objects(s3, bucket, {f"p/{k}": v for k, v in _FILES.items()})
    rule = proxy.add_rule(
        "pass", method="GET", query=_LISTING, times=None, transform=_namespace(ns)
    )
    local = tmp_path / "down"

    def obj(**kw: Any) -> S3Object:
        return S3Object(f"s3://{bucket}/p/", local, endpoint_url=proxy.url, **kw)

    assert obj().exists()
    obj().download()
    assert tree(local) == _FILES
    assert rule.hits >= 2
    # A no-op upload sends nothing; a mirror upload deletes the remote-only key.
    s3.put_object(Bucket=bucket, Key="p/only-remote.txt", Body=b"x")
    proxy.log.clear()
    obj().upload(delete=True)
    assert not proxy.requests("PUT")
    assert sorted(remote_tree(s3, bucket, "p/")) == sorted(f"p/{k}" for k in _FILES)
    # delete() on the prefix deletes every object under it.
    assert obj().delete() is True
    assert remote_tree(s3, bucket, "p/") == {}
    assert obj().exists() is False


def _claims_three(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>"
        b"<IsTruncated>false</IsTruncated>"
        b"<Thing><Key>p/a</Key></Thing><Thing><Key>p/b</Key></Thing><Thing><Key>p/c</Key></Thing>"
        b"</ListBucketResult>"
    )
    return 200, [("Content-Type", "application/xml")], body


def _token_loop(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>b</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys>"
        b"<IsTruncated>true</IsTruncated><NextContinuationToken>again</NextContinuationToken>"
        b"<Contents><Key>p/a</Key><Size>1</Size><ETag>&quot;0cc175b9c0f1b6a831c399e269772661"
        b"&quot;</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
        b"</ListBucketResult>"
    )
    return 200, [("Content-Type", "application/xml")], body


@MOTO_ONLY
@LEAN
@pytest.mark.parametrize(
    ("answer", "words"),
    [(_claims_three, "KeyCount 3"), (_token_loop, "continuation token")],
    ids=["keycount-without-contents", "repeated-token"],
)
def test_a_listing_that_cannot_be_what_it_claims_fails_on_every_listing_path(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
    answer: Any,
    words: str,
) -> None:
    _env(monkeypatch, lean)
    put_objects(s3, bucket, {"p/a": b"a", "p/b": b"b", "p/c": b"c"})
    proxy.add_rule("answer", method="GET", query=_LISTING, times=None, respond=answer)
    local = tmp_path / "down"
    (local / "keep.txt").parent.mkdir(parents=True)
    (local / "keep.txt").write_bytes(b"mine")
    obj = S3Object(f"s3://{bucket}/p/", local, endpoint_url=proxy.url)

    def check(exc: BaseException) -> None:
        assert isinstance(exc, BadResponseError), repr(exc)
        assert words in str(exc)
        assert proxy.url in str(exc) and f"s3://{bucket}/p/" in str(exc)

    calls = {
        "download": lambda: obj.download(force_sync=True),
        "upload": obj.upload,
        "delete": obj.delete,
    }
    if words != "continuation token":
        # (exists() may stop at the first page, which does hold an object.)
        calls["exists"] = obj.exists
    for call in calls.values():
        with pytest.raises(BadResponseError) as info:
            call()
        check(info.value)
    # The lock listing (botocore's paginator over the same answers).
    settings = Settings.from_env()
    remote = Remote(wire=get_wire(endpoint_url=proxy.url, settings=settings), settings=settings)
    with pytest.raises(BadResponseError) as info:
        list(remote.list_for_lock(bucket, "p/", versioned=False))
    check(info.value)
    # Nothing was deleted on either side.
    assert tree(local) == {"keep.txt": b"mine"}
    assert sorted(remote_tree(s3, bucket)) == ["p/a", "p/b", "p/c"]
    assert not proxy.requests("DELETE") and not [
        s for s in proxy.requests("POST") if "delete" in s.query
    ]


def _content_md5_of(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


@BOTH_SERVERS
def test_delete_objects_carries_content_md5_but_a_callers_client_is_left_as_it_was(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/a": b"a", "p/b": b"b", "q/a": b"a", "q/b": b"b"})
    md5s: list[str | None] = []
    proxy.add_rule(
        "pass",
        method="POST",
        query="delete",
        times=None,
        before=lambda seen: md5s.append(seen.header("content-md5")),
    )
    assert S3Object(f"s3://{bucket}/p/", endpoint_url=proxy.url).delete() is True
    assert md5s and all(md5s), md5s
    # A caller's own client: s3lync's DeleteObjects carries Content-MD5...
    mine = s3_server.client(endpoint_url=proxy.url)
    md5s.clear()
    assert S3Object(f"s3://{bucket}/q/a", client=mine).delete() is True
    assert md5s and all(md5s), md5s
    # ... the caller's own DeleteObjects through the same client goes out as before (no MD5).
    md5s.clear()
    mine.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q/b"}]})
    assert md5s == [None]
    assert remote_tree(s3, bucket) == {}


def _not_implemented(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
        b"<Message>A header you provided implies functionality that is not implemented"
        b"</Message></Error>"
    )
    return 501, [("Content-Type", "application/xml")], body


@BOTH_SERVERS
def test_a_store_without_delete_objects_gets_one_delete_per_key(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/a": b"a", "p/b": b"b", "p/c/d": b"d"})
    proxy.add_rule("answer", method="POST", query="delete", times=None, respond=_not_implemented)
    assert S3Object(f"s3://{bucket}/p/", endpoint_url=proxy.url).delete() is True
    assert remote_tree(s3, bucket) == {}
    assert sorted(s.path for s in proxy.requests("DELETE")) == [
        f"/{bucket}/p/a",
        f"/{bucket}/p/b",
        f"/{bucket}/p/c/d",
    ]


def _deletes_nothing(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>'
    )
    return 200, [("Content-Type", "application/xml")], body


@BOTH_SERVERS
def test_a_store_that_answers_deleted_but_deletes_nothing_fails_naming_the_keys(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/keep.txt": b"k", "p/gone1.txt": b"1", "p/sub/gone2.txt": b"2"})
    proxy.add_rule("answer", method="POST", query="delete", times=None, respond=_deletes_nothing)
    # ... and so does DeleteObject, which s3lync tries next for keys still listed.
    proxy.add_rule("answer", method="DELETE", times=None, respond=lambda seen: (204, [], b""))
    local = tmp_path / "up"
    write_files(local, {"keep.txt": b"k"})
    obj = S3Object(f"s3://{bucket}/p/", local, endpoint_url=proxy.url)
    with pytest.raises(SyncError) as info:
        obj.upload(delete=True)
    assert "p/gone1.txt" in str(info.value) or "p/sub/gone2.txt" in str(info.value)
    assert "still listed" in str(info.value)
    # Library delete() of the prefix.
    with pytest.raises(SyncError, match="still listed"):
        S3Object(f"s3://{bucket}/p/", endpoint_url=proxy.url).delete()
    # The CLI: exit 1, both keys named.
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - name: up\n    s3: s3://{bucket}/p/\n    local: {local}\n"
        "    direction: upload\n    delete: true\n"
    )
    result = CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes"]
    )
    assert result.exit_code == 1, result.output
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "p/gone1.txt" in out and "p/sub/gone2.txt" in out
    assert "still listed" in out
    assert sorted(remote_tree(s3, bucket)) == ["p/gone1.txt", "p/keep.txt", "p/sub/gone2.txt"]


# --------------------------------------------------------------------------- a store without ETags


@pytest.fixture
def noetag(juicefs_noetag_server: Any) -> Any:
    """The JuiceFS gateway without ``--keep-etag`` (HEAD and listings give no ETag), a bucket on
    it, and a proxy in front that counts requests."""
    client = juicefs_noetag_server.client()
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    with FaultProxy(juicefs_noetag_server.endpoint_url) as p:
        yield juicefs_noetag_server, client, name, p


_NO_ETAG_WARNING = "the store gives no ETags, so content comparison is off"


def test_a_store_without_etags_compares_size_and_time_and_a_no_op_run_moves_nothing(
    noetag: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, _client, bucket, proxy = noetag
    assert not server.caps.etags
    up = tmp_path / "up"
    write_files(up, _FILES)
    uploader = S3Object(f"s3://{bucket}/p/", up, endpoint_url=proxy.url)
    with caplog.at_level(logging.INFO, logger="s3lync"):
        uploader.upload()
        # No-op upload: nothing sent, the mapping warned once.
        proxy.log.clear()
        caplog.clear()
        uploader.upload()
    assert proxy.requests("PUT") == []
    assert caplog.text.count(_NO_ETAG_WARNING) == 1
    assert uploader.last_result is not None and uploader.last_result.transferred == 0

    down = tmp_path / "down"
    downloader = S3Object(f"s3://{bucket}/p/", down, endpoint_url=proxy.url)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        downloader.download()
    assert tree(down) == _FILES
    # One WARNING for the mapping, not one per file.
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and _NO_ETAG_WARNING in warnings[0].getMessage(), caplog.text
    proxy.log.clear()
    downloader.download()
    assert [s for s in proxy.requests("GET") if "list-type" not in s.query] == []
    assert downloader.last_result is not None and downloader.last_result.transferred == 0

    # A same-size edit is seen by its time, both ways.
    time.sleep(1.1)  # LastModified and the comparison are whole seconds
    (up / "d/a.txt").write_bytes(b"ALPHA")
    proxy.log.clear()
    uploader.upload()
    assert [s.path for s in proxy.requests("PUT")] == [f"/{bucket}/p/d/a.txt"]
    proxy.log.clear()
    downloader.download()
    assert (down / "d/a.txt").read_bytes() == b"ALPHA"
    assert [s.path for s in proxy.requests("GET") if "list-type" not in s.query] == [
        f"/{bucket}/p/d/a.txt"
    ]
    (down / "d/sub/b.txt").write_bytes(b"BRAVO?")  # edited locally: the download restores it
    downloader.download()
    assert tree(down) == {**_FILES, "d/a.txt": b"ALPHA"}


def test_plan_json_says_which_comparison_each_mapping_used(
    noetag: Any, moto_server: Any, tmp_path: Path
) -> None:
    server, client, bucket, _proxy = noetag
    put_objects(client, bucket, {"p/a.txt": b"a"})
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - name: noetag\n    s3: s3://{bucket}/p/\n    local: {tmp_path / 'a'}\n"
        f"    direction: download\n    endpoint_url: {server.endpoint_url}\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(manifest), "plan", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [m["comparison"] for m in doc["plan"]["mappings"]] == ["size-and-time"]

    moto_client = moto_server.client()
    moto_bucket = f"t-{uuid.uuid4().hex[:8]}"
    moto_client.create_bucket(Bucket=moto_bucket)
    put_objects(moto_client, moto_bucket, {"p/a.txt": b"a"})
    manifest.write_text(
        "version: 1\nmappings:\n"
        f"  - name: etags\n    s3: s3://{moto_bucket}/p/\n    local: {tmp_path / 'b'}\n"
        f"    direction: download\n    endpoint_url: {moto_server.endpoint_url}\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(manifest), "apply", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["mappings"][0]["comparison"] == "content"
