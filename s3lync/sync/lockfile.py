"""``s3lync.lock``: the objects each download mapping is pinned to, read, written and checked.

The lock is data, not a plan: per download mapping, every object's key, size, ETag, S3 additional
checksum (where the store gives one) and VersionId (on a versioned bucket), plus a header with the
format version and a digest of the manifest's download mappings. It holds no local state, so it can
be committed and reviewed. The text is deterministic -- mappings and objects sorted, one object per
line, no timestamps -- so two locks of the same remote state are byte-identical and diff well.

Reading is ``json.loads`` plus a plain structural check; only when that check fails (or a lock and
its manifest disagree) is the text scanned again for line numbers, so a large valid lock costs one
parse.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import logging
import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3lync.errors import ManifestError, S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.store.objects import RemoteObject
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

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``objects_digest`` guards the object list against hand edits)."""
        objects = [o.to_dict() for o in self.objects]
        return {
            "name": self.name,
            "s3": self.s3,
            "exclude": list(self.exclude),
            "versioned": self.versioned,
            "object_count": len(objects),
            "total_bytes": sum(o.size for o in self.objects),
            "objects_digest": objects_digest(objects),
            "objects": objects,
        }

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


def lock_path(manifest: str | os.PathLike[str]) -> Path:
    """``s3lync.lock`` beside ``s3lync.yaml`` (``ci.yaml`` -> ``ci.lock``)."""
    p = Path(manifest)
    return p.with_name(p.stem + ".lock")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def objects_digest(objects: Sequence[dict[str, Any]]) -> str:
    """``sha256:`` of the canonical JSON of an object list."""
    return "sha256:" + hashlib.sha256(_canonical(list(objects))).hexdigest()


def manifest_digest(mappings: Iterable[Mapping]) -> str:
    """``sha256:`` over what decides the locked objects: each download mapping's name, s3, exclude."""
    rows = sorted(
        [m.name or "", m.s3_uri, list(m.filter_key)]
        for m in mappings
        if m.direction is Direction.DOWNLOAD
    )
    return "sha256:" + hashlib.sha256(_canonical(rows)).hexdigest()


# --------------------------------------------------------------------------- writing


def render(digest: str, mappings: Iterable[LockedMapping]) -> str:
    """The lock's text: deterministic, one object per line."""
    ordered = sorted(mappings, key=lambda m: (m.name or "", m.s3))
    out = [
        "{",
        f'  "$schema": {json.dumps(SCHEMA_URL)},',
        f'  "lock_version": {LOCK_VERSION},',
        f'  "manifest_digest": {json.dumps(digest)},',
        '  "mappings": [',
    ]
    for i, lm in enumerate(ordered):
        d = lm.to_dict()
        out.append("    {")
        for name in _MAPPING_FIELDS[:-1]:
            out.append(f"      {json.dumps(name)}: {_dumps(d[name])},")
        objects = d["objects"]
        if not objects:
            out.append('      "objects": []')
        else:
            out.append('      "objects": [')
            out.extend(
                f"        {_dumps(o)}{',' if j < len(objects) - 1 else ''}"
                for j, o in enumerate(objects)
            )
            out.append("      ]")
        out.append("    }" + ("," if i < len(ordered) - 1 else ""))
    out += ["  ]", "}", ""]
    return "\n".join(out)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def write(path: Path, text: str) -> bool:
    """Write the lock atomically; False when the file already holds exactly ``text``."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


# --------------------------------------------------------------------------- reading


@functools.cache
def lock_schema() -> dict[str, Any]:
    """The lock file's JSON Schema, as shipped inside the package."""
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
        _raise_at(lf, problems, "run 's3lync lock' to rewrite the lock")


def _under(uri: S3Uri, key: str) -> bool:
    if uri.is_prefix:
        return key.startswith(uri.key)
    return key == uri.key or key.startswith(uri.key + "/")


def _raise_at(lf: LockFile, problems: list[tuple[tuple[str | int, ...], str]], hint: str) -> None:
    lines = lf.line_of(*(p for p, _ in problems))
    messages = [f"{lf.path}:{line}: {msg}" for line, (_, msg) in zip(lines, problems, strict=True)]
    messages[-1] += f"; {hint}"
    raise LockFileError(messages[0] if len(messages) == 1 else "\n".join(messages), messages)


# --------------------------------------------------------------------------- lock + manifest


def check_manifest(
    lf: LockFile,
    mappings: Sequence[Mapping],
    selected: Sequence[Mapping],
    manifest_path: str | os.PathLike[str],
) -> None:
    """The lock and the manifest together: every entry names a current download mapping with the
    same s3 and exclude, and every selected download mapping is locked."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, lm in enumerate(lf.mappings):
        m = next(
            (
                x
                for x in mappings
                if (
                    x.name == lm.name
                    if lm.name is not None
                    else x.name is None and x.s3_uri == lm.s3
                )
            ),
            None,
        )
        if m is None:
            problems.append(
                (
                    ("mappings", i, "name"),
                    f"mapping {lm.label!r} is locked but is not in {manifest_path}",
                )
            )
        elif m.direction is not Direction.DOWNLOAD:
            problems.append(
                (
                    ("mappings", i, "name"),
                    f"mapping {lm.label!r} is an upload; uploads are not locked",
                )
            )
        elif m.s3_uri != lm.s3:
            problems.append(
                (
                    ("mappings", i, "s3"),
                    f"mapping {lm.label!r} was locked at {lm.s3}, the manifest now says {m.s3_uri}",
                )
            )
        elif m.filter_key != lm.exclude:
            problems.append(
                (
                    ("mappings", i, "exclude"),
                    f"mapping {lm.label!r}: exclude changed since the lock was written",
                )
            )
    if problems:
        _raise_at(lf, problems, "run 's3lync lock' to rewrite the lock")
    missing = [
        m.label for m in selected if m.direction is Direction.DOWNLOAD and lf.find(m) is None
    ]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise LockFileError(
            f"{manifest_path}: mapping {names} is not in {lf.path}; run 's3lync lock' to add it "
            "(or --no-lock to ignore the lock)"
        )
    everything_locked = all(
        lf.find(m) is not None for m in mappings if m.direction is Direction.DOWNLOAD
    )
    if everything_locked and manifest_digest(mappings) != lf.manifest_digest:
        _raise_at(
            lf,
            [
                (
                    ("manifest_digest",),
                    f"manifest_digest does not match {manifest_path} (edited by hand?)",
                )
            ],
            "run 's3lync lock' to rewrite the lock",
        )


def drift(
    lm: LockedMapping, current: Iterable[RemoteObject]
) -> tuple[list[str], list[str], list[str]]:
    """(changed, removed, added) keys between a locked mapping and the objects now listed."""
    now = {o.key: o for o in current}
    changed, removed = [], []
    for o in lm.objects:
        c = now.pop(o.key, None)
        if c is None:
            removed.append(o.key)
        elif (
            c.size != o.size or c.etag != o.etag or (lm.versioned and c.version_id != o.version_id)
        ):
            changed.append(o.key)
    return changed, removed, sorted(now)


def drift_message(lf: LockFile, lm: LockedMapping, changed: list[str], removed: list[str]) -> str:
    """``N objects changed since s3lync.lock was written: ...; run 's3lync lock' to accept``."""
    keys = [f"{k} (changed)" for k in changed] + [f"{k} (deleted)" for k in removed]
    shown = ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
    n = len(keys)
    return (
        f"mapping {lm.label!r}: {n} object{'s' if n != 1 else ''} changed since {lf.path.name} was "
        f"written: {shown}; nothing was changed. Run 's3lync lock' to accept the new objects"
    )


# --------------------------------------------------------------------------- positions


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


# --------------------------------------------------------------------------- taking a lock


def scope(uri: S3Uri, listed: Sequence[Any], rules: Sequence[tuple[str, str]]) -> list[Any]:
    """The listed objects a download mapping syncs: what its plan would see (same filters)."""
    from s3lync.filters import matcher

    if uri.is_prefix:
        root, objs = uri.key, list(listed)
    else:
        children = [o for o in listed if o.key.startswith(uri.key + "/")]
        if not children:
            return [o for o in listed if o.key == uri.key]
        root, objs = uri.key + "/", children
    match = matcher(rules)
    return [o for o in objs if o.key != root and (match is None or not match(o.key[len(root) :]))]


def take(
    remote: Any, mapping: Mapping, *, checksums: bool = True, workers: int = 16
) -> LockedMapping:
    """List one download mapping's objects as they are now and pin them.

    One ListObjectsV2 (ListObjectVersions on a versioned bucket), plus, with ``checksums``, one
    concurrent HEAD (checksum mode) per object whose listing names an additional checksum.
    """
    from concurrent.futures import ThreadPoolExecutor

    uri = parse_s3_uri(mapping.s3_uri)
    versioned = remote.is_versioned(uri.bucket)
    listed = sorted(
        scope(uri, list(remote.list_for_lock(uri.bucket, uri.key, versioned)), mapping.rules),
        key=lambda o: o.key,
    )
    sums: dict[str, dict[str, str]] = {}
    todo = [o for o in listed if checksums and o.checksum_algorithm]
    if todo:
        log.info("reading the checksums of %d object(s)", len(todo))

        def one(o: Any) -> tuple[str, dict[str, str]]:
            return o.key, remote.checksum(uri.bucket, o.key, o.version_id)

        with ThreadPoolExecutor(max(1, min(workers, len(todo)))) as pool:
            sums = dict(pool.map(one, todo))
    return LockedMapping(
        name=mapping.name,
        s3=mapping.s3_uri,
        exclude=mapping.filter_key,
        versioned=versioned,
        objects=tuple(
            LockedObject(
                key=o.key,
                size=o.size,
                etag=o.etag,
                version_id=o.version_id if versioned else None,
                checksum=tuple(sorted(sums.get(o.key, {}).items())),
            )
            for o in listed
        ),
    )
