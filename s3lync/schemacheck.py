"""A yes-or-don't-know JSON Schema check for the keywords the manifest schema uses.

jsonschema costs ~65 ms to import, and a CI runner starts with an empty cache every time, so the
common case (a valid manifest) is answered here. The check is sound, never complete: it says True
only when every keyword it meets is one it implements and the document satisfies it; anything else
(a keyword it does not know, a failure) says False, and the caller asks jsonschema, which also
words the errors.
"""

from __future__ import annotations

import re
from typing import Any

# Keywords that only annotate: they never make a document invalid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples"}
)
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true and 1 differ, 1 and 1.0 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def is_valid(schema: Any, value: Any) -> bool:
    """True only if ``value`` certainly satisfies ``schema`` (False: unknown or invalid)."""
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, expected in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-") or keyword == "patternErrorMessage":
            continue
        if not _keyword_holds(keyword, expected, schema, value):
            return False
    return True


def _keyword_holds(keyword: str, expected: Any, schema: dict[str, Any], value: Any) -> bool:
    if keyword == "type":
        names = [expected] if isinstance(expected, str) else expected
        return any(_TYPES.get(n, lambda v: False)(value) for n in names)
    if keyword == "const":
        return _same(value, expected)
    if keyword == "enum":
        return any(_same(value, e) for e in expected)
    if keyword == "pattern":
        return not isinstance(value, str) or re.search(expected, value) is not None
    if keyword == "minLength":
        return not isinstance(value, str) or len(value) >= expected
    if keyword == "minItems":
        return not isinstance(value, list) or len(value) >= expected
    if keyword == "required":
        return not isinstance(value, dict) or all(k in value for k in expected)
    if keyword == "properties":
        return not isinstance(value, dict) or all(
            is_valid(sub, value[k]) for k, sub in expected.items() if k in value
        )
    if keyword == "additionalProperties":
        if not isinstance(value, dict):
            return True
        known = schema.get("properties", {})
        if "patternProperties" in schema:
            return False  # not implemented: let jsonschema decide
        return all(is_valid(expected, v) for k, v in value.items() if k not in known)
    if keyword == "items":
        return not isinstance(value, list) or all(is_valid(expected, v) for v in value)
    return False  # a keyword this check does not implement
