"""MD5s, multipart ETags, md5chksum metadata and the local/remote comparison (s3lync.hashing)."""

from __future__ import annotations

import base64
import hashlib
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3lync import hashing
from s3lync.hashing import (
    candidate_part_sizes,
    digest_file,
    is_plain_md5_etag,
    md5_from_metadata,
    md5_to_metadata,
    multipart_parts,
    needed_part_sizes,
    normalize_etag,
)

MiB = 1024 * 1024


def reference_multipart_etag(data: bytes, part_size: int) -> str:
    """S3's multipart ETag computed independently: md5 of the concatenated part MD5s, dash, N."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def md5hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- digest_file


@pytest.mark.parametrize("size", [0, 1, 5, 17, 1000, 3 * MiB + 7])
def test_digest_file_md5_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    d = digest_file(f)
    assert d.md5 == md5hex(data)
    assert d.size == size
    assert d.etags == {}


@pytest.mark.parametrize(
    ("data", "part_sizes"),
    [
        (b"0123456789abcdefghij", [5]),  # exact multiple: 4 parts, no empty trailing part
        (b"0123456789abcdefghijk", [5]),  # 5 parts, last part 1 byte
        (b"abc", [5]),  # smaller than a part: 1 part
        (b"0123456789", [5, 3, 7, 10, 11]),  # several part sizes in one read
        (b"x" * 100, [1]),  # 100 one-byte parts
    ],
)
def test_digest_file_multipart_etag_matches_reference(
    tmp_path: Path, data: bytes, part_sizes: list[int]
) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    d = digest_file(f, part_sizes)
    assert d.md5 == md5hex(data)
    assert set(d.etags) == set(part_sizes)
    for ps in part_sizes:
        assert d.etags[ps] == reference_multipart_etag(data, ps), ps
        assert multipart_parts(d.etags[ps]) == max(1, math.ceil(len(data) / ps))


def test_digest_file_multipart_across_read_buffers(tmp_path: Path) -> None:
    # Parts that straddle the 1 MiB read buffer must still be cut at the right byte.
    data = bytes(range(256)) * (9 * 1024 + 3)  # ~2.25 MiB, not a multiple of anything nice
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    part = 700_001
    d = digest_file(f, [part])
    assert d.etags[part] == reference_multipart_etag(data, part)
    assert d.md5 == md5hex(data)


def test_digest_file_ignores_nonpositive_part_sizes(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"hello world")
    d = digest_file(f, [0, -5, 5])
    assert set(d.etags) == {5}


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=64), part_size=st.integers(min_value=1, max_value=20))
def test_digest_file_multipart_property(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, part_size: int
) -> None:
    f = tmp_path_factory.mktemp("h") / "f.bin"
    f.write_bytes(data)
    d = digest_file(f, [part_size])
    assert d.md5 == md5hex(data)
    assert d.etags[part_size] == reference_multipart_etag(data, part_size)


# --------------------------------------------------------------------------- ETag helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"d41d8cd98f00b204e9800998ecf8427e"', "d41d8cd98f00b204e9800998ecf8427e"),
        ("d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"),
        ('"D41D8CD98F00B204E9800998ECF8427E"', "d41d8cd98f00b204e9800998ecf8427e"),
        (' "abc-3" ', "abc-3"),
        (None, None),
        ("", None),
        ('""', None),
    ],
)
def test_normalize_etag(raw: str | None, expected: str | None) -> None:
    assert normalize_etag(raw) == expected


def test_is_plain_md5_etag() -> None:
    assert is_plain_md5_etag('"' + "a" * 32 + '"')
    assert is_plain_md5_etag("0123456789abcdef0123456789ABCDEF")
    assert not is_plain_md5_etag("a" * 31)
    assert not is_plain_md5_etag("g" * 32)
    assert not is_plain_md5_etag("a" * 32 + "-2")
    assert not is_plain_md5_etag(None)


@pytest.mark.parametrize(
    ("etag", "parts"),
    [
        ('"' + "a" * 32 + '-3"', 3),
        ("a" * 32 + "-1", 1),
        ("A" * 32 + "-10000", 10000),
        ("a" * 32, None),
        ("a" * 31 + "-3", None),
        ("a" * 32 + "-x", None),
        ("a" * 32 + "-", None),
        (None, None),
    ],
)
def test_multipart_parts(etag: str | None, parts: int | None) -> None:
    assert multipart_parts(etag) == parts


# --------------------------------------------------------------------------- md5chksum metadata


def test_md5_metadata_round_trip() -> None:
    h = md5hex(b"some content")
    encoded = md5_to_metadata(h)
    # rclone's convention: base64 of the raw 16-byte digest.
    assert encoded == base64.b64encode(hashlib.md5(b"some content").digest()).decode()
    assert md5_from_metadata({"md5chksum": encoded}) == h


@pytest.mark.parametrize("key", ["md5chksum", "Md5chksum", "MD5CHKSUM"])
def test_md5_from_metadata_key_case_insensitive(key: str) -> None:
    h = md5hex(b"x")
    assert md5_from_metadata({key: md5_to_metadata(h)}) == h


def test_md5_from_metadata_hex() -> None:
    h = md5hex(b"x")
    assert md5_from_metadata({"md5chksum": h}) == h
    assert md5_from_metadata({"Md5chksum": h.upper()}) == h


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        {},
        {"other": md5_to_metadata("0" * 32)},
        {"md5chksum": ""},
        {"md5chksum": "not base64 !!"},
        {"md5chksum": base64.b64encode(b"short").decode()},  # decodes, but not 16 bytes
    ],
)
def test_md5_from_metadata_absent_or_invalid(metadata: dict[str, str] | None) -> None:
    assert md5_from_metadata(metadata) is None


# --------------------------------------------------------------------------- part sizes


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=10 * 1024 * MiB),
    parts=st.integers(min_value=-1, max_value=12000),
)
def test_candidate_part_sizes_give_exactly_n_parts(size: int, parts: int) -> None:
    sizes = candidate_part_sizes(size, parts)
    assert len(sizes) == len(set(sizes))
    for ps in sizes:
        assert ps > 0
        assert max(1, math.ceil(size / ps)) == parts, (size, parts, ps)


def test_candidate_part_sizes_examples() -> None:
    # 20 MiB in 3 parts: 8 MiB parts (8+8+4) fit; 5 MiB (4 parts) and 16 MiB (2 parts) do not.
    sizes = candidate_part_sizes(20 * MiB, 3)
    assert 8 * MiB in sizes
    assert 5 * MiB not in sizes
    assert 16 * MiB not in sizes
    assert sizes[0] == 8 * MiB  # s3lync's own/s3transfer's default is tried first
    # An odd layout: ceil(size / parts) is offered when no common size fits.
    size = 1000 * MiB + 1
    odd = candidate_part_sizes(size, 7)
    assert odd
    assert all(max(1, math.ceil(size / ps)) == 7 for ps in odd)
    assert candidate_part_sizes(10, 0) == []
    assert candidate_part_sizes(-1, 1) == []


def test_needed_part_sizes() -> None:
    assert needed_part_sizes(20 * MiB, "a" * 32) == []
    assert needed_part_sizes(20 * MiB, None) == []
    assert needed_part_sizes(20 * MiB, '"' + "a" * 32 + '-3"') == candidate_part_sizes(20 * MiB, 3)


def test_metadata_key_constant() -> None:
    assert hashing.METADATA_MD5_KEY == "md5chksum"
