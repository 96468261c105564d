"""Where each key and value of a parsed manifest sits, and the problems found there.

Kept apart from the YAML reader (yamldoc.py) so a manifest parsed before can be checked from the
parse cache without importing PyYAML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

DocPath = tuple[str | int, ...]
Loc = tuple[int, int]

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
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


class Document:
    """Positions and problems of a parsed document (filled by the YAML reader or the cache)."""

    def __init__(self) -> None:
        self.positions: dict[DocPath, Pos] = {}
        self.problems: list[Problem] = []
        self.bad: set[str] = set()  # formatted paths whose value could not be read

    def problem(self, loc: Loc, path: DocPath, message: str, *, bad: bool = False) -> None:
        """Record a problem; ``bad`` marks the value unreadable so later checks skip it."""
        self.problems.append(Problem(loc[0], loc[1], format_path(path), message))
        if bad:
            self.bad.add(format_path(path))
