"""The lean client's requests, signed, against what botocore builds and signs (S3SigV4Auth).

botocore builds each request (its serializer encodes the key and the query) and signs it; a
``before-send`` hook catches the request before it leaves. The lean client then prepares the same
call at the same instant with the same credentials, and the two must agree byte for byte: the
path, the query parameters, and the Authorization header (hence the canonical request).
No request reaches any network.
"""

from __future__ import annotations

import calendar
import functools
import time
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from s3lync.store.fast import EMPTY_SHA256, FastWire
from s3lync.store.sigv4 import Credentials

ENDPOINT = "http://127.0.0.1:9"  # never contacted: the hook stops every request
AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

KEYS = [
    "plain.txt",
    "a+b.txt",
    "with space.txt",
    "100%.txt",
    "tilde~name",
    unicodedata.normalize("NFC", "caf\u00e9/r\u00e9sum\u00e9.txt"),
    unicodedata.normalize("NFD", "caf\u00e9/r\u00e9sum\u00e9.txt"),
    "double//slash/x",
    "/leading-slash",
    "eq=amp&q?hash#.bin",
    "bang!quote'paren()star*",
    "emoji-\U0001f600.txt",
    "semi;colon:comma,at@dollar$",
    "dir/",
]
PREFIXES = ["", "a+b/", "with space/", "100%/", "caf\u00e9/", "x=y&z?#/", "~/", "//"]


class _Caught(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("caught")
        self.request = request


@functools.cache
def _botocore_client(token: str | None) -> Any:
    import botocore.config
    import botocore.session

    session = botocore.session.Session()
    client = session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        aws_session_token=token,
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"total_max_attempts": 1},
        ),
    )

    def catch(request: Any, **_: Any) -> None:
        raise _Caught(request)

    client.meta.events.register("before-send.s3", catch)
    return client


def _sent(client: Any, operation: str, **params: Any) -> Any:
    with pytest.raises(_Caught) as info:
        getattr(client, operation)(**params)
    return info.value.request


def _header(request: Any, name: str) -> str:
    for k, v in request.headers.items():
        if k.lower() == name.lower():
            return v.decode() if isinstance(v, bytes) else str(v)
    raise KeyError(name)


def _lean_twin(
    request: Any, bucket: str, key: str, query: dict[str, str], token: str | None
) -> Any:
    """The lean client's version of ``request``: same instant, same extra signed headers."""
    lean = FastWire(ENDPOINT, "us-east-1", lambda: Credentials(AK, SK, token))
    signed_names = _header(request, "authorization").split("SignedHeaders=")[1].split(",")[0]
    extra = {
        n: _header(request, n)
        for n in signed_names.split(";")
        if n not in ("host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token")
    }
    stamp = _header(request, "x-amz-date")
    now = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
    payload = _header(request, "x-amz-content-sha256")
    _t, target, headers = lean.prepare(request.method, bucket, key, query, extra, payload, now)
    return target, headers


def _assert_same(request: Any, target: str, headers: dict[str, str]) -> None:
    sent = urlsplit(request.url)
    mine = urlsplit(target)
    assert mine.path == sent.path
    assert sorted(parse_qsl(mine.query, keep_blank_values=True)) == sorted(
        parse_qsl(sent.query, keep_blank_values=True)
    )
    assert headers["authorization"] == _header(request, "authorization")


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE+session/token=="], ids=["static", "token"])
@pytest.mark.parametrize("key", KEYS)
def test_object_requests_sign_like_botocore(key: str, token: str | None) -> None:
    client = _botocore_client(token)
    for operation, method in (("head_object", "HEAD"), ("get_object", "GET")):
        request = _sent(client, operation, Bucket="bucket-1", Key=key)
        assert request.method == method
        target, headers = _lean_twin(request, "bucket-1", key, {}, token)
        _assert_same(request, target, headers)
        if token:
            assert headers["x-amz-security-token"] == token


@pytest.mark.parametrize("prefix", PREFIXES)
def test_listing_queries_sign_like_botocore(prefix: str) -> None:
    client = _botocore_client("tok")
    params: dict[str, Any] = {"Bucket": "bucket-1", "MaxKeys": 1000, "EncodingType": "url"}
    query = {"list-type": "2", "encoding-type": "url", "max-keys": "1000"}
    if prefix:
        params["Prefix"] = prefix
        query["prefix"] = prefix
    token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+&x"
    params["ContinuationToken"] = token
    query["continuation-token"] = token
    request = _sent(client, "list_objects_v2", **params)
    target, headers = _lean_twin(request, "bucket-1", "", query, "tok")
    _assert_same(request, target, headers)


def test_put_with_content_md5_and_metadata_signs_like_botocore() -> None:
    client = _botocore_client(None)
    body = b"hello"
    md5 = "XUFAKrxLKna5cZ2REBfFkg=="
    request = _sent(
        client,
        "put_object",
        Bucket="bucket-1",
        Key="a b+c.txt",
        Body=body,
        ContentMD5=md5,
        Metadata={"md5chksum": md5},
    )
    target, headers = _lean_twin(request, "bucket-1", "a b+c.txt", {}, None)
    _assert_same(request, target, headers)
    assert _header(request, "x-amz-content-sha256") != EMPTY_SHA256
