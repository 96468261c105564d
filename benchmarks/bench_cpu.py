"""Detect CPU used by other processes during a measurement (a shared machine skews timings).

foreign CPU = machine-wide busy time (/proc/stat) - CPU of the measured child (getrusage of
waited-for children) - CPU of the rclone server and of the latency relay in front of it, if any
(/proc/PID/stat) - this harness's own CPU, expressed in cores (CPU seconds per wall second).
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds spent busy by all cores since boot (user+nice+system+irq+softirq+steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / HZ


def process_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def own_cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@dataclass
class Sample:
    wall: float
    busy: float
    server: float
    me: float
    kids: float


class CpuMeter:
    """``start()`` before a run, ``stop()`` after it: (child CPU s, foreign cores)."""

    def __init__(self, server_pid: int | None = None, relay_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.relay_pid = relay_pid  # counted with the server: both stand for the remote store

    def sample(self) -> Sample:
        me, kids = own_cpu()
        server = process_cpu(self.server_pid) + process_cpu(self.relay_pid)
        return Sample(time.perf_counter(), machine_busy(), server, me, kids)

    def start(self) -> Sample:
        return self.sample()

    def stop(self, s0: Sample) -> tuple[float, float, float]:
        """Child CPU seconds, server CPU seconds, and foreign load in cores."""
        s1 = self.sample()
        wall = max(s1.wall - s0.wall, 1e-6)
        kids, server, me = s1.kids - s0.kids, s1.server - s0.server, s1.me - s0.me
        foreign = (s1.busy - s0.busy) - kids - server - me
        # /proc/stat ticks are 10 ms: short runs get a +-2 tick allowance before counting as foreign.
        foreign = max(0.0, foreign - 2 / HZ)
        return kids, server, foreign / wall

    def wait_quiet(self, max_cores: float, max_wait: float) -> float:
        """Sleep until others use at most MAX_CORES over one second (or MAX_WAIT passed)."""
        deadline = time.monotonic() + max_wait
        load = 0.0
        while True:
            s0 = self.start()
            time.sleep(1.0)
            _, _, load = self.stop(s0)
            if load <= max_cores or time.monotonic() >= deadline:
                return load
