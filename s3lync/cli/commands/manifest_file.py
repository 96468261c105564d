"""``validate``, ``init`` and ``schema``: the commands about the manifest file itself."""

from __future__ import annotations

import shlex
from pathlib import Path

from s3lync.cli.commands.context import EXIT_OK, Context, read_manifest
from s3lync.errors import S3lyncError
from s3lync.sync.lockname import lock_path


def validate(ctx: Context) -> int:
    """Schema and semantic checks of the manifest (and of its lock file, when there is one)."""
    manifest = read_manifest(ctx)
    n = len(manifest.mappings)
    lines = [f"{ctx.manifest}: valid ({n} mapping{'s' if n != 1 else ''})"]
    path = lock_path(manifest.path)
    if path.exists():
        from s3lync.sync import lockfile, lockrules

        # Checked before anything is called valid: "valid", then exit 1, would contradict itself.
        lf = lockfile.load(path)
        lockrules.check_manifest(lf, manifest.mappings, manifest.mappings, ctx.manifest)
        count = sum(len(m.objects) for m in lf.mappings)
        lines.append(
            f"{path.name}: valid ({len(lf.mappings)} locked mapping(s), {count} object(s))"
        )
    for line in lines:
        ctx.echo(line)
    return EXIT_OK


def init(ctx: Context, *, force: bool = False) -> int:
    """Write a commented starter manifest."""
    from s3lync.manifest.loader import schema_reference, starter_manifest

    target = ctx.manifest
    if target.is_dir():
        raise S3lyncError(f"{target} is a folder; name the file, e.g. -f {target / 's3lync.yaml'}")
    if target.exists() and not force:
        raise S3lyncError(f"{target} already exists; use --force to overwrite it")
    folder = target.parent
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_manifest(schema_reference(target)), encoding="utf-8")
    except OSError as exc:
        raise S3lyncError(f"cannot write {target}: {exc.strerror or exc}") from None
    # The next commands must read the same file: keep -f unless it is the default.
    flag = "" if target == Path("s3lync.yaml") else f"-f {shlex.quote(str(target))} "
    made = f" (created the folder {folder})" if created else ""
    ctx.echo(
        f"Wrote {target}{made}. Edit it, then run `s3lync {flag}validate` and `s3lync {flag}plan`."
    )
    return EXIT_OK


def schema(ctx: Context, *, path: bool = False) -> int:
    """Print the manifest's JSON Schema (what editors validate with), or with ``path`` its file."""
    from s3lync.manifest.loader import schema_path

    where = schema_path()
    ctx.echo(str(where) if path else where.read_text(encoding="utf-8").rstrip("\n"))
    return EXIT_OK
