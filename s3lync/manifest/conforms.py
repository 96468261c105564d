"""A fast "certainly valid" answer for the manifest's JSON Schema, so a valid manifest needs no jsonschema.

Importing jsonschema and building its validator costs ~150 ms, on every run whose state folder has
not seen the document pass before (a fresh CI machine: every run). This walks the filled document
against the few keywords the manifest's schema uses and answers only what it is sure of: True when
the document certainly conforms, else False, and the caller then asks jsonschema, which also words
every error. So jsonschema stays the one judge of an invalid manifest, and
tests/unit/test_manifest_conforms.py holds "True here means no error there" over thousands of
valid and broken documents.
"""

from __future__ import annotations

import re
from typing import Any

# Keywords that only annotate: they never make a document invalid.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "markdownDescription",
        "examples",
        "default",
        "patternErrorMessage",
        "deprecated",
    }
)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def conforms(instance: Any, schema: dict[str, Any]) -> bool:
    """True when ``instance`` certainly passes ``schema``; False means "ask jsonschema"."""
    return _check(instance, schema, schema, 0)


def _check(instance: Any, schema: Any, root: dict[str, Any], depth: int) -> bool:
    # Every keyword check below answers the same way: True passes, False fails or is not sure.
    if schema is True:
        return True
    if not isinstance(schema, dict) or depth > 64:
        return False
    for keyword, value in schema.items():
        if keyword == "$id" and schema is not root:
            return False  # a nested $id moves what "#" refers to
        if keyword in _ANNOTATIONS or keyword == "$defs":
            continue
        check = _KEYWORDS.get(keyword)
        if check is None or not check(instance, value, schema, root, depth):
            return False
    return True


def _type(instance: Any, value: Any, _s: dict[str, Any], _r: dict[str, Any], _d: int) -> bool:
    names = [value] if isinstance(value, str) else value
    for name in names:
        if name in _TYPES:
            # bool is an int in Python, not in JSON: exact types only.
            if type(instance) in _TYPES[name]:
                return True
        elif (name == "integer" and type(instance) is int) or (
            name == "number" and _number(instance)
        ):
            return True
    return False  # a float where an integer is wanted (1.0 may be one): jsonschema decides


def _min_length(instance: Any, value: Any, *_: Any) -> bool:
    return not isinstance(instance, str) or len(instance) >= value


def _pattern(instance: Any, value: Any, *_: Any) -> bool:
    # jsonschema's own test: re.search with Python's engine.
    return not isinstance(instance, str) or re.search(value, instance) is not None


def _number(instance: Any) -> bool:
    return type(instance) in (int, float)


def _minimum(instance: Any, value: Any, *_: Any) -> bool:
    return not _number(instance) or instance >= value


def _exclusive_minimum(instance: Any, value: Any, *_: Any) -> bool:
    return not _number(instance) or instance > value


def _same(a: Any, b: Any) -> bool:
    # JSON equality for the scalars a manifest's enums hold; anything else is not "certain".
    return type(a) is type(b) and isinstance(a, (str, int, float, bool, type(None))) and a == b


def _enum(instance: Any, value: Any, *_: Any) -> bool:
    return any(_same(instance, v) for v in value)


def _const(instance: Any, value: Any, *_: Any) -> bool:
    return _same(instance, value)


def _properties(
    instance: Any, value: Any, _s: dict[str, Any], root: dict[str, Any], depth: int
) -> bool:
    if not isinstance(instance, dict):
        return True
    for name, sub in value.items():
        if name in instance and _check(instance[name], sub, root, depth + 1) is not True:
            return False
    return True


def _additional(
    instance: Any, value: Any, schema: dict[str, Any], root: dict[str, Any], depth: int
) -> bool:
    if not isinstance(instance, dict):
        return True
    if "patternProperties" in schema:
        return False
    known = schema.get("properties", {})
    extra = [k for k in instance if k not in known]
    if value is False:
        return not extra
    return all(_check(instance[k], value, root, depth + 1) for k in extra)


def _required(instance: Any, value: Any, *_: Any) -> bool:
    return not isinstance(instance, dict) or all(k in instance for k in value)


def _min_properties(instance: Any, value: Any, *_: Any) -> bool:
    return not isinstance(instance, dict) or len(instance) >= value


def _items(instance: Any, value: Any, _s: dict[str, Any], root: dict[str, Any], depth: int) -> bool:
    if not isinstance(instance, list):
        return True
    return all(_check(x, value, root, depth + 1) for x in instance)


def _min_items(instance: Any, value: Any, *_: Any) -> bool:
    return not isinstance(instance, list) or len(instance) >= value


def _any_of(
    instance: Any, value: Any, _s: dict[str, Any], root: dict[str, Any], depth: int
) -> bool:
    return any(_check(instance, b, root, depth + 1) for b in value)


def _ref(instance: Any, value: Any, _s: dict[str, Any], root: dict[str, Any], depth: int) -> bool:
    prefix = "#/$defs/"
    if not isinstance(value, str) or not value.startswith(prefix) or "~" in value or "%" in value:
        return False  # only plain names: JSON-pointer escapes and percent-encoding are jsonschema's
    target = root.get("$defs", {}).get(value[len(prefix) :])
    return target is not None and _check(instance, target, root, depth + 1)


_KEYWORDS = {
    "type": _type,
    "minLength": _min_length,
    "pattern": _pattern,
    "minimum": _minimum,
    "exclusiveMinimum": _exclusive_minimum,
    "enum": _enum,
    "const": _const,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "minProperties": _min_properties,
    "items": _items,
    "minItems": _min_items,
    "anyOf": _any_of,
    "$ref": _ref,
}
