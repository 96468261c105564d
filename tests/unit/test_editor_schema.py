"""The shipped schema as an editor uses it: plain jsonschema on the file as written, ${VAR} and all.

An editor (the YAML language server) validates the manifest before any ``${VAR}`` is filled, with
nothing but the schema. So every manifest we ship or print must pass it as written, a reference
must pass wherever s3lync fills one, and a wrong literal value must still fail.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from s3lync.cli.main import cli
from s3lync.manifest import loader
from s3lync.manifest.checks import strict_schema
from s3lync.manifest.loader import schema_path, schema_reference, validate_document

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = json.loads(schema_path().read_text(encoding="utf-8"))
EDITOR = jsonschema.Draft202012Validator(SHIPPED)
MINIMAL: dict[str, Any] = {
    "version": 1,
    "mappings": [{"s3": "s3://my-bucket/p/", "local": "p", "direction": "download"}],
}


def _editor_errors(data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in EDITOR.iter_errors(data)]


def _readme_manifests() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [b for b in blocks if re.search(r"^version: 1$", b, re.M) and "mappings:" in b]


def _resolve(reference: str, manifest: Path) -> Path:
    """Where an editor finds ``$schema=reference`` written in ``manifest`` (offline)."""
    if reference.startswith("file://"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(reference).path))
    assert "://" not in reference, f"{reference} needs the network"
    return (manifest.parent / reference).resolve()


def _modeline(text: str) -> str:
    match = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert match, text[:200]
    return match.group(1)


# --------------------------------------------------------------------------- what we ship and print


def test_init_output_passes_the_editor_and_names_a_schema_it_can_open(tmp_path: Path) -> None:
    proc = CliRunner().invoke(cli, ["-f", str(tmp_path / "s3lync.yaml"), "init"])
    assert proc.exit_code == 0, proc.stderr
    text = (tmp_path / "s3lync.yaml").read_text(encoding="utf-8")
    assert _editor_errors(yaml.safe_load(text)) == []
    opened = _resolve(_modeline(text), tmp_path / "s3lync.yaml")
    assert json.loads(opened.read_text(encoding="utf-8")) == SHIPPED


def test_a_manifest_inside_the_project_names_the_schema_relatively() -> None:
    # The package is installed from this checkout (editable) or into a venv: either way the
    # reference opens the shipped file, relative when the file is inside the project.
    manifest = ROOT / "ci" / "s3lync.yaml"
    reference = schema_reference(manifest)
    inside = schema_path().resolve().is_relative_to(ROOT)
    assert reference.startswith("file://") is not inside
    assert _resolve(reference, manifest) == schema_path().resolve()


@pytest.mark.parametrize("index", range(len(_readme_manifests())))
def test_readme_manifests_pass_the_editor(index: int) -> None:
    block = _readme_manifests()[index]
    assert _editor_errors(yaml.safe_load(block)) == []


EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_pass_the_editor(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert _editor_errors(yaml.safe_load(text)) == []
    assert _resolve(_modeline(text), example) == (ROOT / "schemas" / "s3lync.schema.json")


def test_there_are_manifests_to_check() -> None:
    assert len(_readme_manifests()) >= 2 and len(EXAMPLES) >= 3


def test_s3lync_schema_prints_the_schema_and_its_path() -> None:
    printed = CliRunner().invoke(cli, ["schema"], catch_exceptions=False)
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(printed.stdout) == SHIPPED
    path = CliRunner().invoke(cli, ["schema", "--path"], catch_exceptions=False)
    assert path.exit_code == 0, path.stderr
    assert json.loads(Path(path.stdout.strip()).read_text(encoding="utf-8")) == SHIPPED


# --------------------------------------------------------------------------- ${VAR} in the editor


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    node: Any = data
    if path[0] == "mapping":
        node, path = data["mappings"][0], path[1:]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return data


# (where, value as written, an environment s3lync fills it from)
INTERPOLATED_OK = [
    (("defaults", "region"), "${AWS_REGION:-us-east-1}", {}),
    (("defaults", "endpoint_url"), "${S3_ENDPOINT:-http://127.0.0.1:9000}", {}),
    (("defaults", "check_hash"), "${CHECK:-true}", {}),
    (("mapping", "check_hash"), "${CHECK:-strict}", {}),
    (("mapping", "check_hash"), "${CHECK}", {"CHECK": "false"}),
    (("mapping", "force_sync"), "${FORCE:-False}", {}),
    (("mapping", "delete"), "${MIRROR:-yes}", {}),
    (("mapping", "allow_missing"), "${ALLOW:-off}", {}),
    (("mapping", "direction"), "${DIRECTION:-upload}", {}),
    (("mapping", "s3"), "${DATASET_URI}", {"DATASET_URI": "s3://my-bucket/d/"}),
    (("mapping", "s3"), "s3://${BUCKET}/p/", {"BUCKET": "my-bucket"}),
    (("mapping", "name"), "${JOB_NAME:-datasets}", {}),
    (("mapping", "region"), "${REGION:-}", {}),
    (("defaults", "max_delete"), "${MAX_DELETE:-10%}", {}),
    (("mapping", "extra_args", "ServerSideEncryption"), "${SSE:-aws:kms}", {}),
]
LITERAL_WRONG = [
    (("defaults", "region"), "us east"),
    (("defaults", "region"), "$${AWS_REGION}"),  # a literal ${AWS_REGION}, never filled
    (("defaults", "endpoint_url"), "ftp://127.0.0.1"),
    (("defaults", "check_hash"), "maybe"),
    (("mapping", "check_hash"), "${CHECK:-maybe}"),
    (("mapping", "force_sync"), "sometimes"),
    (("mapping", "force_sync"), "${FORCE:-sometimes}"),
    (("mapping", "force_sync"), "prefix ${FORCE}"),
    (("mapping", "direction"), "sideways"),
    (("mapping", "direction"), "${DIRECTION:-sideways}"),
    (("mapping", "s3"), "http://bucket/p/"),
    (("mapping", "name"), "bad name"),
    (("defaults", "max_delete"), "lots"),
    (("mapping", "extra_args", "ServerSideEncryption"), "rot13"),
    (("defaults", "connect_timeout"), "${TIMEOUT:-5}"),  # numbers are not filled
    (("version",), "${VERSION:-1}"),
]


@pytest.mark.parametrize(("path", "value", "env"), INTERPOLATED_OK, ids=lambda v: str(v))
def test_the_editor_accepts_references_where_s3lync_fills_them(
    path: tuple[str, ...], value: str, env: dict[str, str]
) -> None:
    data = _with(path, value)
    assert _editor_errors(data) == []
    # ... and s3lync loads the same document, filled from the environment.
    validate_document(yaml.safe_dump(data), "s3lync.yaml", Path("/tmp"), env)


@pytest.mark.parametrize(("path", "value"), LITERAL_WRONG, ids=lambda v: str(v))
def test_the_editor_still_refuses_wrong_values(path: tuple[str, ...], value: str) -> None:
    assert _editor_errors(_with(path, value)) != []


def _interpolable(schema: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every property s3lync fills a ${VAR} into and then checks: strings with a rule, booleans."""
    defaults = schema["properties"]["defaults"]["properties"]
    mapping = schema["properties"]["mappings"]["items"]["properties"]
    for where, props in (("defaults", defaults), ("mapping", mapping)):
        for name, prop in props.items():
            if name == "extra_args":
                for arg, sub in prop["properties"].items():
                    yield (where, name, arg), sub
            else:
                yield (where, name), prop


def test_every_checked_property_takes_a_reference() -> None:
    """A property added later with a pattern, an enum or a boolean type needs its ${VAR} branch."""
    strict = strict_schema()
    checked = [
        path
        for path, prop in _interpolable(strict)
        if "pattern" in prop or "enum" in prop or prop.get("type") == "boolean"
    ]
    assert len(checked) >= 15
    refused = [path for path in checked if _editor_errors(_with(path, "${S3LYNC_SOME_VAR}"))]
    assert refused == []
    # A boolean is filled as one only for the fields the loader knows (loader._BOOL_FIELDS).
    booleans = {p[-1] for p, prop in _interpolable(strict) if prop.get("type") == "boolean"}
    assert booleans | {"check_hash"} <= loader._BOOL_FIELDS


def test_the_loader_checks_filled_values_without_the_reference_branches() -> None:
    # A literal $${X} becomes "${X}" after filling: the loader's schema has no branch to let it by.
    text = "version: 1\ndefaults:\n  region: $${X}\nmappings:\n  - {s3: 's3://b/p/', local: p, direction: upload}\n"
    with pytest.raises(Exception, match="must be a region name"):
        validate_document(text, "s3lync.yaml", Path("/tmp"), {})
    assert "interpolated" not in json.dumps(
        {k: v for k, v in strict_schema().items() if k != "$defs"}
    )
