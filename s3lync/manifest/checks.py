"""Checks of a filled manifest document: the JSON Schema (worded for people) and the semantic rules.

Everything here takes the plain data ``yamldoc.parse`` built and its positions, and returns
``Problem``s at the offending key's or value's own line; nothing raises for bad input.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.resources
import ipaddress
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3lync.errors import InvalidURIError
from s3lync.filters import glob_reading, regex_problem
from s3lync.manifest.yamldoc import DocPath, Loc, Pos, Problem, format_path, quote, shorten
from s3lync.upload_args import UPLOAD_ARGS, check_extra_args
from s3lync.uri import S3Uri, parse_s3_uri, scheme_hint

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
# botocore's own rule (botocore.utils.validate_region_name): a region becomes part of a host name.
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
# A DNS host name as botocore's is_valid_endpoint_url accepts it (IPv4 addresses included).
_HOST_RE = re.compile(
    r"((?!-)[a-z\d-]{1,63}(?<!-)\.)*((?!-)[a-z\d-]{1,63}(?<!-))\.?", re.IGNORECASE
)


def load_schema() -> dict[str, Any]:
    """The manifest's JSON Schema, as shipped inside the package."""
    return dict(_schema())


@functools.cache
def _schema() -> dict[str, Any]:
    resource = importlib.resources.files("s3lync.manifest") / "schemas" / "s3lync.schema.json"
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def strict_schema() -> dict[str, Any]:
    """The schema a filled manifest must pass: the shipped one without its ``${VAR}`` alternatives.

    The shipped schema is the one an editor uses on the file as written, so wherever a value may
    be interpolated it also accepts a ``${VAR}`` string (``anyOf: [rule, {$ref: interpolated}]``).
    Once filled there is no reference left to allow, and each value meets its rule alone (so a
    literal ``$${X}`` is no way around it, and the errors are the rule's own).
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
                    close = difflib.get_close_matches(key, allowed, n=1)
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


def _string_items(value: Any, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        yield from (((*path, i), v) for i, v in enumerate(value) if isinstance(v, str))


# S3's bucket naming rules:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_LEGACY_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{3,255}")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(bucket: str, *, legacy: bool = False) -> str | None:
    """Why ``bucket`` is no S3 bucket name, or None; ``legacy`` accepts the us-east-1 names of
    before March 2018 (upper case, '_', up to 255 characters)."""
    shown = quote(bucket)
    if legacy:
        if _LEGACY_BUCKET_RE.fullmatch(bucket):
            return None
        return (
            f"bucket name {shown} is not a bucket name even by S3's legacy rules "
            "(3-255 characters: letters, digits, '.', '-', '_')"
        )
    why = None
    if not 3 <= len(bucket) <= 63:
        why = "it must be 3 to 63 characters long"
    elif not _BUCKET_RE.fullmatch(bucket):
        why = (
            "only lower-case letters, digits, '-' and '.' are allowed, starting and ending with a "
            "letter or digit"
        )
    elif ".." in bucket:
        why = "two dots may not follow each other"
    elif re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        why = "it may not look like an IP address"
    elif bucket.startswith(_BUCKET_PREFIXES) or bucket.endswith(_BUCKET_SUFFIXES):
        why = "S3 reserves that prefix or suffix"
    if why is None:
        return None
    legacy_ok = _LEGACY_BUCKET_RE.fullmatch(bucket) is not None
    return f"bucket name {shown} breaks S3's naming rules: {why}" + (
        " (a legacy us-east-1 bucket of before March 2018 may have such a name: "
        "`legacy_bucket_name: true` accepts it)"
        if legacy_ok
        else ""
    )


def extra_args_problem(name: str, value: Any) -> str | None:
    """Why one ``extra_args`` value cannot be sent (md5chksum metadata, a bad date), or None."""
    from s3lync.errors import ConfigError

    try:
        check_extra_args({name: value}, "extra_args")
    except ConfigError as exc:
        return (
            str(exc)
            .removeprefix(f"extra_args: extra_args {name} ")
            .removeprefix("extra_args: extra_args ")
        )
    return None


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be an S3 endpoint (http(s), a host, a port from 1 to 65535), or None."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"not a valid URL {quote(url)}: spaces and control characters are not allowed"
    if not url.isascii():
        return f"not a valid URL {quote(url)}: only ASCII characters (percent-encode the others)"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        text = str(exc)
        if "Port" in text:
            return f"not a valid URL {quote(url)}: the port must be a number from 1 to 65535"
        return f"not a valid URL {quote(url)}: {text}"
    if parts.scheme.lower() not in ("http", "https"):
        if "://" in url:
            return f"not a valid URL {quote(url)}: must start with http:// or https://"
        return f"not a valid URL {quote(url)}: {scheme_hint(url)}"
    host = parts.hostname or ""
    if not host:
        return f"not a valid URL {quote(url)}: no host name"
    if port == 0:
        return f"not a valid URL {quote(url)}: the port must be a number from 1 to 65535"
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return f"not a valid URL {quote(url)}: {quote(host)} is not an IPv6 address"
    elif len(host) > 255 or not _HOST_RE.fullmatch(host):
        return f"not a valid URL {quote(url)}: {quote(host)} is not a host name"
    return None


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be a region name, or None."""
    if _REGION_RE.fullmatch(region):
        return None
    # Worded as the schema's pattern: that check usually speaks first, this one catches the rest.
    return (
        f"must be a region name: letters, digits and '-', such as 'eu-west-1' (not {quote(region)})"
    )


def local_problem(local: str) -> str | None:
    """Why ``local`` cannot be a local path, or None."""
    if "\x00" in local:
        return f"not a usable path: {quote(local)} contains a NUL character"
    try:
        os.fsencode(local)
    except UnicodeError:
        return f"not a usable path: {quote(local)} cannot be encoded as a file name"
    return None


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
    return f"mappings[{index}]" + (f" ({quote(name)})" if isinstance(name, str) else "")


# One side of a mapping: ("local", absolute path) or ("s3", (endpoint, bucket, folder prefix)).
_Side = tuple[str, Any]


def _sides_overlap(a: _Side | None, b: _Side | None) -> bool:
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[0] == "local":
        return _nested_paths(a[1], b[1])
    (end_a, bucket_a, prefix_a), (end_b, bucket_b, prefix_b) = a[1], b[1]
    same = end_a == end_b and bucket_a == bucket_b
    return bool(same and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)))


def _show(side: _Side) -> str:
    if side[0] == "local":
        return str(side[1])
    return f"s3://{side[1][1]}/{side[1][2]}"


def semantic_problems(
    data: Any, base_dir: Path, positions: dict[DocPath, Pos]
) -> tuple[list[Problem], list[Problem]]:
    """Errors (names, regexes, URLs, regions, paths, two mappings writing one target) and warnings."""
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def add(where: DocPath, message: str, into: list[Problem] = problems) -> None:
        into.append(Problem(*value_loc(positions, where), format_path(where), message))

    def check_settings(item: dict[str, Any], here: DocPath) -> None:
        for key in ("exclude", "include"):
            for where, pattern in _string_items(item.get(key), (*here, key)):
                if (message := regex_problem(pattern, key)) is not None:
                    add(where, message)
                elif (message := glob_reading(pattern, key)) is not None:
                    add(where, message, warnings)
        extra = item.get("extra_args")
        if isinstance(extra, dict):
            for name, value in extra.items():
                if name in UPLOAD_ARGS and (message := extra_args_problem(name, value)):
                    add((*here, "extra_args", name), message)
        checks = {"endpoint_url": endpoint_problem, "region": region_problem}
        for key, check in checks.items():
            value = item.get(key)
            if isinstance(value, str) and value and (message := check(value)) is not None:
                add((*here, key), message)

    defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
    items = data.get("mappings") if isinstance(data.get("mappings"), list) else []
    check_settings(defaults, ("defaults",))
    names: dict[str, int] = {}
    # (index, item, source, target) for every mapping whose sides could be worked out
    sides: list[tuple[int, dict[str, Any], _Side | None, _Side | None]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        here: DocPath = ("mappings", i)
        check_settings(item, here)
        name = item.get("name")
        if isinstance(name, str):
            if name in names:
                add((*here, "name"), f"duplicate name {quote(name)} (also mappings[{names[name]}])")
            names.setdefault(name, i)
        s3, local, direction = item.get("s3"), item.get("local"), item.get("direction")
        uri: S3Uri | None = None
        if isinstance(s3, str) and s3.startswith("s3://"):
            try:
                uri = parse_s3_uri(s3)
            except InvalidURIError as exc:
                add((*here, "s3"), shorten(str(exc)))
            else:
                legacy = item.get("legacy_bucket_name") is True
                if (message := bucket_problem(uri.bucket, legacy=legacy)) is not None:
                    add((*here, "s3"), message)
        local_side: _Side | None = None
        if isinstance(local, str) and local:
            if (message := local_problem(local)) is not None:
                add((*here, "local"), message)
            else:
                local_side = ("local", resolve_local(local, base_dir))
        s3_side: _Side | None = None
        if uri is not None:
            s3_side = ("s3", (setting(item, defaults, "endpoint_url"), uri.bucket, uri.dir_prefix))
        if direction == "download":
            source, target, target_key, source_key = s3_side, local_side, "local", "s3"
        elif direction == "upload":
            source, target, target_key, source_key = local_side, s3_side, "s3", "local"
        else:
            continue
        clashed = False  # two mappings writing one target: reported once, at the later one
        for j, other, other_source, other_target in sides:
            if not clashed and _sides_overlap(target, other_target):
                assert target is not None and other_target is not None
                mine, theirs = _show(target), _show(other_target)
                add((*here, target_key), _overlap(mine, theirs, _label(j, other)))
                clashed = True
            if _sides_overlap(source, other_target):
                assert other_target is not None
                message = f"reads what {_label(j, other)} writes ({_show(other_target)})"
                add((*here, source_key), message, warnings)
            if _sides_overlap(target, other_source):
                assert other_source is not None
                message = f"writes what {_label(j, other)} reads ({_show(other_source)})"
                add((*here, target_key), message, warnings)
        sides.append((i, item, source, target))
    return problems, warnings
