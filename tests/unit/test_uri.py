"""s3:// parsing and the key -> safe relative path rules (s3lync.uri)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3lync.errors import InvalidURIError, S3lyncError, UnsafeKeyError
from s3lync.uri import (
    S3Uri,
    check_rel,
    is_folder_marker,
    key_to_rel,
    parse_s3_uri,
)

# --------------------------------------------------------------------------- parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://bucket/key.txt", "bucket", "key.txt"),
        ("s3://bucket/a/b/c.txt", "bucket", "a/b/c.txt"),
        ("s3://bucket/dir/", "bucket", "dir/"),
        ("s3://bucket/", "bucket", ""),
        ("s3://bucket", "bucket", ""),
        ("s3://my.bucket-1/x", "my.bucket-1", "x"),
        ("s3://abc/x", "abc", "x"),  # 3 characters: the minimum
        ("s3://" + "b" * 63 + "/x", "b" * 63, "x"),  # 63 characters: the maximum
        ("s3://bucket/스페이스 file+%#?.txt", "bucket", "스페이스 file+%#?.txt"),
        ("s3://bucket/" + "k" * 1024, "bucket", "k" * 1024),  # exactly 1024 bytes is fine
    ],
)
def test_parse_valid(uri: str, bucket: str, key: str) -> None:
    parsed = parse_s3_uri(uri)
    assert parsed == S3Uri(bucket=bucket, key=key)
    assert parsed.bucket == bucket
    assert parsed.key == key


@pytest.mark.parametrize(
    "uri",
    [
        "bucket/key",  # no scheme
        "s3:/bucket/key",  # one slash
        "S3:/bucket",
        "http://bucket/key",
        "",
        "s3://",  # empty bucket
        "s3:///key",  # empty bucket
        "s3://ab/key",  # 2-character bucket
        "s3://a/key",
        "s3://" + "b" * 64 + "/key",  # 64 characters
        "s3://bad*bucket/key",
        "s3://bad bucket/key",
        "s3://-bucket/key",
        "s3://bucket-/key",
        "s3://buc..ket/key",
        "s3://bucket/ke\x00y",  # NUL in the key
        "s3://buc\x00ket/key",  # NUL in the bucket
        "s3://bucket/" + "k" * 1025,  # key over 1024 bytes
        "s3://bucket/" + "é" * 513,  # 1026 bytes in UTF-8, 513 characters
    ],
)
def test_parse_invalid(uri: str) -> None:
    with pytest.raises(InvalidURIError) as excinfo:
        parse_s3_uri(uri)
    err = excinfo.value
    assert isinstance(err, ValueError)
    assert isinstance(err, S3lyncError)
    # The message names the offending URI (repr, so NUL and friends stay visible).
    assert repr(uri) in str(err) or uri in str(err)


def test_parse_invalid_is_catchable_as_valueerror() -> None:
    with pytest.raises(ValueError):
        parse_s3_uri("not-a-uri")


def test_parse_non_string() -> None:
    with pytest.raises(InvalidURIError):
        parse_s3_uri(123)  # type: ignore[arg-type]


def test_str_round_trip() -> None:
    for uri in ("s3://bucket/a/b.txt", "s3://bucket/dir/", "s3://bucket/"):
        assert str(parse_s3_uri(uri)) == uri


# --------------------------------------------------------------------------- prefixes


@pytest.mark.parametrize(
    ("uri", "is_prefix", "dir_prefix"),
    [
        ("s3://bucket/", True, ""),
        ("s3://bucket", True, ""),
        ("s3://bucket/dir/", True, "dir/"),
        ("s3://bucket/a/b/", True, "a/b/"),
        ("s3://bucket/file.txt", False, "file.txt/"),
        ("s3://bucket/a/b", False, "a/b/"),
    ],
)
def test_is_prefix_and_dir_prefix(uri: str, is_prefix: bool, dir_prefix: str) -> None:
    parsed = parse_s3_uri(uri)
    assert parsed.is_prefix is is_prefix
    assert parsed.dir_prefix == dir_prefix


# --------------------------------------------------------------------------- folder markers


def test_folder_markers() -> None:
    assert is_folder_marker("dir/")
    assert is_folder_marker("a/b/")
    assert not is_folder_marker("dir")
    assert not is_folder_marker("a/b.txt")
    # A marker maps to the folder's relative path without the trailing slash.
    assert key_to_rel("p/sub/", "p/") == "sub"
    assert key_to_rel("p/a/b/", "p/") == "a/b"


def test_prefix_own_marker_is_not_a_path() -> None:
    # The root's own folder marker has no relative path; it must not be accepted as "".
    with pytest.raises(UnsafeKeyError):
        key_to_rel("p/", "p/")


# --------------------------------------------------------------------------- unsafe keys


UNSAFE_RELS = [
    "../x",
    "a/../../x",
    "a/..",
    "..",
    "/abs",
    "/etc/passwd",
    "a//b",
    ".",
    "./x",
    "a/./b",
    "a\\b",
    "..\\x",
    "C:x",
    "c:/windows",
    "a\x00b",
    "",
]


@pytest.mark.parametrize("rel", UNSAFE_RELS)
def test_key_to_rel_refuses_unsafe(rel: str) -> None:
    key = "prefix/" + rel
    with pytest.raises(UnsafeKeyError) as excinfo:
        key_to_rel(key, "prefix/")
    assert repr(key) in str(excinfo.value)
    assert isinstance(excinfo.value, S3lyncError)


@pytest.mark.parametrize("rel", UNSAFE_RELS)
def test_key_to_rel_refuses_unsafe_at_bucket_root(rel: str) -> None:
    with pytest.raises(UnsafeKeyError) as excinfo:
        key_to_rel(rel, "")
    assert repr(rel) in str(excinfo.value)


@pytest.mark.parametrize("rel", [r for r in UNSAFE_RELS if r])
def test_check_rel_refuses_unsafe(rel: str) -> None:
    with pytest.raises(UnsafeKeyError) as excinfo:
        check_rel(rel, key="the/key")
    assert "'the/key'" in str(excinfo.value)
    with pytest.raises(UnsafeKeyError) as excinfo:
        check_rel(rel)
    assert repr(rel) in str(excinfo.value)


def test_key_outside_prefix_refused() -> None:
    with pytest.raises(UnsafeKeyError) as excinfo:
        key_to_rel("other/x", "prefix/")
    assert "'other/x'" in str(excinfo.value)


@pytest.mark.parametrize(
    "rel",
    [
        "file.txt",
        "a/b/c.txt",
        "한글/파일.txt",
        "with space.txt",
        "dir with space/f",
        "plus+percent%hash#question?.txt",
        "..hidden",
        "x..y",
        "...",
        ".dotfile",
        "a/.b/c",
        "ab:c",  # a colon that is not a drive letter
    ],
)
def test_key_to_rel_accepts_normal(rel: str) -> None:
    assert key_to_rel("prefix/" + rel, "prefix/") == rel
    assert key_to_rel(rel, "") == rel
    check_rel(rel)  # no exception


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "p/", "deep/er/"]),
    tail=st.lists(st.sampled_from([*"ab./\\:\x00C ", "..", "é", "//", "../"]), max_size=12).map(
        "".join
    )
    | st.text(max_size=30),
)
def test_key_to_rel_never_escapes_root(prefix: str, tail: str) -> None:
    root = os.path.join(os.sep, "srv", "root")
    key = prefix + tail
    try:
        rel = key_to_rel(key, prefix)
    except UnsafeKeyError as exc:
        assert repr(key) in str(exc)
        return
    assert rel
    target = os.path.normpath(os.path.join(root, rel))
    assert target.startswith(root + os.sep), (key, rel, target)
    # normalisation must not have removed anything: no segment was collapsed.
    assert target == os.path.join(root, *rel.split("/"))
