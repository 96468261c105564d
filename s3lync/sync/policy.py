"""ApplyPolicy: the safety rules an apply honours, enforced by the engine before anything changes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from s3lync.errors import ApplyRefusedError, ConfigError
from s3lync.mapping import Mapping
from s3lync.sync.plan import MappingPlan, OpKind

#: ``max_delete``: a whole number of files (the whole run), or ``"N%"`` of each mapping's target.
DeleteLimit = int | str | None


def parse_max_delete(value: DeleteLimit) -> tuple[int | None, float | None]:
    """``(count, percent)`` of a ``max_delete`` value; a bad one is a :class:`ConfigError`."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        raise ConfigError(f"max_delete {value!r}: expected a whole number or a percentage")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"max_delete {value!r}: must not be negative")
        return value, None
    v = str(value).strip()
    try:
        if v.endswith("%"):
            pct = float(v[:-1])
            if not 0 <= pct <= 100:
                raise ValueError
            return None, pct
        n = int(v)
        if n < 0:
            raise ValueError
        return n, None
    except ValueError:
        raise ConfigError(
            f"max_delete {value!r}: expected a whole number (e.g. 10) or a percentage (e.g. 5%)"
        ) from None


@dataclass(frozen=True)
class ApplyPolicy:
    """What an apply may do: delete at most ``max_delete`` files (N, or "N%" of each mapping's
    target), treat an empty source as expected (``allow_empty_source``), and fail every
    transfer that cannot be verified (``require_verified``, as ``check_hash: strict``)."""

    max_delete: DeleteLimit = None
    allow_empty_source: bool = False
    require_verified: bool = False

    def __post_init__(self) -> None:
        parse_max_delete(self.max_delete)  # a bad limit fails here, before any I/O

    def strict(self, mapping: Mapping) -> Mapping:
        """``mapping`` as this policy runs it (strict verification when required)."""
        if self.require_verified and not mapping.require_verified:
            return dataclasses.replace(mapping, check_hash=True, require_verified=True)
        return mapping

    def check_deletes(self, mp: MappingPlan, deleted_before: int = 0) -> None:
        """Refuse (:class:`ApplyRefusedError`) a mapping that deletes more than ``max_delete``.

        A count limits the whole run (``deleted_before`` were deleted by earlier mappings); a
        percentage limits each mapping against its own target files.
        """
        _check(mp, self.max_delete, deleted_before, "ApplyPolicy(max_delete={})")
        _check(mp, mp.mapping.max_delete, 0, "max_delete: {}")


def _check(mp: MappingPlan, limit: DeleteLimit, deleted_before: int, named: str) -> None:
    """Refuse over ``limit``; ``named`` words where the limit was set (the CLI names its flag:
    the error's ``setting`` is ``max_delete`` and ``limit`` the value)."""
    count, pct = parse_max_delete(limit)
    d = mp.count(OpKind.DELETE)
    if count is not None and deleted_before + d > count:
        phrase = named.format(count)
        exc = ApplyRefusedError(
            f"the plan deletes {deleted_before + d} file(s), more than {phrase} allows"
        )
        exc.setting = ("max_delete", str(count), phrase)
        raise exc
    existing = d + mp.count(OpKind.UPDATE) + mp.unchanged
    if pct is not None and d and existing and 100.0 * d / existing > pct:
        shown = f"{pct:g}%"
        phrase = named.format(repr(shown) if named.startswith("ApplyPolicy") else shown)
        exc = ApplyRefusedError(
            f"mapping {mp.mapping.label!r} would delete {d} of {existing} target file(s) "
            f"({100.0 * d / existing:.1f}%), more than {phrase} allows"
        )
        exc.setting = ("max_delete", shown, phrase)
        raise exc
