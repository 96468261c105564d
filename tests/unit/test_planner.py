"""The pure planner: pair() + decide() for download and upload (s3lync.sync.planner)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from s3lync.hashing import Digest, Layout, candidate_part_sizes
from s3lync.localfs import scan as localfs
from s3lync.localfs.scan import LocalFile, LocalSnapshot
from s3lync.mapping import Direction, Mapping
from s3lync.store.objects import RemoteObject
from s3lync.sync.digests import undecided
from s3lync.sync.pairing import exclude_matcher, map_remote, pair
from s3lync.sync.plan import MappingPlan, OpKind, Problem
from s3lync.sync.planner import decide

ROOT = "/data/root"
BUCKET = "bkt"
PREFIX = "p/"
DOWN = Direction.DOWNLOAD
UP = Direction.UPLOAD
MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def lf(rel: str, data: bytes | int, *, mtime_ns: int = 1_000, inode: int = 1) -> LocalFile:
    size = data if isinstance(data, int) else len(data)
    return LocalFile(rel, f"{ROOT}/{rel}", size, mtime_ns, inode)


def snap(*files: LocalFile, dirs: Iterable[str] = (), errors: Iterable[str] = ()) -> LocalSnapshot:
    return LocalSnapshot(
        root=ROOT,
        exists=True,
        is_dir=True,
        files={f.rel: f for f in files},
        dirs=set(dirs),
        errors=list(errors),
    )


def ro(rel: str, data: bytes | int, etag: str | None = None) -> RemoteObject:
    """A listed object under PREFIX; by default its ETag is the data's plain MD5."""
    if isinstance(data, int):
        return RemoteObject(PREFIX + rel, data, etag or "0" * 32)
    return RemoteObject(PREFIX + rel, len(data), etag if etag is not None else md5(data))


def mapping(direction: Direction, **kw: object) -> Mapping:
    return Mapping(s3_uri=f"s3://{BUCKET}/{PREFIX}", local=ROOT, direction=direction, **kw)  # type: ignore[arg-type]


def digest(data: bytes) -> Digest:
    return Digest(size=len(data), md5=md5(data))


def run(
    m: Mapping,
    local: LocalSnapshot,
    remote: Iterable[RemoteObject],
    digests: dict[str, Digest] | None = None,
    metadata_md5: dict[str, str | None] | None = None,
    **kw: object,
) -> MappingPlan:
    p = pair(m, BUCKET, PREFIX, True, local, list(remote))
    return decide(p, digests or {}, metadata_md5, **kw)  # type: ignore[arg-type]


def ops_by_rel(plan: MappingPlan) -> dict[str, OpKind]:
    out = {o.rel: o.kind for o in plan.operations}
    assert len(out) == len(plan.operations), "one operation per path"
    return out


A = b"alpha content"
B = b"bravo content!"
A2 = b"ALPHA CONTENT"  # same size as A, different bytes


# --------------------------------------------------------------------------- create


def test_download_creates_missing_files() -> None:
    plan = run(mapping(DOWN), snap(), [ro("a.txt", A), ro("sub/b.txt", B)])
    assert ops_by_rel(plan) == {"a.txt": OpKind.CREATE, "sub/b.txt": OpKind.CREATE}
    op = {o.rel: o for o in plan.operations}["sub/b.txt"]
    assert op.key == "p/sub/b.txt"
    assert op.local_path == f"{ROOT}/sub/b.txt"
    assert op.size == len(B)
    assert op.source_etag == md5(B)
    assert plan.unchanged == 0
    assert plan.bytes_to_transfer == len(A) + len(B)
    assert not plan.problems


def test_upload_creates_missing_objects() -> None:
    plan = run(mapping(UP), snap(lf("a.txt", A, mtime_ns=42), lf("sub/b.txt", B)), [])
    assert ops_by_rel(plan) == {"a.txt": OpKind.CREATE, "sub/b.txt": OpKind.CREATE}
    op = {o.rel: o for o in plan.operations}["a.txt"]
    assert op.key == "p/a.txt"
    assert op.local_path == f"{ROOT}/a.txt"
    assert op.size == len(A)
    assert op.source_mtime_ns == 42
    assert op.source_etag is None
    assert not plan.problems


# --------------------------------------------------------------------------- update / unchanged


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_size_differs_is_update_without_hashing(direction: Direction) -> None:
    m = mapping(direction)
    local = snap(lf("a.txt", A + b"more"))
    remote = [ro("a.txt", A)]
    p = pair(m, BUCKET, PREFIX, True, local, remote)
    # The performance rule: a size mismatch needs no digest at all.
    assert p.needs_digest() == {}
    plan = decide(p, {})
    assert ops_by_rel(plan) == {"a.txt": OpKind.UPDATE}
    expected_size = len(A) if direction is DOWN else len(A) + 4
    assert plan.operations[0].size == expected_size
    assert plan.unchanged == 0


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_matching_md5_is_unchanged(direction: Direction) -> None:
    m = mapping(direction)
    local = snap(lf("a.txt", A), lf("b.txt", B))
    remote = [ro("a.txt", A, etag=f'"{md5(A)}"'), ro("b.txt", B)]
    p = pair(m, BUCKET, PREFIX, True, local, remote)
    assert set(p.needs_digest()) == {"a.txt", "b.txt"}
    plan = decide(p, {"a.txt": digest(A), "b.txt": digest(B)}, verbose=True)
    assert plan.operations == ()
    assert plan.unchanged == 2
    assert plan.unchanged_bytes == len(A) + len(B)
    assert set(plan.unchanged_paths) == {"a.txt", "b.txt"}
    assert plan.bytes_to_transfer == 0


def test_unchanged_paths_only_when_verbose() -> None:
    plan = run(mapping(DOWN), snap(lf("a.txt", A)), [ro("a.txt", A)], {"a.txt": digest(A)})
    assert plan.unchanged == 1
    assert plan.unchanged_paths == ()


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_md5_differs_is_update(direction: Direction) -> None:
    local = snap(lf("a.txt", A2))
    remote = [ro("a.txt", A)]
    plan = run(mapping(direction), local, remote, {"a.txt": digest(A2)})
    assert ops_by_rel(plan) == {"a.txt": OpKind.UPDATE}
    assert plan.unchanged == 0
    op = plan.operations[0]
    if direction is UP:
        assert op.source_md5 == md5(A2)
    else:
        assert op.source_etag == md5(A)


def test_same_size_without_digest_is_not_assumed_equal() -> None:
    plan = run(mapping(DOWN), snap(lf("a.txt", A)), [ro("a.txt", A)], {})
    assert ops_by_rel(plan) == {"a.txt": OpKind.UPDATE}


def test_metadata_md5_decides_multipart() -> None:
    mp = "f" * 32 + "-2"
    remote = [ro("a.txt", A, etag=mp)]
    plan = run(mapping(DOWN), snap(lf("a.txt", A)), remote, {"a.txt": digest(A)}, {"a.txt": md5(A)})
    assert plan.operations == ()
    assert plan.unchanged == 1
    plan = run(
        mapping(DOWN), snap(lf("a.txt", A)), remote, {"a.txt": digest(A)}, {"a.txt": md5(A2)}
    )
    assert ops_by_rel(plan) == {"a.txt": OpKind.UPDATE}


def test_metadata_never_outvotes_a_matching_plain_etag() -> None:
    # The ETag is the store's MD5 of what it holds; md5chksum is only the uploader's claim.
    plan = run(
        mapping(UP),
        snap(lf("a.txt", A)),
        [ro("a.txt", A)],
        {"a.txt": digest(A)},
        {"a.txt": md5(A2)},
    )
    assert plan.operations == ()
    assert plan.unchanged == 1


def test_metadata_decides_when_the_etag_cannot() -> None:
    plan = run(
        mapping(DOWN),
        snap(lf("a.txt", A)),
        [ro("a.txt", A, etag="a" * 32 + "-2")],
        {"a.txt": digest(A)},
        {"a.txt": md5(A2)},
    )
    assert ops_by_rel(plan) == {"a.txt": OpKind.UPDATE}
    assert "md5chksum" in plan.operations[0].reason


def test_recomputed_multipart_etag_match_is_unchanged() -> None:
    etag = "e" * 32 + "-3"
    d = Digest(size=len(A), md5=md5(A), etags={5: etag})
    plan = run(mapping(DOWN), snap(lf("a.txt", A)), [ro("a.txt", A, etag=etag)], {"a.txt": d})
    assert plan.operations == ()
    assert plan.unchanged == 1


# --------------------------------------------------------------------------- force_sync / delete


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_force_sync_updates_everything_and_deletes_target_only(direction: Direction) -> None:
    local_only, remote_only = lf("local-only.txt", B), ro("remote-only.txt", B)
    local = snap(lf("same.txt", A), local_only)
    remote = [ro("same.txt", A), remote_only]
    m = mapping(direction, force_sync=True)
    p = pair(m, BUCKET, PREFIX, True, local, remote)
    assert p.needs_digest() == {}  # force_sync skips the comparison: nothing to hash
    plan = decide(p, {})
    if direction is DOWN:
        expected = {
            "same.txt": OpKind.UPDATE,
            "remote-only.txt": OpKind.CREATE,
            "local-only.txt": OpKind.DELETE,
        }
    else:
        expected = {
            "same.txt": OpKind.UPDATE,
            "local-only.txt": OpKind.CREATE,
            "remote-only.txt": OpKind.DELETE,
        }
    assert ops_by_rel(plan) == expected
    assert plan.unchanged == 0
    (delete,) = plan.deletes
    if direction is DOWN:
        assert delete.local_path == f"{ROOT}/local-only.txt"
    else:
        assert delete.key == "p/remote-only.txt"


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_force_sync_even_with_matching_digest(direction: Direction) -> None:
    plan = run(
        mapping(direction, force_sync=True), snap(lf("a", A)), [ro("a", A)], {"a": digest(A)}
    )
    assert ops_by_rel(plan) == {"a": OpKind.UPDATE}


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_delete_mirrors_but_keeps_smart_skipping(direction: Direction) -> None:
    local = snap(lf("same.txt", A), lf("changed.txt", A2), lf("local-only.txt", B))
    remote = [ro("same.txt", A), ro("changed.txt", A), ro("remote-only.txt", B)]
    digests = {"same.txt": digest(A), "changed.txt": digest(A2)}
    plan = run(mapping(direction, delete=True), local, remote, digests)
    target_only, source_only = (
        ("local-only.txt", "remote-only.txt")
        if direction is DOWN
        else ("remote-only.txt", "local-only.txt")
    )
    assert ops_by_rel(plan) == {
        "changed.txt": OpKind.UPDATE,
        source_only: OpKind.CREATE,
        target_only: OpKind.DELETE,
    }
    assert plan.unchanged == 1


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_no_delete_by_default(direction: Direction) -> None:
    plan = run(mapping(direction), snap(lf("local-only", A)), [ro("remote-only", B)])
    kinds = set(ops_by_rel(plan).values())
    assert kinds == {OpKind.CREATE}
    assert plan.deletes == ()


@pytest.mark.parametrize("direction", [DOWN, UP])
@pytest.mark.parametrize("flag", ["delete", "force_sync"])
def test_deletes_suppressed_when_local_listing_failed(direction: Direction, flag: str) -> None:
    err = f"{ROOT}/locked: Permission denied"
    local = snap(lf("local-only.txt", B), errors=[err])
    remote = [ro("remote-only.txt", A)]
    plan = run(mapping(direction, **{flag: True}), local, remote)
    assert plan.deletes == ()
    assert plan.count(OpKind.DELETE) == 0
    assert any(err in p.key or err in p.message for p in plan.problems)
    assert any(p.fatal for p in plan.problems)


@pytest.mark.parametrize("direction", [DOWN, UP])
@pytest.mark.parametrize("flag", ["delete", "force_sync"])
def test_empty_source_with_delete_is_refused(direction: Direction, flag: str) -> None:
    if direction is DOWN:
        local, remote = snap(lf("a.txt", A), lf("b.txt", B)), []
    else:
        local, remote = snap(), [ro("a.txt", A), ro("b.txt", B)]
    plan = run(mapping(direction, **{flag: True}), local, remote)
    assert plan.operations == ()
    assert len(plan.problems) == 1
    assert isinstance(plan.problems[0], Problem)
    assert "empty" in plan.problems[0].message

    allowed = run(mapping(direction, **{flag: True}), local, remote, allow_empty_source=True)
    assert ops_by_rel(allowed) == {"a.txt": OpKind.DELETE, "b.txt": OpKind.DELETE}
    assert allowed.problems == ()


# --------------------------------------------------------------------------- exclude


def test_excluded_remote_objects_neither_downloaded_nor_deleted_on_upload() -> None:
    excl = (r".*\.tmp$", r"^cache/")
    remote = [ro("keep.txt", A), ro("x.tmp", B), ro("cache/c.bin", B), ro("d/y.tmp", B)]
    down = run(mapping(DOWN, exclude=excl, delete=True), snap(), remote)
    assert ops_by_rel(down) == {"keep.txt": OpKind.CREATE}
    up = run(
        mapping(UP, exclude=excl, delete=True),
        snap(lf("keep.txt", A)),
        remote,
        {"keep.txt": digest(A)},
    )
    assert up.operations == ()  # x.tmp, cache/c.bin, d/y.tmp are excluded: not deleted remotely
    assert up.unchanged == 1


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.mark.parametrize("direction", [DOWN, UP])
@pytest.mark.parametrize("flag", ["delete", "force_sync"])
def test_exclude_through_scan_and_plan(tmp_path: Path, direction: Direction, flag: str) -> None:
    """The engine's pipeline: scan with the mapping's exclude, then pair + decide."""
    excl = (r"(.*\.tmp$|.*\.bak$)",)
    root = tmp_path / "root"
    _write(root, {"keep.txt": A, "local.tmp": B, "sub/local.bak": B})
    m = Mapping(
        s3_uri=f"s3://{BUCKET}/{PREFIX}",
        local=str(root),
        direction=direction,
        exclude=excl,
        **{flag: True},
    )  # type: ignore[arg-type]
    local = localfs.scan(str(root), exclude_matcher(m))
    remote = [ro("keep.txt", A), ro("remote.tmp", B), ro("sub/remote.bak", B)]
    p = pair(m, BUCKET, PREFIX, True, local, remote)
    plan = decide(p, {})
    # Only keep.txt is considered, on both sides; no excluded path is transferred or deleted.
    assert ops_by_rel(plan) == {"keep.txt": OpKind.UPDATE}
    assert (root / "local.tmp").exists()


def test_exclude_matcher() -> None:
    match = exclude_matcher(mapping(DOWN, exclude=(r".*\.tmp$", "", r"^build/")))
    assert match is not None
    assert match("a/b.tmp")
    assert match("build/")
    assert match("build/x.o")
    assert not match("src/build/x.o")
    assert not match("a.tmpl")
    assert exclude_matcher(mapping(DOWN)) is None
    assert exclude_matcher(mapping(DOWN, exclude=("",))) is None


# --------------------------------------------------------------------------- unsafe keys, conflicts


@pytest.mark.parametrize("direction", [DOWN, UP])
def test_unsafe_keys_are_fatal_problems_without_operations(direction: Direction) -> None:
    bad = ["p/../evil", "p/a/../../evil2", "p//abs", "p/a//b", "p/./x", "p/a\\b"]
    remote = [ro("ok.txt", A)] + [RemoteObject(k, 3, "1" * 32) for k in bad]
    local = snap() if direction is DOWN else snap(lf("ok.txt", A))
    plan = run(mapping(direction, delete=True), local, remote, {"ok.txt": digest(A)})
    for op in plan.operations:
        assert op.key not in bad
        assert ".." not in op.local_path
        assert ".." not in op.rel
    assert {p.key for p in plan.problems} == set(bad)
    for problem in plan.problems:
        assert problem.fatal
        assert repr(problem.key) in problem.message
    if direction is DOWN:
        assert ops_by_rel(plan) == {"ok.txt": OpKind.CREATE}
    else:
        assert plan.operations == ()


def test_key_both_file_and_prefix_is_a_nonfatal_problem() -> None:
    remote = [ro("d", A), ro("d/f.txt", B), ro("m", A), RemoteObject("p/m/", 0, md5(b""))]
    plan = run(mapping(DOWN), snap(), remote)
    assert ops_by_rel(plan) == {"d/f.txt": OpKind.CREATE, "m": OpKind.MKDIR}
    conflicts = {p.key: p for p in plan.problems}
    assert set(conflicts) == {"p/d", "p/m"}
    assert not any(p.fatal for p in plan.problems)


def test_map_remote_conflict_and_dirs() -> None:
    side = map_remote([ro("d", A), ro("d/e/f", B), ro("g", A)], PREFIX)
    assert set(side.files) == {"d/e/f", "g"}
    assert side.dirs == {"d", "d/e"}
    assert [p.key for p in side.problems] == ["p/d"]
    assert side.problems[0].fatal is False


# --------------------------------------------------------------------------- folder markers


def test_folder_marker_becomes_mkdir_when_missing() -> None:
    remote = [
        RemoteObject("p/", 0, md5(b"")),  # the root's own marker: ignored
        RemoteObject("p/empty/", 0, md5(b"")),
        RemoteObject("p/exists/", 0, md5(b"")),
        RemoteObject("p/full/", 0, md5(b"")),
        ro("full/f.txt", A),
    ]
    plan = run(mapping(DOWN), snap(dirs={"exists"}), remote)
    assert ops_by_rel(plan) == {"empty": OpKind.MKDIR, "full/f.txt": OpKind.CREATE}
    mk = next(o for o in plan.operations if o.kind is OpKind.MKDIR)
    assert mk.key == "p/empty/"
    assert mk.local_path == f"{ROOT}/empty"
    assert mk.size == 0
    assert plan.bytes_to_transfer == len(A)
    assert not plan.problems


def test_folder_markers_not_uploaded_or_deleted() -> None:
    remote = [RemoteObject("p/empty/", 0, md5(b""))]
    plan = run(mapping(UP, delete=True), snap(lf("a", A)), remote)
    assert ops_by_rel(plan) == {"a": OpKind.CREATE}


def test_local_folder_where_file_should_be_downloaded() -> None:
    plan = run(mapping(DOWN), snap(dirs={"a"}), [ro("a", A)])
    assert plan.operations == ()
    assert [p.key for p in plan.problems] == ["p/a"]


def test_local_file_where_folder_marker_should_be() -> None:
    plan = run(mapping(DOWN), snap(lf("d", A)), [RemoteObject("p/d/", 0, md5(b""))])
    assert plan.count(OpKind.MKDIR) == 0
    assert [p.key for p in plan.problems] == ["p/d/"]


# --------------------------------------------------------------------------- digests wanted


def test_needs_digest_only_same_size_pairs() -> None:
    mp_etag = "a" * 32 + "-3"
    big = 20 * MiB
    local = snap(
        lf("same", A),
        lf("bigger", A + b"x"),
        lf("local-only", A),
        lf("multi", big),
    )
    remote = [
        ro("same", A),
        ro("bigger", A),
        ro("remote-only", A),
        RemoteObject("p/multi", big, mp_etag),
    ]
    for direction in (DOWN, UP):
        p = pair(mapping(direction), BUCKET, PREFIX, True, local, remote)
        need = p.needs_digest()
        assert need == {"same": [], "multi": candidate_part_sizes(big, 3)}
        assert 8 * MiB in need["multi"]


def test_undecided_lists_unmatched_multipart_only() -> None:
    mp = "a" * 32 + "-2"
    mp_known = "b" * 32 + "-2"
    local = snap(lf("plain", A), lf("mp", A), lf("mp-known", A), lf("mp-meta", A))
    remote = [
        ro("plain", A),
        ro("mp", A, etag=mp),
        ro("mp-known", A, etag=mp_known),
        ro("mp-meta", A, etag=mp),
    ]
    p = pair(mapping(DOWN), BUCKET, PREFIX, True, local, remote)
    digests = {
        "plain": digest(A),
        "mp": digest(A),
        "mp-known": Digest(size=len(A), md5=md5(A), etags={8: mp_known}),
        "mp-meta": digest(A),
    }
    evidence = {rel: p.evidence(rel) for rel in p.remote}
    evidence["mp-meta"] = replace(evidence["mp-meta"], metadata_md5=md5(A))
    assert undecided(p, digests, evidence) == ["mp"]
    # A layout learned earlier (cached per ETag) decides without a HEAD.
    known = {rel: p.evidence(rel, {mp: Layout(8, 2)}) for rel in p.remote}
    assert undecided(p, digests, known) == []
    # Without a digest there is nothing to decide with: no HEAD either.
    assert undecided(p, {}, evidence) == []


# --------------------------------------------------------------------------- single-file mappings


def _single(
    direction: Direction,
    local: LocalSnapshot,
    remote: list[RemoteObject],
    digests: dict[str, Digest] | None = None,
) -> MappingPlan:
    m = Mapping(s3_uri=f"s3://{BUCKET}/p/file.txt", local="/data/file.txt", direction=direction)
    p = pair(m, BUCKET, "p/file.txt", False, local, remote)
    return decide(p, digests or {})


def _file_snap(data: bytes | None) -> LocalSnapshot:
    if data is None:
        return LocalSnapshot(root="/data/file.txt", exists=False, is_dir=False)
    f = LocalFile("", "/data/file.txt", len(data), 1, 1)
    return LocalSnapshot(root="/data/file.txt", exists=True, is_dir=False, files={"": f})


def test_single_file_download() -> None:
    remote = [
        RemoteObject("p/file.txt", len(A), md5(A)),
        RemoteObject("p/file.txt.bak", 1, "0" * 32),
    ]
    plan = _single(DOWN, _file_snap(None), remote)
    assert len(plan.operations) == 1
    op = plan.operations[0]
    assert (op.kind, op.rel, op.key, op.local_path) == (
        OpKind.CREATE,
        "",
        "p/file.txt",
        "/data/file.txt",
    )
    same = _single(DOWN, _file_snap(A), remote, {"": digest(A)})
    assert same.operations == ()
    assert same.unchanged == 1
    changed = _single(DOWN, _file_snap(A2), remote, {"": digest(A2)})
    assert [o.kind for o in changed.operations] == [OpKind.UPDATE]


def test_single_file_upload() -> None:
    plan = _single(UP, _file_snap(A), [])
    assert [(o.kind, o.key, o.local_path) for o in plan.operations] == [
        (OpKind.CREATE, "p/file.txt", "/data/file.txt")
    ]
    same = _single(UP, _file_snap(A), [RemoteObject("p/file.txt", len(A), md5(A))], {"": digest(A)})
    assert same.operations == ()


# --------------------------------------------------------------------------- target state


def test_operations_record_the_target_they_replace_or_delete() -> None:
    down = run(
        mapping(DOWN, delete=True),
        snap(lf("a.txt", A, mtime_ns=7, inode=70), lf("x.txt", B, mtime_ns=8, inode=80)),
        [ro("a.txt", A2), ro("new.txt", B)],
        {"a.txt": digest(A)},
    )
    ops = {o.rel: o for o in down.operations}
    assert ops["a.txt"].target_state == (None, len(A), 7, 70)
    assert ops["x.txt"].kind is OpKind.DELETE and ops["x.txt"].target_state == (None, len(B), 8, 80)
    assert ops["new.txt"].target_state == (None, None, None, None)  # nothing there when planned

    up = run(
        mapping(UP, delete=True),
        snap(lf("a.txt", A), lf("new.txt", B)),
        [ro("a.txt", A2, etag="e" * 32), ro("x.txt", B, etag="f" * 32)],
        {"a.txt": digest(A)},
    )
    ops = {o.rel: o for o in up.operations}
    assert ops["a.txt"].target_state == ("e" * 32, None, None, None)
    assert ops["x.txt"].target_state == ("f" * 32, None, None, None)
    assert ops["new.txt"].target_state == (None, None, None, None)
