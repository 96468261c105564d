"""A schema-valid document is remembered, so the next load of it skips jsonschema."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3lync import manifest as m
from s3lync.errors import ManifestError

GOOD = "version: 1\nmappings:\n  - s3: s3://bucket-a/p/\n    local: data\n    direction: download\n"


def test_valid_document_is_remembered_and_not_revalidated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "s3lync.yaml").write_text(GOOD)
    first = m.load_manifest(tmp_path / "s3lync.yaml")
    assert len(m._known_valid()) == 1

    def boom() -> None:
        raise AssertionError("jsonschema ran for a document already known to be valid")

    monkeypatch.setattr(m, "_validator", boom)
    again = m.load_manifest(tmp_path / "s3lync.yaml")
    assert again.mappings == first.mappings


def test_semantic_checks_still_run_and_invalid_documents_are_not_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bad_schema = GOOD.replace("direction: download", "direction: sideways")
    (tmp_path / "s3lync.yaml").write_text(bad_schema)
    with pytest.raises(ManifestError):
        m.load_manifest(tmp_path / "s3lync.yaml")
    assert m._known_valid() == []

    # Schema-valid but semantically wrong: the regex check must still catch it on every load.
    bad_regex = GOOD + "    exclude: '(('\n"
    (tmp_path / "s3lync.yaml").write_text(bad_regex)
    for _ in range(2):
        with pytest.raises(ManifestError, match="regular expression"):
            m.load_manifest(tmp_path / "s3lync.yaml")
