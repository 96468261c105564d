"""A user's script, type-checked with ``mypy --strict`` against the installed s3lync (.ci/typing/check).

It uses the public API the way an application does; ``assert_type`` fails the check when a
signature's types change (``open()`` by mode, results, path-likeness).
"""

from __future__ import annotations

import asyncio
import os
from typing import IO

from typing_extensions import assert_type

import s3lync
from s3lync import (
    ApplyPolicy,
    AsyncS3Object,
    Config,
    HashMismatchError,
    S3lyncError,
    S3Object,
    Settings,
    SyncError,
    SyncResult,
)


def sync_face() -> None:
    obj = S3Object("s3://my-bucket/data/", "data", policy=ApplyPolicy(max_delete=10))
    assert_type(obj.download(), str)
    assert_type(obj.upload(check_hash="strict", exclude_pattern=[r"\.tmp$"], delete=True), str)
    assert_type(obj.last_result, SyncResult | None)
    assert_type(obj.exists(), bool)
    assert_type(obj.bucket, str)
    assert_type(obj.key, str)
    path: os.PathLike[str] = obj  # path-like: open(obj), pd.read_csv(obj)
    assert_type(os.fspath(path), str)
    one = S3Object("s3://my-bucket/notes.txt", settings=Settings.from_env().with_(max_workers=4))
    with one.open("w") as text:
        assert_type(text, IO[str])
        text.write("note\n")
    with one.open("rb") as raw:
        assert_type(raw, IO[bytes])
        raw.read()
    try:
        one.download(force_sync=True)
    except HashMismatchError:
        pass
    except SyncError as exc:
        assert_type(exc, SyncError)
    except S3lyncError:
        pass


async def async_face() -> None:
    obj = AsyncS3Object("s3://my-bucket/data/", "data")
    assert_type(await obj.download(), str)
    assert_type(await obj.exists(), bool)
    async with obj.open("a") as text:
        assert_type(text, IO[str])
    async with obj.open("wb") as raw:
        assert_type(raw, IO[bytes])
    assert_type(os.fspath(obj), str)


if __name__ == "__main__":
    Config.set_log_level("INFO")
    print(s3lync.__version__)
    sync_face()
    asyncio.run(async_face())
