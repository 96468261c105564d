"""Settings: the environment is read once, by Settings.from_env, and passed down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import s3lync
from s3lync import Config, S3Object, Settings
from s3lync.sync.engine import Engine

PACKAGE = Path(s3lync.__file__).parent
# The only modules that may read the process environment: settings.py (everything) and the
# CLI's NO_COLOR check (a terminal matter, not a setting).
ENV_READERS = {"settings.py", "cli/main.py"}


def _reads_environ(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv") for a in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment() -> None:
    """os.environ / os.getenv appear only in settings.py (and the CLI's NO_COLOR check)."""
    found = {
        f"{p.relative_to(PACKAGE).as_posix()}:{line}"
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).as_posix() not in ENV_READERS
        for line in _reads_environ(p)
    }
    assert found == set()


def test_a_variable_set_after_building_settings_is_not_reread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", "3")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "before"))
    settings = Settings.from_env()
    monkeypatch.setenv("S3LYNC_MAX_WORKERS", "7")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "after"))
    assert settings.max_workers == 3
    with Engine(settings=settings) as engine:
        assert engine.max_workers == 3
        assert engine.remote(_mapping()).max_workers == 3
    obj = S3Object("s3://bucket/key.txt", settings=settings)
    assert obj.local_path == str(tmp_path / "before" / "s3lync" / "objects" / "bucket" / "key.txt")
    # A fresh Settings does see the new values.
    assert Settings.from_env().max_workers == 7


def _mapping() -> s3lync.Mapping:
    return s3lync.Mapping("s3://bucket/p/", "/tmp/x", s3lync.Direction.DOWNLOAD)


def test_from_env_takes_a_mapping_and_folds_in_config_setters(tmp_path: Path) -> None:
    Config.set_max_workers(5)
    Config.set_aws_region("eu-west-3")
    try:
        s = Settings.from_env({})
        assert (s.max_workers, s.aws_region) == (5, "eu-west-3")
        # The environment still wins over values set in code.
        s = Settings.from_env({"S3LYNC_MAX_WORKERS": "2", "AWS_REGION": "us-east-2"})
        assert (s.max_workers, s.aws_region) == (2, "us-east-2")
    finally:
        Config.reset()
    s = Settings.from_env({"XDG_CACHE_HOME": str(tmp_path), "S3LYNC_LEAN": "0"})
    assert s.cache_dir == tmp_path / "s3lync" and s.lean is False
    assert s.environ["S3LYNC_LEAN"] == "0"


def test_with_is_a_copy_and_settings_are_frozen() -> None:
    s = Settings.from_env({})
    t = s.with_(max_workers=4, lean=False)
    assert (s.max_workers, s.lean, t.max_workers, t.lean) == (16, True, 4, False)
    with pytest.raises(AttributeError):
        s.max_workers = 1  # type: ignore[misc]


def test_timeouts_and_attempts_layer_environment_over_configured() -> None:
    s = Settings.from_env({"S3LYNC_READ_TIMEOUT": "2.5", "AWS_MAX_ATTEMPTS": "6"})
    assert (s.connect_timeout(7.0), s.read_timeout(30.0)) == (7.0, 2.5)
    assert s.attempts(4) == 6
    assert Settings.from_env({}).attempts(4) == 4
    assert Settings.from_env({}).attempts() == 3
