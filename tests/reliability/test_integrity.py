"""No partial or corrupted file ever sits at a target path.

Interrupted downloads (SIGINT, SIGKILL, a dying server), corrupted bodies and a full disk all leave the
previous file byte-for-byte intact, leave no ``.s3lync-tmp`` files behind (or, after SIGKILL, the next
run removes them) and end with a non-zero exit status.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .faultproxy import FaultProxy, Seen
from .helpers import (
    MOTO_ONLY,
    MotoProcess,
    blob,
    cli_env,
    put_objects,
    run_cli,
    start_cli,
    temporaries,
    tree,
    wait_until,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
NEW = {"p/a.bin": blob(11, 3000), "p/b.bin": blob(12, 2000), "p/c.bin": blob(13, 1000)}
OLD = {"a.bin": b"old a", "b.bin": b"old b", "c.bin": b"old c"}
NEW_LOCAL = {k.removeprefix("p/"): v for k, v in NEW.items()}


def project(tmp_path: Path, bucket: str, **mapping: Any) -> tuple[Path, Path]:
    """A manifest downloading s3://bucket/p/ into <proj>/data, with old local copies."""
    proj = tmp_path / "proj"
    data = proj / "data"
    write_files(data, OLD)
    m = {"name": "m", "s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    m.update(mapping)
    return write_manifest(proj / "s3lync.yaml", [m]), data


def wait_for(rule_event: Any, timeout: float = 30) -> None:
    assert rule_event.wait(timeout), "the faulted request never arrived"


def wait_for_temporary(root: Path, timeout: float = 30) -> None:
    """Until a download temporary exists under ``root``: the transfer is really in flight."""
    wait_until(lambda: temporaries(root), "a download temporary appears", timeout)


# --------------------------------------------------------------------------- SIGINT / SIGKILL


@MOTO_ONLY
@pytest.mark.parametrize("jobs", ["1", "4"])
def test_sigint_during_download_exits_130_and_keeps_previous_file(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, jobs: str
) -> None:
    put_objects(s3, bucket, NEW)
    manifest, data = project(tmp_path, bucket)
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", where="body", delay=30)
    env = cli_env(tmp_path, S3LYNC_MAX_ATTEMPTS="2")
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", "--jobs", jobs)

    proc = start_cli(*args, cwd=tmp_path, env=env)
    try:
        wait_for(rule.matched)
        wait_for_temporary(data)  # headers and half of the body are in; the rest is stalled
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=1.5)
        except subprocess.TimeoutExpired:
            # Still waiting on the stalled transfer: let the stall end (see the next test).
            rule.release()
            _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130, err
    assert "interrupted" in err
    local = tree(data)
    assert local["a.bin"] == OLD["a.bin"]
    for rel in ("b.bin", "c.bin"):  # finished before the signal, or not started: never partial
        assert local[rel] in (OLD[rel], NEW_LOCAL[rel])
    assert temporaries(tmp_path) == []

    proxy.clear()
    done = run_cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert tree(data) == NEW_LOCAL


@MOTO_ONLY
def test_sigint_exits_promptly_even_when_a_transfer_is_stalled(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, NEW)
    manifest, data = project(tmp_path, bucket)
    # The stall holds until released, and it is released only after the process has exited: a
    # process that waited for its stalled transfer would not exit at all.
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", where="body", delay=3600)
    env = cli_env(tmp_path)
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", "--jobs", "4")

    proc = start_cli(*args, cwd=tmp_path, env=env)
    try:
        wait_for(rule.matched)
        wait_for_temporary(data)
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the process waited for its stalled transfer after SIGINT")
    finally:
        rule.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert tree(data)["a.bin"] == OLD["a.bin"]
    assert temporaries(tmp_path) == []


@MOTO_ONLY
def test_sigkill_during_download_leaves_target_intact_and_next_run_cleans_temporary(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, NEW)
    manifest, data = project(tmp_path, bucket)
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", where="body", delay=30)
    env = cli_env(tmp_path)
    args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", "--jobs", "1")

    proc = start_cli(*args, cwd=tmp_path, env=env)
    try:
        wait_for(rule.matched)
        wait_for_temporary(data)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert tree(data)["a.bin"] == OLD["a.bin"]  # the partial bytes are only in a temporary
    leftovers = temporaries(tmp_path)
    assert leftovers, "a killed process cannot clean up; expected its temporary beside a.bin"
    assert all(Path(t).name.startswith(".s3lync-tmp-") for t in leftovers)
    assert all(Path(t).parent == data for t in leftovers)

    # plan is read-only: the dead run's temporary stays, and is not listed as a local file.
    proxy.clear()
    planned = run_cli(
        "-f", str(manifest), "--endpoint-url", proxy.url, "plan", cwd=tmp_path, env=env
    )
    assert planned.returncode == 0, planned.stderr
    assert temporaries(tmp_path) == leftovers
    assert ".s3lync-tmp-" not in planned.stdout

    done = run_cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert tree(data) == NEW_LOCAL
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- corrupted body via CLI


@MOTO_ONLY
def test_cli_byte_flip_exits_1_and_keeps_previous_file(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    put_objects(s3, bucket, NEW)
    manifest, data = project(tmp_path, bucket)
    proxy.add_rule("flip", method="GET", key="/p/b.bin", times=None)
    env = cli_env(tmp_path)

    done = run_cli(
        "-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", cwd=tmp_path, env=env
    )

    assert done.returncode == 1
    assert "b.bin" in done.stderr
    assert tree(data) == {**NEW_LOCAL, "b.bin": OLD["b.bin"]}
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- disk full


@MOTO_ONLY
@pytest.mark.parametrize("size", [256 * 1024, 11 * MiB], ids=["single-get", "multipart"])
def test_disk_full_exits_1_and_keeps_previous_file(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, size: int
) -> None:
    """RLIMIT_FSIZE makes writes past 128 KiB fail with EFBIG (Python ignores SIGXFSZ)."""
    big = blob(14, size)
    put_objects(s3, bucket, {"p/big.bin": big, "p/small.bin": b"small new"})
    proj = tmp_path / "proj"
    data = proj / "data"
    write_files(data, {"big.bin": b"big old", "small.bin": b"small old"})
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    env = cli_env(
        tmp_path,
        S3LYNC_MULTIPART_THRESHOLD=str(5 * MiB),
        S3LYNC_MULTIPART_CHUNKSIZE=str(5 * MiB),
        S3LYNC_MAX_ATTEMPTS="2",
    )
    prelude = "import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, (131072, 131072))"

    done = run_cli(
        "-f",
        str(manifest),
        "--endpoint-url",
        s3_server.endpoint_url,
        "apply",
        cwd=tmp_path,
        env=env,
        prelude=prelude,
    )

    assert done.returncode == 1, done.stderr
    assert "big.bin" in done.stderr
    assert tree(data) == {"big.bin": b"big old", "small.bin": b"small new"}
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- the server dies


def test_server_killed_during_apply_keeps_target_consistent_then_rerun_completes(
    dedicated_moto: MotoProcess, tmp_path: Path
) -> None:
    objects = {"p/big.bin": blob(15, 3000), "p/mid.bin": blob(16, 2000), "p/small.bin": b"s" * 1000}
    client = dedicated_moto.client()
    client.create_bucket(Bucket="killme")
    put_objects(client, "killme", objects)
    proj = tmp_path / "proj"
    data = proj / "data"
    old = {"mid.bin": b"old mid", "small.bin": b"old small", "extra.txt": b"only local"}
    write_files(data, old)
    m = {"s3": "s3://killme/p/", "local": "data", "direction": "download", "delete": True}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    env = cli_env(tmp_path, S3LYNC_MAX_ATTEMPTS="2")

    def kill(_: Seen) -> None:
        dedicated_moto.kill()

    with FaultProxy(dedicated_moto.url) as proxy:
        rule = proxy.add_rule("pass", method="GET", key="/p/mid.bin", before=kill)
        args = ("-f", str(manifest), "--endpoint-url", proxy.url, "apply", "--yes", "--jobs", "1")
        done = run_cli(*args, cwd=tmp_path, env=env)

        assert rule.hits == 1
        assert done.returncode == 1, done.stderr
        assert "mid.bin" in done.stderr
        # Largest first: big.bin was done before the kill; nothing after it half-written; the
        # deletion of extra.txt was skipped because transfers failed.
        assert tree(data) == {**old, "big.bin": objects["p/big.bin"]}
        assert temporaries(tmp_path) == []

        dedicated_moto.start()
        client = dedicated_moto.client()
        client.create_bucket(Bucket="killme")
        put_objects(client, "killme", objects)
        proxy.clear()
        again = run_cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert tree(data) == {k.removeprefix("p/"): v for k, v in objects.items()}


# --------------------------------------------------------------------------- changed mid-upload


@pytest.mark.parametrize("s3_server", ["moto", "rclone"], indirect=True)
def test_large_file_changed_while_uploading_is_reported_then_rerun_uploads_it(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3lync import S3Object, SyncError

    from .helpers import remote_tree

    monkeypatch.setenv("S3LYNC_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("S3LYNC_MULTIPART_CHUNKSIZE", str(5 * MiB))
    src = tmp_path / "src"
    write_files(src, {"a.bin": blob(21, 6 * MiB), "b.bin": blob(22, 6 * MiB)})
    changed = blob(23, 6 * MiB + 7)

    def rewrite(_seen: Seen) -> None:
        # The request body has been read by the proxy: the store gets the old bytes.
        (src / "a.bin").write_bytes(changed)

    proxy.add_rule("pass", method="PUT", key="/up/a.bin", times=1, before=rewrite)
    obj = S3Object(f"s3://{bucket}/up/", src, endpoint_url=proxy.url)

    with pytest.raises(SyncError) as info:
        obj.upload()

    assert "a.bin" in str(info.value) and "changed while it was being uploaded" in str(info.value)
    assert remote_tree(s3, bucket, "up/")["up/b.bin"] == blob(22, 6 * MiB)
    obj.upload()  # the next run sees the local file differ from the stored object
    assert remote_tree(s3, bucket, "up/") == {"up/a.bin": changed, "up/b.bin": blob(22, 6 * MiB)}
