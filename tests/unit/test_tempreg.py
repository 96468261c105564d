"""The registry of download temporaries (s3lync.localfs.tempfiles): only registered paths of dead runs are swept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s3lync.localfs.tempfiles import TempRegistry, new_temp_path


def _register_in_dead_process(db: Path, paths: list[Path], host: str | None = None) -> None:
    """Register ``paths`` from a child process that then exits: a real crashed run's rows."""
    code = (
        "import socket, sys\n"
        + (f"socket.gethostname = lambda: {host!r}\n" if host else "")
        + "from pathlib import Path\n"
        "from s3lync.localfs.tempfiles import TempRegistry\n"
        "reg = TempRegistry(Path(sys.argv[1]))\n"
        "reg.register(sys.argv[2:])\n"
        "for p in sys.argv[2:]:\n"
        "    Path(p).write_bytes(b'partial')\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db), *map(str, paths)], check=True)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "temporaries.sqlite3"


def test_register_and_unregister(db: Path, tmp_path: Path) -> None:
    reg = TempRegistry(db)
    a, b = new_temp_path(str(tmp_path / "d" / "a")), new_temp_path(str(tmp_path / "x"))
    reg.register([a, b])
    assert reg.registered_under(str(tmp_path / "d")) == {a}
    assert reg.registered_under(str(tmp_path)) == {a, b}
    reg.unregister([a])
    assert reg.registered_under(str(tmp_path)) == {b}
    reg.close()


def test_reading_a_missing_registry_creates_nothing(db: Path, tmp_path: Path) -> None:
    reg = TempRegistry(db)
    assert reg.registered_under(str(tmp_path)) == frozenset()
    assert reg.sweep(str(tmp_path)) == []
    assert not db.parent.exists()


def test_sweep_removes_only_registered_files_of_dead_runs_on_this_host(
    db: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    crashed = [Path(new_temp_path(str(root / "a"))), Path(new_temp_path(str(root / "sub" / "b")))]
    _register_in_dead_process(db, crashed)
    other_host = Path(new_temp_path(str(root / "c")))
    _register_in_dead_process(db, [other_host], host="another-machine")
    reg = TempRegistry(db)
    live = Path(new_temp_path(str(root / "d")))
    reg.register([str(live)])
    live.write_bytes(b"in flight")
    lookalikes = [
        root / ".data.csv.s3lync-tmp-999983-0123abcd",
        root / ".s3lync-tmp-0123456789abcdef",
    ]
    for p in lookalikes:
        p.write_bytes(b"user data")

    removed = reg.sweep(str(root))

    assert sorted(removed) == sorted(map(str, crashed))
    assert not any(p.exists() for p in crashed)
    assert live.exists() and other_host.exists()
    assert all(p.read_bytes() == b"user data" for p in lookalikes)
    # The swept rows are gone; the live one and the other host's stay registered.
    assert reg.registered_under(str(root)) == {str(live), str(other_host)}
    reg.close()


def test_sweep_leaves_a_folder_or_symlink_at_a_registered_path(db: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep")
    paths = [Path(new_temp_path(str(root / "a"))), Path(new_temp_path(str(root / "b")))]
    _register_in_dead_process(db, paths)
    paths[0].unlink()
    paths[0].mkdir()
    paths[1].unlink()
    paths[1].symlink_to(target)
    assert TempRegistry(db).sweep(str(root)) == []
    assert paths[0].is_dir() and paths[1].is_symlink() and target.read_bytes() == b"keep"


def test_non_recursive_sweep_stays_in_the_folder(db: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    top, deep = Path(new_temp_path(str(root / "a"))), Path(new_temp_path(str(root / "sub" / "b")))
    _register_in_dead_process(db, [top, deep])
    assert TempRegistry(db).sweep(str(root), recursive=False) == [str(top)]
    assert deep.exists()


def test_an_unusable_registry_warns_once_and_costs_only_the_sweep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    reg = TempRegistry(blocker / "state" / "temporaries.sqlite3")
    with caplog.at_level(logging.WARNING, logger="s3lync"):
        reg.register([str(tmp_path / ".s3lync-tmp-0000000000000000")])
        reg.register([str(tmp_path / ".s3lync-tmp-0000000000000001")])
    assert len([r for r in caplog.records if "registry" in r.getMessage()]) == 1
    assert reg.registered_under(str(tmp_path)) == frozenset()
    assert os.listdir(tmp_path) == ["file"]
