"""A manifest that passed the JSON Schema is not checked against it again (nor is jsonschema
imported), while a changed document, or one that failed, is checked again.

The documents here are ones manifest/conforms.py cannot vouch for (a float where the schema wants
an integer, which JSON Schema accepts as 10.0 == 10), so they go to jsonschema; a manifest it can
vouch for never does (tests/unit/test_manifest_conforms.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3lync.errors import ManifestError
from s3lync.manifest import loader
from s3lync.manifest.loader import load_manifest

VALID = """version: 1
mappings:
  - name: data
    s3: s3://bucket/data/
    local: ./data
    direction: download
    max_delete: 10.0
"""
CONFORMING = VALID.replace("    max_delete: 10.0\n", "")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = loader.schema_problems

    def counted(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "schema_problems", counted)
    return calls


def test_an_unchanged_valid_manifest_is_checked_against_the_schema_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    first = load_manifest(path)
    second = load_manifest(path)
    assert len(calls) == 1
    assert first.mappings == second.mappings
    # The same document in another file (same content once filled) is the same document.
    other = tmp_path / "other" / "s3lync.yaml"
    other.parent.mkdir()
    other.write_text(VALID)
    load_manifest(other)
    assert len(calls) == 1


def test_a_changed_manifest_is_checked_again_and_its_errors_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    load_manifest(path)
    path.write_text(VALID.replace("direction: download", "direction: sideways"))
    for _ in range(2):
        with pytest.raises(ManifestError, match="direction"):
            load_manifest(path)
    assert len(calls) == 3
    # ${VAR} is filled first: another value of the variable is another document.
    path.write_text(VALID.replace("direction: download", "direction: ${DIR}"))
    load_manifest(path, environ={"DIR": "upload"})
    with pytest.raises(ManifestError, match="direction"):
        load_manifest(path, environ={"DIR": "up"})


def test_a_second_load_imports_no_jsonschema(tmp_path: Path) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    script = (
        "import sys\n"
        "from s3lync.manifest.loader import load_manifest\n"
        f"load_manifest({str(path)!r})\n"
        "print('jsonschema' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["True", "False"]
    path.write_text(CONFORMING)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache2")
    fresh = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == "False"  # not even once
