"""Integrity verdicts: evidence from the store against local bytes (s3lync.sync.integrity)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from pathlib import Path

import pytest

from s3lync.hashing import Digest, Layout, candidate_part_sizes, digest_file
from s3lync.store.evidence import Evidence, evidence_from_headers
from s3lync.sync.integrity import Status, judge, needs, needs_layout

MiB = 1024 * 1024


def md5hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(data: bytes, sizes: list[int]) -> str:
    """S3's multipart ETag computed independently for explicit part sizes."""
    parts, pos = [], 0
    for n in sizes:
        parts.append(data[pos : pos + n])
        pos += n
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


MD5 = md5hex(b"content")
OTHER = md5hex(b"other")
MP = "b" * 32 + "-2"


def _digest(**kw: object) -> Digest:
    return Digest(size=7, md5=MD5, **kw)  # type: ignore[arg-type]


def test_plain_etag_match_and_mismatch() -> None:
    assert judge(_digest(), Evidence(MD5, 7)).status is Status.VERIFIED
    bad = judge(_digest(), Evidence(OTHER, 7))
    assert bad.status is Status.MISMATCH
    assert OTHER in bad.detail and MD5 in bad.detail


def test_metadata_alone_is_the_uploaders_claim() -> None:
    v = judge(_digest(), Evidence(None, 7, metadata_md5=MD5))
    assert v.status is Status.VERIFIED and "md5chksum" in v.evidence
    assert judge(_digest(), Evidence(None, 7, metadata_md5=OTHER)).status is Status.MISMATCH


def test_metadata_never_outvotes_the_server() -> None:
    # The store computed the ETag from the bytes it holds; md5chksum is someone's claim.
    v = judge(_digest(), Evidence(MD5, 7, metadata_md5=OTHER))
    assert v.status is Status.VERIFIED and "disagrees" in v.detail
    assert judge(_digest(), Evidence(OTHER, 7, metadata_md5=MD5)).status is Status.MISMATCH


def test_upload_ignores_our_own_metadata_echo() -> None:
    v = judge(_digest(), Evidence(None, 7, metadata_md5=MD5), upload=True)
    assert v.status is Status.UNVERIFIED


def test_multipart_guess_that_matches_is_verified_and_no_match_is_unverified() -> None:
    assert judge(_digest(etags={5: MP}), Evidence(MP, 7)).status is Status.VERIFIED
    v = judge(_digest(etags={5: "c" * 32 + "-2"}), Evidence(MP, 7))
    assert v.status is Status.UNVERIFIED and "layout" in v.detail
    assert needs_layout(_digest(etags={5: "c" * 32 + "-2"}), Evidence(MP, 7))


def test_multipart_mismatch_at_a_known_layout_is_a_mismatch(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    f = tmp_path / "f"
    f.write_bytes(data)
    etag = multipart_etag(data, [7000, 7000, 11600])  # last part larger than the others
    layout = Layout(7000, 3)
    assert not layout.uniform_for(len(data))
    ev = Evidence(etag, len(data), layout=layout)
    need = needs(None, ev)
    assert need.layouts == ((7000, 3),)
    d = digest_file(f, need.part_sizes, layouts=need.layouts)
    assert judge(d, ev).status is Status.VERIFIED
    f.write_bytes(b"X" + data[1:])
    bad = digest_file(f, need.part_sizes, layouts=need.layouts)
    assert judge(bad, ev).status is Status.MISMATCH


def test_one_part_etag_decides_for_any_size(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"hello world")
    etag = hashlib.md5(hashlib.md5(b"hello world").digest()).hexdigest() + "-1"
    d = digest_file(p, candidate_part_sizes(11, 1))
    assert judge(d, Evidence(etag, 11)).status is Status.VERIFIED
    other = hashlib.md5(hashlib.md5(b"other").digest()).hexdigest() + "-1"
    assert judge(d, Evidence(other, 11)).status is Status.MISMATCH


def test_seen_etag_recognises_an_opaque_etag() -> None:
    kms = "d" * 32
    assert judge(_digest(seen_etags=[kms]), Evidence(kms, 7)).status is Status.VERIFIED
    # Without it, a KMS ETag that looks like an MD5 is (rightly) not trusted as equal.
    assert judge(_digest(), Evidence(kms, 7)).status is Status.MISMATCH


def test_sse_kms_etag_is_opaque_and_checksum_decides(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"content")
    headers = {
        "etag": '"' + "e" * 32 + '"',
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-checksum-crc32": crc32_b64(b"content"),
    }
    ev = evidence_from_headers(headers.get, 7)
    assert ev.etag_opaque
    need = needs(None, ev)
    assert need.checksums == ("crc32",)
    d = digest_file(f, checksums=need.checksums)
    v = judge(d, ev)
    assert v.status is Status.VERIFIED and "CRC32" in v.evidence
    f.write_bytes(b"Content")
    assert judge(digest_file(f, checksums=("crc32",)), ev).status is Status.MISMATCH


def test_sse_c_without_checksum_or_metadata_is_unverified() -> None:
    headers = {
        "etag": '"' + "e" * 32 + '"',
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
    }
    v = judge(_digest(), evidence_from_headers(headers.get, 7))
    assert v.status is Status.UNVERIFIED and "sse-c" in v.detail


def test_upload_content_md5_checked_by_the_store_verifies_an_opaque_etag() -> None:
    ev = Evidence("e" * 32, 7, encryption="aws:kms", content_md5_checked=True)
    assert judge(_digest(), ev, upload=True).status is Status.VERIFIED
    # ...but never against a store answer that disagrees.
    ev2 = Evidence(OTHER, 7, content_md5_checked=True)
    assert judge(_digest(), ev2, upload=True).status is Status.MISMATCH


@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_every_full_object_checksum_is_computed_and_compared(
    tmp_path: Path, algorithm: str
) -> None:
    from awscrt import checksums as crt

    data = b"s3lync" * 1000
    f = tmp_path / "f"
    f.write_bytes(data)
    raw = {
        "crc32": zlib.crc32(data).to_bytes(4, "big"),
        "crc32c": crt.crc32c(data).to_bytes(4, "big"),
        "crc64nvme": crt.crc64nvme(data).to_bytes(8, "big"),
        "sha1": hashlib.sha1(data).digest(),
        "sha256": hashlib.sha256(data).digest(),
    }[algorithm]
    value = base64.b64encode(raw).decode()
    # An ETag that cannot decide (unknown layout), so the checksum must.
    ev = Evidence(
        "f" * 32 + "-3", len(data), checksums={algorithm: value}, checksum_type="FULL_OBJECT"
    )
    d = digest_file(f, checksums=needs(None, ev).checksums)
    assert judge(d, ev).status is Status.VERIFIED
    zero = base64.b64encode(b"\0" * len(raw)).decode()
    wrong = Evidence(ev.etag, len(data), checksums={algorithm: zero}, checksum_type="FULL_OBJECT")
    assert judge(d, wrong).status is Status.MISMATCH


def test_composite_checksum_at_a_known_layout(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    f = tmp_path / "f"
    f.write_bytes(data)
    parts = [data[i : i + 5000] for i in range(0, len(data), 5000)]
    joined = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    composite = base64.b64encode(zlib.crc32(joined).to_bytes(4, "big")).decode() + f"-{len(parts)}"
    ev = Evidence(
        "a" * 32 + f"-{len(parts)}",
        len(data),
        checksums={"crc32": composite},
        checksum_type="COMPOSITE",
        encryption="aws:kms",
        layout=Layout(5000, len(parts)),
    )
    need = needs(None, ev)
    assert need.composite == (("crc32", 5000, len(parts)),)
    d = digest_file(f, composite=need.composite)
    assert judge(d, ev).status is Status.VERIFIED
    f.write_bytes(data[:-1] + b"!")
    assert judge(digest_file(f, composite=need.composite), ev).status is Status.MISMATCH


def test_a_plain_etag_needs_no_checksum_work() -> None:
    ev = Evidence(MD5, 7, checksums={"crc32": crc32_b64(b"content")})
    assert not needs(_digest(), ev)


def test_verdict_json() -> None:
    v = judge(_digest(), Evidence(None, 7))
    assert v.to_dict()["status"] == "unverified"
    assert v.to_dict()["evidence"] == "none"


def test_untyped_bare_checksum_of_a_multipart_object_is_read_as_composite(tmp_path: Path) -> None:
    """moto sends a composite CRC32 without its ``-N`` and without x-amz-checksum-type."""
    data = bytes(range(256)) * 64
    f = tmp_path / "f"
    f.write_bytes(data)
    parts = [data[i : i + 5000] for i in range(0, len(data), 5000)]
    joined = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    bare = base64.b64encode(zlib.crc32(joined).to_bytes(4, "big")).decode()
    etag = multipart_etag(data, [5000] * (len(parts) - 1) + [len(parts[-1])])
    ev = Evidence(etag, len(data), checksums={"crc32": bare}, layout=Layout(5000, len(parts)))
    need = needs(None, ev)
    assert need.checksums == ()  # not mistaken for a whole-object CRC32
    d = digest_file(f, need.part_sizes, composite=need.composite)
    v = judge(d, ev)
    assert v.status is Status.VERIFIED
