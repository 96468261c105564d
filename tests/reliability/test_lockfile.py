"""``s3lync lock`` and plan/apply under s3lync.lock, against real servers: determinism, drift on an
unversioned bucket (an error naming the keys, nothing changed), pinned versions on a versioned bucket,
``lock --check`` exit codes, ``--locked`` / ``--no-lock``, and the lock checked with its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from s3lync.cli.main import cli

from .helpers import (
    ANY_SERVER,
    BOTH_SERVERS,
    MOTO_ONLY,
    blob,
    put_objects,
    tree,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

SRC = {f"d{i % 2}/f{i}.bin": blob(100 + i, 300 + i) for i in range(6)}


def run(manifest: Path, endpoint: str, *args: str) -> Result:
    """``s3lync -f MANIFEST --endpoint-url URL ARGS`` in-process."""
    return CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", endpoint, *args], catch_exceptions=False
    )


def project(tmp_path: Path, bucket: str, *extra: dict[str, Any]) -> tuple[Path, Path]:
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    m = {"name": "data", "s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    return write_manifest(proj / "s3lync.yaml", [m, *extra]), proj / "data"


@BOTH_SERVERS
def test_lock_is_deterministic_and_pins_every_object(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    manifest, _ = project(tmp_path, bucket)
    lock = manifest.with_name("s3lync.lock")

    r = run(manifest, s3_server.endpoint_url, "lock")
    assert r.exit_code == 0, r.output
    first = lock.read_bytes()
    lock.unlink()
    r = run(manifest, s3_server.endpoint_url, "lock")
    assert r.exit_code == 0, r.output
    assert lock.read_bytes() == first  # two runs, byte-identical
    r = run(manifest, s3_server.endpoint_url, "lock")
    assert "Unchanged" in r.output

    doc = json.loads(first)
    assert doc["lock_version"] == 1
    assert doc["manifest_digest"].startswith("sha256:")
    (entry,) = doc["mappings"]
    assert entry["versioned"] is False
    listed = {c["Key"]: c for c in s3.list_objects_v2(Bucket=bucket, Prefix="p/")["Contents"]}
    assert [o["key"] for o in entry["objects"]] == sorted(listed)
    for o in entry["objects"]:
        assert o["size"] == listed[o["key"]]["Size"]
        assert o["etag"] == listed[o["key"]]["ETag"].strip('"')
        assert "version_id" not in o
    assert run(manifest, s3_server.endpoint_url, "lock", "--check").exit_code == 0
    assert run(manifest, s3_server.endpoint_url, "validate").exit_code == 0


@BOTH_SERVERS
def test_drift_on_an_unversioned_bucket_is_an_error_naming_the_keys(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    manifest, local = project(tmp_path, bucket)
    url = s3_server.endpoint_url
    assert run(manifest, url, "lock").exit_code == 0
    write_files(local, {"d0/f0.bin": b"local before"})
    before = tree(local)

    put_objects(s3, bucket, {"p/d0/f2.bin": b"changed", "p/d1/f3.bin": b"changed too"})
    s3.delete_object(Bucket=bucket, Key="p/d1/f5.bin")
    s3.put_object(Bucket=bucket, Key="p/new.bin", Body=b"added")

    for command in (["plan"], ["apply", "--yes"]):
        r = run(manifest, url, *command)
        assert r.exit_code == 1, r.output
        assert "3 objects changed since s3lync.lock was written" in r.output
        for key in ("p/d0/f2.bin (changed)", "p/d1/f3.bin (changed)", "p/d1/f5.bin (deleted)"):
            assert key in r.output
        assert "run 's3lync lock' to accept" in r.output.lower()
        assert tree(local) == before  # nothing changed

    r = run(manifest, url, "lock", "--check")
    assert r.exit_code == 2, r.output
    assert "2 changed, 1 added, 1 deleted" in r.output
    assert "+ p/new.bin" in r.output

    # --no-lock takes the prefix as it is now; accepting with `lock` does too.
    r = run(manifest, url, "plan", "--no-lock")
    assert r.exit_code == 0, r.output
    assert run(manifest, url, "lock").exit_code == 0
    assert run(manifest, url, "lock", "--check").exit_code == 0
    r = run(manifest, url, "apply", "--yes", "--locked")
    assert r.exit_code == 0, r.output
    assert tree(local)["d1/f3.bin"] == b"changed too"
    assert tree(local)["new.bin"] == b"added"


@BOTH_SERVERS
def test_objects_added_after_the_lock_are_not_fetched(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    manifest, local = project(tmp_path, bucket)
    url = s3_server.endpoint_url
    assert run(manifest, url, "lock").exit_code == 0
    s3.put_object(Bucket=bucket, Key="p/late.bin", Body=b"not pinned")

    r = run(manifest, url, "apply", "--yes")
    assert r.exit_code == 0, r.output
    assert tree(local) == SRC


@ANY_SERVER
def test_a_bucket_on_a_store_without_versioning_is_locked_by_etag(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    if s3_server.caps.versioning:
        pytest.skip("this server keeps versions (probed)")
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    manifest, _ = project(tmp_path, bucket)
    url = s3_server.endpoint_url
    assert run(manifest, url, "lock").exit_code == 0
    entry = json.loads(manifest.with_name("s3lync.lock").read_text())["mappings"][0]
    assert entry["versioned"] is False
    assert all(o["etag"] and not o.get("version_id") for o in entry["objects"])
    # A changed object cannot be fetched as it was: the locked apply refuses, naming it.
    put_objects(s3, bucket, {"p/d0/f2.bin": b"v2"})
    r = run(manifest, url, "apply", "--yes", "--locked")
    assert r.exit_code == 1, r.output
    assert "d0/f2.bin" in r.output


@ANY_SERVER
def test_versioned_bucket_fetches_the_pinned_versions(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    if not s3_server.caps.versioning:
        pytest.skip("this server has no object versioning (probed)")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    manifest, local = project(tmp_path, bucket)
    url = s3_server.endpoint_url
    assert run(manifest, url, "lock").exit_code == 0
    doc = json.loads(manifest.with_name("s3lync.lock").read_text())
    entry = doc["mappings"][0]
    assert entry["versioned"] is True
    assert all(o["version_id"] for o in entry["objects"])

    # Newer versions, a delete marker and a new object: the lock still fetches what it pinned.
    put_objects(s3, bucket, {"p/d0/f2.bin": b"v2", "p/late.bin": b"late"})
    s3.delete_object(Bucket=bucket, Key="p/d1/f5.bin")
    r = run(manifest, url, "lock", "--check")
    assert r.exit_code == 2, r.output
    assert "~ p/d0/f2.bin" in r.output and "- p/d1/f5.bin" in r.output

    r = run(manifest, url, "apply", "--yes", "--locked")
    assert r.exit_code == 0, r.output
    assert tree(local) == SRC
    r = run(manifest, url, "plan", "--detailed-exitcode")
    assert r.exit_code == 0, r.output  # the pinned versions are in place: no changes

    # Without the lock, the current objects.
    r = run(manifest, url, "apply", "--yes", "--no-lock")
    assert r.exit_code == 0, r.output
    got = tree(local)
    assert got["d0/f2.bin"] == b"v2" and got["late.bin"] == b"late"


@MOTO_ONLY
def test_lock_records_additional_checksums(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="p/a.bin", Body=b"abc", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=bucket, Key="p/b.bin", Body=b"plain")
    manifest, _ = project(tmp_path, bucket)
    assert run(manifest, s3_server.endpoint_url, "lock").exit_code == 0
    objects = {
        o["key"]: o
        for o in json.loads(manifest.with_name("s3lync.lock").read_text())["mappings"][0]["objects"]
    }
    # base64 of SHA-256("abc")
    assert objects["p/a.bin"]["checksum"] == {
        "SHA256": "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    }
    assert "checksum" not in objects["p/b.bin"]
    assert run(manifest, s3_server.endpoint_url, "lock", "--no-checksums").exit_code == 0
    text = manifest.with_name("s3lync.lock").read_text()
    assert 'checksum"' not in text.replace("objects_digest", "")


@BOTH_SERVERS
def test_lock_flags_and_the_manifest_checked_together(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    up = {"name": "reports", "s3": f"s3://{bucket}/up/", "local": "reports", "direction": "upload"}
    old = {"name": "old", "s3": f"s3://{bucket}/p/d0/", "local": "old", "direction": "download"}
    manifest, _ = project(tmp_path, bucket, up, old)
    (manifest.parent / "reports").mkdir()
    url = s3_server.endpoint_url

    r = run(manifest, url, "plan", "--locked")
    assert r.exit_code == 1
    assert "--locked:" in r.output and "does not exist" in r.output
    assert "--locked and --no-lock" in run(manifest, url, "plan", "--locked", "--no-lock").output
    r = run(manifest, url, "lock", "reports")
    assert r.exit_code == 1 and "is an upload" in r.output

    assert run(manifest, url, "lock").exit_code == 0
    lock = manifest.with_name("s3lync.lock")
    assert [m["name"] for m in json.loads(lock.read_text())["mappings"]] == ["data", "old"]

    # The 'old' mapping leaves the manifest: its lock entry is an error naming the lock's line.
    project(tmp_path, bucket, up)
    line = next(i for i, t in enumerate(lock.read_text().splitlines(), 1) if '"name": "old"' in t)
    for command in (["plan"], ["validate"], ["lock", "--check"]):
        r = run(manifest, url, *command)
        assert r.exit_code == 1, r.output
        assert f"s3lync.lock:{line}: mapping 'old' is locked but is not in" in r.output
    assert run(manifest, url, "plan", "--no-lock").exit_code == 0
    # A truncated lock: plan names the line; `lock` rewrites it whole.
    lock.write_text(lock.read_text()[:200])
    r = run(manifest, url, "plan")
    assert r.exit_code == 1 and "truncated" in r.output
    assert run(manifest, url, "lock").exit_code == 0
    assert run(manifest, url, "plan").exit_code == 0


@BOTH_SERVERS
def test_drift_in_a_later_mapping_changes_nothing_in_an_earlier_one(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {f"p/{k}": v for k, v in SRC.items()})
    put_objects(s3, bucket, {"q/x.bin": b"x", "q/y.bin": b"y"})
    second = {"name": "second", "s3": f"s3://{bucket}/q/", "local": "q", "direction": "download"}
    manifest, local = project(tmp_path, bucket, second)
    url = s3_server.endpoint_url
    assert run(manifest, url, "lock").exit_code == 0
    s3.put_object(Bucket=bucket, Key="q/y.bin", Body=b"changed")

    r = run(manifest, url, "apply", "--yes")
    assert r.exit_code == 1, r.output
    assert "mapping 'second': 1 object changed since s3lync.lock was written: q/y.bin" in r.output
    assert tree(local) == {}  # the first mapping was not applied either
    assert not (manifest.parent / "q").exists()
