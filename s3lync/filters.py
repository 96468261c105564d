"""Include and exclude filters: globs as regexes, the one precedence rule, and hints for people.

The rule is ``aws s3 sync``'s: every path is included unless a filter says otherwise; filters are
read in order and the *last* one that matches decides (``--exclude '*' --include '*.csv'`` keeps
only CSV files; the other order keeps nothing). A filter is a regex ``re.search``ed against the
path relative to the sync root with ``/`` separators; globs become such regexes here. A path the
filters leave out is neither transferred nor deleted. A leaf: imports nothing from s3lync.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable

INCLUDE = "include"
EXCLUDE = "exclude"
#: One filter: (INCLUDE or EXCLUDE, regex).
Rule = tuple[str, str]


def matcher(rules: Iterable[Rule]) -> Callable[[str], bool] | None:
    """One predicate, "is this relative path left out?", for the rules in order (None: no rules).

    A folder is asked as ``rel + "/"``; it is skipped whole only by an exclude after the last
    include (an include further down could still take a file inside it).
    """
    return _matcher(tuple((kind, p) for kind, p in rules if p))


@functools.lru_cache(maxsize=64)
def _matcher(rules: tuple[Rule, ...]) -> Callable[[str], bool] | None:
    if not rules:
        return None
    compiled = [(kind == EXCLUDE, re.compile(p)) for kind, p in rules]
    last_include = max((i for i, (out, _) in enumerate(compiled) if not out), default=-1)
    prunable = [c for out, c in compiled[last_include + 1 :]]
    if last_include < 0:
        # Excludes only (the common case): any match leaves the path out.
        return lambda rel: any(c.search(rel) for c in prunable)
    ordered = compiled[::-1]

    def left_out(rel: str) -> bool:
        if rel.endswith("/"):
            return any(c.search(rel) for c in prunable)
        for out, c in ordered:
            if c.search(rel):
                return out
        return False

    return left_out


def glob_to_regex(glob: str) -> str:
    """The regex (for ``re.search`` on the relative path) matching what ``glob`` matches.

    As in ``aws s3 sync --exclude`` (Python's ``fnmatch``): the glob matches the whole relative
    path, ``*`` any characters including ``/``, ``?`` one character, ``[abc]``/``[!abc]`` one of a
    set. A leading ``**/`` is dropped (``*`` already crosses folders), as gitignore users expect.
    """
    if glob.startswith("**/"):
        glob = glob[3:]
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            while glob[i + 1 : i + 2] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            # Where the set ends, found as fnmatch finds it; fnmatch then words the set itself.
            j = i + 1
            j += glob[j : j + 1] == "!"
            j += glob[j : j + 1] == "]"
            j = glob.find("]", j)
            if j == -1:
                out.append("\\[")
            else:
                out.append(_fnmatch_set(glob[i : j + 1]))
                i = j
        else:
            out.append("\\" + c if c in _REGEX_SPECIAL else c)
        i += 1
    regex = "^" + "".join(out) + "$"
    if regex.startswith("^.*"):
        regex = regex[1:]  # `.*\.tmp$`, as people write it
    if regex.endswith(".*$") and len(regex) > 3:
        regex = regex[:-3]  # `^build/`
    return regex


_REGEX_SPECIAL = frozenset(".^$*+?{}[]|()\\")
# Characters only a regex would use: a pattern with any of them was meant as a regex.
_REGEX_ONLY = frozenset("\\^$()|{}+")
# A `*` or `?` with nothing a regex would repeat before it: the start, or a '/' (`build/*`),
# or a plain name character followed by '.' (`data*.csv`).
_GLOB_STAR = re.compile(r"(^|/)[*?]|[\w-][*?]\.")


def _fnmatch_set(piece: str) -> str:
    translated = fnmatch.translate(piece)  # "(?s:[^ab])\Z"
    match = re.fullmatch(r"\(\?s:(.*)\)\\[Zz]", translated, re.S)
    return match.group(1) if match else translated


def looks_like_glob(pattern: str) -> bool:
    """True for a pattern written as a glob (``*.tmp``, ``build/*``), not as a regex."""
    return ("*" in pattern or "?" in pattern) and not (_REGEX_ONLY & set(pattern))


def yaml_quoted(text: str) -> str:
    """``text`` as a single-quoted YAML scalar, as the README writes them (no escapes inside)."""
    return "'" + text.replace("'", "''") + "'"


def regex_problem(pattern: str, key: str = "exclude", *, style: str = "yaml") -> str | None:
    """Why ``pattern`` is no regex, with the regex a glob-looking one means; None when it is one.

    The suggestion is written as it is pasted (``style``): a single-quoted YAML value, where a
    backslash is itself, so ``'.*\\.tmp$'`` works as shown; a shell word; a Python raw string.
    """
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        message = f"invalid regular expression {_shown(pattern)}: {exc}"
        if "*" in pattern or "?" in pattern:
            message += "; " + _as_glob(pattern, key, style)
        return message
    return None


def glob_reading(pattern: str, key: str = "exclude", *, style: str = "yaml") -> str | None:
    """A warning for a valid regex that looks like a glob (``build/*``), else None."""
    if not looks_like_glob(pattern) or not _GLOB_STAR.search(pattern):
        return None
    return (
        f"{_shown(pattern)} is read as a regex, where '*' and '?' repeat the character before "
        "them; " + _as_glob(pattern, key, style)
    )


def _shown(pattern: str) -> str:
    text = repr(pattern)
    return text if len(text) <= 120 else text[:119] + "…"


def _as_glob(pattern: str, key: str, style: str) -> str:
    regex = glob_to_regex(pattern)
    if style == "shell":
        import shlex  # only for a hint: a run whose filters are fine never needs it

        return (
            f"did you mean the regex {shlex.quote(regex)}? (--{key} takes a regex; "
            f"--{key}-glob {shlex.quote(pattern)} takes the glob as it is)"
        )
    if style == "python":
        raw = f'r"{regex}"' if '"' not in regex else repr(regex)
        return (
            f"did you mean the regex {raw}? (`{key}_pattern` is a regex; "
            "`s3lync.filters.glob_to_regex` turns a glob into one)"
        )
    return (
        f"did you mean the regex {yaml_quoted(regex)}? (`{key}` is a regex; "
        f"`{key}_glob: {yaml_quoted(pattern)}` takes the glob as it is)"
    )
