"""Each planning stage called alone, on plain data (s3lync.sync.stages, digests, planner).

list -> scan -> pair -> shard -> digests and layouts -> decide: a test of one stage needs no
engine, no store and none of the other stages.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import LocalPathNotFoundError, S3ObjectError
from s3lync.hashing import Digest, Layout
from s3lync.localfs import scan as localfs
from s3lync.localfs.hashcache import HashCache
from s3lync.localfs.scan import LocalFile, LocalSnapshot
from s3lync.mapping import Direction, Mapping
from s3lync.store.evidence import Evidence
from s3lync.store.objects import ObjectInfo, RemoteObject
from s3lync.sync import digests as digests_mod
from s3lync.sync import stages
from s3lync.sync.digests import gather_evidence, learn_layouts, local_digests
from s3lync.sync.pairing import Pairing, pair
from s3lync.sync.plan import OpKind
from s3lync.sync.planner import change_reason, decide_copies, decide_deletes, decide_folders
from s3lync.uri import parse_s3_uri

DOWN = Direction.DOWNLOAD
UP = Direction.UPLOAD


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _mapping(direction: Direction, uri: str, local: str, **kw: Any) -> Mapping:
    return Mapping(s3_uri=uri, local=local, direction=direction, **kw)


def _pairing(
    direction: Direction,
    local: dict[str, bytes],
    remote: dict[str, bytes],
    *,
    dirs: set[str] | frozenset[str] = frozenset(),
    markers: set[str] | frozenset[str] = frozenset(),
    **kw: Any,
) -> Pairing:
    m = _mapping(direction, "s3://bkt/p/", "/r", **kw)
    files = {
        rel: LocalFile(rel, f"/r/{rel}", len(data), 1, i)
        for i, (rel, data) in enumerate(sorted(local.items()))
    }
    snap = LocalSnapshot(root="/r", exists=True, is_dir=True, files=files, dirs=set(dirs))
    objects = [RemoteObject("p/" + rel, len(d), md5(d)) for rel, d in remote.items()]
    objects += [RemoteObject("p/" + rel + "/", 0, md5(b"")) for rel in markers]
    return pair(m, "bkt", "p/", True, snap, objects)


# -- list ---------------------------------------------------------------------------------


def test_locate_download_of_a_prefix_keeps_the_whole_listing() -> None:
    uri = parse_s3_uri("s3://bkt/p/")
    listed = [RemoteObject("p/a", 1, md5(b"a")), RemoteObject("p/d/b", 1, md5(b"b"))]
    got = stages.locate_download(_mapping(DOWN, "s3://bkt/p/", "/r"), uri, listed)
    assert (got.is_dir, got.root_key, got.local_root, got.objects) == (True, "p/", "/r", listed)
    assert got.problems == ()


def test_locate_download_of_one_object_lands_inside_a_folder_target() -> None:
    uri = parse_s3_uri("s3://bkt/m/model.bin")
    listed = [RemoteObject("m/model.bin", 3, md5(b"abc")), RemoteObject("m/model.bin.txt", 1, None)]
    got = stages.locate_download(_mapping(DOWN, str(uri), "/r/"), uri, listed)
    assert (got.is_dir, got.root_key, got.local_root) == (False, "m/model.bin", "/r/model.bin")
    assert [o.key for o in got.objects] == ["m/model.bin"]


def test_locate_download_prefers_the_prefix_over_an_object_of_the_same_name() -> None:
    uri = parse_s3_uri("s3://bkt/data")
    listed = [RemoteObject(k, 1, None) for k in ("data", "data/x", "database")]
    got = stages.locate_download(_mapping(DOWN, str(uri), "/r"), uri, listed)
    assert (got.is_dir, got.root_key, [o.key for o in got.objects]) == (True, "data/", ["data/x"])
    assert len(got.problems) == 1 and not got.problems[0].fatal
    assert "both an object and a prefix" in got.problems[0].message


def test_missing_source_is_a_note_when_fed_or_allowed_and_blocks_otherwise() -> None:
    uri = parse_s3_uri("s3://bkt/p/")
    m = _mapping(DOWN, str(uri), "/r")
    fed = stages.missing_source(m, uri, True, "producer", False)
    assert not fed.fatal and not fed.blocks and "'producer' writes it" in fed.message
    allowed = stages.missing_source(m, uri, True, None, True)
    assert not allowed.fatal and "--allow-empty-source" in allowed.message
    by_mapping = stages.missing_source(
        _mapping(DOWN, str(uri), "/r", allow_missing=True), uri, True, None, False
    )
    assert not by_mapping.fatal and "allow_missing: true" in by_mapping.message
    blocked = stages.missing_source(m, uri, True, None, False)
    assert blocked.blocks and blocked.fatal


class _Remote:
    """The two listing calls of a Remote, answered from a dict."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.heads: list[tuple[str, str, int | None]] = []

    def list_objects(self, bucket: str, prefix: str) -> list[RemoteObject]:
        return [
            RemoteObject(k, len(v), md5(v))
            for k, v in sorted(self.objects.items())
            if k.startswith(prefix)
        ]

    def head_or_none(self, bucket: str, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        if data is None:
            return None
        return ObjectInfo(md5(data), len(data), None)

    def head(self, bucket: str, key: str, part_number: int | None = None) -> ObjectInfo:
        self.heads.append((bucket, key, part_number))
        return ObjectInfo(None, 5, None, headers={"x-amz-mp-parts-count": "2"})


def test_list_upload_of_one_file_heads_its_key(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"abc")
    remote: Any = _Remote({"m/model.bin": b"abc"})
    got = stages.list_upload(
        remote, _mapping(UP, "s3://bkt/m/", str(f)), parse_s3_uri("s3://bkt/m/")
    )
    assert (got.is_dir, got.root_key, [o.key for o in got.objects]) == (
        False,
        "m/model.bin",
        ["m/model.bin"],
    )
    assert got.heads[""].etag == md5(b"abc")


def test_list_upload_of_a_folder_lists_its_prefix(tmp_path: Path) -> None:
    remote: Any = _Remote({"p/a": b"a", "q/b": b"b"})
    got = stages.list_upload(
        remote, _mapping(UP, "s3://bkt/p", str(tmp_path)), parse_s3_uri("s3://bkt/p")
    )
    assert (got.is_dir, got.root_key, [o.key for o in got.objects]) == (True, "p/", ["p/a"])
    assert got.heads == {}


def test_list_upload_of_a_missing_path_raises(tmp_path: Path) -> None:
    remote: Any = _Remote({})
    with pytest.raises(LocalPathNotFoundError):
        stages.list_upload(
            remote, _mapping(UP, "s3://bkt/p/", str(tmp_path / "nope")), parse_s3_uri("s3://bkt/p/")
        )


# -- scan ---------------------------------------------------------------------------------


def test_scan_skips_registered_temporaries_and_applies_excludes(tmp_path: Path) -> None:
    for name in ("keep.txt", "skip.log", ".s3lync-tmp"):
        (tmp_path / name).write_bytes(b"x")
    m = _mapping(DOWN, "s3://bkt/p/", str(tmp_path), exclude=(r".*\.log$",))
    listing = stages.Listing(parse_s3_uri("s3://bkt/p/"), True, "p/", str(tmp_path), [])
    snap, scanned_at = stages.scan(listing, m, frozenset({str(tmp_path / ".s3lync-tmp")}))
    assert sorted(snap.files) == ["keep.txt"]
    assert scanned_at > 0


def test_scan_refuses_a_file_where_the_remote_side_is_a_folder(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    listing = stages.Listing(parse_s3_uri("s3://bkt/p/"), True, "p/", str(f), [])
    with pytest.raises(S3ObjectError, match="is a file, but the remote side is a folder"):
        stages.scan(listing, _mapping(DOWN, "s3://bkt/p/", str(f)))


# -- digests and layouts ----------------------------------------------------------------------


def test_local_digests_hash_once_then_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(name.encode() * 3)
        # An hour old: not racily clean, so its digest may be cached.
        os.utime(tmp_path / name, (time.time() - 3600, time.time() - 3600))
    m = _mapping(UP, "s3://bkt/p/", str(tmp_path))
    snap = localfs.scan(str(tmp_path))
    objects = [RemoteObject("p/a", 3, md5(b"zzz")), RemoteObject("p/b", 3, md5(b"bbb"))]
    p = pair(m, "bkt", "p/", True, snap, objects)
    hashed: list[str] = []
    real = digests_mod.digest_file

    def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        hashed.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(digests_mod, "digest_file", counting)
    cache = HashCache(tmp_path.parent / f"{tmp_path.name}.sqlite3")
    try:
        first = local_digests(p, cache, scanned_at=time.time_ns())
        assert {rel: d.md5 for rel, d in first.items()} == {"a": md5(b"aaa"), "b": md5(b"bbb")}
        assert sorted(hashed) == [str(tmp_path / "a"), str(tmp_path / "b")]
        again = local_digests(p, cache, scanned_at=time.time_ns())
        assert {rel: d.md5 for rel, d in again.items()} == {"a": md5(b"aaa"), "b": md5(b"bbb")}
        assert len(hashed) == 2  # nothing hashed the second time
    finally:
        cache.close()


def test_gather_evidence_leaves_out_pairs_a_plain_md5_decides() -> None:
    p = _pairing(DOWN, {"same": b"x", "diff": b"y"}, {"same": b"x", "diff": b"z"})
    digests = {"same": Digest(1, md5(b"x")), "diff": Digest(1, md5(b"y"))}
    ev = gather_evidence(p, digests, {}, {})
    assert set(ev) == {"diff"}
    assert ev["diff"] == Evidence(etag=md5(b"z"), size=1)


def test_gather_evidence_keeps_a_heads_answer_and_adds_a_cached_layout() -> None:
    etag = "0" * 32 + "-2"
    m = _mapping(UP, "s3://bkt/p/", "/r")
    snap = LocalSnapshot("/r", True, True, files={"f": LocalFile("f", "/r/f", 10, 1, 1)})
    p = pair(m, "bkt", "p/", True, snap, [RemoteObject("p/f", 10, etag)])
    head = Evidence(etag=etag, size=10, metadata_md5="a" * 32)
    layout = Layout(5, 2)
    ev = gather_evidence(p, {"f": Digest(10, md5(b"q"))}, {etag: layout}, {"f": head})
    assert ev["f"].metadata_md5 == "a" * 32 and ev["f"].layout == layout


def test_learn_layouts_heads_only_what_no_layout_explains(tmp_path: Path) -> None:
    etag = "0" * 32 + "-2"
    f = tmp_path / "f"
    f.write_bytes(b"0123456789")
    m = _mapping(UP, "s3://bkt/p/", str(tmp_path))
    p = pair(m, "bkt", "p/", True, localfs.scan(str(tmp_path)), [RemoteObject("p/f", 10, etag)])
    digests = {"f": digests_mod.digest_file(str(f), [])}
    evidence = {"f": p.evidence("f")}
    remote: Any = _Remote({})
    cache = HashCache(tmp_path.parent / f"{tmp_path.name}.sqlite3")
    try:
        learn_layouts(remote, cache, p, digests, evidence, workers=1)
        assert remote.heads == [("bkt", "p/f", 1)]
        assert evidence["f"].layout == Layout(5, 2) and cache.layout(etag) == Layout(5, 2)
        # With the layout known, the pair is judged without another HEAD.
        learn_layouts(remote, cache, p, digests, evidence, workers=1)
        assert remote.heads == [("bkt", "p/f", 1)]
    finally:
        cache.close()


# -- decide -------------------------------------------------------------------------------


def test_decide_copies_creates_updates_and_counts_the_current() -> None:
    p = _pairing(DOWN, {"same": b"x", "old": b"y"}, {"same": b"x", "old": b"zz", "new": b"n"})
    digests = {"same": Digest(1, md5(b"x"))}
    got = decide_copies(p, digests, {}, {})
    assert [(o.kind, o.rel) for o in got.ops] == [(OpKind.CREATE, "new"), (OpKind.UPDATE, "old")]
    assert got.unchanged == ["same"] and got.unchanged_bytes == 1 and got.problems == []


def test_decide_copies_refuses_a_local_folder_where_a_file_goes() -> None:
    p = _pairing(DOWN, {"d/inner": b"i"}, {"d": b"file"}, dirs={"d"})
    got = decide_copies(p, {}, {}, {})
    assert [x.key for x in got.problems] == ["p/d"] and got.problems[0].blocks


def test_change_reason_says_why_or_none() -> None:
    p = _pairing(UP, {"a": b"aaa"}, {"a": b"bbb"})
    differs = change_reason(p, "a", 3, 3, {"a": Digest(3, md5(b"aaa"))}, {}, {})
    assert differs is not None and differs.startswith("content differs (")
    assert change_reason(p, "a", 3, 4, {}, {}, {}) == "size differs (4 -> 3 bytes)"
    assert change_reason(p, "a", 3, 3, {}, {}, {}) == "cannot compare content"
    same = _pairing(UP, {"a": b"aaa"}, {"a": b"aaa"})
    assert change_reason(same, "a", 3, 3, {"a": Digest(3, md5(b"aaa"))}, {}, {}) is None
    forced = _pairing(UP, {"a": b"aaa"}, {"a": b"aaa"}, force_sync=True)
    assert change_reason(forced, "a", 3, 3, {}, {}, {}) == "force_sync"


def test_decide_folders_makes_only_empty_markers() -> None:
    p = _pairing(DOWN, {}, {"full/f": b"f"}, markers={"empty", "full"})
    ops, problems = decide_folders(p)
    assert [(o.kind, o.rel, o.key) for o in ops] == [(OpKind.MKDIR, "empty", "p/empty/")]
    assert problems == []
    up = _pairing(UP, {}, {}, markers={"empty"})
    assert decide_folders(up) == ([], [])


def test_decide_deletes_only_when_mirroring_and_safe() -> None:
    p = _pairing(DOWN, {"gone": b"g", "kept": b"k"}, {"kept": b"k"}, delete=True)
    ops, problems = decide_deletes(p, [], allow_empty_source=False)
    assert [(o.kind, o.rel) for o in ops] == [(OpKind.DELETE, "gone")] and problems == []
    assert decide_deletes(_pairing(DOWN, {"gone": b"g"}, {"kept": b"k"}), [], False) == ([], [])


def test_decide_deletes_refuses_an_empty_source_unless_allowed() -> None:
    p = _pairing(DOWN, {"a": b"a", "b": b"b"}, {}, delete=True)
    ops, problems = decide_deletes(p, [], allow_empty_source=False)
    assert ops == [] and problems[0].allowed_by == "allow_empty_source"
    ops, problems = decide_deletes(p, [], allow_empty_source=True)
    assert sorted(o.rel for o in ops) == ["a", "b"] and problems == []


def test_decide_deletes_nothing_after_an_incomplete_listing() -> None:
    p = _pairing(DOWN, {"gone": b"g"}, {"kept": b"k"}, delete=True)
    p.listing_complete = False
    ops, problems = decide_deletes(p, [], allow_empty_source=True)
    assert ops == [] and "listing was incomplete" in problems[0].message
