"""Lines of JSON paths in a JSON text, to name FILE:LINE in an error about a file json.loads read."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from typing import Any

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+', re.S)


def locate(text: str, wanted: set[tuple[str | int, ...]]) -> dict[tuple[str | int, ...], int]:
    """1-based lines of the given JSON paths (a key's line for object members).

    A path not found (e.g. a missing key) gets the line of its nearest ancestor that exists.
    Slow (a pure-Python scan) and only used to explain an error.
    """
    prefixes = {p[:i] for p in wanted for i in range(len(p) + 1)}
    newlines = [m.start() for m in re.finditer("\n", text)]
    found: dict[tuple[str | int, ...], int] = {}
    # Each frame: [is_object, current key or index, expecting a key].
    stack: list[list[Any]] = []

    def line(offset: int) -> int:
        return bisect_right(newlines, offset - 1) + 1

    def path() -> tuple[str | int, ...]:
        return tuple(f[1] for f in stack)

    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "{[":
            p = path()
            if p in prefixes and p not in found:
                found[p] = line(m.start())
            stack.append([tok == "{", 0 if tok == "[" else None, tok == "{"])
        elif tok in "}]":
            if stack:
                stack.pop()
        elif tok == ":":
            if stack:
                stack[-1][2] = False
        elif tok == ",":
            if stack:
                top = stack[-1]
                if top[0]:
                    top[2] = True
                else:
                    top[1] += 1
        elif stack and stack[-1][0] and stack[-1][2]:
            try:
                stack[-1][1] = json.loads(tok)
            except ValueError:
                stack[-1][1] = tok
            p = path()
            if p in prefixes and p not in found:
                found[p] = line(m.start())
        else:
            p = path()
            if p in prefixes and p not in found:
                found[p] = line(m.start())
    out = {}
    for p in wanted:
        q = p
        while q not in found and q:
            q = q[:-1]
        out[p] = found.get(q, 1)
    return out
