"""schemacheck.is_valid: sound against jsonschema (never True for an invalid document) and
decisive for valid manifests, so `plan`/`apply` on a fresh CI runner never import jsonschema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3lync.manifest import STARTER_MANIFEST, load_schema
from s3lync.schemacheck import is_valid

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

GOOD: dict[str, Any] = {
    "version": 1,
    "defaults": {"region": "eu-west-1", "check_hash": True, "exclude": ["\\.tmp$"]},
    "mappings": [
        {"name": "data-1", "s3": "s3://b/p/", "local": "d", "direction": "download"},
        {
            "s3": "s3://b/q/",
            "local": "q",
            "direction": "upload",
            "exclude": "x",
            "delete": False,
            "endpoint_url": "http://127.0.0.1:9000",
        },
    ],
}


@pytest.mark.parametrize(
    "doc",
    [
        GOOD,
        yaml.safe_load(STARTER_MANIFEST),
        *[yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))],
    ],
)
def test_valid_manifests_are_decided_without_jsonschema(doc: Any) -> None:
    if not VALIDATOR.is_valid(doc):
        pytest.skip("an example with ${VAR} placeholders that only validate once filled")
    assert is_valid(SCHEMA, doc)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(version=True),  # true is not 1 in JSON Schema
        lambda d: d.update(version=2),
        lambda d: d.pop("mappings"),
        lambda d: d.update(mappings=[]),
        lambda d: d.update(extra=1),
        lambda d: d["mappings"][0].update(direction="sideways"),
        lambda d: d["mappings"][0].update(s3="b/p/"),
        lambda d: d["mappings"][0].update(local=""),
        lambda d: d["mappings"][0].update(name="-x"),
        lambda d: d["mappings"][0].update(delete="yes"),
        lambda d: d["mappings"][0].update(exclude=[1]),
        lambda d: d["mappings"][0].pop("local"),
        lambda d: d["defaults"].update(endpoint_url="ftp://x"),
        lambda d: d["defaults"].update(unknown=1),
    ],
)
def test_each_kind_of_invalid_document_is_not_called_valid(change: Any) -> None:
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    assert not VALIDATOR.is_valid(doc)
    assert not is_valid(SCHEMA, doc)


_KEYS = st.sampled_from(
    ["version", "mappings", "defaults", "s3", "local", "direction", "name", "exclude", "delete",
     "check_hash", "region", "endpoint_url", "profile", "force_sync", "follow_symlinks", "other"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "s3://b/p/", "download", "upload", "d", "-x", "http://h", "ftp://h"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=4), st.lists(st.dictionaries(_KEYS, _VALUES)))
def test_never_valid_where_jsonschema_disagrees(top: dict[str, Any], mappings: list[Any]) -> None:
    doc = {"version": 1, "mappings": mappings, **top}
    if is_valid(SCHEMA, doc):
        assert VALIDATOR.is_valid(doc), doc


def test_apply_path_does_not_import_jsonschema(tmp_path: Path) -> None:
    (tmp_path / "s3lync.yaml").write_text(STARTER_MANIFEST)
    probe = (
        "import sys; from s3lync.manifest import load_manifest; "
        f"load_manifest({str(tmp_path / 's3lync.yaml')!r}); print('jsonschema' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")  # a fresh runner: no cache at all
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
