"""Security: no key writes outside the mapping's local root, credentials never reach logs or output,
files get the user's umask, and symlinks leading out of an upload root are not followed by default."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync import Config, S3lyncError, S3Object
from s3lync.cli.main import cli
from s3lync.errors import InvalidURIError, UnsafeKeyError

from .faultproxy import FaultProxy
from .helpers import (
    BOTH_SERVERS,
    MOTO_ONLY,
    blob,
    cli_env,
    put_objects,
    remote_tree,
    run_cli,
    temporaries,
    tree,
    write_files,
    write_manifest,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def everything_under(root: Path, *, skip: tuple[Path, ...]) -> set[str]:
    """Files under ``root`` outside the ``skip`` folders."""
    found = set()
    for dirpath, _dirs, files in os.walk(root):
        d = Path(dirpath)
        if any(d == s or s in d.parents for s in skip):
            continue
        found |= {str((d / f).relative_to(root)) for f in files}
    return found


# --------------------------------------------------------------------------- path escapes


UNSAFE = [
    "p/../escape1.txt",
    "p/a/../../escape2.txt",
    "p/..",
    "p//double-slash.txt",
    "p/./dot.txt",
    "p/a\\..\\..\\escape3.txt",
    "p/C:/drive.txt",
]


@MOTO_ONLY
def test_unsafe_keys_are_refused_and_nothing_lands_outside_the_root(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, dict.fromkeys(UNSAFE, b"evil") | {"p/ok.txt": b"ok"})
    assert set(remote_tree(s3, bucket)) == {*UNSAFE, "p/ok.txt"}  # moto keeps keys verbatim
    root = tmp_path / "work" / "out"
    root.mkdir(parents=True)

    with pytest.raises(UnsafeKeyError) as info:
        S3Object(f"s3://{bucket}/p/", root, endpoint_url=s3_server.endpoint_url).download(
            force_sync=True
        )

    message = str(info.value)
    named = [k for k in UNSAFE if repr(k) in message]
    assert len(named) >= 5  # the rest summarised as "+N more"
    assert len(named) == len(UNSAFE) or f"+{len(UNSAFE) - len(named)} more" in message
    assert tree(root) == {"ok.txt": b"ok"}
    assert everything_under(tmp_path, skip=(root, tmp_path / "cache")) == set()


@MOTO_ONLY
def test_cli_reports_every_unsafe_key(s3: Any, s3_server: Any, bucket: str, tmp_path: Path) -> None:
    put_objects(s3, bucket, dict.fromkeys(UNSAFE, b"evil") | {"p/ok.txt": b"ok"})
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])

    result = CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", s3_server.endpoint_url, "apply", "--yes"]
    )

    assert result.exit_code == 1
    for key in UNSAFE:
        assert key in result.stderr or repr(key)[1:-1] in result.stderr
    assert tree(proj / "data") == {"ok.txt": b"ok"}
    assert everything_under(tmp_path, skip=(proj / "data", tmp_path / "cache")) == {
        "proj/s3lync.yaml"
    }


@BOTH_SERVERS
def test_symlinked_folder_inside_root_cannot_redirect_writes_or_deletes(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"victim.txt": b"precious"})
    root = tmp_path / "out"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    put_objects(s3, bucket, {"p/link/evil.txt": b"evil", "p/ok.txt": b"ok"})

    with pytest.raises(UnsafeKeyError) as info:
        S3Object(f"s3://{bucket}/p/", root, endpoint_url=s3_server.endpoint_url).download(
            force_sync=True
        )

    assert "p/link/evil.txt" in str(info.value)
    assert tree(outside) == {"victim.txt": b"precious"}
    assert (root / "link").is_symlink()
    assert tree(root) == {"ok.txt": b"ok"}


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket//etc/passwd",
        "s3://bucket/../../escape.txt",
        "s3://bucket/a/../../../../x",
        "s3://bucket/..",
    ],
    ids=["absolute-key", "dotdot-key", "deep-dotdot-key", "bare-dotdot"],
)
def test_default_local_path_stays_inside_the_cache(uri: str) -> None:
    try:
        obj = S3Object(uri)
    except (InvalidURIError, UnsafeKeyError):
        return
    bucket_dir = os.path.join(os.path.realpath(Config.get_objects_dir()), "bucket")
    assert os.path.realpath(obj.local_path).startswith(bucket_dir + os.sep)


@MOTO_ONLY
def test_default_local_path_download_cannot_escape_the_cache(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    put_objects(s3, bucket, {"../../escape.txt": b"escaped"})
    try:
        S3Object(f"s3://{bucket}/../../escape.txt", endpoint_url=s3_server.endpoint_url).download()
    except S3lyncError:
        pass
    cache = Config.get_cache_dir()
    assert everything_under(tmp_path, skip=(cache,)) == set()


# --------------------------------------------------------------------------- credentials


@MOTO_ONLY
def test_secret_key_never_appears_in_logs_output_or_errors(
    s3: Any,
    s3_server: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = f"S3LYNC-SECRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)  # moto accepts any credentials
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    caplog.set_level(logging.DEBUG)
    for name in ("s3lync", "botocore", "boto3", "s3transfer", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []

    put_objects(s3, bucket, {"p/a.txt": b"a", "p/b.txt": b"b"})
    src = tmp_path / "src"
    write_files(src, {"u1.txt": b"1", "u2.txt": b"2"})
    S3Object(f"s3://{bucket}/up/", src, endpoint_url=proxy.url).upload()
    S3Object(f"s3://{bucket}/p/", tmp_path / "dl", endpoint_url=proxy.url).download()
    # And once through a botocore client of the caller's, so botocore's signing debug is captured
    # whichever HTTP path s3lync picks by itself.
    import boto3

    own = boto3.session.Session().client("s3", endpoint_url=proxy.url)
    S3Object(f"s3://{bucket}/p/", tmp_path / "dl2", client=own).download()

    proj = tmp_path / "proj"
    write_files(proj / "data", {"stale.txt": b"x"})
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download", "delete": True}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    base = ["-f", str(manifest), "--endpoint-url", proxy.url]
    runner = CliRunner()
    plan = runner.invoke(cli, [*base, "plan", "--json"])
    assert plan.exit_code == 0, plan.stderr
    json.loads(plan.stdout)
    applied = runner.invoke(cli, [*base, "apply", "--yes", "--json"])
    assert applied.exit_code == 0, applied.stderr
    json.loads(applied.stdout)
    texts += [plan.stdout, plan.stderr, applied.stdout, applied.stderr]

    # Failures: a server error on a GET, and on a listing.
    (proj / "data" / "a.txt").write_bytes(b"changed")
    proxy.add_rule("error", method="GET", key="/p/a.txt", status=500, times=None)
    failed = runner.invoke(cli, [*base, "apply", "--yes", "--json"])
    assert failed.exit_code == 1
    texts += [failed.stdout, failed.stderr]
    proxy.clear()
    proxy.add_rule("error", method="GET", query="list-type=2", status=403, times=None)
    try:
        S3Object(f"s3://{bucket}/p/", tmp_path / "dl", endpoint_url=proxy.url).download()
    except S3lyncError as exc:
        texts += [str(exc), repr(exc), str(exc.__cause__)]
    else:
        pytest.fail("the listing error did not surface")

    assert "Signature" in caplog.text  # botocore's DEBUG signing output really was captured
    assert secret not in caplog.text
    for text in texts:
        assert secret not in text


@pytest.mark.parametrize("s3_server", ["rclone"], indirect=True)
def test_wrong_secret_error_does_not_echo_it(
    s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rclone checks signatures: a wrong secret fails, and the error text stays free of it."""
    secret = f"S3LYNC-WRONG-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])

    done = run_cli(
        "-f",
        str(manifest),
        "--endpoint-url",
        s3_server.endpoint_url,
        "apply",
        "--json",
        cwd=tmp_path,
        env=cli_env(tmp_path, S3LYNC_DEBUG="1", S3LYNC_LOG_LEVEL="DEBUG"),
    )

    assert done.returncode == 1
    assert "access denied" in done.stderr.lower() or "403" in done.stderr
    assert secret not in done.stdout + done.stderr


@MOTO_ONLY
def test_session_token_stays_out_of_s3lync_logs_and_output(
    s3: Any,
    s3_server: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """botocore itself logs request headers (and so X-Amz-Security-Token) at DEBUG; s3lync must not."""
    token = f"S3LYNC-TOKEN-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    caplog.set_level(logging.DEBUG, logger="s3lync")
    put_objects(s3, bucket, {"p/a.txt": b"a"})
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    runner = CliRunner()
    base = ["-f", str(manifest), "--endpoint-url", s3_server.endpoint_url]

    plan = runner.invoke(cli, [*base, "plan", "--json"])
    applied = runner.invoke(cli, [*base, "apply", "--json"])

    assert plan.exit_code == 0 and applied.exit_code == 0
    s3lync_records = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("s3lync")
    )
    for text in (plan.stdout, plan.stderr, applied.stdout, applied.stderr, s3lync_records):
        assert token not in text


@MOTO_ONLY
def test_debug_output_is_real_and_free_of_secrets(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    """``S3LYNC_DEBUG=1 s3lync plan``: the request path's DEBUG lines (each request's signed
    headers: s3lync's fast path, or botocore's where it sends) reach stderr, through the CLI's
    redacting filter: no session token, secret key or request signature."""
    token = f"S3LYNC-TOKEN-{uuid.uuid4().hex}"
    secret = f"S3LYNC-SECRET-{uuid.uuid4().hex}"  # moto checks no signature: any secret works
    put_objects(s3, bucket, {"p/a.txt": b"a"})
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    env = cli_env(tmp_path, S3LYNC_DEBUG="1", AWS_SESSION_TOKEN=token, AWS_SECRET_ACCESS_KEY=secret)

    # A fresh process: what it writes from its first start-up on.
    done = run_cli(
        "-f",
        str(manifest),
        "--endpoint-url",
        s3_server.endpoint_url,
        "plan",
        cwd=tmp_path,
        env=env,
        in_process=False,
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    # Real debug output of the requests sent, not an empty pass.
    assert re.search(r"DEBUG (botocore|s3lync\.store\.fast)", done.stderr), done.stderr[-2000:]
    assert "x-amz-security-token:***" in done.stderr.lower()  # the header was logged...
    assert token not in out  # ...and its value was redacted
    assert secret not in out
    assert re.search(r"Signature[=:]\s*[0-9a-f]{64}", out) is None
    assert "signature" in done.stderr.lower()


# --------------------------------------------------------------------------- umask


@MOTO_ONLY
# 002 (a shared group's usual umask) tells 0o666 from 0o644: a ranged download was created 0o644.
@pytest.mark.parametrize("umask", [0o077, 0o027, 0o002], ids=["umask077", "umask027", "umask002"])
def test_downloaded_files_and_folders_follow_the_umask(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, umask: int
) -> None:
    big = blob(41, 5 * MiB + 1000)
    put_objects(s3, bucket, {"p/a.txt": b"a", "p/new/dir/b.txt": b"b", "p/big.bin": big})
    proj = tmp_path / "proj"
    proj.mkdir()
    m = {"s3": f"s3://{bucket}/p/", "local": "data", "direction": "download"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    env = cli_env(
        tmp_path,
        S3LYNC_MULTIPART_THRESHOLD=str(5 * MiB),
        S3LYNC_MULTIPART_CHUNKSIZE=str(5 * MiB),
    )

    done = run_cli(
        "-f",
        str(manifest),
        "--endpoint-url",
        s3_server.endpoint_url,
        "apply",
        cwd=tmp_path,
        env=env,
        prelude=f"import os\nos.umask({umask:#o})",
    )

    assert done.returncode == 0, done.stderr
    data = proj / "data"
    assert tree(data) == {"a.txt": b"a", "new/dir/b.txt": b"b", "big.bin": big}
    for rel in ("a.txt", "new/dir/b.txt", "big.bin"):
        assert stat.S_IMODE((data / rel).stat().st_mode) == 0o666 & ~umask, rel
    for rel in ("", "new", "new/dir"):
        assert stat.S_IMODE((data / rel).stat().st_mode) == 0o777 & ~umask, rel
    assert temporaries(tmp_path) == []


# --------------------------------------------------------------------------- symlinks on upload


def _symlinked_source(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    write_files(outside, {"secret.txt": b"do not publish", "dir/inner.txt": b"inner"})
    src = tmp_path / "proj" / "src"
    write_files(src, {"inside.txt": b"inside", "sub/deep.txt": b"deep"})
    (src / "link_in.txt").symlink_to(src / "inside.txt")
    (src / "link_out.txt").symlink_to(outside / "secret.txt")
    (src / "link_out_dir").symlink_to(outside / "dir", target_is_directory=True)
    return src


INSIDE_KEYS = {
    "p/inside.txt": b"inside",
    "p/sub/deep.txt": b"deep",
    "p/link_in.txt": b"inside",
}


@BOTH_SERVERS
def test_symlinks_out_of_the_upload_root_are_not_followed_by_default(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = _symlinked_source(tmp_path)
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        S3Object(f"s3://{bucket}/p/", src, endpoint_url=s3_server.endpoint_url).upload()
    assert remote_tree(s3, bucket) == INSIDE_KEYS
    assert "link_out.txt" in caplog.text and "link_out_dir" in caplog.text

    proj = src.parent
    m = {"s3": f"s3://{bucket}/q/", "local": "src", "direction": "upload"}
    manifest = write_manifest(proj / "s3lync.yaml", [m])
    result = CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", s3_server.endpoint_url, "apply"]
    )
    assert result.exit_code == 0, result.stderr
    assert {k for k in remote_tree(s3, bucket) if k.startswith("q/")} == {
        "q/" + k.removeprefix("p/") for k in INSIDE_KEYS
    }


@MOTO_ONLY
def test_follow_symlinks_true_publishes_links_out_of_the_root(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    src = _symlinked_source(tmp_path)
    m = {"s3": f"s3://{bucket}/p/", "local": "src", "direction": "upload", "follow_symlinks": True}
    manifest = write_manifest(src.parent / "s3lync.yaml", [m])

    result = CliRunner().invoke(
        cli, ["-f", str(manifest), "--endpoint-url", s3_server.endpoint_url, "apply"]
    )

    assert result.exit_code == 0, result.stderr
    assert remote_tree(s3, bucket) == INSIDE_KEYS | {
        "p/link_out.txt": b"do not publish",
        "p/link_out_dir/inner.txt": b"inner",
    }


@MOTO_ONLY
def test_folder_alias_inside_root_neither_hides_nor_deletes_the_real_folder(
    s3: Any, s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_files(src, {"real/deep.txt": b"deep", "top.txt": b"top"})
    (src / "alias").symlink_to(src / "real", target_is_directory=True)
    put_objects(s3, bucket, {"p/real/deep.txt": b"deep"})

    S3Object(f"s3://{bucket}/p/", src, endpoint_url=s3_server.endpoint_url).upload(force_sync=True)

    assert remote_tree(s3, bucket) == {
        "p/top.txt": b"top",
        "p/real/deep.txt": b"deep",
        "p/alias/deep.txt": b"deep",
    }
