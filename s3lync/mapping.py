"""A Mapping: one declared S3 <-> local pair and its options, what the manifest and the faces produce."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Direction(str, enum.Enum):
    """Which side is the source of truth for a mapping."""

    DOWNLOAD = "download"
    UPLOAD = "upload"


@dataclass(frozen=True)
class Mapping:
    """One declared S3 <-> local mapping: the unit the engine plans and executes."""

    s3_uri: str
    local: str
    direction: Direction
    name: str | None = None
    # Exclude regexes, applied first; then ``filters`` in order (see s3lync.filters).
    exclude: tuple[str, ...] = ()
    # Ordered (include|exclude, regex) filters: the last one that matches a path decides.
    filters: tuple[tuple[str, str], ...] = ()
    force_sync: bool = False
    delete: bool = False
    check_hash: bool = True
    # Strict verification: a transfer that cannot be verified fails instead of warning.
    require_verified: bool = False
    follow_symlinks: bool = False
    allow_missing: bool = False
    # This mapping's own deletion limit (the manifest's max_delete): N files, or "N%" of its target.
    max_delete: int | str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    # Upload arguments (ServerSideEncryption, StorageClass, ...; see upload_args.UPLOAD_ARGS).
    extra_args: tuple[tuple[str, str], ...] = ()

    @property
    def rules(self) -> tuple[tuple[str, str], ...]:
        """Every filter in order: ``exclude`` first, then ``filters`` (the last match decides)."""
        return tuple(("exclude", r) for r in self.exclude) + self.filters

    @property
    def filter_key(self) -> tuple[str, ...]:
        """The filters as s3lync.lock records them: the exclude regexes, or with include filters
        every rule as ``include:RE`` / ``exclude:RE``."""
        if not self.filters:
            return self.exclude
        return tuple(f"{kind}:{regex}" for kind, regex in self.rules)

    @property
    def label(self) -> str:
        """A short human name: the mapping's name, else its S3 URI."""
        return self.name or self.s3_uri

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["direction"] = self.direction.value
        d["exclude"] = list(self.exclude)
        d["filters"] = [list(f) for f in self.filters]
        d["extra_args"] = dict(self.extra_args)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mapping:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["direction"] = Direction(d["direction"])
        d["exclude"] = tuple(d.get("exclude") or ())
        d["filters"] = tuple((str(k), str(r)) for k, r in d.get("filters") or ())
        d["extra_args"] = tuple(sorted(dict(d.get("extra_args") or {}).items()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
