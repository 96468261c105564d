"""Uploads store a Content-Type guessed from the name; downloads keep the object's LastModified."""

from __future__ import annotations

import os
import time
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest

import s3lync.sync.digests
from s3lync import S3Object
from s3lync.localfs.hashcache import FINE_GRANULARITY_NS

FILES = {
    "index.html": b"<h1>hi</h1>",
    "data/rows.json": b"[1, 2]",
    "data/table.csv": b"a,b\n",
    "img/logo.png": b"\x89PNG fake",
    "notes.txt": b"plain",
}
EXPECTED = {
    "index.html": "text/html",
    "data/rows.json": "application/json",
    "data/table.csv": "text/csv",
    "img/logo.png": "image/png",
    "notes.txt": "text/plain",
}


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, body in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)


def _content_types(s3: Any, bucket: str, prefix: str, rels: list[str]) -> dict[str, str]:
    # The media type without parameters: rclone's file backend adds "; charset=utf-8" to text.
    return {
        r: s3.head_object(Bucket=bucket, Key=prefix + r)["ContentType"].split(";")[0] for r in rels
    }


def _listed_mtimes(s3: Any, bucket: str, prefix: str) -> dict[str, float]:
    """LastModified as listed (the listing, unlike a HEAD, carries sub-second precision)."""
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {
        o["Key"][len(prefix) :]: o["LastModified"].astimezone(timezone.utc).timestamp()
        for o in page.get("Contents", ())
    }


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
def test_upload_guesses_content_type_from_the_name(
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    src = tmp_path / "site"
    _write(src, FILES)
    make_obj(f"s3://{bucket}/site/", local_path=src).upload()
    assert _content_types(s3, bucket, "site/", list(FILES)) == EXPECTED


@pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
def test_large_uploads_carry_the_content_type_too(
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    monkeypatch.setenv("S3LYNC_LEAN", lean)
    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * 1024 * 1024))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * 1024 * 1024))
    big = os.urandom(6 * 1024 * 1024)
    one = tmp_path / "one"
    _write(one, {"video.mp4": big})  # one large file: concurrent parts (multipart)
    make_obj(f"s3://{bucket}/one/", local_path=one).upload()
    two = tmp_path / "two"
    _write(two, {"a.json": big, "b.html": big[::-1]})  # several: one streamed PUT each
    make_obj(f"s3://{bucket}/two/", local_path=two).upload()
    assert _content_types(s3, bucket, "one/", ["video.mp4"]) == {"video.mp4": "video/mp4"}
    assert _content_types(s3, bucket, "two/", ["a.json", "b.html"]) == {
        "a.json": "application/json",
        "b.html": "text/html",
    }


def test_open_w_upload_has_a_content_type(s3: Any, bucket: str, make_obj: Any, tmp_path: Path):
    with make_obj(f"s3://{bucket}/r/summary.csv", local_path=tmp_path / "summary.csv").open(
        "w"
    ) as f:
        f.write("a,b\n")
    assert _content_types(s3, bucket, "r/", ["summary.csv"]) == {"summary.csv": "text/csv"}


def test_download_sets_mtime_to_last_modified_and_the_hash_cache_holds(
    s3: Any,
    bucket: str,
    make_obj: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for rel, body in FILES.items():
        s3.put_object(Bucket=bucket, Key=f"p/{rel}", Body=body)
    # A file whose mtime lies within the clock's tick of the moment it was looked at is racily
    # clean and rightly not cached; on a fast machine the download lands within 20 ms of a
    # LastModified with milliseconds in it (rclone's). Download once that tick has passed.
    newest = max(_listed_mtimes(s3, bucket, "p/").values())
    time.sleep(max(0.0, newest + 2 * FINE_GRANULARITY_NS / 1e9 - time.time()))
    dest = tmp_path / "dest"
    obj = make_obj(f"s3://{bucket}/p/", local_path=dest)
    obj.download()
    # Exactly the listed LastModified (the time of a download would carry nanoseconds).
    assert {rel: (dest / rel).stat().st_mtime for rel in FILES} == _listed_mtimes(s3, bucket, "p/")

    # The fingerprint the cache stored is the one after the mtime was set: nothing is hashed.
    calls: list[str] = []
    real = s3lync.sync.digests.digest_file

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(s3lync.sync.digests, "digest_file", counting)
    S3Object(f"s3://{bucket}/p/", dest, endpoint_url=obj.endpoint_url).download()
    assert calls == []


def test_single_object_download_sets_mtime(s3: Any, bucket: str, make_obj: Any, tmp_path: Path):
    s3.put_object(Bucket=bucket, Key="m/model.bin", Body=b"weights")
    target = tmp_path / "model.bin"
    make_obj(f"s3://{bucket}/m/model.bin", local_path=target).download()
    assert target.stat().st_mtime == _listed_mtimes(s3, bucket, "m/")["model.bin"]
