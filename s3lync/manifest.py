"""Load ``s3lync.yaml``: YAML with line numbers, ``${VAR}`` filling, schema and semantic checks -> Mappings."""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import logging
import os
import re
from collections.abc import Mapping as StrMapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from .errors import InvalidURIError, ManifestError
from .plan import Direction, Mapping
from .uri import S3Uri, parse_s3_uri
from .yamldoc import DocPath as _Path
from .yamldoc import Document, parse
from .yamldoc import Fatal as _Fatal
from .yamldoc import Loc as _Loc
from .yamldoc import Pos as _Pos
from .yamldoc import Problem as _Problem
from .yamldoc import format_path as _format_path

log = logging.getLogger(__name__)

SUPPORTED_VERSION = 1
SCHEMA_URL = "https://s3lync.dev/schemas/s3lync.schema.json"

STARTER_MANIFEST = f"""\
# yaml-language-server: $schema={SCHEMA_URL}
#
# s3lync manifest: S3 <-> local mappings kept in sync with plan/apply.
#   s3lync validate   # check this file
#   s3lync plan       # show what would change (changes nothing)
#   s3lync apply      # make the changes
# Any string may use ${{VAR}} or ${{VAR:-default}} from the environment; write $${{ for a literal ${{.
version: 1

# Inherited by every mapping unless the mapping sets its own; exclude lists are added together.
defaults:
  region: ${{AWS_REGION:-us-east-1}}
  # endpoint_url: http://127.0.0.1:9000   # MinIO, R2, Ceph or a local test server
  # profile: dev
  check_hash: true

mappings:
  # Download a prefix into a folder beside this file.
  - name: datasets
    s3: s3://my-bucket/datasets/
    local: data/datasets        # relative to this file's folder
    direction: download         # download (S3 -> local) | upload (local -> S3)
    exclude: '.*\\.tmp$'         # one regex or a list, searched in the path relative to the mapping root
    force_sync: false           # true: transfer everything and delete target-only files
    delete: false               # true: mirror, deleting target-only files (unchanged files still skipped)

  # Upload a folder to a prefix.
  # - name: reports
  #   s3: s3://my-bucket/reports/
  #   local: reports
  #   direction: upload
  #   exclude:
  #     - '(^|/)\\.'            # dot files
"""


_BOOL_FIELDS = frozenset({"check_hash", "force_sync", "delete", "follow_symlinks", "allow_missing"})
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_REF_RE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")
_TYPE_WORDS = {
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@dataclass(frozen=True)
class Manifest:
    """A loaded, validated manifest: its absolute path, version and mappings in file order."""

    path: Path
    version: int
    mappings: tuple[Mapping, ...]

    def select(self, names: Sequence[str]) -> tuple[Mapping, ...]:
        """The mappings named (by name, or S3 URI for unnamed ones), in file order; none named -> all."""
        if not names:
            return self.mappings
        wanted = set(names)
        unknown = [n for n in dict.fromkeys(names) if all(n != m.label for m in self.mappings)]
        if unknown:
            known = [m.name for m in self.mappings if m.name]
            hint = f"known: {', '.join(known)}" if known else "no mapping has a name; add `name:`"
            errors = [f"{self.path}: unknown mapping {n!r} ({hint})" for n in unknown]
            raise ManifestError(errors[0] if len(errors) == 1 else "\n".join(errors), errors)
        return tuple(m for m in self.mappings if m.label in wanted)


def load_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as shipped inside the package."""
    return dict(_schema())


@functools.cache
def _schema() -> dict[str, Any]:
    resource = importlib.resources.files("s3lync") / "schemas" / "s3lync.schema.json"
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


def load_manifest(
    path: str | os.PathLike[str], environ: StrMapping[str, str] | None = None
) -> Manifest:
    """Read and validate a manifest file; raise ManifestError listing every problem found."""
    shown = os.fspath(path)
    try:
        text = Path(shown).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{shown}: no such file (create one with `s3lync init`)") from None
    except IsADirectoryError:
        raise ManifestError(f"{shown}: is a folder, not a manifest file") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    return validate_document(text, shown, Path(os.path.abspath(shown)).parent, environ)


def validate_document(
    text: str, filename: str, base_dir: Path, environ: StrMapping[str, str] | None = None
) -> Manifest:
    """Validate manifest text; ``filename`` is shown in errors, ``base_dir`` anchors relative paths."""
    env = os.environ if environ is None else environ
    base_dir = Path(os.path.abspath(base_dir))
    try:
        data, builder = parse(text)
        data = _fill(data, (), env, builder)
        _check_version(data, builder.positions)
        later = _schema_problems(data, builder.positions)
        later += _semantic_problems(data, base_dir, builder.positions)
    except _Fatal as exc:
        line, col = exc.loc
        raise ManifestError(f"{filename}:{line}:{col}: {exc}") from None
    # A value that could not be read or filled is reported once, not again by every later check.
    problems = builder.problems + [p for p in later if p.about_key or p.path not in builder.bad]
    errors = [f"{filename}:{p.line}:{p.col}: {p.path}: {p.message}" for p in sorted(set(problems))]
    if errors:
        if len(errors) == 1:
            raise ManifestError(errors[0], errors)
        raise ManifestError(f"{len(errors)} error(s) in {filename}:\n" + "\n".join(errors), errors)
    manifest = Manifest(
        path=base_dir / Path(filename).name,
        version=SUPPORTED_VERSION,
        mappings=_to_mappings(data, base_dir),
    )
    log.debug("loaded %s: %d mapping(s)", manifest.path, len(manifest.mappings))
    return manifest


# --- ${VAR} filling --------------------------------------------------------------------------------


def _fill(value: Any, path: _Path, env: StrMapping[str, str], builder: Document) -> Any:
    """Fill ``${VAR}`` / ``${VAR:-default}`` in every string value (keys are left alone)."""
    if isinstance(value, dict):
        return {k: _fill(v, (*path, k), env, builder) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, (*path, i), env, builder) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            missing.append("malformed '${': write ${NAME} or ${NAME:-default}; $${ is a literal ${")
            return match.group(0)
        found = env.get(name)
        if default is not None and not found:  # shell semantics: unset or empty takes the default
            return default
        if found is None:
            missing.append(f"environment variable {name} is not set")
            return match.group(0)
        return found

    filled = _REF_RE.sub(substitute, value)
    loc = _value_loc(builder.positions, path)
    for message in dict.fromkeys(missing):
        builder.problem(loc, path, message, bad=True)
    # `check_hash: ${CHECK:-true}` should work in CI, so a filled boolean field is read as a boolean.
    if path and path[-1] in _BOOL_FIELDS and filled.lower() in _BOOL_WORDS and filled != value:
        return _BOOL_WORDS[filled.lower()]
    return filled


# --- schema ------------------------------------------------------------------------------------------


def _value_loc(positions: dict[_Path, _Pos], path: _Path, *, key: bool = False) -> _Loc:
    while path not in positions and path:
        path = path[:-1]
    pos = positions.get(path)
    if pos is None:
        return 1, 1
    return pos.key if key else pos.value


def _check_version(data: Any, positions: dict[_Path, _Pos]) -> None:
    # A newer format may legitimately use keys this s3lync does not know, so say only that.
    version = data.get("version", SUPPORTED_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version != SUPPORTED_VERSION:
        loc = _value_loc(positions, ("version",))
        message = f"version: unsupported version {version}; this s3lync reads version 1"
        raise _Fatal(loc, message)


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
    return repr(value)


def _schema_problems(data: Any, positions: dict[_Path, _Pos]) -> list[_Problem]:
    problems: list[_Problem] = []
    typed: set[_Path] = set()  # paths with a type error: their other errors would only repeat it
    errors = list(_validator().iter_errors(data))
    for err in sorted(errors, key=lambda e: e.validator != "type"):
        path: _Path = tuple(err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        kind, expected, instance = err.validator, err.validator_value, err.instance
        at = _value_loc(positions, path)
        if path in typed:
            continue
        if kind == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            for key in instance:
                if key not in allowed:
                    close = difflib.get_close_matches(key, allowed, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    message = f"unknown key {key!r} ({hint}allowed: {', '.join(allowed)})"
                    key_at = _value_loc(positions, (*path, key), key=True)
                    problems.append(_Problem(*key_at, _format_path((*path, key)), message, True))
            continue
        if kind == "required":
            for key in expected:
                if key not in instance:
                    hint = " (add `version: 1`)" if key == "version" and not path else ""
                    message = f"missing required key {key!r}{hint}"
                    problems.append(_Problem(*at, _format_path(path), message))
            continue
        if kind == "type":
            typed.add(path)
            message = f"must be {_type_words(expected)}, not {_describe(instance)}"
        elif kind == "const" and path == ("version",):
            message = f"must be {SUPPORTED_VERSION}, not {_describe(instance)}"
        elif kind == "const":
            message = f"must be {json.dumps(expected)}"
        elif kind == "enum":
            close = difflib.get_close_matches(str(instance), [str(v) for v in expected], n=1)
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
            message = err.message
        problems.append(_Problem(*at, _format_path(path), message))
    return problems


# --- semantic checks and the Mapping objects -----------------------------------------------------


def _excludes(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _regex_problems(value: Any, path: _Path, positions: dict[_Path, _Pos]) -> list[_Problem]:
    items = [(path, value)] if isinstance(value, str) else []
    if isinstance(value, list):
        items = [((*path, i), v) for i, v in enumerate(value) if isinstance(v, str)]
    problems = []
    for where, pattern in items:
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            message = f"invalid regular expression {pattern!r}: {exc}"
            problems.append(_Problem(*_value_loc(positions, where), _format_path(where), message))
    return problems


def _setting(item: dict[str, Any], defaults: dict[str, Any], key: str) -> Any:
    # An empty string (e.g. `${AWS_REGION:-}`) means "not set here", so the default still applies.
    value = item.get(key)
    if value is None or value == "":
        value = defaults.get(key)
    return None if value == "" else value


def _resolve_local(local: str, base_dir: Path) -> str:
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(local)))


def _nested_paths(a: str, b: str) -> bool:
    a, b = os.path.normcase(a), os.path.normcase(b)
    return os.path.commonpath([a, b]) in (a, b)


def _overlap(mine: str, theirs: str, label: str) -> str:
    if mine == theirs:
        return f"writes the same target as {label}: {mine}"
    if len(mine) > len(theirs):
        return f"writes inside the target of {label}: {mine} is inside {theirs}"
    return f"writes around the target of {label}: {theirs} is inside {mine}"


def _label(index: int, item: dict[str, Any]) -> str:
    name = item.get("name")
    return f"mappings[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _semantic_problems(data: Any, base_dir: Path, positions: dict[_Path, _Pos]) -> list[_Problem]:
    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    items = data.get("mappings") if isinstance(data.get("mappings"), list) else []
    problems = _regex_problems(defaults.get("exclude"), ("defaults", "exclude"), positions)
    names: dict[str, int] = {}
    # (index, item, kind of target, target) for every mapping whose target could be worked out
    targets: list[tuple[int, dict[str, Any], str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        here: _Path = ("mappings", i)

        def problem(key: str, message: str, here: _Path = here) -> None:
            where = (*here, key)
            problems.append(_Problem(*_value_loc(positions, where), _format_path(where), message))

        name = item.get("name")
        if isinstance(name, str):
            if name in names:
                problem("name", f"duplicate name {name!r} (also mappings[{names[name]}])")
            names.setdefault(name, i)
        problems.extend(_regex_problems(item.get("exclude"), (*here, "exclude"), positions))
        s3, local, direction = item.get("s3"), item.get("local"), item.get("direction")
        uri: S3Uri | None = None
        if isinstance(s3, str) and s3.startswith("s3://"):
            try:
                uri = parse_s3_uri(s3)
            except InvalidURIError as exc:
                problem("s3", str(exc))
        if direction == "download" and isinstance(local, str) and local:
            target: Any = _resolve_local(local, base_dir)
            for j, other, kind, seen in targets:
                if kind == "local" and _nested_paths(target, seen):
                    problem("local", _overlap(target, seen, _label(j, other)))
                    break
            targets.append((i, item, "local", target))
        elif direction == "upload" and uri is not None:
            target = (_setting(item, defaults, "endpoint_url"), uri.bucket, uri.dir_prefix)
            for j, other, kind, seen in targets:
                if kind == "s3" and seen[:2] == target[:2]:
                    mine, theirs = target[2], seen[2]
                    if mine.startswith(theirs) or theirs.startswith(mine):
                        bucket = f"s3://{uri.bucket}/"
                        problem("s3", _overlap(bucket + mine, bucket + theirs, _label(j, other)))
                        break
            targets.append((i, item, "s3", target))
    return problems


def _to_mappings(data: dict[str, Any], base_dir: Path) -> tuple[Mapping, ...]:
    """Build Mappings from a document that passed every check: defaults inherited, paths resolved."""
    defaults: dict[str, Any] = data.get("defaults") or {}
    shared = _excludes(defaults.get("exclude"))
    result = []
    for item in data["mappings"]:
        check_hash = _setting(item, defaults, "check_hash")
        result.append(
            Mapping(
                s3_uri=item["s3"],
                local=_resolve_local(item["local"], base_dir),
                direction=Direction(item["direction"]),
                name=item.get("name"),
                exclude=tuple(dict.fromkeys([*shared, *_excludes(item.get("exclude"))])),
                force_sync=bool(item.get("force_sync", False)),
                delete=bool(item.get("delete", False)),
                check_hash=True if check_hash is None else bool(check_hash),
                follow_symlinks=bool(item.get("follow_symlinks", False)),
                allow_missing=bool(item.get("allow_missing", False)),
                region=_setting(item, defaults, "region"),
                endpoint_url=_setting(item, defaults, "endpoint_url"),
                profile=_setting(item, defaults, "profile"),
            )
        )
    return tuple(result)
