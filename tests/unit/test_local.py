"""Local file-system side: scan, temporaries, atomic replace, root guard (s3lync.localfs.scan)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from s3lync.filters import matcher
from s3lync.localfs.scan import (
    LocalSnapshot,
    in_root,
    replace,
    scan,
)
from s3lync.localfs.tempfiles import TEMP_PREFIX, new_temp_path


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    _write(
        root,
        {
            "top.txt": b"top",
            "a/one.txt": b"1",
            "a/b/two.txt": b"22",
            "a/b/c/three.txt": b"333",
            "with space/한글.txt": b"k",
        },
    )
    (root / "emptydir").mkdir()
    return root


def test_scan_finds_nested_files_with_slash_rels(tree: Path) -> None:
    snap = scan(str(tree))
    assert snap.exists and snap.is_dir
    assert snap.errors == []
    assert set(snap.files) == {
        "top.txt",
        "a/one.txt",
        "a/b/two.txt",
        "a/b/c/three.txt",
        "with space/한글.txt",
    }
    assert snap.dirs == {"a", "a/b", "a/b/c", "with space", "emptydir"}
    f = snap.files["a/b/c/three.txt"]
    st = os.stat(tree / "a/b/c/three.txt")
    assert f.rel == "a/b/c/three.txt"
    assert os.path.samefile(f.path, tree / "a/b/c/three.txt")
    assert f.size == 3
    assert f.fingerprint == (3, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def test_scan_missing_root(tmp_path: Path) -> None:
    snap = scan(str(tmp_path / "nope"))
    assert not snap.exists
    assert snap.files == {}
    assert snap.errors == []


def test_scan_single_file(tmp_path: Path) -> None:
    f = tmp_path / "file.bin"
    f.write_bytes(b"12345")
    snap = scan(str(f))
    assert snap.exists and not snap.is_dir
    assert list(snap.files) == [""]
    assert snap.files[""].size == 5


def test_scan_applies_exclude(tree: Path) -> None:
    _write(tree, {"x.tmp": b"t", "a/y.tmp": b"t", "a/keep.tmpl": b"k", "build/out.o": b"o"})
    snap = scan(str(tree), matcher([("exclude", r".*\.tmp$"), ("exclude", r"^build/")]))
    assert "x.tmp" not in snap.files
    assert "a/y.tmp" not in snap.files
    assert "build/out.o" not in snap.files
    assert "build" not in snap.dirs
    assert "a/keep.tmpl" in snap.files
    assert "a/b/c/three.txt" in snap.files
    # Excluded files are left alone on disk.
    assert (tree / "x.tmp").exists()


def test_scan_skips_exactly_the_given_paths_and_deletes_nothing(tree: Path) -> None:
    ours = tree / "a" / f"{TEMP_PREFIX}0123456789abcdef"
    lookalike = tree / "a" / ".one.txt.s3lync-tmp-999983-0123abcd"
    ours.write_bytes(b"partial")
    lookalike.write_bytes(b"user data")
    snap = scan(str(tree), skip=frozenset({str(ours)}))
    assert ours.exists() and lookalike.exists(), "a scan never deletes"
    assert f"a/{ours.name}" not in snap.files
    assert f"a/{lookalike.name}" in snap.files, "a name alone never makes a temporary"
    assert f"a/{ours.name}" in scan(str(tree)).files


def test_new_temp_path_is_short_and_beside_the_target(tmp_path: Path) -> None:
    target = str(tmp_path / "sub" / ("n" * 255))
    tmp = new_temp_path(target)
    assert os.path.dirname(tmp) == os.path.dirname(target)
    assert len(os.path.basename(tmp).encode()) == 28
    assert new_temp_path(target) != tmp  # unique per call


def test_scan_follows_symlink_to_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root, {"real/data.bin": b"0123456789"})
    (root / "link.bin").symlink_to(root / "real" / "data.bin")
    snap = scan(str(root))
    assert "link.bin" in snap.files
    assert snap.files["link.bin"].size == 10  # the target's size, not the link's
    assert snap.files["link.bin"].inode == os.stat(root / "real" / "data.bin").st_ino


def test_scan_follow_outside_symlink_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"abc")
    (root / "link.bin").symlink_to(outside)
    snap = scan(str(root), follow_outside=True)
    assert snap.files["link.bin"].size == 3


def test_scan_skips_dangling_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "dangling").symlink_to(root / "missing")
    snap = scan(str(root))
    assert snap.files == {}
    assert snap.errors == []


def test_scan_does_not_loop_on_folder_symlink_to_parent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root, {"a/f.txt": b"f", "g.txt": b"g"})
    (root / "a" / "up").symlink_to("..")  # a/up -> root: a loop
    (root / "self").symlink_to(".")  # root/self -> root: a loop
    result: list[LocalSnapshot] = []
    worker = threading.Thread(target=lambda: result.append(scan(str(root))), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert result, "scan did not finish: it follows the folder symlink loop"
    snap = result[0]
    assert set(snap.files) == {"a/f.txt", "g.txt"}
    assert all(not rel.startswith(("self", "a/up")) for rel in snap.files)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root can read a chmod 000 folder",
)
def test_scan_records_unreadable_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _write(root, {"ok.txt": b"ok", "locked/secret.txt": b"s"})
    locked = root / "locked"
    locked.chmod(0)
    try:
        snap = scan(str(root))
    finally:
        locked.chmod(0o755)
    assert "ok.txt" in snap.files
    assert "locked/secret.txt" not in snap.files
    assert len(snap.errors) == 1
    assert str(locked) in snap.errors[0]


def test_scan_records_unreadable_folder_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same as above but independent of uid: make scandir fail for one folder."""
    root = tmp_path / "root"
    _write(root, {"ok.txt": b"ok", "locked/secret.txt": b"s"})
    locked = str(root / "locked")
    real_scandir = os.scandir

    def scandir(path: str):  # type: ignore[no-untyped-def]
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    snap = scan(str(root))
    assert "ok.txt" in snap.files
    assert "locked/secret.txt" not in snap.files
    assert len(snap.errors) == 1
    assert locked in snap.errors[0]


def test_replace_moves_temp_onto_target(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_bytes(b"old")
    tmp = Path(new_temp_path(str(target)))
    tmp.write_bytes(b"new content")
    st = replace(str(tmp), str(target))
    assert target.read_bytes() == b"new content"
    assert not tmp.exists()
    assert st.st_size == len(b"new content")


def test_replace_onto_folder_raises(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    (target / "inner").mkdir(parents=True)
    tmp = Path(new_temp_path(str(target)))
    tmp.write_bytes(b"x")
    with pytest.raises(IsADirectoryError):
        replace(str(tmp), str(target))
    assert target.is_dir()
    assert (target / "inner").is_dir()


def test_in_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "escape").symlink_to(tmp_path / "elsewhere")
    assert in_root(str(root), str(root / "f.txt"))
    assert in_root(str(root), str(root / "sub" / "f.txt"))
    assert not in_root(str(root), str(root / ".." / "f.txt"))
    assert not in_root(str(root), str(root / "sub" / ".." / ".." / "f.txt"))
    assert not in_root(str(root), str(tmp_path / "elsewhere" / "f.txt"))
    assert not in_root(str(root), str(root / "escape" / "f.txt")), "a folder link out of root"
    # A sibling whose name merely starts with the root's name is outside.
    (tmp_path / "root2").mkdir()
    assert not in_root(str(root), str(tmp_path / "root2" / "f.txt"))
