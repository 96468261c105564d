"""A manifest parsed cleanly once is read from the parse cache: no PyYAML, same data, same
positions in every later error message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3lync import manifest as m
from s3lync.errors import ManifestError

GOOD = "version: 1\nmappings:\n  - s3: s3://bucket-a/p/\n    local: data\n    direction: download\n"

PROBE = """
import sys
from s3lync.manifest import load_manifest
man = load_manifest(sys.argv[1])
print("yaml" in sys.modules, [m.s3_uri for m in man.mappings])
"""


def _load_in_fresh_interpreter(path: Path, cache: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["XDG_CACHE_HOME"] = str(cache)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_second_load_does_not_import_yaml(tmp_path: Path) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(GOOD)
    first = _load_in_fresh_interpreter(manifest, tmp_path / "cache")
    second = _load_in_fresh_interpreter(manifest, tmp_path / "cache")
    assert first == "True ['s3://bucket-a/p/']"
    assert second == "False ['s3://bucket-a/p/']"
    # Any edit is a different text: parsed again.
    manifest.write_text(GOOD.replace("bucket-a", "bucket-b"))
    assert _load_in_fresh_interpreter(manifest, tmp_path / "cache").startswith("True")


def test_errors_from_a_cached_parse_keep_their_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("S3LYNC_TEST_MISSING", raising=False)
    text = GOOD.replace("local: data", "local: ${S3LYNC_TEST_MISSING}") + "    delete: maybe\n"
    (tmp_path / "s3lync.yaml").write_text(text)
    messages = []
    for _ in range(2):
        with pytest.raises(ManifestError) as info:
            m.load_manifest(tmp_path / "s3lync.yaml")
        messages.append(info.value.errors)
    assert len(m._parsed_entries()) == 1  # the YAML itself parsed cleanly: cached
    assert messages[0] == messages[1]
    assert any(e.startswith(f"{tmp_path / 's3lync.yaml'}:4:12: ") for e in messages[0])
    assert any(":6:13: mappings[0].delete" in e for e in messages[0])


def test_yaml_problems_are_not_cached_and_damage_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "s3lync.yaml").write_text(GOOD + "    exclude: !!binary aGVsbG8=\n")
    with pytest.raises(ManifestError):
        m.load_manifest(tmp_path / "s3lync.yaml")
    assert m._parsed_entries() == []

    (tmp_path / "s3lync.yaml").write_text(GOOD)
    m.load_manifest(tmp_path / "s3lync.yaml")
    cache = m._parsed_cache_path()
    cache.write_text('[["x", 1, 2], "junk", [')
    assert m.load_manifest(tmp_path / "s3lync.yaml").mappings[0].s3_uri == "s3://bucket-a/p/"
    entries = m._parsed_entries()
    assert len(entries) == 1 and isinstance(entries[0][1], dict)
