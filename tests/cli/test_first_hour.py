"""What a new user expects of plan/apply: missing sources fail, mappings run in order, short output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli

pytestmark = pytest.mark.integration


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_server) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "NO_COLOR"):
        monkeypatch.delenv(k, raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_manifest(path: Path, endpoint: str, mappings: str) -> Path:
    path.write_text(f"version: 1\ndefaults:\n  endpoint_url: {endpoint}\nmappings:\n{mappings}")
    return path


def tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------- a missing source


def test_missing_download_source_fails_plan_and_apply(s3_server, bucket, tmp_path, env):
    s3_server.client().put_object(Bucket=bucket, Key="datasets/v3/a.txt", Body=b"a")
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: data\n    s3: s3://{bucket}/datasets/v4/\n    local: out\n"
        "    direction: download\n",
    )
    for command in ("plan", "apply"):
        code, out, err = run("-f", str(manifest), command)
        assert code == 1, (command, out, err)
        assert f"the source is missing: nothing found at s3://{bucket}/datasets/v4/" in err
        assert "allow_missing: true" in err
        assert "No changes." not in out
    assert not (tmp_path / "out").exists()


def test_missing_single_object_source_fails_with_a_clear_message(s3_server, bucket, tmp_path, env):
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - s3: s3://{bucket}/model.bin\n    local: model.bin\n    direction: download\n",
    )
    code, _, err = run("-f", str(manifest), "apply")
    assert code == 1
    assert f"no such object: s3://{bucket}/model.bin" in err
    assert "Traceback" not in err


def test_allow_missing_opts_out(s3_server, bucket, tmp_path, env):
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: data\n    s3: s3://{bucket}/nothing/\n    local: out\n"
        "    direction: download\n    allow_missing: true\n",
    )
    code, out, err = run("-f", str(manifest), "apply")
    assert code == 0, out + err
    assert "allow_missing: true" in out
    code, _, _ = run("-f", str(manifest), "plan", "--detailed-exitcode")
    assert code == 0


def test_allow_missing_must_be_a_boolean(s3_server, bucket, tmp_path, env):
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - s3: s3://{bucket}/x/\n    local: out\n    direction: download\n"
        "    allow_missing: perhaps\n",
    )
    code, _, err = run("-f", str(manifest), "validate")
    assert code == 1
    assert "allow_missing" in err


# --------------------------------------------------------------------------- mappings run in order


def _upload_then_download(s3_server, bucket, tmp_path) -> Path:
    src = tmp_path / "build"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.txt").write_text("bravo")
    return write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: publish\n    s3: s3://{bucket}/artifacts/\n    local: build\n"
        "    direction: upload\n"
        f"  - name: fetch\n    s3: s3://{bucket}/artifacts/\n    local: fetched\n"
        "    direction: download\n",
    )


def test_upload_then_download_of_the_same_prefix_in_one_apply(s3_server, bucket, tmp_path, env):
    manifest = _upload_then_download(s3_server, bucket, tmp_path)

    # plan is read-only: the download's empty source is expected, because 'publish' writes it.
    code, out, err = run("-f", str(manifest), "plan")
    assert code == 0, out + err
    assert "mapping 'publish' writes it earlier in this run" in out

    code, out, err = run("-f", str(manifest), "apply")
    assert code == 0, out + err
    assert tree(tmp_path / "fetched") == {"a.txt": b"alpha", "sub/b.txt": b"bravo"}
    # Each mapping was planned just before it ran: fetch's block lists the uploaded files.
    fetch_block = out[out.index("# fetch:") :]
    assert "+ a.txt" in fetch_block and "+ sub/b.txt" in fetch_block
    assert "Apply complete: 4 transferred" in out


def test_saved_plan_records_the_order_and_replans_a_dependent_mapping(
    s3_server, bucket, tmp_path, env
):
    manifest = _upload_then_download(s3_server, bucket, tmp_path)
    plan_file = tmp_path / "plan.json"
    code, out, err = run("-f", str(manifest), "plan", "--out", str(plan_file))
    assert code == 0, out + err
    saved = json.loads(plan_file.read_text())
    assert saved["order"] == ["publish", "fetch"]

    code, out, err = run("-f", str(manifest), "apply", str(plan_file))
    assert code == 0, out + err
    assert tree(tmp_path / "fetched") == {"a.txt": b"alpha", "sub/b.txt": b"bravo"}


def test_saved_plan_is_still_refused_when_an_independent_source_changed(
    s3_server, bucket, tmp_path, env
):
    manifest = _upload_then_download(s3_server, bucket, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert run("-f", str(manifest), "plan", "--out", str(plan_file))[0] == 0
    (tmp_path / "build" / "a.txt").write_text("changed")
    code, _, err = run("-f", str(manifest), "apply", str(plan_file))
    assert code == 1
    assert "stale" in err
    assert not (tmp_path / "fetched").exists()


def test_a_refused_mapping_skips_the_mapping_that_reads_its_target(
    s3_server, bucket, tmp_path, env
):
    s3_server.client().put_object(Bucket=bucket, Key="raw/sub/x.txt", Body=b"x")
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "sub").write_text("a file where a folder must be")
    manifest = write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: pull\n    s3: s3://{bucket}/raw/\n    local: stage\n    direction: download\n"
        f"  - name: push\n    s3: s3://{bucket}/cooked/\n    local: stage\n    direction: upload\n",
    )
    code, _, err = run("-f", str(manifest), "apply")
    assert code == 1
    assert "push: skipped: mapping 'pull' writes its source and was not applied" in err
    assert (
        s3_server.client().list_objects_v2(Bucket=bucket, Prefix="cooked/").get("Contents") is None
    )


# --------------------------------------------------------------------------- output size


def _many(s3_server, bucket, tmp_path) -> Path:
    client = s3_server.client()
    for i in range(30):
        client.put_object(Bucket=bucket, Key=f"d/f{i:02d}.txt", Body=b"x" * i)
    return write_manifest(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - name: data\n    s3: s3://{bucket}/d/\n    local: out\n    direction: download\n",
    )


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_summary_prints_counts_per_mapping_and_no_file_lines(
    s3_server, bucket, tmp_path, env, command
):
    manifest = _many(s3_server, bucket, tmp_path)
    code, out, err = run("-f", str(manifest), command, "--summary")
    assert code == 0, out + err
    assert "f00.txt" not in out and "f29.txt" not in out
    assert "# data: " in out and ": 30 to add, 0 to change, 0 to delete, 0 unchanged" in out
    assert "Plan: 30 to add" in out
    if command == "apply":
        assert len(tree(tmp_path / "out")) == 30
        assert "Apply complete: 30 transferred" in out


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_quiet_prints_only_the_summary(s3_server, bucket, tmp_path, env, command):
    manifest = _many(s3_server, bucket, tmp_path)
    code, out, err = run("-f", str(manifest), command, "--quiet")
    assert code == 0, out + err
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("Plan: 30 to add")
    assert len(lines) == (2 if command == "apply" else 1), out
    assert "f00.txt" not in out and "# data" not in out


def test_quiet_still_shows_errors(s3_server, bucket, tmp_path, env):
    manifest = _many(s3_server, bucket, tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f03.txt").mkdir()
    code, out, err = run("-f", str(manifest), "plan", "--quiet")
    assert code == 1
    assert "local folder 'f03.txt' stands where a file should be downloaded" in out
    assert "local folder 'f03.txt'" in err


# --------------------------------------------------------------------------- s3lync sync


def test_sync_downloads_only_what_differs_with_excludes(s3_server, bucket, tmp_path, env):
    client = s3_server.client()
    for name, body in {"a.txt": b"alpha", "sub/b.txt": b"bravo", "c.tmp": b"scratch"}.items():
        client.put_object(Bucket=bucket, Key=f"data/{name}", Body=body)
    dest = tmp_path / "dest"
    ep = ("--endpoint-url", s3_server.endpoint_url)

    code, out, err = run(*ep, "sync", f"s3://{bucket}/data/", str(dest), "--dry-run")
    assert code == 0, out + err
    assert "+ c.tmp" in out and "Dry run: nothing was changed." in out
    assert not dest.exists()

    code, out, err = run(
        *ep, "sync", f"s3://{bucket}/data/", str(dest), "--exclude", r"\.tmp$", "--json"
    )
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["summary"]["transferred"] == 2 and doc["summary"]["failed"] == 0
    assert tree(dest) == {"a.txt": b"alpha", "sub/b.txt": b"bravo"}

    code, out, _ = run(*ep, "sync", f"s3://{bucket}/data/", str(dest), "--exclude", r"\.tmp$")
    assert code == 0 and "No changes." in out


def test_sync_upload_delete_follows_the_manifest_safety_rules(s3_server, bucket, tmp_path, env):
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="site/old.html", Body=b"old")
    src = tmp_path / "site"
    src.mkdir()
    (src / "index.html").write_text("<h1>hi</h1>")
    ep = ("--endpoint-url", s3_server.endpoint_url)

    # Deleting needs --yes without a terminal; nothing changes when refused.
    code, _, err = run(*ep, "sync", str(src), f"s3://{bucket}/site/", "--delete")
    assert code == 1 and "--yes" in err
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "site/old.html"
    ]

    code, out, err = run(*ep, "sync", str(src), f"s3://{bucket}/site/", "--delete", "--yes")
    assert code == 0, out + err
    assert sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]) == [
        "site/index.html"
    ]


def test_sync_refuses_bad_arguments_with_one_line(s3_server, bucket, tmp_path, env):
    ep = ("--endpoint-url", s3_server.endpoint_url)
    code, _, err = run(*ep, "sync", str(tmp_path), str(tmp_path / "b"))
    assert code == 1 and "exactly one side must be an s3:// URI" in err
    code, _, err = run(*ep, "sync", f"s3://{bucket}/a/", str(tmp_path), "--exclude", "*.tmp")
    # A bad flag value is a usage error (exit 2), found before anything is listed.
    assert code == 2 and "--exclude" in err and "'*.tmp'" in err, err
    code, _, err = run(*ep, "sync", f"s3://{bucket}/nothing/", str(tmp_path / "x"))
    assert code == 1 and "the source is missing" in err
    assert not (tmp_path / "x").exists()
    assert "Traceback" not in err
    code, _, err = run(
        *ep, "sync", f"s3://{bucket}/nothing/", str(tmp_path / "x"), "--allow-missing"
    )
    assert code == 0, err


# --------------------------------------------------------------------------- the examples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _header_command(manifest: Path) -> list[str]:
    """The `s3lync ...` command a manifest's header comment tells the reader to run."""
    for line in manifest.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("#").strip()
        if text.startswith("s3lync "):
            return text.split()[1:]
    raise AssertionError(f"{manifest.name} has no s3lync command in its header")


def test_mirror_example_header_command_works_on_its_first_run(
    s3_server, bucket, tmp_path, env, monkeypatch
):
    client = s3_server.client()
    for i in range(20):
        client.put_object(Bucket=bucket, Key=f"models/m{i:02d}.bin", Body=b"w" * i)
    client.put_object(Bucket=bucket, Key="models/scratch/tmp.bin", Body=b"scratch")
    client.put_object(Bucket=bucket, Key="models/half.partial", Body=b"half")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "mirror.yaml").write_text((EXAMPLES / "mirror.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("S3LYNC_BUCKET", bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    command = _header_command(EXAMPLES / "mirror.yaml")

    code, out, err = run(*command)
    assert code == 0, out + err
    mirror = tmp_path / "examples" / "mirror" / "models"
    assert sorted(tree(mirror)) == [f"m{i:02d}.bin" for i in range(20)]

    client.delete_object(Bucket=bucket, Key="models/m07.bin")  # 1 of 20: within --max-delete 10%
    code, out, err = run(*command)
    assert code == 0, out + err
    assert "m07.bin" not in tree(mirror) and len(tree(mirror)) == 19


def test_example_outputs_are_ignored_by_git():
    ignored = (EXAMPLES.parent / ".gitignore").read_text().split()
    for folder in ("examples/data/", "examples/mirror/", ".venv/"):
        assert folder in ignored, folder
