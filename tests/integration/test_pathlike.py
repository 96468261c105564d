"""S3Object / AsyncS3Object are os.PathLike: the local path goes wherever a path does."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pandas as pd

from s3lync import AsyncS3Object


def test_pandas_reads_the_object_after_download(
    s3: Any, bucket: str, make_obj: Any, tmp_path: Path
) -> None:
    s3.put_object(
        Bucket=bucket, Key="tables/iris.csv", Body=b"sepal,species\n5.1,setosa\n4.9,virginica\n"
    )
    obj = make_obj(f"s3://{bucket}/tables/iris.csv", tmp_path / "iris.csv")
    obj.download()
    frame = pd.read_csv(obj)
    assert list(frame.columns) == ["sepal", "species"]
    assert frame["species"].tolist() == ["setosa", "virginica"]
    # The default local path (under the cache) works the same way.
    cached = make_obj(f"s3://{bucket}/tables/iris.csv")
    cached.download()
    assert pd.read_csv(cached).shape == (2, 2)
    assert (
        os.path.basename(cached) == "iris.csv" and str(cached) == f"s3://{bucket}/tables/iris.csv"
    )


def test_pandas_reads_an_async_object(s3: Any, bucket: str, s3_server: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="t/a.csv", Body=b"x\n1\n2\n")
    obj = AsyncS3Object(
        f"s3://{bucket}/t/a.csv", tmp_path / "a.csv", endpoint_url=s3_server.endpoint_url
    )
    asyncio.run(obj.download())
    assert pd.read_csv(obj)["x"].sum() == 3
    # Written through the local path, then uploaded.
    pd.DataFrame({"x": [7]}).to_csv(obj, index=False)
    asyncio.run(obj.upload())
    assert s3.get_object(Bucket=bucket, Key="t/a.csv")["Body"].read() == b"x\n7\n"
