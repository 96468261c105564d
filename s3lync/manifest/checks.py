"""Checks of a filled manifest document: the JSON Schema (worded for people) and the semantic rules.

Everything here takes the plain data ``yamldoc.parse`` built and its positions, and returns
``Problem``s at the offending key's or value's own line; nothing raises for bad input.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lync.manifest.yamldoc import DocPath, Loc, Pos, Problem, format_path, quote, shorten

if TYPE_CHECKING:
    import jsonschema

SUPPORTED_VERSION = 1

_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def load_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as shipped inside the package."""
    return dict(_schema())


def schema_file() -> Path:
    """The JSON Schema file shipped in the package."""
    # Beside this module in every install (wheel, sdist, editable); importlib.resources only
    # for a package inside a zip file: importing it costs ~8 ms on every CLI start-up.
    here = Path(__file__).parent / "schemas" / "s3lync.schema.json"
    if here.is_file():
        return here
    import importlib.resources

    return Path(str(importlib.resources.files("s3lync.manifest") / "schemas" / here.name))


@functools.cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_file().read_text(encoding="utf-8"))
    return loaded


@functools.cache
def strict_schema() -> dict[str, Any]:
    """The schema a filled manifest must pass: the shipped one without its ``${VAR}`` alternatives.

    The shipped schema is the one an editor uses on the file as written, so wherever a value may
    be interpolated it also accepts a ``${VAR}`` string (``anyOf: [rule, {$ref: interpolated}]``).
    Once filled there is no reference left to allow, and each value meets its rule alone (so a
    literal ``$${X}`` is no way around it, and the errors are the rule's own). Built once and
    shared: not to be changed.
    """
    strict: dict[str, Any] = _strict(_schema())
    return strict


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k != "anyOf"}
    if "anyOf" in node:
        rules = [
            _strict(b)
            for b in node["anyOf"]
            if not str(b.get("$ref", "")).startswith("#/$defs/interpolated")
        ]
        if len(rules) == 1:
            out.update(rules[0])
        else:
            out["anyOf"] = rules
    return out


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    # Imported here: jsonschema and its dependencies cost ~90 ms, which a manifest already
    # known valid (schema_problems' ``known_valid``) does not pay.
    import jsonschema

    return jsonschema.Draft202012Validator(strict_schema())


@functools.cache
def _schema_digest() -> str:
    from s3lync._version import __version__

    text = json.dumps(strict_schema(), sort_keys=True)
    return hashlib.sha256(f"{__version__}\0{text}".encode()).hexdigest()


def schema_key(data: Any) -> str:
    """A digest of ``data`` and the schema it is checked against (the schema check's cache key)."""
    # ASCII: a lone surrogate (from the environment) is escaped, not refused by encode().
    body = json.dumps(data, sort_keys=True, default=repr)
    return hashlib.sha256(f"{_schema_digest()}\0{body}".encode()).hexdigest()


def close_matches(word: str, candidates: list[str], n: int = 1) -> list[str]:
    """The candidates closest to a misspelt ``word`` (difflib's ratio), best first."""
    import difflib  # only when there is a misspelling to name

    return difflib.get_close_matches(word, candidates, n=n)


def value_loc(positions: dict[DocPath, Pos], path: DocPath, *, key: bool = False) -> Loc:
    """Where the value (or its key) at ``path`` sits, else its nearest enclosing value."""
    while path not in positions and path:
        path = path[:-1]
    pos = positions.get(path)
    if pos is None:
        return 1, 1
    return pos.key if key else pos.value


def _type_words(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(t, t) for t in names)


def _describe(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return quote(value)


def schema_problems(data: Any, positions: dict[DocPath, Pos]) -> list[Problem]:
    """Every way ``data`` fails the JSON Schema, worded for people, at its own key or value."""
    problems: list[Problem] = []
    typed: set[DocPath] = set()  # paths with a type error: their other errors would only repeat it
    errors = list(_validator().iter_errors(data))
    for err in sorted(errors, key=lambda e: e.validator != "type"):
        path: DocPath = tuple(err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        kind, expected, instance = err.validator, err.validator_value, err.instance
        at = value_loc(positions, path)
        if path in typed:
            continue
        if kind == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            for key in instance:
                if key not in allowed:
                    close = close_matches(key, allowed, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    message = f"unknown key {quote(key)} ({hint}allowed: {', '.join(allowed)})"
                    key_at = value_loc(positions, (*path, key), key=True)
                    problems.append(Problem(*key_at, format_path((*path, key)), message, True))
            continue
        if kind == "required":
            for key in expected:
                if key not in instance:
                    hint = " (add `version: 1`)" if key == "version" and not path else ""
                    message = f"missing required key {key!r}{hint}"
                    problems.append(Problem(*at, format_path(path), message))
            continue
        if kind == "type":
            typed.add(path)
            message = f"must be {_type_words(expected)}, not {_describe(instance)}"
        elif kind == "const" and path == ("version",):
            message = f"must be {SUPPORTED_VERSION}, not {_describe(instance)}"
        elif kind == "const":
            message = f"must be {json.dumps(expected)}"
        elif kind == "enum":
            close = close_matches(str(instance), [str(v) for v in expected], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            choices = ", ".join(str(v) for v in expected)
            message = f"must be one of: {choices} (not {_describe(instance)}{hint})"
        elif kind == "minLength":
            message = "must not be empty"
        elif kind == "minItems" and path == ("mappings",):
            message = "must list at least one mapping"
        elif kind == "minItems":
            message = f"must list at least {expected} item{'s' if expected != 1 else ''}"
        elif kind == "pattern":
            message = str(schema.get("patternErrorMessage") or f"must match {expected}")
            message += f" (not {_describe(instance)})"
        else:
            message = shorten(err.message)  # jsonschema's words quote the whole value
        problems.append(Problem(*at, format_path(path), message))
    return problems


# --- helpers shared with the Mapping builder -----------------------------------------------------


def excludes(value: Any) -> list[str]:
    """An ``exclude``-style value (one string or a list) as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def setting(item: dict[str, Any], defaults: dict[str, Any], key: str) -> Any:
    """A mapping's own value for ``key``, else the default's; an empty string means not set."""
    # An empty string (e.g. `${AWS_REGION:-}`) means "not set here", so the default still applies.
    value = item.get(key)
    if value is None or value == "":
        value = defaults.get(key)
    return None if value == "" else value


def resolve_local(local: str, base_dir: Path) -> str:
    """A manifest's ``local`` as an absolute path: ``~`` expanded, relative to ``base_dir``."""
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(local)))


# --- semantic checks -------------------------------------------------------------------------------
