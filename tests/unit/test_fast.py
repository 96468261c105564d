"""The fast path's SigV4 signer, request targets and listing parser (pure; no network)."""

from __future__ import annotations

import calendar

import pytest

from s3lync.errors import BadResponseError
from s3lync.store.fast import FastWire, MissingCredentials
from s3lync.store.protocol import dns_compatible
from s3lync.store.s3xml import parse_list
from s3lync.store.sigv4 import Credentials

# AWS's worked examples for S3 SigV4 header auth (docs: sig-v4-header-based-auth.html).
AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = calendar.timegm((2013, 5, 24, 0, 0, 0))
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def client() -> FastWire:
    return FastWire(
        "https://s3.amazonaws.com", "us-east-1", lambda: Credentials(AK, SK), virtual_host=True
    )


def signature(headers: dict[str, str]) -> str:
    return headers["authorization"].rsplit("Signature=", 1)[1]


def test_get_object_example() -> None:
    h = client().sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/test.txt",
        {},
        {"Range": "bytes=0-9"},
        EMPTY,
        now=WHEN,
    )
    assert signature(h) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    assert "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date" in h["authorization"]


def test_put_object_example_with_special_characters_in_key() -> None:
    payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    h = client().sign(
        "PUT",
        "examplebucket.s3.amazonaws.com",
        "/test%24file.text",
        {},
        {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
        payload,
        now=WHEN,
    )
    assert signature(h) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


def test_list_objects_example_with_query() -> None:
    h = client().sign(
        "GET",
        "examplebucket.s3.amazonaws.com",
        "/",
        {"max-keys": "2", "prefix": "J"},
        {},
        EMPTY,
        now=WHEN,
    )
    assert signature(h) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"


def test_target_path_style_encodes_key_but_keeps_slashes() -> None:
    c = FastWire("http://127.0.0.1:9000", "us-east-1", lambda: Credentials(AK, SK))
    target, path = c._target("bucket-x", "a b/c+d%e#f?g~h")
    assert target.origin.netloc == "127.0.0.1:9000"
    assert path == "/bucket-x/a%20b/c%2Bd%25e%23f%3Fg~h"
    assert c._target("bucket-x", "")[1] == "/bucket-x"


def test_virtual_host_only_for_dns_compatible_buckets() -> None:
    c = client()
    t, path = c._target("plainbucket", "k")
    assert (t.origin.netloc, path) == ("plainbucket.s3.amazonaws.com", "/k")
    assert c._target("plainbucket", "")[1] == "/"
    t, path = c._target("dotted.bucket", "k")
    assert (t.origin.netloc, path) == ("s3.amazonaws.com", "/dotted.bucket/k")
    assert dns_compatible("abc-1") and not dns_compatible("Upper") and not dns_compatible("a.b.c")


def test_session_token_is_sent_and_signed() -> None:
    c = FastWire(
        "http://127.0.0.1:9000", "us-east-1", lambda: Credentials(AK, SK, "TOKEN/with+chars")
    )
    h = c.sign("GET", "127.0.0.1:9000", "/b/k", {}, {}, EMPTY, now=WHEN)
    assert h["x-amz-security-token"] == "TOKEN/with+chars"
    assert "x-amz-security-token" in h["authorization"].split("SignedHeaders=")[1]


def test_no_credentials_is_missing_credentials() -> None:
    c = FastWire("http://127.0.0.1:9000", "us-east-1", lambda: None)
    with pytest.raises(MissingCredentials):
        c.sign("GET", "h", "/b/k", {}, {}, EMPTY)


NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def test_parse_list_decodes_url_encoded_keys_and_strips_etag_quotes() -> None:
    xml = (
        f"<ListBucketResult {NS}><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok</NextContinuationToken>"
        "<Contents><Key>a+b%2Bc%25.txt</Key><Size>3</Size><ETag>&quot;ABC&quot;</ETag>"
        "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents></ListBucketResult>"
    ).encode()
    objects, token = parse_list(xml, "list", set())
    assert token == "tok"
    assert [(o.key, o.size, o.etag) for o in objects] == [("a b+c%.txt", 3, "abc")]


def test_parse_list_without_namespace_or_encoding_keeps_keys_verbatim() -> None:
    xml = (
        b"<ListBucketResult><IsTruncated>false</IsTruncated>"
        b"<Contents><Key>a+b%2B.txt</Key><Size>0</Size><ETag>d41d-2</ETag></Contents>"
        b"</ListBucketResult>"
    )
    objects, token = parse_list(xml, "list", set())
    assert token is None
    assert objects[0].key == "a+b%2B.txt" and objects[0].etag == "d41d-2"


def test_truncated_listing_without_token_is_a_bad_answer() -> None:
    with pytest.raises(BadResponseError, match="no token"):
        parse_list(
            b"<ListBucketResult><IsTruncated>true</IsTruncated>"
            b"<Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>",
            "l",
            set(),
        )


_PAGE = (
    "<ListBucketResult {ns}><Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>"
    "<IsTruncated>false</IsTruncated>"
    "<Contents><Key>p/a</Key><Size>1</Size><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;"
    "</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
    "<Contents><Key>p/b</Key><Size>2</Size></Contents></ListBucketResult>"
)


@pytest.mark.parametrize(
    "ns",
    [
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"',
        'xmlns="http://doc.s3.amazonaws.com/2006-03-01/"',
        'xmlns="urn:some-other-store"',
        "",
    ],
    ids=["aws", "older-doc-namespace", "foreign", "none"],
)
def test_parse_list_reads_any_namespace_or_none(ns: str) -> None:
    objects, token = parse_list(_PAGE.format(ns=ns).encode(), "list", set())
    assert token is None
    assert [(o.key, o.size, o.etag) for o in objects] == [
        ("p/a", 1, "0cc175b9c0f1b6a831c399e269772661"),
        ("p/b", 2, None),
    ]
    assert objects[0].last_modified == "2026-01-01T00:00:00.000Z"


def test_parse_list_reads_a_prefixed_namespace() -> None:
    xml = (
        b'<s3:ListBucketResult xmlns:s3="http://doc.s3.amazonaws.com/2006-03-01/">'
        b"<s3:KeyCount>1</s3:KeyCount><s3:IsTruncated>false</s3:IsTruncated>"
        b"<s3:Contents><s3:Key>k</s3:Key><s3:Size>5</s3:Size></s3:Contents></s3:ListBucketResult>"
    )
    assert [o.key for o in parse_list(xml, "list", set())[0]] == ["k"]


@pytest.mark.parametrize(
    ("body", "claim"),
    [
        (
            b"<ListBucketResult><KeyCount>3</KeyCount><IsTruncated>false</IsTruncated>"
            b"<Entries><Key>a</Key></Entries></ListBucketResult>",
            "KeyCount 3",
        ),
        (
            b"<ListBucketResult><IsTruncated>true</IsTruncated>"
            b"<NextContinuationToken>t</NextContinuationToken></ListBucketResult>",
            "IsTruncated true",
        ),
    ],
    ids=["keycount-without-contents", "truncated-without-contents"],
)
def test_a_listing_that_claims_more_than_it_holds_is_a_bad_response(
    body: bytes, claim: str
) -> None:
    with pytest.raises(BadResponseError) as info:
        parse_list(body, "list s3://b/p/: the answer of http://127.0.0.1:9", set())
    assert claim in str(info.value)
    assert "http://127.0.0.1:9" in str(info.value) and "s3://b/p/" in str(info.value)


def test_an_empty_listing_is_empty() -> None:
    body = b"<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>"
    assert parse_list(body, "list", set()) == ([], None)


def test_a_repeated_continuation_token_is_a_bad_response() -> None:
    page = (
        b"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>same"
        b"</NextContinuationToken><Contents><Key>a</Key><Size>1</Size></Contents>"
        b"</ListBucketResult>"
    )
    seen: set[str] = set()
    assert parse_list(page, "list s3://b/p/", seen)[1] == "same"
    with pytest.raises(BadResponseError, match="repeats the continuation token"):
        parse_list(page, "list s3://b/p/", seen)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>Welcome to nginx!</h1></body></html>",
        b'{"objects": []}',
        b"",
        b"<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>",
    ],
    ids=["html", "json", "empty", "bad-size"],
)
def test_a_foreign_200_answer_is_a_bad_response_naming_where(body: bytes) -> None:
    with pytest.raises(BadResponseError) as info:
        parse_list(body, "list s3://b/p/: the answer of http://127.0.0.1:9", set())
    assert "http://127.0.0.1:9" in str(info.value)
    assert "s3://b/p/" in str(info.value)
