"""Upstream conveniences: exclude lists, download(exclude_pattern=...), progress=, no secrets in URIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from s3lync import InvalidURIError, S3Object, S3ObjectError


def _seed(s3: Any, bucket: str) -> None:
    for name in ("keep.txt", "a.tmp", "b.bak", "sub/c.txt", "sub/d.tmp"):
        s3.put_object(Bucket=bucket, Key=f"d/{name}", Body=name.encode())


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_download_with_a_list_of_excludes(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _seed(s3, bucket)
    obj = make_obj(f"s3://{bucket}/d/", tmp_path / "d")
    obj.download(exclude_pattern=[r"\.tmp$", r"\.bak$"])
    assert _files(tmp_path / "d") == ["keep.txt", "sub/c.txt"]
    # Excluded paths are never deleted either, even by force_sync.
    (tmp_path / "d" / "local.tmp").write_text("mine")
    obj.download(force_sync=True, exclude_pattern=r".*\.tmp$")
    assert (tmp_path / "d" / "local.tmp").read_text() == "mine"


def test_upload_with_a_list_of_excludes(
    bucket: str, make_obj: Any, remote_keys: Any, tmp_path: Path
) -> None:
    root = tmp_path / "up"
    (root / "sub").mkdir(parents=True)
    for name in ("keep.txt", "a.tmp", "b.bak", "sub/c.txt"):
        (root / name).write_text(name)
    make_obj(f"s3://{bucket}/up/", root).upload(exclude_pattern=(r"\.tmp$", r"\.bak$"))
    assert remote_keys(bucket) == ["up/keep.txt", "up/sub/c.txt"]


def test_a_bad_regex_in_the_list_fails_before_anything_moves(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _seed(s3, bucket)
    with pytest.raises(S3ObjectError) as info:
        make_obj(f"s3://{bucket}/d/", tmp_path / "d").download(exclude_pattern=["ok", "*.tmp"])
    # The hint is Python, as it is pasted into the call.
    assert str(info.value).startswith(
        "invalid exclude_pattern: invalid regular expression '*.tmp': nothing to repeat"
    )
    assert 'did you mean the regex r".*\\.tmp$"?' in str(info.value)
    assert not (tmp_path / "d").exists()


def test_progress_callable_sees_files_and_bytes(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    _seed(s3, bucket)
    seen: list[tuple[int, int, int, int]] = []
    obj = make_obj(f"s3://{bucket}/d/", tmp_path / "d", progress=lambda *a: seen.append(a))
    obj.download()
    total = sum(len(n) for n in ("keep.txt", "a.tmp", "b.bak", "sub/c.txt", "sub/d.tmp"))
    assert seen[0] == (0, 5, 0, total)
    assert seen[-1] == (5, 5, total, total)
    # Files as they end, bytes as they move in between: both only ever grow.
    assert sorted({s[0] for s in seen}) == list(range(6))
    assert [s[:1] + s[2:3] for s in seen] == sorted(s[:1] + s[2:3] for s in seen)
    seen.clear()
    obj.download(progress=False)  # per call, the object's default can be turned off
    assert seen == []


def test_progress_true_without_a_terminal_prints_nothing(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path, capfd: Any
) -> None:
    _seed(s3, bucket)
    make_obj(f"s3://{bucket}/d/", tmp_path / "d", progress=True).download()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_credentials_in_a_uri_are_refused_without_echoing_them() -> None:
    with pytest.raises(InvalidURIError, match="credentials do not belong in a URI") as info:
        S3Object("s3://AKIAEXAMPLE:wJalrXUtnFEMI@minio.local:9000/bucket/key")
    assert "wJalrXUtnFEMI" not in str(info.value) and "AKIAEXAMPLE" not in str(info.value)
    assert "endpoint_url=" in str(info.value)
