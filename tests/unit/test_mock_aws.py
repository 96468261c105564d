"""Code tested with moto's in-process ``mock_aws`` (no server) works with s3lync and no ``client=``.

moto answers requests from a ``before-send`` handler in botocore's built-in handlers; s3lync's
fast path signs and sends its own requests, so it must step aside whenever such a handler is
active: every request then goes through botocore, and not one socket is opened.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

moto = pytest.importorskip("moto")

_connects: list[Any] = []
_watching = False


def _audit(event: str, args: Any) -> None:
    if _watching and event in ("socket.connect", "socket.getaddrinfo"):
        _connects.append((event, args))


sys.addaudithook(_audit)


@pytest.fixture
def mocked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    global _watching
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="mocked")
        s3.put_object(Bucket="mocked", Key="d/a.txt", Body=b"alpha")
        s3.put_object(Bucket="mocked", Key="d/sub/b.txt", Body=b"beta")
        _connects.clear()
        _watching = True
        try:
            yield s3
        finally:
            _watching = False


def test_s3object_works_under_mock_aws_and_opens_no_socket(mocked: Any, tmp_path: Path) -> None:
    from s3lync import S3Object

    dest = tmp_path / "d"
    S3Object("s3://mocked/d/", dest).download()
    assert (dest / "a.txt").read_bytes() == b"alpha"
    assert (dest / "sub" / "b.txt").read_bytes() == b"beta"

    (dest / "c.txt").write_bytes(b"gamma")
    S3Object("s3://mocked/d/", dest).upload()
    assert mocked.get_object(Bucket="mocked", Key="d/c.txt")["Body"].read() == b"gamma"
    assert S3Object("s3://mocked/d/c.txt", tmp_path / "c.txt").exists()
    assert S3Object("s3://mocked/d/c.txt", tmp_path / "c.txt").delete()
    assert "Contents" not in mocked.list_objects_v2(Bucket="mocked", Prefix="d/c.txt")
    assert _connects == []


def test_async_s3object_works_under_mock_aws_and_opens_no_socket(
    mocked: Any, tmp_path: Path
) -> None:
    from s3lync import AsyncS3Object

    obj = AsyncS3Object("s3://mocked/d/a.txt", tmp_path / "a.txt")
    path = asyncio.run(obj.download())
    assert Path(path).read_bytes() == b"alpha"
    assert _connects == []


def test_fast_path_is_chosen_again_once_the_mock_is_over() -> None:
    from s3lync.store.clients import intercepted

    assert not intercepted()  # moto's handler is registered, but only on inside mock_aws
    with moto.mock_aws():
        assert intercepted()
    assert not intercepted()


def test_a_callers_client_with_a_before_send_hook_sees_every_request(tmp_path: Path) -> None:
    """A ``client=`` is used as it is: every request goes through it, so its own event hooks (here
    a before-send hook that answers instead of the network) see them all."""
    import boto3
    from botocore.awsrequest import AWSResponse

    from s3lync import S3Object

    seen: list[str] = []

    class _Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **kwargs: Any) -> Any:
            yield self.body

    def answer(request: Any, **kwargs: Any) -> AWSResponse:
        seen.append(f"{request.method} {request.url.split('?')[0]}")
        if request.method == "HEAD":
            headers = {"ETag": '"0cc175b9c0f1b6a831c399e269772661"', "Content-Length": "1"}
            return AWSResponse(request.url, 200, headers, _Raw(b""))
        headers = {"ETag": '"0cc175b9c0f1b6a831c399e269772661"', "Content-Length": "1"}
        return AWSResponse(request.url, 200, headers, _Raw(b"a"))

    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        endpoint_url="http://127.0.0.1:9",
    )
    client.meta.events.register("before-send.s3", answer)
    global _watching
    _connects.clear()
    _watching = True
    try:
        obj = S3Object("s3://hooked/a.txt", tmp_path / "a.txt", client=client)
        assert obj.exists()
    finally:
        _watching = False
    assert seen and all("hooked/a.txt" in s for s in seen), seen
    assert _connects == []  # nothing went around the caller's client
