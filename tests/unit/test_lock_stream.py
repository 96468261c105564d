"""s3lync.lock written as its objects are listed: the same text as a lock held whole, never the
whole listing in memory, and a store listing out of key order still gives a sorted lock."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

from s3lync.mapping import Direction, Mapping
from s3lync.sync import lockfile, lockwrite
from s3lync.sync.lockfile import LockedMapping, LockedObject, load
from s3lync.sync.lockrules import iter_scope, scope
from s3lync.sync.lockwrite import LockStream, render, write
from s3lync.uri import parse_s3_uri

DOWN = Mapping(s3_uri="s3://bkt/data/", local="/tmp/x", direction=Direction.DOWNLOAD, name="data")
DIGEST = lockfile.manifest_digest([DOWN])


def objects(n: int) -> list[LockedObject]:
    return [
        LockedObject(
            key=f"data/é{i:04d}.bin",
            size=i,
            etag=f"{i:032x}",
            version_id=f"v{i}",
            checksum=(("CRC32", "AAAAAA=="), ("SHA256", f"s{i}")) if i % 3 else (),
        )
        for i in range(n)
    ]


def whole(objs: list[LockedObject], name: str = "data") -> LockedMapping:
    return LockedMapping(
        name=name, s3="s3://bkt/data/", exclude=("x$",), versioned=True, objects=tuple(objs)
    )


def stream(listing: list[LockedObject] | None = None, name: str = "data") -> LockStream:
    listed = objects(50) if listing is None else listing
    return LockStream(
        name=name,
        s3="s3://bkt/data/",
        exclude=("x$",),
        versioned=True,
        listing=lambda: iter(listed),
    )


def test_a_streamed_lock_is_the_text_of_the_lock_held_whole(tmp_path: Path) -> None:
    objs = objects(50)
    empty = whole([], "empty")
    text = render(DIGEST, [whole(objs), empty])
    assert render(DIGEST, [stream(objs), empty]) == text
    assert render(DIGEST, [stream([], name="empty"), whole(objs)]) == text
    path = tmp_path / "s3lync.lock"
    changed, totals = write(path, DIGEST, [stream(objs), empty])
    assert changed and path.read_text(encoding="utf-8") == text
    assert [(t.object_count, t.total_bytes) for t in totals] == [(50, sum(range(50))), (0, 0)]
    # The digest computed as the objects went by is the one a reader checks against them.
    assert json.loads(text)["mappings"][0]["objects_digest"] == totals[0].objects_digest
    assert load(path).find(DOWN) == whole(objs)


def test_an_unchanged_lock_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s3lync.lock"
    assert write(path, DIGEST, [stream()])[0]
    before = path.stat()
    changed, totals = write(path, DIGEST, [stream()])
    assert not changed and totals[0].object_count == 50
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s3lync.lock"]  # no temporary left


def test_objects_are_written_as_they_are_listed() -> None:
    """Each object is in the spool before the next one is listed: the writer holds none back."""
    spools: list[io.StringIO] = []
    objs = objects(20)
    not_yet_written: list[str] = []

    def listing() -> Iterator[LockedObject]:
        for i, o in enumerate(objs):
            if i and objs[i - 1].key not in spools[-1].getvalue():
                not_yet_written.append(objs[i - 1].key)
            yield o

    def spool() -> io.StringIO:
        spools.append(io.StringIO())
        return spools[-1]

    lm = LockStream(name="data", s3="s3://bkt/data/", exclude=(), versioned=True, listing=listing)
    lockwrite.write_text(io.StringIO(), DIGEST, [lm], spool)
    assert len(spools) == 1 and not_yet_written == []


def test_a_listing_out_of_key_order_is_sorted() -> None:
    objs = objects(30)
    shuffled = objs[10:] + objs[:10]
    assert render(DIGEST, [stream(shuffled)]) == render(DIGEST, [whole(objs)])


class Obj:
    def __init__(self, key: str) -> None:
        self.key = key


def test_scope_of_a_key_without_a_slash_streams_what_the_plan_would_see() -> None:
    single = parse_s3_uri("s3://bkt/data")
    rules = [("exclude", r"\.tmp$")]
    listed = ["data", "data-1", "data/", "data/a", "data/b.tmp", "datafoo"]
    # The objects under "data/" (the folder marker and excluded ones left out), in listing order.
    got = iter_scope(single, iter([Obj(k) for k in listed]), rules)
    assert [o.key for o in got] == ["data/a"]
    # Without objects under "data/", the object "data" itself.
    assert [o.key for o in scope(single, [Obj("data"), Obj("data-1")], rules)] == ["data"]
