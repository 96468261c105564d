"""A process holding more than 1024 files open: the transfer loop still waits on its sockets.

select() (and libcurl's fdset, which feeds it) cannot watch a socket numbered 1024 or more. A
loop that only knew select() found nothing to watch there and slept 10 ms between looks: a
thousand small downloads took twice as long in a process with many files open (a server, a
notebook). The loop now waits with poll() once such a socket exists.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .faultproxy import FaultProxy
from .helpers import blob, put_objects

pytestmark = pytest.mark.integration

FILES = {f"p/f{i:03d}.bin": blob(i, 2048 + i) for i in range(80)}

CHILD = r"""
import json, os, select, sys, time
keep = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(sys.argv[3]))]
real_sleep, real_poll = time.sleep, select.poll
blind = []  # waits that ended by a short timeout, not by a socket becoming ready


def sleep(seconds):
    # The loop's wait when it sees no socket to watch (10 ms), or a short one (1 ms).
    if 0 < seconds <= 0.0101:
        blind.append(seconds)
    real_sleep(seconds)


class Poll:
    def __init__(self):
        self.p = real_poll()

    def register(self, fd, events):
        self.p.register(fd, events)

    def poll(self, ms=None):
        ready = self.p.poll(ms)
        if not ready and ms is not None and ms <= 11:
            blind.append(ms / 1000)
        return ready


time.sleep, select.poll = sleep, Poll
from s3lync import S3Object

obj = S3Object(sys.argv[1], local_path=sys.argv[2], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
obj.download()
from s3lync.store import loop

print(json.dumps({"blind": len(blind), "beyond": loop._Beyond.seen, "fds": max(keep, default=0)}))
"""


def _child_env(s3_server: Any, endpoint: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.mark.parametrize("extra_files", [0, 1100], ids=["few-fds", "1100-fds"])
def test_small_downloads_wait_on_their_sockets_past_selects_limit(
    s3_server: Any, s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, extra_files: int
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if extra_files and hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard limit on open files is {hard}")
    put_objects(s3, bucket, FILES)
    # Each GET answered after 30 ms, as over a network: the loop has to wait for its sockets.
    proxy.add_rule("stall", method="GET", key=f"/{bucket}/p/", times=None, delay=0.03)
    dest = tmp_path / "out"

    def raise_limit() -> None:
        if extra_files and soft < 2048:
            resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))

    out = subprocess.run(
        [sys.executable, "-c", CHILD, f"s3://{bucket}/p/", str(dest), str(extra_files)],
        capture_output=True,
        text=True,
        env=_child_env(s3_server, proxy.url, tmp_path),
        preexec_fn=raise_limit,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for rel, data in FILES.items():
        assert (dest / rel.removeprefix("p/")).read_bytes() == data
    # With many files open, the connections' sockets are numbered past select()'s limit.
    assert seen["beyond"] is (extra_files > 0)
    # Woken by the sockets, not by short timeouts between looks (some 20 before: 10 ms sleeps).
    assert seen["blind"] <= 4, seen
