"""Writing ``s3lync.lock``: its text produced as each mapping's objects are listed.

The text is deterministic -- mappings sorted by name and S3 URI, objects by key, one per line -- and an
entry's count, size and ``objects_digest`` come before its objects, so each mapping's object lines
go to a temporary file first while the digest is computed on the way; then the entry is written
whole. A million objects are never held in memory (docs/scale.md).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from s3lync.sync.lockfile import LOCK_VERSION, SCHEMA_URL, LockedMapping, LockedObject, canonical

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockStream:
    """A mapping being locked: its entry's head, and its objects listed while the lock is written."""

    name: str | None
    s3: str
    exclude: tuple[str, ...]
    versioned: bool
    # Lists the objects again at each call (in the store's order, which the writer checks).
    listing: Callable[[], Iterator[LockedObject]] = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """The mapping's name, else its S3 URI (as the manifest labels it)."""
        return self.name or self.s3

    def iter_objects(self) -> Iterator[LockedObject]:
        """The objects, listed now."""
        return self.listing()


LockEntry = LockedMapping | LockStream


@dataclass(frozen=True)
class Totals:
    """What one written entry holds."""

    object_count: int
    total_bytes: int
    objects_digest: str


class _OutOfOrder(Exception):
    """A listing gave a key not after the one before it."""


def render(digest: str, mappings: Iterable[LockEntry]) -> str:
    """The lock's text: deterministic, one object per line."""
    out = io.StringIO()
    write_text(out, digest, list(mappings), io.StringIO)
    return out.getvalue()


def write_text(
    out: TextIO, digest: str, mappings: Sequence[LockEntry], spool: Callable[[], TextIO]
) -> list[Totals]:
    """Write the lock's text to ``out`` as each mapping's objects are listed; their totals, in
    the order of ``mappings``.

    An entry's count, size and digest come before its objects in the text, so its object lines
    go to ``spool`` (a temporary file) first: a million objects are never held in memory.
    """
    order = sorted(range(len(mappings)), key=lambda i: (mappings[i].name or "", mappings[i].s3))
    out.write(
        "{\n"
        f'  "$schema": {json.dumps(SCHEMA_URL)},\n'
        f'  "lock_version": {LOCK_VERSION},\n'
        f'  "manifest_digest": {json.dumps(digest)},\n'
        '  "mappings": [\n'
    )
    totals: dict[int, Totals] = {}
    for n, i in enumerate(order):
        lm = mappings[i]
        with spool() as lines:
            try:
                t = _spool_objects(lm.iter_objects(), lines, check_order=True)
            except _OutOfOrder:
                # S3 lists in key order, but not every store does: sort this mapping in memory.
                log.debug("%s: the store listed keys out of order; sorting them", lm.label)
                lines.seek(0)
                lines.truncate()
                ordered = sorted(lm.iter_objects(), key=lambda o: o.key)
                t = _spool_objects(iter(ordered), lines, check_order=False)
            head = {
                "name": lm.name,
                "s3": lm.s3,
                "exclude": list(lm.exclude),
                "versioned": lm.versioned,
                "object_count": t.object_count,
                "total_bytes": t.total_bytes,
                "objects_digest": t.objects_digest,
            }
            out.write("    {\n")
            for name, value in head.items():
                out.write(f"      {json.dumps(name)}: {_dumps(value)},\n")
            if t.object_count:
                out.write('      "objects": [\n')
                lines.seek(0)
                shutil.copyfileobj(lines, out)
                out.write("\n      ]\n")
            else:
                out.write('      "objects": []\n')
        out.write("    }" + ("," if n < len(order) - 1 else "") + "\n")
        totals[i] = t
    out.write("  ]\n}\n")
    return [totals[i] for i in range(len(mappings))]


def _spool_objects(objects: Iterator[LockedObject], lines: TextIO, *, check_order: bool) -> Totals:
    """One object per line into ``lines``; the entry's totals, its digest as
    :func:`objects_digest` computes it over the whole list."""
    digest = hashlib.sha256(b"[")
    count = total = 0
    last: str | None = None
    for o in objects:
        if check_order and last is not None and o.key <= last:
            raise _OutOfOrder(o.key)
        d = o.to_dict()
        if count:
            digest.update(b",")
            lines.write(",\n")
        digest.update(canonical(d))
        lines.write("        " + _dumps(d))
        count += 1
        total += o.size
        last = o.key
    digest.update(b"]")
    return Totals(count, total, "sha256:" + digest.hexdigest())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def write(path: Path, digest: str, mappings: Sequence[LockEntry]) -> tuple[bool, list[Totals]]:
    """Write the lock atomically as its objects are listed; False when the file already held
    exactly that text (it is left as it was). The totals are in the order of ``mappings``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            totals = write_text(
                f,
                digest,
                mappings,
                # Beside the lock, not in /tmp (often memory-backed).
                functools.partial(tempfile.TemporaryFile, "w+", encoding="utf-8", dir=path.parent),
            )
        if _same_bytes(tmp, path):
            tmp.unlink()
            return False, totals
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True, totals


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                chunk = fa.read(1 << 20)
                if chunk != fb.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False
