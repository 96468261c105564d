"""Load ``s3lync.yaml``: YAML with line numbers, ``${VAR}`` filling, schema and semantic checks -> Mappings."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping as StrMapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3lync.errors import ManifestError
from s3lync.filters import EXCLUDE, INCLUDE, glob_to_regex
from s3lync.manifest.checks import (
    SUPPORTED_VERSION,
    close_matches,
    excludes,
    load_schema,
    resolve_local,
    schema_file,
    schema_key,
    schema_problems,
    setting,
    strict_schema,
    value_loc,
)
from s3lync.manifest.conforms import conforms
from s3lync.manifest.parsecache import keep_newest, parse_cached
from s3lync.manifest.semantics import semantic_problems
from s3lync.manifest.yamldoc import DocPath as _Path
from s3lync.manifest.yamldoc import Document, Problem, line_col, quote, shorten
from s3lync.manifest.yamldoc import Fatal as _Fatal
from s3lync.mapping import Direction, Mapping
from s3lync.settings import environ_snapshot, state_dir_in
from s3lync.upload_args import check_extra_args

__all__ = [
    "MAX_MANIFEST_BYTES",
    "STARTER_MANIFEST",
    "Manifest",
    "load_manifest",
    "load_schema",
    "schema_path",
    "schema_reference",
    "starter_manifest",
    "validate_document",
]

log = logging.getLogger(__name__)


def schema_path() -> Path:
    """The JSON Schema file shipped in the package (what ``s3lync schema --path`` prints)."""
    return schema_file()


def schema_reference(manifest: str | os.PathLike[str]) -> str:
    """How ``manifest`` names the shipped schema so an editor finds it offline.

    A path relative to the manifest when the schema is inside the manifest's project (a virtual
    environment or a checkout in it: the reference then holds on every clone made the same way),
    else a ``file://`` URI of the installed file. The YAML language server reads either.
    """
    folder = Path(os.path.abspath(manifest)).parent
    schema = schema_path().resolve()
    root = next(
        (
            d
            for d in (folder, *folder.parents)
            if (d / ".git").exists() or (d / "pyproject.toml").exists()
        ),
        folder,
    )
    if schema.is_relative_to(root.resolve()):
        return Path(os.path.relpath(schema, folder.resolve())).as_posix()
    return schema.as_uri()


def starter_manifest(schema_ref: str) -> str:
    """The commented manifest ``s3lync init`` writes, pointing editors at ``schema_ref``."""
    return _STARTER.replace("{schema}", schema_ref)


_STARTER = """\
# yaml-language-server: $schema={schema}
# (the JSON Schema installed with s3lync: `s3lync schema` prints it, `s3lync schema --path` names it)
#
# s3lync manifest: S3 <-> local mappings kept in sync with plan/apply.
#   s3lync validate   # check this file
#   s3lync plan       # show what would change (changes nothing)
#   s3lync apply      # make the changes
# Any string may use ${VAR} or ${VAR:-default} from the environment; write $${ for a literal ${.
version: 1

# Inherited by every mapping unless the mapping sets its own; exclude lists are added together.
defaults:
  region: ${AWS_REGION:-us-east-1}
  # endpoint_url: http://127.0.0.1:9000   # MinIO, R2, Ceph or a local test server
  # profile: dev
  check_hash: true        # or strict: a transfer that cannot be verified is an error

mappings:
  # Download a prefix into a folder beside this file.
  - name: datasets
    s3: s3://my-bucket/datasets/
    local: data/datasets        # relative to this file's folder
    direction: download         # download (S3 -> local) | upload (local -> S3)
    exclude: '.*\\.tmp$'         # one regex or a list, searched in the path relative to the mapping root
    force_sync: false           # true: transfer everything and delete target-only files
    delete: false               # true: mirror, deleting target-only files (unchanged files still skipped)

  # Upload a folder to a prefix.
  # - name: reports
  #   s3: s3://my-bucket/reports/
  #   local: reports
  #   direction: upload
  #   exclude:
  #     - '(^|/)\\.'            # dot files
"""

#: The starter with the installed schema's own location (``s3lync init`` writes it relative).
STARTER_MANIFEST = starter_manifest(schema_path().as_uri())


_BOOL_FIELDS = frozenset(
    {"check_hash", "force_sync", "delete", "follow_symlinks", "allow_missing", "legacy_bucket_name"}
)
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_REF_RE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")
# A real manifest is a few KiB: a bigger file is almost surely something else given with -f (a log),
# refused before it is parsed or quoted back.
MAX_MANIFEST_BYTES = 1024 * 1024
# More errors than this are summed up in one line: the first ones are what a person fixes first.
MAX_ERRORS = 50


@dataclass(frozen=True)
class Manifest:
    """A loaded, validated manifest: its absolute path, version and mappings in file order.

    ``warnings`` are ``FILE:LINE:COL: field: message`` lines about a valid manifest that may not do
    what was meant (one mapping reading what another writes).
    """

    path: Path
    version: int
    mappings: tuple[Mapping, ...]
    warnings: tuple[str, ...] = ()

    def select(self, names: Sequence[str]) -> tuple[Mapping, ...]:
        """The mappings named (by name, or S3 URI for unnamed ones), in file order; none named -> all."""
        if not names:
            return self.mappings
        wanted = set(names)
        labels = [m.label for m in self.mappings]
        unknown = [n for n in dict.fromkeys(names) if n not in labels]
        if unknown:
            known = [m.name for m in self.mappings if m.name]
            hint = f"known: {', '.join(known)}" if known else "no mapping has a name; add `name:`"
            errors = []
            for n in unknown:
                close = close_matches(n, labels)
                mean = f"did you mean {close[0]!r}? " if close else ""
                errors.append(f"{self.path}: unknown mapping {quote(n)} ({mean}{hint})")
            raise ManifestError(errors[0] if len(errors) == 1 else "\n".join(errors), errors)
        return tuple(m for m in self.mappings if m.label in wanted)


def load_manifest(
    path: str | os.PathLike[str], environ: StrMapping[str, str] | None = None
) -> Manifest:
    """Read and validate a manifest file; raise ManifestError listing every problem found."""
    shown = os.fspath(path)
    try:
        with open(shown, "rb") as f:
            data = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{shown}: no such file (create one with `s3lync init`)") from None
    except IsADirectoryError:
        raise ManifestError(f"{shown}: is a folder, not a manifest file") from None
    except OSError as exc:
        raise ManifestError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{shown}: larger than {MAX_MANIFEST_BYTES // 1024 // 1024} MiB, the most a manifest "
            "may be; is it the right file?"
        )
    return validate_document(
        _decode(data, shown), shown, Path(os.path.abspath(shown)).parent, environ
    )


def _decode(data: bytes, shown: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")  # valid: the first bad byte is at exc.start
        line, col = line_col(before, len(before))
        what = f"{exc.reason}: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            what += "; it looks like UTF-16"
        raise ManifestError(
            f"{shown}:{line}:{col}: not UTF-8 text ({what}); save it as UTF-8"
        ) from None


def validate_document(
    text: str, filename: str, base_dir: Path, environ: StrMapping[str, str] | None = None
) -> Manifest:
    """Validate manifest text; ``filename`` is shown in errors, ``base_dir`` anchors relative paths."""
    # ${VAR} reads the environment snapshot a Settings took (settings.py is the one reader).
    env = environ_snapshot() if environ is None else environ
    base_dir = Path(os.path.abspath(base_dir))
    if len(text) > MAX_MANIFEST_BYTES:
        limit = MAX_MANIFEST_BYTES // 1024 // 1024
        raise ManifestError(f"{filename}: larger than {limit} MiB, the most a manifest may be")
    try:
        data, builder = parse_cached(text, env)
        data = _fill(data, (), env, builder)
        _check_version(data, builder)
        # A document that certainly conforms needs no jsonschema (conforms.py); any doubt, and
        # every error's wording, is jsonschema's, whose passes are remembered.
        valid = _KnownValid(env)
        key = "" if conforms(data, strict_schema()) else schema_key(data)
        known = not key or valid.holds(key)
        schema = [] if known else schema_problems(data, builder.positions)
        semantic, warned = semantic_problems(data, base_dir, builder.positions)
    except _Fatal as exc:
        line, col = exc.loc
        raise ManifestError(f"{filename}:{line}:{col}: {exc}") from None
    # A value is reported once: one that could not be read or filled is not checked again, and a
    # value the schema refused is not refused again by a semantic rule.
    refused = builder.bad | {p.path for p in schema if not p.about_key}
    problems = (
        builder.problems
        + [p for p in schema if p.about_key or p.path not in builder.bad]
        + [p for p in semantic if p.path not in refused]
    )
    errors = _lines(filename, problems)
    if errors:
        total = len(errors)
        if total > MAX_ERRORS:
            errors = [
                *errors[:MAX_ERRORS],
                f"{filename}: ... and {total - MAX_ERRORS} more error(s)",
            ]
        if total == 1:
            raise ManifestError(errors[0], errors)
        raise ManifestError(f"{total} error(s) in {filename}:\n" + "\n".join(errors), errors)
    if not known:
        valid.add(key)
    manifest = Manifest(
        path=base_dir / Path(filename).name,
        version=SUPPORTED_VERSION,
        mappings=_to_mappings(data, base_dir),
        warnings=tuple(_lines(filename, warned)),
    )
    log.debug("loaded %s: %d mapping(s)", manifest.path, len(manifest.mappings))
    return manifest


class _KnownValid:
    """Documents that passed the JSON Schema before, by :func:`checks.schema_key` (state folder).

    The schema check is a pure function of the filled document and the schema, so its answer is
    kept: a document conforms.py cannot vouch for is checked by jsonschema (~150 ms with its
    import) once. The semantic checks, which look at the file system, run every time. The newest
    64 are kept.
    """

    KEEP = 64

    def __init__(self, env: StrMapping[str, str]) -> None:
        self.folder = state_dir_in(env) / "valid-manifests"

    def holds(self, key: str) -> bool:
        """True when a document with this key passed the schema before."""
        return (self.folder / key).is_file()

    def add(self, key: str) -> None:
        """Remember that the document with this key passed (best effort: it is only a cache)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / key).touch()
            keep_newest(self.folder, self.KEEP, key)
        except OSError as exc:
            log.debug("cannot remember a valid manifest in %s: %s", self.folder, exc)


def _lines(filename: str, problems: list[Problem]) -> list[str]:
    return [f"{filename}:{p.line}:{p.col}: {p.path}: {p.message}" for p in sorted(set(problems))]


# --- ${VAR} filling --------------------------------------------------------------------------------


def _fill(value: Any, path: _Path, env: StrMapping[str, str], builder: Document) -> Any:
    """Fill ``${VAR}`` / ``${VAR:-default}`` in every string value (keys are left alone)."""
    if isinstance(value, dict):
        return {k: _fill(v, (*path, k), env, builder) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, (*path, i), env, builder) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name is None:
            missing.append("malformed '${': write ${NAME} or ${NAME:-default}; $${ is a literal ${")
            return match.group(0)
        found = env.get(name)
        if default is not None and not found:  # shell semantics: unset or empty takes the default
            return default
        if found is None:
            missing.append(f"environment variable {shorten(name)} is not set")
            return match.group(0)
        return found

    filled = _REF_RE.sub(substitute, value)
    loc = value_loc(builder.positions, path)
    for message in dict.fromkeys(missing):
        builder.problem(loc, path, message, bad=True)
    # `check_hash: ${CHECK:-true}` should work in CI, so a filled boolean field is read as a boolean.
    if path and path[-1] in _BOOL_FIELDS and filled.lower() in _BOOL_WORDS and filled != value:
        return _BOOL_WORDS[filled.lower()]
    return filled


def _check_version(data: Any, builder: Document) -> None:
    # A newer format may legitimately use keys this s3lync does not know, so say only that.
    version = data.get("version", SUPPORTED_VERSION)
    if isinstance(version, int) and not isinstance(version, bool) and version != SUPPORTED_VERSION:
        loc = value_loc(builder.positions, ("version",))
        message = f"version: unsupported version {version}; this s3lync reads version 1"
        raise _Fatal(loc, message)


# --- the Mapping objects ---------------------------------------------------------------------------


def _exclude(item: dict[str, Any]) -> list[str]:
    return excludes(item.get("exclude")) + [
        glob_to_regex(g) for g in excludes(item.get("exclude_glob"))
    ]


_FILTER_KEYS = {
    "exclude": (EXCLUDE, False),
    "exclude_glob": (EXCLUDE, True),
    "include": (INCLUDE, False),
    "include_glob": (INCLUDE, True),
}


def _rules(item: dict[str, Any]) -> list[tuple[str, str]]:
    """The filters of one mapping (or of ``defaults``), in the order their keys are written."""
    out = []
    for key, value in item.items():
        if key in _FILTER_KEYS:
            kind, glob = _FILTER_KEYS[key]
            out += [(kind, glob_to_regex(p) if glob else p) for p in excludes(value)]
    return out


def _filters(defaults: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """``exclude`` (excludes only, as before) or ordered ``filters`` once an include is given."""
    rules = [*_rules(defaults), *_rules(item)]
    if all(kind == EXCLUDE for kind, _ in rules):
        return {"exclude": tuple(dict.fromkeys([*_exclude(defaults), *_exclude(item)]))}
    return {"filters": tuple(rules)}


def _to_mappings(data: dict[str, Any], base_dir: Path) -> tuple[Mapping, ...]:
    """Build Mappings from a document that passed every check: defaults inherited, paths resolved."""
    defaults: dict[str, Any] = data.get("defaults") or {}
    result = []
    for item in data["mappings"]:
        check_hash = setting(item, defaults, "check_hash")
        result.append(
            Mapping(
                s3_uri=item["s3"],
                # A trailing "/" means "inside this folder" for a single object (as aws s3 cp).
                local=resolve_local(item["local"], base_dir)
                + (os.sep if item["local"].endswith(("/", os.sep)) else ""),
                direction=Direction(item["direction"]),
                name=item.get("name"),
                **_filters(defaults, item),
                force_sync=bool(item.get("force_sync", False)),
                delete=bool(item.get("delete", False)),
                check_hash=True if check_hash is None else bool(check_hash),
                require_verified=check_hash == "strict",
                follow_symlinks=bool(item.get("follow_symlinks", False)),
                allow_missing=bool(item.get("allow_missing", False)),
                max_delete=setting(item, defaults, "max_delete"),
                region=setting(item, defaults, "region"),
                endpoint_url=setting(item, defaults, "endpoint_url"),
                profile=setting(item, defaults, "profile"),
                connect_timeout=defaults.get("connect_timeout"),
                read_timeout=defaults.get("read_timeout"),
                # The schema allowed only known keys; a mapping's own win over defaults'.
                extra_args=check_extra_args(
                    {**(defaults.get("extra_args") or {}), **(item.get("extra_args") or {})},
                    "extra_args",
                ),
            )
        )
    return tuple(result)
