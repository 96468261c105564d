"""The shipped JSON Schema: valid draft 2020-12, identical copies, described, and the examples pass."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from s3lync.manifest.loader import load_manifest, load_schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "s3lync" / "manifest" / "schemas" / "s3lync.schema.json"
PUBLISHED = ROOT / "schemas" / "s3lync.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(PACKAGED.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/s3lync.schema.json")
    Draft202012Validator.check_schema(schema)


def test_both_copies_are_identical() -> None:
    assert PACKAGED.read_bytes() == PUBLISHED.read_bytes()


def test_package_loads_the_shipped_schema() -> None:
    assert load_schema() == json.loads(PACKAGED.read_text(encoding="utf-8"))


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, subschema) declared under a ``properties`` keyword, at any depth."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}", sub
        for key, sub in node.items():
            if key != "properties":
                yield from _properties(sub, f"{path}/{key}")
            else:
                for name, prop in sub.items():
                    yield from _properties(prop, f"{path}.{name}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{path}[{i}]")


def test_every_property_has_a_description() -> None:
    schema = load_schema()
    assert schema.get("title") and schema.get("description")
    props = list(_properties(schema))
    assert len(props) > 15
    undocumented = [path for path, sub in props if not sub.get("description")]
    assert undocumented == []


def test_every_object_refuses_unknown_keys() -> None:
    def objects(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for sub in node.values():
                yield from objects(sub)
        elif isinstance(node, list):
            for sub in node:
                yield from objects(sub)

    found = list(objects(load_schema()))
    # the document, defaults, a mapping, the two extra_args objects and their two Metadata
    # maps (names of the user's choosing, each a string)
    assert len(found) == 7
    maps = [o for o in found if o.get("additionalProperties") == {"type": "string"}]
    assert len(maps) == 2 and all("md5chksum" in o["description"] for o in maps)
    assert all(o.get("additionalProperties") is False for o in found if o not in maps)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_validate(example: Path) -> None:
    manifest = load_manifest(example, environ={})
    assert manifest.mappings
