"""``s3lync.lock``: the objects each download mapping is pinned to, as data and as JSON text.

The lock is data, not a plan: per download mapping, every object's key, size, ETag, S3 additional
checksum (where the store gives one) and VersionId (on a versioned bucket), plus a header with the
format version and a digest of the manifest's download mappings. It holds no local state, so it can
be committed and reviewed. The text is deterministic -- mappings and objects sorted, one object per
line, no timestamps -- so two locks of the same remote state are byte-identical and diff well.

Reading is ``json.loads`` plus a plain structural check; only when that check fails (or a lock and
its manifest disagree) is the text scanned again for line numbers, so a large valid lock costs one
parse. Writing, as the objects are listed, is :mod:`s3lync.sync.lockwrite`; the rules that compare a
lock with the manifest and the remote are in :mod:`s3lync.sync.lockrules`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lync.errors import ManifestError, S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.store.objects import RemoteObject
from s3lync.sync.jsonpos import locate
from s3lync.sync.lockname import lock_path as lock_path
from s3lync.uri import S3Uri, parse_s3_uri

log = logging.getLogger(__name__)

LOCK_VERSION = 1
SCHEMA_URL = "https://s3lync.dev/schemas/s3lync.lock.schema.json"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_OBJECT_FIELDS = ("key", "size", "etag", "version_id", "checksum")
_MAPPING_FIELDS = (
    "name",
    "s3",
    "exclude",
    "versioned",
    "object_count",
    "total_bytes",
    "objects_digest",
    "objects",
)


class LockFileError(ManifestError):
    """An ``s3lync.lock`` that cannot be used: unreadable, malformed, edited, or out of step with
    its manifest. ``errors`` holds every problem, each as ``FILE:LINE: message``."""


class LockDriftError(S3lyncError):
    """Objects on an unversioned bucket changed since ``s3lync.lock`` was written."""


@dataclass(frozen=True, slots=True)
class LockedObject:
    """One pinned object."""

    key: str
    size: int
    etag: str | None
    version_id: str | None = None
    checksum: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form, fields in a fixed order, absent ones left out."""
        d: dict[str, Any] = {"key": self.key, "size": self.size, "etag": self.etag}
        if self.version_id is not None:
            d["version_id"] = self.version_id
        if self.checksum:
            d["checksum"] = dict(self.checksum)
        return d


@dataclass(frozen=True)
class LockedMapping:
    """The objects one download mapping is pinned to."""

    name: str | None
    s3: str
    exclude: tuple[str, ...]
    versioned: bool
    objects: tuple[LockedObject, ...]

    @property
    def label(self) -> str:
        """The mapping's name, else its S3 URI (as the manifest labels it)."""
        return self.name or self.s3

    def iter_objects(self) -> Iterator[LockedObject]:
        """The pinned objects, in key order."""
        return iter(self.objects)

    def pinned(self) -> list[RemoteObject]:
        """The pinned objects as a listing (with version ids on a versioned bucket)."""
        return [RemoteObject(o.key, o.size, o.etag, version_id=o.version_id) for o in self.objects]


@dataclass(frozen=True)
class LockFile:
    """A loaded lock: where it is, its manifest digest and its mappings."""

    path: Path
    manifest_digest: str
    mappings: tuple[LockedMapping, ...] = ()
    text: str = field(default="", repr=False, compare=False)

    def find(self, mapping: Mapping) -> LockedMapping | None:
        """The entry for ``mapping`` (by name; unnamed mappings by S3 URI)."""
        for lm in self.mappings:
            if mapping.name is not None:
                if lm.name == mapping.name:
                    return lm
            elif lm.name is None and lm.s3 == mapping.s3_uri:
                return lm
        return None

    def line_of(self, *paths: tuple[str | int, ...]) -> list[int]:
        """Line numbers (1-based) of JSON paths in the file, for error messages."""
        found = locate(self.text, set(paths))
        return [found.get(p, 1) for p in paths]


# --------------------------------------------------------------------------- paths and digests


def canonical(value: Any) -> bytes:
    """The canonical JSON the digests are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def objects_digest(objects: Sequence[dict[str, Any]]) -> str:
    """``sha256:`` of the canonical JSON of an object list."""
    return "sha256:" + hashlib.sha256(canonical(list(objects))).hexdigest()


def manifest_digest(mappings: Iterable[Mapping]) -> str:
    """``sha256:`` over what decides the locked objects: each download mapping's name, s3, exclude."""
    rows = sorted(
        [m.name or "", m.s3_uri, list(m.filter_key)]
        for m in mappings
        if m.direction is Direction.DOWNLOAD
    )
    return "sha256:" + hashlib.sha256(canonical(rows)).hexdigest()


# --------------------------------------------------------------------------- reading


@functools.cache
def lock_schema() -> dict[str, Any]:
    """The lock file's JSON Schema, as shipped inside the package."""
    import importlib.resources  # ~5 ms: only where the schema is read

    resource = importlib.resources.files("s3lync.manifest") / "schemas" / "s3lync.lock.schema.json"
    loaded: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def load(path: Path) -> LockFile:
    """Read and check a lock file; every problem is a :class:`LockFileError` naming FILE:LINE."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockFileError(f"{path}: no such lock file; run 's3lync lock' to write it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise LockFileError(
            f"{path}:{exc.lineno}: not a valid lock file{hint}: {exc.msg} at column {exc.colno}; "
            "run 's3lync lock' to rewrite it"
        ) from None
    if not isinstance(data, dict):
        raise LockFileError(f"{path}:1: not a lock file: the top level is not a JSON object")
    version = data.get("lock_version")
    if version != LOCK_VERSION:
        line = locate(text, {("lock_version",)}).get(("lock_version",), 1)
        raise LockFileError(
            f"{path}:{line}: lock_version {version!r} is not supported (this s3lync reads "
            f"{LOCK_VERSION}); run 's3lync lock' to rewrite it"
        )
    if not _looks_valid(data):
        _raise_schema_errors(path, text, data)
    lf = LockFile(
        path=path,
        manifest_digest=data["manifest_digest"],
        mappings=tuple(_mapping(d) for d in data["mappings"]),
        text=text,
    )
    _check_integrity(lf, data)
    return lf


def _mapping(d: dict[str, Any]) -> LockedMapping:
    return LockedMapping(
        name=d["name"],
        s3=d["s3"],
        exclude=tuple(d["exclude"]),
        versioned=d["versioned"],
        objects=tuple(
            LockedObject(
                key=o["key"],
                size=o["size"],
                etag=o["etag"],
                version_id=o.get("version_id"),
                checksum=tuple(sorted(o.get("checksum", {}).items())),
            )
            for o in d["objects"]
        ),
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _looks_valid(data: dict[str, Any]) -> bool:
    """A plain check that decides valid locks fast (jsonschema then explains invalid ones)."""
    if set(data) - {"$schema", "lock_version", "manifest_digest", "mappings"}:
        return False
    digest, mappings = data.get("manifest_digest"), data.get("mappings")
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        return False
    if not isinstance(mappings, list):
        return False
    for m in mappings:
        if not isinstance(m, dict) or set(m) != set(_MAPPING_FIELDS):
            return False
        if not (m["name"] is None or (isinstance(m["name"], str) and m["name"])):
            return False
        if not isinstance(m["s3"], str) or not isinstance(m["versioned"], bool):
            return False
        if not isinstance(m["exclude"], list) or not all(isinstance(x, str) for x in m["exclude"]):
            return False
        if not _is_int(m["object_count"]) or not _is_int(m["total_bytes"]):
            return False
        if not isinstance(m["objects_digest"], str) or not _DIGEST_RE.match(m["objects_digest"]):
            return False
        objects = m["objects"]
        if not isinstance(objects, list):
            return False
        for o in objects:
            if not isinstance(o, dict) or not {"key", "size", "etag"} <= set(o):
                return False
            if set(o) - set(_OBJECT_FIELDS):
                return False
            if not isinstance(o["key"], str) or not o["key"] or not _is_int(o["size"]):
                return False
            if not (o["etag"] is None or isinstance(o["etag"], str)):
                return False
            v = o.get("version_id", "")
            if not isinstance(v, str) or ("version_id" in o and not v):
                return False
            c = o.get("checksum", {})
            if not isinstance(c, dict) or not all(isinstance(x, str) for x in c.values()):
                return False
    return True


def _raise_schema_errors(path: Path, text: str, data: Any) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(lock_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:  # the plain check is stricter than the schema somewhere: say so plainly
        raise LockFileError(f"{path}:1: not a valid lock file; run 's3lync lock' to rewrite it")
    paths = {tuple(e.absolute_path) for e in errors[:20]}
    lines = locate(text, paths)
    messages = []
    for e in errors[:20]:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        line = lines.get(tuple(e.absolute_path), 1)
        messages.append(f"{path}:{line}: {where}: {e.message}")
    if len(errors) > 20:
        messages.append(f"{path}: (+{len(errors) - 20} more problems)")
    messages[-1] += "; run 's3lync lock' to rewrite the lock"
    raise LockFileError(messages[0], messages)


def _check_integrity(lf: LockFile, data: dict[str, Any]) -> None:
    """Counts, order and digests: a lock edited by hand (or merged badly) is refused, with its line."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, (lm, raw) in enumerate(zip(lf.mappings, data["mappings"], strict=True)):
        try:
            uri = parse_s3_uri(lm.s3)
        except S3lyncError as exc:
            problems.append((("mappings", i, "s3"), str(exc)))
            continue
        keys = [o.key for o in lm.objects]
        for j in range(1, len(keys)):
            if keys[j] <= keys[j - 1]:
                why = "appears twice" if keys[j] == keys[j - 1] else "is out of order"
                problems.append((("mappings", i, "objects", j), f"key {keys[j]!r} {why}"))
                break
        outside = next((j for j, k in enumerate(keys) if not _under(uri, k)), None)
        if outside is not None:
            problems.append(
                (("mappings", i, "objects", outside), f"key {keys[outside]!r} is not under {lm.s3}")
            )
        if raw["object_count"] != len(keys):
            problems.append(
                (
                    ("mappings", i, "object_count"),
                    f"object_count is {raw['object_count']} but {len(keys)} objects are listed",
                )
            )
        if raw["total_bytes"] != sum(o.size for o in lm.objects):
            problems.append((("mappings", i, "total_bytes"), "total_bytes does not add up"))
        if objects_digest(raw["objects"]) != raw["objects_digest"]:
            problems.append(
                (
                    ("mappings", i, "objects_digest"),
                    f"mapping {lm.label!r}: the objects do not match objects_digest (edited by "
                    "hand?)",
                )
            )
        if lm.versioned and any(o.version_id is None for o in lm.objects):
            j = next(j for j, o in enumerate(lm.objects) if o.version_id is None)
            problems.append((("mappings", i, "objects", j), "versioned mapping without version_id"))
    labels = [(lm.name, lm.s3 if lm.name is None else "") for lm in lf.mappings]
    for i, key in enumerate(labels):
        if key in labels[:i]:
            problems.append((("mappings", i), f"mapping {lf.mappings[i].label!r} appears twice"))
    if problems:
        raise_at(lf, problems, "run 's3lync lock' to rewrite the lock")


def _under(uri: S3Uri, key: str) -> bool:
    if uri.is_prefix:
        return key.startswith(uri.key)
    return key == uri.key or key.startswith(uri.key + "/")


def raise_at(lf: LockFile, problems: list[tuple[tuple[str | int, ...], str]], hint: str) -> None:
    """Refuse ``lf``: a :class:`LockFileError` naming each problem's FILE:LINE, then ``hint``."""
    lines = lf.line_of(*(p for p, _ in problems))
    messages = [f"{lf.path}:{line}: {msg}" for line, (_, msg) in zip(lines, problems, strict=True)]
    messages[-1] += f"; {hint}"
    raise LockFileError(messages[0] if len(messages) == 1 else "\n".join(messages), messages)
