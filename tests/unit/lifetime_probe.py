"""Run by tests/unit/test_server_lifetime.py in a pytest of its own (not collected otherwise)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def test_start_a_server_then_die(moto_server: Any) -> None:
    out = Path(os.environ["S3LYNC_LIFETIME_OUT"])
    out.write_text(f"{moto_server.pid} {moto_server.workdir}")
    how = os.environ["S3LYNC_LIFETIME_HOW"]
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "exit":
        os._exit(3)  # no fixture teardown, no atexit
