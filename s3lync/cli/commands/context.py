"""What every command shares: the context (manifest, overrides, output), exit codes, loading."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from s3lync.cli import render
from s3lync.cli.commands.progress import Progress
from s3lync.settings import Settings
from s3lync.sync.policy import ApplyPolicy
from s3lync.sync.shard import Shard

if TYPE_CHECKING:
    from s3lync.sync.engine import Engine

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


LockMode = str  # "auto" (use s3lync.lock when present), "require" (--locked), "ignore" (--no-lock)


@dataclass
class Context:
    """What every command needs: the manifest path, overrides, and where output goes."""

    manifest: Path = Path("s3lync.yaml")
    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    color: bool = False
    confirm: Callable[[str], bool] | None = None
    interactive: bool = False
    json_errors: bool = False  # --json: an error is printed as a JSON document on stdout too
    # The environment, read once for the whole command.
    settings: Settings = field(default_factory=Settings.from_env)
    # apply's progress while mappings run (an interrupt reports and erases it).
    progress: Progress | None = None

    def engine(self, *, jobs: int | None = None) -> Engine:
        """An engine honouring the global overrides and ``--jobs`` (a run's own options are its
        RunOptions)."""
        # Imported here: `--help`, `validate`, `schema` and `init` never need the engine (~50 ms).
        from s3lync.sync.engine import Engine

        return Engine(
            max_workers=jobs,
            region=self.region,
            endpoint_url=self.endpoint_url,
            profile=self.profile,
            settings=self.settings,
        )

    def echo(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.out.write(_printable(text) + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        """Write a line to stderr."""
        self.err.write(_printable(text) + "\n")
        self.err.flush()


def _printable(text: str) -> str:
    # A file name that is not UTF-8 reaches Python as lone surrogates (os.fsdecode), and so may a
    # ${VAR} in the manifest: show those bytes as \xNN rather than fail to print the line.
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no byte decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def load_selected(ctx: Context, names: Sequence[str]) -> tuple[Any, Sequence[Any]]:
    """The manifest (read once, its warnings shown) and the mappings ``names`` select (every
    mapping when none)."""
    manifest = read_manifest(ctx)
    return manifest, manifest.select(list(names))


def read_manifest(ctx: Context) -> Any:
    """The manifest, its warnings (a glob read as a regex, a mapping reading another's target)
    on stderr, as validate shows them."""
    from s3lync.manifest.loader import load_manifest

    manifest = load_manifest(ctx.manifest)
    for line in manifest.warnings:
        ctx.warn(f"warning: {line}")
    return manifest


@dataclass(frozen=True)
class ApplyOptions:
    """Flags of ``s3lync apply``."""

    plan_file: str | None = None
    dry_run: bool = False
    yes: bool = False
    as_json: bool = False
    # --max-delete, --allow-empty-source, --require-verified: the run's safety rules.
    policy: ApplyPolicy = field(default_factory=ApplyPolicy)
    jobs: int | None = None
    progress_tty: bool = False
    lock_timeout: float = 0.0
    detail: str = render.DETAIL_FULL
    shard: Shard | None = None
    lock_mode: LockMode = "auto"
    progress: str | None = None
