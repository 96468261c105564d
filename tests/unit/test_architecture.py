"""The package tree is the architecture: each layer imports only the layers below it.

Layers, top to bottom: cli -> api (the faces) -> sync -> store | localfs -> manifest -> leaves
(the top-level modules). Read from the source with ast, so a lazy import inside a function
counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import s3lync

PACKAGE = Path(s3lync.__file__).parent
RANK = {"cli": 0, "api": 1, "sync": 2, "store": 3, "localfs": 3, "manifest": 4}
# Third-party libraries each confined to one layer.
CONFINED = {
    "click": "cli",
    "boto3": "store",
    "botocore": "store",
    "s3transfer": "store",
    "urllib3": "store",
    "pycurl": "store",
}


def _layer(path: Path) -> str | None:
    """The layer a module belongs to (None: a top-level leaf or the package root)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a module, with its line."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import; name the layer"
            if node.module:
                out.append((node.lineno, node.module))
                if node.module == "s3lync":
                    out.extend((node.lineno, f"s3lync.{a.name}") for a in node.names)
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_downward(path: Path) -> None:
    """A module may import its own layer and those below it; leaves import no layer."""
    me = _layer(path)
    root_file = path.parent == PACKAGE and path.name in ("__init__.py", "__main__.py")
    bad = []
    for line, name in _imports(path):
        top = name.split(".")[0]
        if top in CONFINED and me != CONFINED[top]:
            bad.append(f"line {line}: {name} belongs in s3lync/{CONFINED[top]}/")
        if top != "s3lync" or root_file:
            continue
        parts = name.split(".")
        target = parts[1] if len(parts) > 1 and parts[1] in RANK else None
        if target is None or target == me:
            continue
        if me is None:
            bad.append(f"line {line}: a leaf imports the {target} layer ({name})")
        elif RANK[target] <= RANK[me]:
            bad.append(f"line {line}: {me} imports {name}, which is not below it")
    assert not bad, f"{path.relative_to(PACKAGE)}: " + "; ".join(bad)


def test_every_layer_says_what_it_owns_and_may_import() -> None:
    """Each layer's __init__ has a docstring naming what it may import."""
    for layer in RANK:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and "import" in doc, f"s3lync/{layer}/__init__.py needs its docstring"


def test_the_planner_and_verdicts_load_no_transport() -> None:
    """Importing the pure parts of sync loads no HTTP library and no store client."""
    code = (
        "import sys, json\n"
        "import s3lync.sync.planner, s3lync.sync.pairing, s3lync.sync.integrity, s3lync.sync.plan\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('botocore', 'boto3', 's3transfer', 'urllib3', 'click') "
        "or m in ('s3lync.store.remote', 's3lync.store.clients', 's3lync.store.lean'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_cli_loads_the_lock_modules_only_for_a_lock(tmp_path: Path) -> None:
    """Every CLI command imports its commands; a manifest without a lock file reads no lock."""
    code = (
        "import sys, json\n"
        "from s3lync.cli.main import main\n"
        "from s3lync.cli.commands import locking, applying, planning, running, manifest_file\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('s3lync.sync.lock'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["s3lync.sync.lockname"]


def test_help_and_validate_load_no_engine_and_no_http(tmp_path: Path) -> None:
    """`s3lync --help` and `validate` of a valid manifest load neither the engine nor the store."""
    (tmp_path / "s3lync.yaml").write_text(
        "version: 1\nmappings:\n  - s3: s3://bkt/p/\n    local: d\n    direction: download\n"
    )
    heavy = ("s3lync.sync.engine", "s3lync.store.transport", "s3lync.store.clients", "pycurl")
    for argv in (["--help"], ["-f", str(tmp_path / "s3lync.yaml"), "validate"]):
        code = (
            "import sys, json\n"
            f"sys.argv = ['s3lync', *{argv!r}]\n"
            "from s3lync.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
            f"print(json.dumps([code, sorted(m for m in sys.modules if m in {heavy!r})]),"
            " file=sys.stderr)"
        )
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
        )
        assert json.loads(out.stderr.strip().splitlines()[-1]) == [0, []], (argv, out.stderr)


def test_importing_the_package_or_the_store_loads_no_planner() -> None:
    """``import s3lync`` loads no layer, and the store (what a run's first request needs) no
    sync module: what plans and executes loads while that request is out."""
    code = (
        "import sys, json\n"
        "import s3lync\n"
        "bare = sorted(m for m in sys.modules if m.startswith('s3lync.'))\n"
        "import s3lync.store.clients, s3lync.store.remote\n"
        "store = sorted(m for m in sys.modules if m.startswith(('s3lync.sync', 's3lync.api')))\n"
        "print(json.dumps([bare, store]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [["s3lync._version"], []]


def test_the_public_names_resolve_on_first_use() -> None:
    """Each public name is the class its module defines, whichever way it is reached."""
    code = (
        "import sys, json, importlib\n"
        "import s3lync\n"
        "from s3lync import Plan, S3lyncError\n"
        "out = {n: getattr(s3lync, n).__module__ for n in s3lync.__all__ if n != '__version__'}\n"
        "out['same'] = Plan is importlib.import_module('s3lync.sync.plan').Plan\n"
        "out['dir'] = 'SyncResult' in dir(s3lync)\n"
        "out['submodule'] = s3lync.errors.SyncError is s3lync.SyncError\n"
        "try:\n    s3lync.NoSuchError\nexcept AttributeError as e:\n    out['missing'] = str(e)\n"
        "print(json.dumps(out))"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out.pop("same") is True and out.pop("dir") is True
    # A submodule, as when the package imported its layers eagerly (s3lync.errors.X).
    assert out.pop("submodule") is True
    assert out.pop("missing") == "module 's3lync' has no attribute 'NoSuchError'"
    assert out["Plan"] == "s3lync.sync.plan" and out["S3Object"] == "s3lync.api.s3object"
    assert out["SyncError"] == "s3lync.errors" and out["Settings"] == "s3lync.settings"
    assert set(out) == set(s3lync.__all__) - {"__version__"}


def test_the_public_names() -> None:
    """``import s3lync`` offers exactly the documented public names, each importable."""
    # Written out once here, on purpose: a change to the public names must change this test too.
    names = (
        "ApplyPolicy ApplyRefusedError AsyncS3Object BadResponseError Config ConfigError "
        "Direction HashMismatchError InvalidURIError LocalPathNotFoundError LockedError "
        "ManifestError Mapping ObjectExistsError Plan PlanStaleError RemoteNotFoundError "
        "S3Object S3ObjectError S3lyncError Settings SyncError SyncResult "
        "TransferCancelledError UnsafeKeyError UnverifiedError __version__"
    )
    expected = set(names.split())
    assert set(s3lync.__all__) == expected
    for name in expected:
        assert getattr(s3lync, name) is not None
