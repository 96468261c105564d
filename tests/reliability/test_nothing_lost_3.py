"""Nothing lost, round three (issue 20): lost updates through ``open("a")``, a hash cache that a
restored mtime fooled, a dead endpoint paid per file, an apply that stopped halfway, and the
promises the README makes about results, exit codes and the last line."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import (
    ApplyPolicy,
    ApplyRefusedError,
    AsyncS3Object,
    PlanStaleError,
    S3lyncError,
    S3Object,
    Settings,
)
from s3lync.cli import commands
from s3lync.cli.commands.running import SHOWN_PER_KIND
from s3lync.cli.main import cli
from s3lync.errors import EndpointDownError, HashMismatchError, SyncError
from s3lync.hashing import md5_to_metadata
from s3lync.localfs.hashcache import HashCache, fingerprint
from s3lync.sync.breaker import TRIP_AFTER, Breaker

from .faultproxy import FaultProxy
from .helpers import (
    BOTH_SERVERS,
    MOTO_ONLY,
    MotoProcess,
    blob,
    cli_env,
    put_objects,
    remote_tree,
    run_cli,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


# --------------------------------------------------------------- 1. open("a") / open("r+")


@BOTH_SERVERS
@pytest.mark.parametrize("mode", ["a", "r+"])
def test_open_for_update_never_overwrites_another_writers_version(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, mode: str
) -> None:
    """Another writer replaces the object inside the ``with`` block: the upload is refused."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    local = tmp_path / "app.log"
    obj = S3Object(f"s3://{bucket}/logs/app.log", local, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(PlanStaleError) as info, obj.open(mode) as f:
        if mode == "r+":
            f.seek(0, 2)
        f.write("[NEW] mine\n")
        s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"line 1\ntheirs\n")
    message = str(info.value)
    assert "another writer replaced it" in message, message
    assert "nothing was uploaded" in message and str(local) in message, message
    # Both versions survive: theirs in the bucket, ours on disk.
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"line 1\ntheirs\n"}
    assert local.read_bytes() == b"line 1\n[NEW] mine\n"


@BOTH_SERVERS
def test_open_append_uploads_over_the_version_it_read(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """Without another writer the append lands, also when the local copy was already current."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    obj = S3Object(
        f"s3://{bucket}/logs/app.log", tmp_path / "app.log", endpoint_url=s3_server.endpoint_url
    )
    for line in ("line 2\n", "line 3\n"):  # the second open finds the local copy current
        with obj.open("a") as f:
            f.write(line)
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"line 1\nline 2\nline 3\n"}


@BOTH_SERVERS
def test_open_append_to_a_missing_object_never_overwrites_one_created_meanwhile(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "new.log"
    obj = S3Object(f"s3://{bucket}/logs/new.log", local, endpoint_url=s3_server.endpoint_url)
    with pytest.raises(PlanStaleError, match="another writer created it"), obj.open("a") as f:
        f.write("mine\n")
        s3.put_object(Bucket=bucket, Key="logs/new.log", Body=b"theirs\n")
    assert remote_tree(s3, bucket, "logs/") == {"logs/new.log": b"theirs\n"}
    assert local.read_bytes() == b"mine\n"


@MOTO_ONLY
def test_open_append_if_match_carries_the_downloaded_etag(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Another writer acts after s3lync's last HEAD, as the PUT goes out: ``If-Match`` with the
    ETag that was downloaded makes the store (moto honours it) refuse the upload."""
    put_objects(s3, bucket, {"logs/app.log": b"line 1\n"})
    local = tmp_path / "app.log"
    obj = S3Object(f"s3://{bucket}/logs/app.log", local, endpoint_url=proxy.url)
    downloaded = s3.head_object(Bucket=bucket, Key="logs/app.log")["ETag"]
    rule = proxy.add_rule(
        "pass",
        method="PUT",
        key="/logs/app.log",
        before=lambda _seen: s3.put_object(Bucket=bucket, Key="logs/app.log", Body=b"theirs\n"),
    )
    with pytest.raises(PlanStaleError, match="the upload was refused"), obj.open("a") as f:
        f.write("mine\n")
    assert rule.hits >= 1
    puts = proxy.requests("PUT", "/logs/app.log")
    sent = [(p.header("If-Match") or "").strip('"') for p in puts]
    assert sent and all(etag == downloaded.strip('"') for etag in sent), (sent, downloaded)
    assert remote_tree(s3, bucket, "logs/") == {"logs/app.log": b"theirs\n"}
    assert local.read_bytes() == b"line 1\nmine\n"


# --------------------------------------------------------------- 2. the hash cache and ctime

OLD_NS = 1_600_000_000_000_000_000  # 2020: far outside any timestamp granularity


def _rewrite_in_place_keeping_the_mtime(path: Path, body: bytes) -> None:
    """What ``cp -p`` or ``rsync -t --inplace`` do: same inode, same size, the old mtime back."""
    before = os.stat(path)
    assert len(body) == before.st_size
    while os.stat(path).st_ctime_ns == before.st_ctime_ns:  # until the clock has ticked
        with open(path, "r+b") as f:
            f.write(body)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def _cached(obj: S3Object, path: Path) -> bool:
    cache = HashCache(obj.settings.state_dir / "hashes.sqlite3")
    try:
        return cache.get(str(path), fingerprint(os.stat(path))) is not None
    finally:
        cache.close()


@BOTH_SERVERS
def test_a_same_size_rewrite_with_its_mtime_restored_is_uploaded(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "data" / "report.csv"
    write_files(src.parent, {"report.csv": b"version 1,aaaa\n"})
    os.utime(src, ns=(OLD_NS, OLD_NS))
    obj = S3Object(f"s3://{bucket}/r/report.csv", src, endpoint_url=s3_server.endpoint_url)
    obj.upload()
    assert _cached(obj, src), "precondition: the upload left a (clean) hash-cache row"

    _rewrite_in_place_keeping_the_mtime(src, b"version 2,bbbb\n")
    obj.upload()
    assert obj.last_result is not None and obj.last_result.transferred == 1
    assert remote_tree(s3, bucket, "r/") == {"r/report.csv": b"version 2,bbbb\n"}


@BOTH_SERVERS
def test_a_large_rewrite_with_its_mtime_restored_gets_its_own_md5chksum(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """Uploaded anyway (the remote size differs): the md5chksum metadata is the new bytes' MD5."""
    settings = Settings.from_env().with_(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    v1, v2 = blob(1, 6 * MiB), blob(2, 6 * MiB)
    src = tmp_path / "big.bin"
    src.write_bytes(v1)
    os.utime(src, ns=(OLD_NS, OLD_NS))
    uri = f"s3://{bucket}/big.bin"
    obj = S3Object(uri, src, endpoint_url=s3_server.endpoint_url, settings=settings)
    obj.upload()
    assert _cached(obj, src), "precondition: the upload left a (clean) hash-cache row"

    s3.put_object(Bucket=bucket, Key="big.bin", Body=b"another writer, another size")
    _rewrite_in_place_keeping_the_mtime(src, v2)
    obj.upload()
    meta = {
        k.lower(): v for k, v in s3.head_object(Bucket=bucket, Key="big.bin")["Metadata"].items()
    }
    assert meta.get("md5chksum") == md5_to_metadata(hashlib.md5(v2).hexdigest())
    assert remote_tree(s3, bucket, "big.bin") == {"big.bin": v2}
    # And a fresh download verifies against it.
    out = tmp_path / "out.bin"
    S3Object(uri, out, endpoint_url=s3_server.endpoint_url, settings=settings).download()
    assert out.read_bytes() == v2


# --------------------------------------------------------------- 3. a dead or hung endpoint


def test_a_killed_server_fails_the_run_once_and_the_rest_is_not_tried(
    dedicated_moto: MotoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies after the first file: a few transfers fail, the rest are never started."""
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    client = dedicated_moto.client()
    client.create_bucket(Bucket="dead")
    put_objects(client, "dead", {f"p/f{i:02d}.txt": f"file {i}".encode() for i in range(40)})
    data = tmp_path / "data"

    def kill_after_the_first_file(files_done: int, *_: int) -> None:
        if files_done == 1:
            dedicated_moto.kill()

    obj = S3Object(
        "s3://dead/p/",
        data,
        endpoint_url=dedicated_moto.url,
        max_workers=2,
        progress=kill_after_the_first_file,
    )
    with pytest.raises(EndpointDownError) as info:
        obj.download()
    message = str(info.value)
    assert f"the S3 endpoint {dedicated_moto.url} is not answering" in message, message
    match = re.search(r"(\d+) of 40 operation\(s\) not tried, (\d+) failed", message)
    assert match, message
    not_tried, failed = int(match.group(1)), int(match.group(2))
    # At most the tripping failures plus the other worker's transfer were tried after the kill.
    assert failed <= TRIP_AFTER + 1 and not_tried >= 40 - 2 - failed, message
    assert obj.last_result is not None
    done = obj.last_result.transferred
    assert done + failed + not_tried == 40
    # Only whole files on disk, no temporaries.
    on_disk = sorted(p.name for p in data.iterdir()) if data.exists() else []
    assert len(on_disk) == done and all(not n.startswith(".") for n in on_disk), on_disk


@MOTO_ONLY
@pytest.mark.parametrize("fault", ["reset", "stall"])
def test_a_dead_endpoint_is_one_message_and_identical_errors_are_grouped(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, fault: str
) -> None:
    """Every object GET is reset (or hangs past the read timeout): the CLI gives up after a few
    files, says so once naming the endpoint, and does not print one line per file."""
    put_objects(s3, bucket, {f"p/f{i:02d}.bin": bytes([i]) * 100 for i in range(30)})
    proj = tmp_path / "proj"
    proj.mkdir()
    manifest = write_manifest(
        proj / "s3lync.yaml",
        [
            {"name": "one", "s3": f"s3://{bucket}/p/", "local": "one", "direction": "download"},
            {"name": "two", "s3": f"s3://{bucket}/p/", "local": "two", "direction": "download"},
        ],
    )
    if fault == "reset":
        proxy.add_rule("reset", method="GET", key="/p/f", times=None)
    else:
        proxy.add_rule("stall", method="GET", key="/p/f", delay=30, times=None)
    env = {"S3LYNC_MAX_ATTEMPTS": "2", "S3LYNC_READ_TIMEOUT": "0.5"}
    r = cli_run(proxy.url, manifest, "apply", "--jobs", "2", env=env)
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 2 * SHOWN_PER_KIND + 3, r.stderr  # not one line per file
    down = [e for e in errors if "is not answering" in e and "run again" in e]
    assert len(down) == 1 and proxy.url in down[0], r.stderr
    tried = {s.path for s in proxy.requests("GET", "/p/f")}
    assert len(tried) <= TRIP_AFTER + 1, sorted(tried)
    assert f"{30 - len(tried)} file(s) not tried" in down[0], down[0]
    assert "mapping(s) 'two' not applied" in down[0], down[0]
    assert last_line(r.stdout).startswith("Apply failed:"), r.stdout
    assert f"({30 - len(tried)} not tried)" in last_line(r.stdout), r.stdout
    assert not (proj / "one").exists() or list((proj / "one").iterdir()) == []
    assert not (proj / "two").exists()

    # The endpoint answers again: the next run completes.
    proxy.clear()
    r = cli_run(proxy.url, manifest, "apply", env=env)
    assert r.exit_code == 0, r.output
    assert len(list((proj / "two").iterdir())) == 30


def test_only_network_failures_count_towards_the_breaker() -> None:
    breaker = Breaker()
    refused = SyncError("download s3://b/k: cannot reach the S3 endpoint")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    answered = SyncError("download s3://b/k failed: InternalError (HTTP 500)")
    for _ in range(TRIP_AFTER - 1):
        breaker.record("http://e", refused)
    breaker.record("http://e", answered)  # an answer: the endpoint is alive
    for _ in range(TRIP_AFTER - 1):
        breaker.record("http://e", refused)
    breaker.record("http://e", HashMismatchError("bytes differ"))
    assert not breaker.is_open("http://e")
    for _ in range(TRIP_AFTER):
        breaker.record("http://e", refused)
    assert breaker.is_open("http://e") and not breaker.is_open("http://other")


# --------------------------------------------------------------- 6. last_result after a raise


@MOTO_ONLY
def test_last_result_is_set_when_the_call_raised(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"d/keep.txt": b"keep"})
    data = tmp_path / "data"
    write_files(data, {"keep.txt": b"keep", "x1.txt": b"1", "x2.txt": b"2"})
    uri, url = f"s3://{bucket}/d/", s3_server.endpoint_url

    obj = S3Object(uri, data, endpoint_url=url, policy=ApplyPolicy(max_delete=1))
    obj.download()  # nothing to do: a result with 1 unchanged
    put_objects(s3, bucket, {"d/new.txt": b"new"})
    obj.download()
    assert obj.last_result is not None and obj.last_result.transferred == 1
    with pytest.raises(ApplyRefusedError):
        obj.download(delete=True)  # 2 deletions, 1 allowed
    assert obj.last_result is not None
    assert (obj.last_result.transferred, obj.last_result.deleted) == (0, 0)
    assert obj.last_result.unchanged == 2

    aobj = AsyncS3Object(uri, data, endpoint_url=url, policy=ApplyPolicy(max_delete=1))
    assert aobj.last_result is None
    with pytest.raises(ApplyRefusedError):
        asyncio.run(aobj.download(delete=True))
    assert aobj.last_result is not None
    assert (aobj.last_result.transferred, aobj.last_result.deleted) == (0, 0)
    # Nothing was deleted.
    assert sorted(p.name for p in data.iterdir()) == ["keep.txt", "new.txt", "x1.txt", "x2.txt"]


# --------------------------------------------------------------- 4, 7, 8. the CLI's promises


def cli_run(endpoint: str, manifest: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """``s3lync -f MANIFEST --endpoint-url URL ARGS`` in-process (stdout/stderr kept apart)."""
    return CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", endpoint, *args], env=env
    )


def last_line(text: str) -> str:
    return text.rstrip().splitlines()[-1]


def three_mappings(tmp_path: Path, bucket: str) -> tuple[Path, Path]:
    """Mappings 1 and 2 create files; mapping 3 mirrors and would delete a local-only file."""
    proj = tmp_path / "proj"
    ms = [
        {"name": f"m{i}", "s3": f"s3://{bucket}/m{i}/", "local": f"m{i}", "direction": "download"}
        for i in (1, 2, 3)
    ]
    ms[2]["delete"] = True
    write_files(proj / "m3", {"mine.txt": b"local only"})
    return write_manifest(proj / "s3lync.yaml", ms), proj


@BOTH_SERVERS
def test_apply_without_a_terminal_refuses_deletions_before_the_first_change(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"m1/a.txt": b"a", "m2/b.txt": b"b", "m3/c.txt": b"c"})
    manifest, proj = three_mappings(tmp_path, bucket)

    r = cli_run(s3_server.endpoint_url, manifest, "apply")
    assert r.exit_code == 1, r.output
    assert "--yes" in r.stderr and "Nothing was changed" in r.stderr, r.stderr
    assert "'m3' 1" in r.stderr, r.stderr
    # The whole plan was shown, and nothing was applied: not even mappings 1 and 2.
    assert "- mine.txt" in r.stdout and "+ a.txt" in r.stdout, r.stdout
    assert last_line(r.stdout).startswith("Apply refused:"), r.stdout
    assert not (proj / "m1").exists() and not (proj / "m2").exists()
    assert sorted(p.name for p in (proj / "m3").iterdir()) == ["mine.txt"]

    r = cli_run(s3_server.endpoint_url, manifest, "apply", "--yes")
    assert r.exit_code == 0, r.output
    assert last_line(r.stdout).startswith("Apply complete:"), r.stdout
    assert sorted(p.name for p in (proj / "m3").iterdir()) == ["c.txt"]


@MOTO_ONLY
def test_a_deletion_limit_refuses_before_the_first_change(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"m1/a.txt": b"a", "m2/b.txt": b"b", "m3/c.txt": b"c"})
    manifest, proj = three_mappings(tmp_path, bucket)
    r = cli_run(s3_server.endpoint_url, manifest, "apply", "--yes", "--max-delete", "0")
    assert r.exit_code == 1, r.output
    assert "more than --max-delete 0" in r.stderr and "Nothing was changed" in r.stderr
    assert last_line(r.stdout).startswith("Apply refused:"), r.stdout
    assert not (proj / "m1").exists() and not (proj / "m2").exists()


@MOTO_ONLY
def test_the_last_line_says_failed_when_the_exit_code_is_1(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    url = s3_server.endpoint_url
    proj = tmp_path / "proj"
    # A local file where a folder must be: that mapping is not applied.
    put_objects(s3, bucket, {"f/sub/x.txt": b"x"})
    write_files(proj / "f", {"sub": b"a file"})
    manifest = write_manifest(
        proj / "s3lync.yaml",
        [{"s3": f"s3://{bucket}/f/", "local": "f", "direction": "download"}],
    )
    r = cli_run(url, manifest, "apply", "--yes")
    assert r.exit_code == 1, r.output
    assert last_line(r.stdout).startswith("Apply failed:"), r.stdout
    assert "1 error" in last_line(r.stdout)

    # An empty source refused to mirror-delete the target.
    write_files(tmp_path / "empty", {})
    (tmp_path / "empty").mkdir(exist_ok=True)
    put_objects(s3, bucket, {"e/keep.txt": b"keep"})
    manifest = write_manifest(
        proj / "s3lync.yaml",
        [
            {
                "s3": f"s3://{bucket}/e/",
                "local": str(tmp_path / "empty"),
                "direction": "upload",
                "delete": True,
            }
        ],
    )
    r = cli_run(url, manifest, "apply", "--yes")
    assert r.exit_code == 1, r.output
    assert last_line(r.stdout).startswith("Apply failed:"), r.stdout
    assert remote_tree(s3, bucket, "e/") == {"e/keep.txt": b"keep"}


@MOTO_ONLY
def test_the_last_line_says_refused_when_a_terminal_says_no_halfway(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"m1/a.txt": b"a", "m2/b.txt": b"b", "m3/c.txt": b"c"})
    manifest, proj = three_mappings(tmp_path, bucket)
    out, err = io.StringIO(), io.StringIO()
    ctx = commands.Context(
        manifest=manifest,
        endpoint_url=s3_server.endpoint_url,
        out=out,
        err=err,
        interactive=True,
        confirm=lambda question: False,
    )
    assert commands.apply(ctx) == 1
    assert last_line(out.getvalue()).startswith("Apply refused: 2 transferred"), out.getvalue()
    assert (proj / "m1" / "a.txt").exists()
    assert sorted(p.name for p in (proj / "m3").iterdir()) == ["mine.txt"]


DEAD = "http://127.0.0.1:1"  # nothing listens: any request would fail with exit 1


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize("value", ["x/4", "3", "2/4/1", "half", "5/4", "0/4", ""])
def test_a_bad_shard_is_a_usage_error_before_anything_is_listed(
    tmp_path: Path, command: str, value: str
) -> None:
    manifest = write_manifest(
        tmp_path / "s3lync.yaml", [{"s3": "s3://bucket/p/", "local": "d", "direction": "download"}]
    )
    r = cli_run(DEAD, manifest, command, "--shard", value)
    assert r.exit_code == 2, r.output
    assert "--shard" in r.stderr and "Traceback" not in r.output
    r = cli_run(DEAD, manifest, command, "--shard", "2/4", "--shard-total", "4")
    assert r.exit_code == 2 and "--shard-total" in r.stderr, r.output


def test_a_bad_sync_exclude_is_a_usage_error_before_anything_is_listed(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli,
        [
            "--endpoint-url",
            DEAD,
            "sync",
            "s3://bucket/p/",
            str(tmp_path / "d"),
            "--exclude",
            "(unclosed",
        ],
    )
    assert r.exit_code == 2, r.output
    assert "--exclude" in r.stderr and "'(unclosed'" in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


@MOTO_ONLY
def test_plan_out_into_a_missing_folder_is_an_error_not_a_crash(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"p/a.txt": b"a"})
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        [{"s3": f"s3://{bucket}/p/", "local": "d", "direction": "download"}],
    )
    target = tmp_path / "no" / "such" / "dir" / "p.json"
    r = cli_run(s3_server.endpoint_url, manifest, "plan", "--out", str(target))
    assert r.exit_code == 1, r.output
    assert "does not exist" in r.stderr and "bug" not in r.stderr, r.stderr
    assert not target.parent.exists()


@MOTO_ONLY
def test_a_bad_s3lync_progress_is_ignored_with_a_warning(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """In a subprocess: the warning is written before the CLI installs its log handler."""
    put_objects(s3, bucket, {"p/a.txt": b"a"})
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        [{"s3": f"s3://{bucket}/p/", "local": "d", "direction": "download"}],
        endpoint_url=s3_server.endpoint_url,
    )
    r = run_cli(
        "-f",
        str(manifest),
        "apply",
        cwd=tmp_path,
        env=cli_env(tmp_path, S3LYNC_PROGRESS="sparkly"),
        in_process=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == "ignoring S3LYNC_PROGRESS='sparkly': not one of auto, bar, plain, none\n"
    assert (tmp_path / "d" / "a.txt").read_bytes() == b"a"
    assert last_line(r.stdout).startswith("Apply complete:"), r.stdout


# --------------------------------------------------------------------------- 5. Settings freeze


def test_an_object_keeps_the_environment_it_was_built_with(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Endpoint, credentials and region come from the environment as it was when the object was
    built: changing AWS_ENDPOINT_URL or the keys afterwards changes nothing it does."""
    s3.put_object(Bucket=bucket, Key="frozen/a.txt", Body=b"alpha")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    obj = S3Object(f"s3://{bucket}/frozen/", tmp_path / "d")
    # Afterwards: a dead endpoint, wrong keys, another region.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "changed-afterwards")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "changed-afterwards")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")

    obj.download()

    assert (tmp_path / "d" / "a.txt").read_bytes() == b"alpha"
    (tmp_path / "d" / "b.txt").write_bytes(b"beta")
    obj.upload()
    assert s3.get_object(Bucket=bucket, Key="frozen/b.txt")["Body"].read() == b"beta"
    # A new object reads the environment as it is now.
    with pytest.raises(S3lyncError):
        S3Object(f"s3://{bucket}/frozen/", tmp_path / "e").download()
