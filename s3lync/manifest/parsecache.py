"""Manifests parsed before, kept in the state folder: an unchanged manifest is not read as YAML again.

PyYAML's import (~20 ms, a third of it one regex its reader compiles) and the compose are most of
what loading a small manifest costs on every run. What ``yamlparse.parse`` gives for a text without
problems (the plain data and where each value sits) depends only on the text and on the parser, so
it is kept as JSON named by a digest of both. Everything after the parse (``${VAR}`` filling from
the environment, the schema and semantic checks, the messages) runs on what comes back as before.
Best effort: an entry that cannot be read, decoded or written is a miss, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
from collections.abc import Iterator
from collections.abc import Mapping as StrMapping
from pathlib import Path
from typing import Any

from s3lync._version import __version__
from s3lync.manifest.yamldoc import DocPath, Document, Parsed, Pos
from s3lync.settings import state_dir_in

log = logging.getLogger(__name__)

# Bump when yamlparse.parse gives other data or positions for the same text: the entries the older
# parser wrote are then never read (a version bump does the same for releases).
FORMAT = 1
# JSON gives exactly these back, with their types (bool stays apart from int).
_SCALARS = (str, int, float, bool, type(None))


def parse_cached(text: str, env: StrMapping[str, str]) -> Parsed:
    """``yamlparse.parse(text)``, read back from the state folder of ``env`` when the same text
    was parsed there before; raises ``Fatal`` as it does."""
    cache = ParseCache(state_dir_in(env))
    key = cache.key(text)
    found = cache.get(key)
    if found is not None:
        return found
    from s3lync.manifest import yamlparse  # PyYAML: only for a text not seen before

    data, doc = yamlparse.parse(text)
    # A text with problems is refused anyway. A parse by another loader than the installed one
    # (tests of the pure-Python fallback) may accept what the installed one refuses, so is not kept.
    if not doc.problems and yamlparse.LOADER is yamlparse.INSTALLED_LOADER:
        cache.put(key, data, doc)
    return data, doc


def _pyyaml_file() -> str | None:
    try:
        spec = importlib.util.find_spec("yaml")
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


@functools.lru_cache(maxsize=1)
def pyyaml_identity() -> str:
    """Which PyYAML would parse, told without importing it: a digest of its package file (which
    holds its version) and the names of its compiled parts (libyaml's binding, when built with
    it). Another PyYAML, or the same one with or without libyaml, parses a text again rather than
    being served what the other one read."""
    origin = _pyyaml_file()
    if not origin:
        return "no PyYAML"
    try:
        text = Path(origin).read_bytes()
        folder = os.path.dirname(origin)
        compiled = sorted(n for n in os.listdir(folder) if n.endswith((".so", ".pyd")))
    except OSError:
        return f"PyYAML at {origin}"
    return f"PyYAML {hashlib.sha256(text).hexdigest()[:16]} {' '.join(compiled)}"


class ParseCache:
    """Parse results in ``<state>/parsed-manifests``, one JSON file per text; the newest 64 kept."""

    KEEP = 64

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "parsed-manifests"

    @staticmethod
    def key(text: str) -> str:
        """The entry's file name: a digest of the text and of the parser that reads it."""
        salt = f"s3lync {__version__} parse format {FORMAT} {pyyaml_identity()}\0".encode()
        # A text handed to the library may hold a lone surrogate (libyaml refuses it later).
        return hashlib.sha256(salt + text.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> Parsed | None:
        """What the parse of the text named ``key`` gave, or None (never seen, or unreadable)."""
        try:
            raw = json.loads((self.folder / key).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            log.debug("cannot read the parsed manifest %s: %s", key, exc)
            return None
        found = _decode(raw)
        if found is None:
            log.debug("parsed manifest %s has the wrong shape; parsing again", key)
        return found

    def put(self, key: str, data: Any, doc: Document) -> None:
        """Keep a parse result under ``key`` (atomically: a reader sees all of it or nothing)."""
        body = _encode(data, doc)
        if body is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.folder / key, body)
            keep_newest(self.folder, self.KEEP, key)
        except OSError as exc:
            log.debug("cannot keep a parsed manifest in %s: %s", self.folder, exc)


def keep_newest(folder: Path, keep: int, written: str) -> None:
    """Delete all but the ``keep`` newest entries of ``folder``, never ``written`` (the one just
    written: another written in the same clock tick has the same mtime)."""
    others = [p for p in folder.iterdir() if p.name != written]
    others.sort(key=lambda p: p.stat().st_mtime)
    for old in others[: max(0, len(others) + 1 - keep)]:
        old.unlink(missing_ok=True)


def _write_atomically(path: Path, body: bytes) -> None:
    import tempfile  # only when an entry is written

    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _plain(value: Any) -> bool:
    """True when JSON gives ``value`` back equal and of the same types (not bytes from
    ``!!binary``, say, which parse lets through for the schema to refuse)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return kind in _SCALARS


def _paths(value: Any, path: DocPath = ()) -> Iterator[DocPath]:
    """Every path in ``value``, the root included: where parse records a position."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _encode(data: Any, doc: Document) -> bytes | None:
    if not _plain(data):
        return None
    positions = [[list(path), *pos.key, *pos.value] for path, pos in doc.positions.items()]
    try:
        text = json.dumps({"data": data, "positions": positions}, separators=(",", ":"))
    except ValueError:  # an int longer than Python turns into text (sys.get_int_max_str_digits)
        return None
    return text.encode("ascii")  # json.dumps escapes everything else


def _is_int(value: Any) -> bool:
    return type(value) is int


def _decode(raw: Any) -> Parsed | None:
    """The entry's data and positions as parse gave them, or None for anything else."""
    if not isinstance(raw, dict) or set(raw) != {"data", "positions"}:
        return None
    data, rows = raw["data"], raw["positions"]
    if not isinstance(data, dict) or not isinstance(rows, list):
        return None
    doc = Document()
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == 5
            and isinstance(row[0], list)
            and all(isinstance(part, str) or _is_int(part) for part in row[0])
            and all(_is_int(n) for n in row[1:])
        ):
            return None
        doc.positions[tuple(row[0])] = Pos((row[1], row[2]), (row[3], row[4]))
    # parse records a position for every value and for nothing else.
    if doc.positions.keys() != set(_paths(data)):
        return None
    return data, doc
