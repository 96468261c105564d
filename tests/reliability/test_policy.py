"""ApplyPolicy: the engine enforces the deletion limit, an empty source and strict verification for
every face (CLI flags, manifest ``max_delete``, ``S3Object(policy=...)``); bad CLI values are click
usage errors before any I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import ApplyPolicy, ApplyRefusedError, ConfigError, S3Object
from s3lync.cli.main import cli
from s3lync.errors import RemoteNotFoundError
from s3lync.manifest.loader import load_manifest

from .helpers import MOTO_ONLY, put_objects, tree, write_files, write_manifest

pytestmark = pytest.mark.integration

SAME = {f"f{i}.txt": f"file {i}".encode() for i in range(4)}
EXTRA = {"x1.txt": b"x", "x2.txt": b"x"}


def _seed(s3: Any, bucket: str, local: Path) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SAME.items()} | {"p/new.txt": b"new"})
    write_files(local, SAME | EXTRA)


@pytest.mark.parametrize(
    "args",
    [
        ("apply", "--max-delete", "lots"),
        ("apply", "--max-delete", "150%"),
        ("apply", "--jobs", "0"),
        ("apply", "--lock-timeout", "soon"),
        ("sync", "s3://b/p/", "out", "--max-delete", "-1"),
    ],
)
def test_a_bad_flag_is_a_usage_error_before_any_io(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Against a dead endpoint the flag's error is reported (exit 2), not a connection error."""
    m = {"s3": "s3://b/p/", "local": "data", "direction": "download", "delete": True}
    manifest = write_manifest(tmp_path / "s3lync.yaml", [m], endpoint_url="http://127.0.0.1:9")
    r = CliRunner().invoke(cli, ["-f", str(manifest), *args], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    assert "Invalid value for" in r.stderr and f"'{args[-2]}'" in r.stderr
    assert "127.0.0.1" not in r.stderr


def test_the_policy_rejects_a_bad_limit() -> None:
    with pytest.raises(ConfigError, match="max_delete 'lots'"):
        ApplyPolicy(max_delete="lots")
    with pytest.raises(ConfigError):
        ApplyPolicy(max_delete=-1)
    assert ApplyPolicy(max_delete="5%").max_delete == "5%"


@MOTO_ONLY
def test_s3object_policy_limits_deletions(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """The library had no deletion limit: now the engine refuses before changing anything."""
    local = tmp_path / "data"
    _seed(s3, bucket, local)
    url = s3_server.endpoint_url
    tight = S3Object(f"s3://{bucket}/p/", local, endpoint_url=url, policy=ApplyPolicy(max_delete=1))
    # The library speaks library: the policy it was given, not a CLI flag.
    with pytest.raises(ApplyRefusedError, match=r"more than ApplyPolicy\(max_delete=1\) allows"):
        tight.download(delete=True)
    assert tree(local) == SAME | EXTRA  # not even new.txt came down
    pct = S3Object(
        f"s3://{bucket}/p/", local, endpoint_url=url, policy=ApplyPolicy(max_delete="20%")
    )
    with pytest.raises(ApplyRefusedError) as info:
        pct.download(delete=True)
    assert "more than ApplyPolicy(max_delete='20%') allows" in str(info.value)
    assert "--" not in str(info.value)
    assert tree(local) == SAME | EXTRA
    S3Object(
        f"s3://{bucket}/p/", local, endpoint_url=url, policy=ApplyPolicy(max_delete=2)
    ).download(delete=True)
    assert tree(local) == SAME | {"new.txt": b"new"}


@MOTO_ONLY
def test_s3object_policy_allows_an_empty_source(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "data"
    write_files(local, EXTRA)
    url = s3_server.endpoint_url
    with pytest.raises(RemoteNotFoundError):
        S3Object(f"s3://{bucket}/empty/", local, endpoint_url=url).download()
    allowed = ApplyPolicy(allow_empty_source=True)
    S3Object(f"s3://{bucket}/empty/", local, endpoint_url=url, policy=allowed).download()
    assert tree(local) == EXTRA


@MOTO_ONLY
@pytest.mark.parametrize("where", ["mapping", "defaults"])
def test_manifest_max_delete_is_enforced(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, where: str
) -> None:
    proj = tmp_path / "proj"
    local = proj / "data"
    _seed(s3, bucket, local)
    m: dict[str, Any] = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    m["delete"] = True
    if where == "mapping":
        m["max_delete"] = "10%"
        manifest = write_manifest(proj / "s3lync.yaml", [m])
    else:
        manifest = write_manifest(proj / "s3lync.yaml", [m], max_delete=1)
    assert load_manifest(manifest).mappings[0].max_delete in ("10%", 1)
    url = s3_server.endpoint_url
    r = CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", url, "apply", "--yes"], catch_exceptions=False
    )
    assert r.exit_code == 1
    # The manifest's limit is named by its key, not by a flag nobody passed.
    assert "more than max_delete: " in r.stderr and "Nothing was changed" in r.stderr
    assert "--max-delete" not in r.stderr
    assert tree(local) == SAME | EXTRA


def test_manifest_rejects_a_bad_max_delete(tmp_path: Path) -> None:
    m = {"s3": "s3://b/p/", "local": "data", "direction": "download", "max_delete": "lots"}
    manifest = write_manifest(tmp_path / "s3lync.yaml", [m])
    r = CliRunner().invoke(cli, ["-f", str(manifest), "validate"], catch_exceptions=False)
    assert r.exit_code == 1
    assert "max_delete" in r.stderr
