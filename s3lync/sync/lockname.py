"""Where a manifest's lock file lives: a leaf, so a run without a lock loads no lock module."""

from __future__ import annotations

import os
from pathlib import Path


def lock_path(manifest: str | os.PathLike[str]) -> Path:
    """``s3lync.lock`` beside ``s3lync.yaml`` (``ci.yaml`` -> ``ci.lock``)."""
    p = Path(manifest)
    return p.with_name(p.stem + ".lock")
