"""Plain data for the engine: a Mapping (what to sync), Operations and the Plan, with a JSON round trip."""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TextIO

from s3lync.errors import S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.uri import parse_s3_uri

PLAN_FORMAT_VERSION = 1


class OpKind(str, enum.Enum):
    """What an operation does to the target side; the value is its diff symbol's name."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MKDIR = "mkdir"

    @property
    def symbol(self) -> str:
        """The one-character diff symbol (``+``, ``~``, ``-``)."""
        return {"create": "+", "update": "~", "delete": "-", "mkdir": "+"}[self.value]


@dataclass(frozen=True, slots=True)
class Operation:
    """One change to the target side.

    ``rel`` is the path relative to the mapping root with ``/`` separators (``""`` for a single-file
    mapping). ``source_etag`` / ``source_md5`` fingerprint the source as it was when planned, and the
    ``target_*`` fields the target it replaces or deletes (``target_etag`` remotely; size, mtime_ns
    and inode locally; all None when the target did not exist), so a saved plan can tell whether the
    world has changed since, and every write can check that it overwrites what was planned.
    """

    kind: OpKind
    rel: str
    key: str
    local_path: str
    size: int
    reason: str
    source_etag: str | None = None
    source_md5: str | None = None
    source_mtime_ns: int | None = None
    target_etag: str | None = None
    target_size: int | None = None
    target_mtime_ns: int | None = None
    target_inode: int | None = None
    version_id: str | None = None  # the S3 version to GET (pinned by s3lync.lock)

    @property
    def target_state(self) -> tuple[str | None, int | None, int | None, int | None]:
        """What the target was when planned: (ETag, size, mtime_ns, inode)."""
        return (self.target_etag, self.target_size, self.target_mtime_ns, self.target_inode)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        # Not dataclasses.asdict: its recursive copy made saving a million operations cost more
        # than planning them (docs/scale.md); every field is a str, int or None.
        d = {name: getattr(self, name) for name in _OPERATION_FIELDS}
        d["kind"] = self.kind.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Operation:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["kind"] = OpKind(d["kind"])
        return cls(**d)


_OPERATION_FIELDS = tuple(f.name for f in fields(Operation))


@dataclass(frozen=True)
class Problem:
    """Something the planner refused or could not decide; ``fatal`` problems fail the run.

    ``blocks`` marks a problem with the mapping as a whole (a missing source, a local file where a
    folder must be): such a mapping is not applied at all, rather than failing file by file.
    """

    key: str
    message: str
    fatal: bool = True
    blocks: bool = False
    # The ApplyPolicy setting that would allow what was refused ("allow_empty_source"): each
    # face names it in its own words (a flag, a keyword argument).
    allowed_by: str | None = None

    def text(self, allow: str = "{}") -> str:
        """The message, with ``allow`` (a format naming the setting) when one would allow it."""
        if self.allowed_by is None:
            return self.message
        return f"{self.message} ({allow.format(self.allowed_by)} allows it)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class Comparison(str, enum.Enum):
    """How a mapping's files were compared with their objects."""

    # Content: the local MD5 against the store's ETag (or checksum, or md5chksum).
    CONTENT = "content"
    # The store gives no ETags: size, and the timestamps s3lync set (as ``aws s3 sync`` does).
    SIZE_AND_TIME = "size-and-time"


@dataclass(frozen=True)
class MappingPlan:
    """The operations for one mapping, plus what was left unchanged and what was refused."""

    mapping: Mapping
    bucket: str
    root_key: str
    is_dir: bool
    operations: tuple[Operation, ...] = ()
    unchanged: int = 0
    unchanged_bytes: int = 0
    unchanged_paths: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    comparison: Comparison = Comparison.CONTENT
    # A single-object mapping: the object's ETag when planned (None: there was none). It names the
    # version a download brought (its GET carried If-Match with it) or found equal, so that
    # ``open("a")`` can upload only over that version. Not saved: a saved plan has its operations.
    remote_etag: str | None = field(default=None, compare=False)

    @property
    def blocking(self) -> tuple[Problem, ...]:
        """Problems that keep this whole mapping from being applied."""
        return tuple(p for p in self.problems if p.fatal and p.blocks)

    @property
    def transfers(self) -> tuple[Operation, ...]:
        """Operations that move bytes (create and update)."""
        return tuple(o for o in self.operations if o.kind in (OpKind.CREATE, OpKind.UPDATE))

    @property
    def deletes(self) -> tuple[Operation, ...]:
        """Operations that delete on the target side."""
        return tuple(o for o in self.operations if o.kind is OpKind.DELETE)

    @property
    def bytes_to_transfer(self) -> int:
        """Total size of the transfers."""
        return sum(o.size for o in self.transfers)

    def count(self, kind: OpKind) -> int:
        """How many operations of this kind."""
        return sum(1 for o in self.operations if o.kind is kind)

    def to_dict(self, *, operations: bool = True) -> dict[str, Any]:
        """JSON-ready form (``operations=False``: with an empty operation list)."""
        return {
            "mapping": self.mapping.to_dict(),
            "bucket": self.bucket,
            "root_key": self.root_key,
            "is_dir": self.is_dir,
            "operations": [o.to_dict() for o in self.operations] if operations else [],
            "unchanged": self.unchanged,
            "unchanged_bytes": self.unchanged_bytes,
            "unchanged_paths": list(self.unchanged_paths),
            "problems": [p.to_dict() for p in self.problems],
            "comparison": self.comparison.value,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MappingPlan:
        """Inverse of :meth:`to_dict`."""
        return cls(
            mapping=Mapping.from_dict(d["mapping"]),
            bucket=d["bucket"],
            root_key=d["root_key"],
            is_dir=bool(d["is_dir"]),
            operations=tuple(Operation.from_dict(o) for o in d["operations"]),
            unchanged=int(d["unchanged"]),
            unchanged_bytes=int(d.get("unchanged_bytes", 0)),
            unchanged_paths=tuple(d.get("unchanged_paths", ())),
            problems=tuple(Problem(**p) for p in d.get("problems", ())),
            comparison=Comparison(d.get("comparison", Comparison.CONTENT.value)),
        )


def writes_into(earlier: Mapping, later: Mapping) -> bool:
    """True when ``earlier``'s target overlaps ``later``'s source (so ``later`` must run after it)."""
    if earlier.direction is later.direction:
        return False
    if earlier.direction is Direction.DOWNLOAD:
        a, b = os.path.abspath(earlier.local), os.path.abspath(later.local)
        return a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a + os.sep)
    if (earlier.endpoint_url or None) != (later.endpoint_url or None):
        return False
    ua, ub = parse_s3_uri(earlier.s3_uri), parse_s3_uri(later.s3_uri)
    if ua.bucket != ub.bucket:
        return False
    pa, pb = ua.dir_prefix, ub.dir_prefix
    return pa.startswith(pb) or pb.startswith(pa) or ua.key == ub.key


@dataclass(frozen=True)
class Plan:
    """A whole plan: one MappingPlan per mapping, in manifest order (the order apply runs them)."""

    mappings: tuple[MappingPlan, ...] = ()
    manifest: str | None = None
    created_at: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation of every mapping."""
        return tuple(o for m in self.mappings for o in m.operations)

    @property
    def has_changes(self) -> bool:
        """True when applying would change anything."""
        return any(m.operations for m in self.mappings)

    def count(self, kind: OpKind) -> int:
        """How many operations of this kind across mappings."""
        return sum(m.count(kind) for m in self.mappings)

    @property
    def unchanged(self) -> int:
        """Files left alone across mappings."""
        return sum(m.unchanged for m in self.mappings)

    @property
    def bytes_to_transfer(self) -> int:
        """Bytes the transfers will move."""
        return sum(m.bytes_to_transfer for m in self.mappings)

    def to_dict(self, *, operations: bool = True) -> dict[str, Any]:
        """JSON-ready form (the saved-plan format, versioned); ``operations=False``: each mapping
        with an empty operation list."""
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "manifest": self.manifest,
            "created_at": self.created_at,
            "meta": self.meta,
            # Apply runs mappings in this order, each planned again just before it runs.
            "order": [m.mapping.label for m in self.mappings],
            "mappings": [m.to_dict(operations=operations) for m in self.mappings],
        }

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def write_json(self, f: TextIO) -> None:
        """Write the :meth:`to_json` document to ``f`` one operation per line.

        The same data, streamed: a plan of a million operations never exists as one string or one
        tree of dicts (that would take gigabytes; see docs/scale.md).
        """
        head = self.to_dict(operations=False)
        head["mappings"] = []
        f.write(json.dumps(head, indent=2)[: -len("[]\n}")] + "[")
        for i, m in enumerate(self.mappings):
            text = json.dumps(m.to_dict(operations=False))
            cut = text.index('"operations": []') + len('"operations": [')
            f.write(("," if i else "") + "\n    " + text[:cut])
            for j, o in enumerate(m.operations):
                f.write(("," if j else "") + "\n      " + json.dumps(o.to_dict()))
            f.write("\n    " + text[cut:])
        f.write("\n  ]\n}\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """Inverse of :meth:`to_dict`; refuses unknown format versions."""
        version = d.get("format_version")
        if version != PLAN_FORMAT_VERSION:
            raise S3lyncError(
                f"unsupported plan format_version {version!r} (expected {PLAN_FORMAT_VERSION})"
            )
        return cls(
            mappings=tuple(MappingPlan.from_dict(m) for m in d["mappings"]),
            manifest=d.get("manifest"),
            created_at=d.get("created_at"),
            meta=dict(d.get("meta") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Parse a saved plan."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise S3lyncError(f"not a plan file: {exc}") from exc
        if not isinstance(data, dict):
            raise S3lyncError("not a plan file: top level is not an object")
        return cls.from_dict(data)
