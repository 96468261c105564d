"""Where every key and value of a manifest sits, and the problems found there, worded for people.

The records a parse gives (``Document``: positions and problems; ``Problem``; ``Pos``) and the
helpers that word a message (``format_path``, ``quote``, ``line_col``). No PyYAML here: the checks,
and a manifest read back from the parse cache (parsecache.py), need these without paying for its
import; yamlparse.py composes the YAML itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DocPath = tuple[str | int, ...]
Loc = tuple[int, int]

# Quoted values in messages are cut to this many characters: a log file given as a manifest must
# not come back as a multi-megabyte error.
MAX_QUOTED = 120
# Line breaks as YAML counts them (https://yaml.org/spec/1.2.2/#53-line-break-characters,
# plus the YAML 1.1 ones PyYAML also honours).
_BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at a line and column, about a formatted path."""

    line: int
    col: int
    path: str
    message: str
    about_key: bool = field(default=False, compare=False)  # true: the key is wrong, not its value


@dataclass(frozen=True)
class Pos:
    """Where a value sits, and the key naming it (the value itself for list items and the root)."""

    key: Loc
    value: Loc


class Fatal(Exception):
    """A problem after which nothing else can be checked (the file is not a manifest at all)."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def format_path(path: DocPath) -> str:
    """``mappings[0].s3`` style, quoting keys that are not identifiers."""
    if not path:
        return "<root>"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_RE.match(part):
            out += f".{shorten(part)}" if out else shorten(part)
        else:
            out += f"[{shorten(json.dumps(part))}]"
    return out


def shorten(text: str) -> str:
    """``text`` cut to ~120 characters with an ellipsis."""
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"


def quote(value: object) -> str:
    """``repr`` of a value for a message, cut to ~120 characters with an ellipsis."""
    return shorten(repr(value))


def line_col(text: str, index: int) -> Loc:
    """1-based line and column of character ``index`` of ``text``, counting YAML's line breaks."""
    before = text[:index]
    breaks = list(_BREAK_RE.finditer(before))
    if not breaks:
        return 1, index + 1
    return len(breaks) + 1, index - breaks[-1].end() + 1


class Document:
    """Positions and problems of a parsed document."""

    def __init__(self) -> None:
        self.positions: dict[DocPath, Pos] = {}
        self.problems: list[Problem] = []
        self.bad: set[str] = set()  # formatted paths whose value could not be read

    def problem(self, loc: Loc, path: DocPath, message: str, *, bad: bool = False) -> None:
        """Record a problem; ``bad`` marks the value unreadable so later checks skip it."""
        self.problems.append(Problem(loc[0], loc[1], format_path(path), message))
        if bad:
            self.bad.add(format_path(path))


# What a parse gives: the plain data (dicts, lists, str, int, float, bool, None) and where it sits.
Parsed = tuple[Any, Document]
