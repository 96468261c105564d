"""conforms() against jsonschema: "certainly valid" must never be said of a document jsonschema
refuses, and must be said of the valid manifests users write (else the fast path is never taken).

Thousands of documents: valid ones built from every key the schema knows, and each of them broken
at random places in the ways a hand-written manifest goes wrong (a wrong type, 1.0 for 1, a bool
for a number, an unknown or missing key, an empty or misspelt value, a pattern not met).
"""

from __future__ import annotations

import copy
import random
from typing import Any

import jsonschema
import pytest

from s3lync.errors import ManifestError
from s3lync.manifest.checks import strict_schema
from s3lync.manifest.conforms import conforms
from s3lync.manifest.loader import validate_document

MAPPING_KEYS: dict[str, Any] = {
    "s3": "s3://bucket/prefix/",
    "local": "data/x",
    "direction": "download",
    "exclude": [r".*\.tmp$", "^cache/"],
    "exclude_glob": ["*.log"],
    "include": r"keep/.*",
    "include_glob": "keep/**",
    "force_sync": False,
    "delete": True,
    "check_hash": "strict",
    "legacy_bucket_name": False,
    "follow_symlinks": True,
    "max_delete": 10,
    "extra_args": {"ServerSideEncryption": "AES256", "StorageClass": "STANDARD_IA"},
    "allow_missing": True,
    "region": "eu-west-1",
    "endpoint_url": "http://127.0.0.1:9000",
    "profile": "dev",
}
DEFAULT_KEYS: dict[str, Any] = {
    "region": "us-east-1",
    "endpoint_url": "https://s3.example.com",
    "profile": "ci",
    "connect_timeout": 5,
    "read_timeout": 30.5,
    "max_delete": 0,
    "extra_args": {"ACL": "private"},
    "check_hash": True,
    "exclude": "^tmp/",
    "exclude_glob": "*.bak",
    "include": ["a/.*"],
    "include_glob": ["a/**"],
}
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.0,
    1.5,
    -0.5,
    "",
    "x",
    "UPPER",
    "s3://",
    "s3://b",
    "upload",
    "mirror",
    "relaxed",
    "a" * 300,
    [],
    ["x"],
    [1],
    {},
    {"k": "v"},
    {"ServerSideEncryption": "aws:kms"},
]


def _valid(rng: random.Random) -> dict[str, Any]:
    """A manifest using a random selection of the keys the schema knows."""
    mappings = []
    for n in range(rng.randint(1, 3)):
        m = {"name": f"m{n}", "s3": f"s3://bucket-{n}/p/", "local": f"d{n}"}
        m["direction"] = rng.choice(["download", "upload"])
        for key in rng.sample(sorted(MAPPING_KEYS), rng.randint(0, len(MAPPING_KEYS))):
            if key not in ("s3", "local", "direction"):
                m[key] = copy.deepcopy(MAPPING_KEYS[key])
        mappings.append(m)
    doc: dict[str, Any] = {"version": 1, "mappings": mappings}
    if rng.random() < 0.6:
        picked = rng.sample(sorted(DEFAULT_KEYS), rng.randint(1, len(DEFAULT_KEYS)))
        doc["defaults"] = {k: copy.deepcopy(DEFAULT_KEYS[k]) for k in picked}
    return doc


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*at, i))
    return out


def _broken(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The document with one to three things changed at random paths."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(_paths(doc)[1:])
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        how = rng.random()
        if how < 0.6:
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif how < 0.75 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(["unknown", "Region", "delete_", "s3 ", "exclude_globs"])] = "x"
        else:
            parent.append(copy.deepcopy(rng.choice(ODD_VALUES)))
    return doc


@pytest.fixture(scope="module")
def judge() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(strict_schema())


def test_certainly_valid_is_never_said_of_a_document_jsonschema_refuses(
    judge: jsonschema.Draft202012Validator,
) -> None:
    rng = random.Random(20261206)
    schema = strict_schema()
    said_valid = refused = 0
    for _ in range(4000):
        doc = _broken(_valid(rng), rng)
        errors = list(judge.iter_errors(doc))
        if conforms(doc, schema):
            said_valid += 1
            assert not errors, (doc, [e.message for e in errors])
        refused += bool(errors)
    # Neither side vacuous: many broken documents are refused, and some changes keep them valid.
    assert refused > 2000 and said_valid > 200, (refused, said_valid)


def test_every_single_change_of_a_full_manifest_is_judged_as_jsonschema_does(
    judge: jsonschema.Draft202012Validator,
) -> None:
    # Each value of a manifest using every key, replaced by each odd value in turn; each key
    # removed; an unknown key added to each mapping: one change per document.
    full: dict[str, Any] = {
        "version": 1,
        "defaults": copy.deepcopy(DEFAULT_KEYS),
        "mappings": [{"name": "all", **copy.deepcopy(MAPPING_KEYS)}],
    }
    schema = strict_schema()
    docs = []
    for path in _paths(full)[1:]:
        for value in [*ODD_VALUES, "DELETE"]:
            doc = copy.deepcopy(full)
            parent: Any = doc
            for step in path[:-1]:
                parent = parent[step]
            if value == "DELETE":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)
            docs.append(doc)
    for where in (("defaults",), ("mappings", 0), ()):
        doc = copy.deepcopy(full)
        parent = doc
        for step in where:
            parent = parent[step]
        parent["unknown_key"] = "x"
        docs.append(doc)
    agreed = 0
    for doc in docs:
        errors = list(judge.iter_errors(doc))
        if conforms(doc, schema):
            assert not errors, (doc, [e.message for e in errors])
        agreed += conforms(doc, schema) == (not errors)
    # Doubt is allowed only where it is rare: almost every answer is jsonschema's own.
    assert agreed >= 0.95 * len(docs), (agreed, len(docs))


def test_the_valid_manifests_users_write_take_the_fast_path(
    judge: jsonschema.Draft202012Validator,
) -> None:
    rng = random.Random(7)
    schema = strict_schema()
    for _ in range(500):
        doc = _valid(rng)
        assert not list(judge.iter_errors(doc)), doc
        assert conforms(doc, schema), doc


def test_a_valid_manifest_is_loaded_without_jsonschema(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from s3lync.manifest import loader

    # The state folder is empty (a fresh CI machine): no earlier pass is remembered.
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "HOME": str(tmp_path)}
    text = "version: 1\nmappings:\n  - s3: s3://bkt/p/\n    local: d\n    direction: download\n"
    real = loader.schema_problems
    asked: list[object] = []

    def judged(*args: Any) -> Any:
        asked.append(args[0])
        return real(*args)

    monkeypatch.setattr(loader, "schema_problems", judged)
    manifest = validate_document(text, "s3lync.yaml", tmp_path, env)
    assert manifest.mappings[0].s3_uri == "s3://bkt/p/" and asked == []
    # A broken one gets jsonschema's worded error.
    with pytest.raises(ManifestError, match=r"mappings\[0\]\.direction: must be one of"):
        validate_document(text.replace("download", "sideways"), "s3lync.yaml", tmp_path, env)
    assert len(asked) == 1


@pytest.mark.parametrize(
    "schema",
    [
        # A JSON-pointer escape and percent-encoding name another definition than the text says.
        {"$defs": {"a/b": {"type": "string"}, "a~1b": {"type": "integer"}}, "$ref": "#/$defs/a~1b"},
        {
            "$defs": {"a b": {"type": "string"}, "a%20b": {"type": "integer"}},
            "$ref": "#/$defs/a%20b",
        },
        # A nested $id moves what "#" means.
        {
            "$defs": {"x": {"type": "integer"}},
            "properties": {
                "p": {"$id": "http://e/n", "$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x"}
            },
        },
    ],
)
def test_references_it_cannot_resolve_as_jsonschema_does_are_left_to_jsonschema(
    schema: dict[str, Any],
) -> None:
    doc: Any = 5 if "$ref" in schema else {"p": 5}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert not conforms(doc, schema)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_timeout_that_is_not_a_finite_number_is_refused(tmp_path: Any, value: str) -> None:
    # The schema lets NaN by (NaN <= 0 is false); libcurl would get int(nan * 1000).
    text = (
        f"version: 1\ndefaults:\n  read_timeout: {value}\n"
        "mappings:\n  - s3: s3://bkt/p/\n    local: d\n    direction: download\n"
    )
    with pytest.raises(ManifestError, match=r"defaults\.read_timeout: (must be|-inf is less)"):
        validate_document(text, "s3lync.yaml", tmp_path, {"HOME": str(tmp_path)})
