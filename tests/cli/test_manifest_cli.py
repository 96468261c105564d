"""The CLI around the manifest: `init -f` into a new folder, one JSON document on failure, validate's
warnings, "did you mean" for mapping names, and warnings about bad variables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s3lync.cli.main import cli
from s3lync.manifest.loader import load_manifest

pytestmark = pytest.mark.integration


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, endpoint: str, mappings: str) -> Path:
    path.write_text(f"version: 1\ndefaults:\n  endpoint_url: {endpoint}\nmappings:\n{mappings}")
    return path


# --------------------------------------------------------------------------- init -f


def test_init_into_a_missing_folder_creates_it_and_keeps_the_f_in_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("-f", "ci/s3lync.yaml", "init")
    assert code == 0, err
    assert out == (
        "Wrote ci/s3lync.yaml (created the folder ci). Edit it, then run "
        "`s3lync -f ci/s3lync.yaml validate` and `s3lync -f ci/s3lync.yaml plan`.\n"
    )
    assert load_manifest(tmp_path / "ci" / "s3lync.yaml").mappings
    # The hint's own command works as printed.
    code, out, _ = run("-f", "ci/s3lync.yaml", "validate")
    assert code == 0 and out == "ci/s3lync.yaml: valid (1 mapping)\n"


def test_init_without_f_gives_the_short_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init")
    assert code == 0
    assert out == "Wrote s3lync.yaml. Edit it, then run `s3lync validate` and `s3lync plan`.\n"


def test_init_path_with_spaces_is_quoted_in_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("-f", "my ci/s3lync.yaml", "init")
    assert code == 0
    assert "`s3lync -f 'my ci/s3lync.yaml' validate`" in out


def test_init_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ci").write_text("not a folder")
    code, out, err = run("-f", str(tmp_path / "ci" / "s3lync.yaml"), "init")
    assert code == 1 and out == ""
    assert err.startswith(f"error: cannot write {tmp_path / 'ci' / 's3lync.yaml'}: ")
    assert "Traceback" not in err
    assert (tmp_path / "ci").read_text() == "not a folder"


# --------------------------------------------------------------------------- --json on failure


def _error_doc(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)  # exactly one document: json.loads refuses trailing data
    assert doc["schema_version"] == 1 and doc["kind"] == "error"
    assert set(doc) == {"schema_version", "kind", "error"}
    return doc["error"]


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_json_failure_prints_one_error_document(tmp_path: Path, command: str) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text("version: 1\nmappings:\n  - s3: s3://bucket/p/\n    direction: sideways\n")
    code, out, err = run("-f", str(manifest), command, "--json")
    assert code == 1
    error = _error_doc(out)
    assert error["class"] == "ManifestError"
    assert error["errors"] == [
        f"{manifest}:3:5: mappings[0]: missing required key 'local'",
        f"{manifest}:4:16: mappings[0].direction: must be one of: download, upload "
        "(not 'sideways')",
    ]
    assert error["message"].startswith(f"2 error(s) in {manifest}:\n")
    assert err.startswith("error: ")  # people still read stderr


def test_json_failure_of_an_unreachable_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    manifest = write(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:1",
        "  - {s3: 's3://bucket/p/', local: data, direction: download}\n",
    )
    code, out, _ = run("-f", str(manifest), "plan", "--json")
    assert code == 1
    error = _error_doc(out)
    assert error["class"] == "SyncError" and "127.0.0.1:1" in error["message"]
    assert "errors" not in error


def test_json_failure_of_a_refused_apply(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="p/remote.txt", Body=b"r")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "only-local.txt").write_text("x")
    manifest = write(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - {{s3: 's3://{bucket}/p/', local: data, direction: download, delete: true}}\n",
    )
    code, out, _ = run("-f", str(manifest), "apply", "--json")
    assert code == 1
    error = _error_doc(out)
    assert error["class"] == "ApplyRefusedError" and "--yes" in error["message"]
    assert (tmp_path / "data" / "only-local.txt").exists()


def test_without_json_a_failure_prints_nothing_on_stdout(tmp_path: Path) -> None:
    code, out, err = run("-f", str(tmp_path / "missing.yaml"), "plan")
    assert code == 1 and out == "" and "no such file" in err


# --------------------------------------------------------------------------- names, warnings


def test_unknown_mapping_name_on_plan_and_apply_suggests_one(tmp_path: Path) -> None:
    manifest = write(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:1",
        "  - {name: datasets, s3: 's3://bucket/p/', local: data, direction: download}\n",
    )
    for command in ("plan", "apply"):
        code, out, err = run("-f", str(manifest), command, "datsets")
        assert code == 1 and out == ""
        assert err == (
            f"error: {manifest}: unknown mapping 'datsets' (did you mean 'datasets'? "
            "known: datasets)\n"
        )


def test_validate_warns_when_a_mapping_reads_what_another_writes(tmp_path: Path) -> None:
    manifest = write(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:1",
        "  - {name: up, s3: 's3://bucket/p/', local: src, direction: upload}\n"
        "  - {name: down, s3: 's3://bucket/p/', local: out, direction: download}\n",
    )
    code, out, err = run("-f", str(manifest), "validate")
    assert code == 0
    assert out == f"{manifest}: valid (2 mappings)\n"
    assert err == (
        f"warning: {manifest}:6:22: mappings[1].s3: reads what mappings[0] ('up') writes "
        "(s3://bucket/p/)\n"
    )


def test_bad_log_level_is_warned_about_like_other_bad_variables(tmp_path: Path) -> None:
    manifest = write(
        tmp_path / "s3lync.yaml",
        "http://127.0.0.1:1",
        "  - {s3: 's3://bucket/p/', local: data, direction: download}\n",
    )
    env = {**os.environ, "S3LYNC_LOG_LEVEL": "LOUD", "S3LYNC_MULTIPART_THRESHOLD": "64MB"}
    proc = subprocess.run(
        [sys.executable, "-m", "s3lync", "-f", str(manifest), "validate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "ignoring S3LYNC_LOG_LEVEL='LOUD': not one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )


def test_exclude_glob_keeps_files_out_of_an_upload(
    s3_server: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    files = {
        "a.txt": b"a",
        "b.tmp": b"b",
        "sub/c.tmp": b"c",
        "build/x.o": b"x",
        "src/build/y": b"y",
    }
    for rel, data in files.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
    manifest = write(
        tmp_path / "s3lync.yaml",
        s3_server.endpoint_url,
        f"  - s3: s3://{bucket}/u/\n    local: src\n    direction: upload\n"
        "    exclude_glob: ['*.tmp', 'build/*']\n",
    )
    code, _, err = run("-f", str(manifest), "apply", "--yes")
    assert code == 0, err
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="u/").get("Contents", [])
    assert sorted(o["Key"] for o in listed) == ["u/a.txt", "u/src/build/y"]
