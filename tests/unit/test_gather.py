"""The executor's wait for a batch: hash-cache rows are written while transfers still run, so
the run's end has little left to write; the cancel flag is still honoured at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from s3lync.hashing import Digest
from s3lync.localfs.hashcache import HashCache
from s3lync.sync.executor import _CACHE_BATCH, Executor


class _Store:
    """What Executor.__init__ reads of a Remote (no request is sent in these tests)."""

    endpoint = "http://127.0.0.1:1"


class _Plan:
    """What _gather reads of a plan when it reports a cancelled operation."""

    bucket = "b"


class _Op:
    """What _gather reads of an operation when it reports it cancelled."""

    key = "k"
    kind = type("K", (), {"value": "download"})()


def _executor(tmp_path: Path) -> tuple[Executor, HashCache]:
    cache = HashCache(tmp_path / "cache.db")
    ex = Executor(_Store(), cache, max_workers=4)  # type: ignore[arg-type]
    return ex, cache


def _rows(n: int, root: Path) -> list[tuple[str, tuple[int, int, int, int], Digest]]:
    return [
        (str(root / f"f{i}"), (1, 10**9, 10**9, i), Digest(size=1, md5="0" * 32)) for i in range(n)
    ]


def test_cache_rows_are_written_while_transfers_run(tmp_path: Path) -> None:
    ex, cache = _executor(tmp_path)
    futures: list[Future[Any]] = [Future() for _ in range(3)]
    ex.add_cache_rows(_rows(_CACHE_BATCH, tmp_path))
    out: list[Any] = []
    gather = threading.Thread(
        target=lambda: out.extend(ex._gather(None, [None] * 3, futures)),  # type: ignore[arg-type]
        daemon=True,
    )
    gather.start()
    reader = HashCache(tmp_path / "cache.db")
    deadline = time.monotonic() + 5
    written = None
    while time.monotonic() < deadline and written is None:
        written = reader.get(str(tmp_path / "f0"), (1, 10**9, 10**9, 0))
        time.sleep(0.02)
    if written is None:
        for f in futures:
            f.set_result(None)
    assert written is not None, "no row was written before the transfers ended"
    assert gather.is_alive()  # still waiting for the transfers
    for i, f in enumerate(futures):
        f.set_result(i)
    gather.join(5)
    assert out == [0, 1, 2]
    reader.close()
    cache.close()


def test_a_few_rows_wait_for_the_end(tmp_path: Path) -> None:
    ex, cache = _executor(tmp_path)
    futures: list[Future[Any]] = [Future()]
    ex.add_cache_rows(_rows(3, tmp_path))
    gather = threading.Thread(target=ex._gather, args=(None, [None], futures), daemon=True)
    gather.start()
    time.sleep(0.3)  # three looks at the cancel flag
    assert len(ex.take_cache_rows()) == 3  # not written: below a batch
    futures[0].set_result(0)
    gather.join(5)
    cache.close()


def test_cancel_is_seen_while_waiting(tmp_path: Path) -> None:
    ex, cache = _executor(tmp_path)
    running: Future[Any] = Future()
    queued: Future[Any] = Future()
    running.set_running_or_notify_cancel()

    done: list[Any] = []
    t = threading.Thread(
        target=lambda: done.extend(ex._gather(_Plan(), [_Op(), _Op()], [running, queued])),  # type: ignore[arg-type]
        daemon=True,
    )
    t.start()
    time.sleep(0.15)
    ex.cancel.set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not queued.cancelled():
        time.sleep(0.01)
    assert queued.cancelled()  # never starts
    running.set_result("r")
    t.join(5)
    assert done[0] == "r"
    assert done[1].error_type is not None  # the queued one counts as cancelled
    cache.close()


def test_the_loops_slots_are_waited_for_like_futures(tmp_path: Path) -> None:
    """_gather over the transfer loop's light futures: results in order, a queued one cancelled."""
    from s3lync.sync.outcomes import Slot

    ex, cache = _executor(tmp_path)
    lock = threading.Lock()
    slots = [Slot[Any](lock) for _ in range(3)]

    out: list[Any] = []
    t = threading.Thread(
        target=lambda: out.extend(ex._gather(_Plan(), [_Op()] * 3, slots)),  # type: ignore[arg-type]
        daemon=True,
    )
    t.start()
    slots[0].set_running_or_notify_cancel()
    slots[0].set_result("first")
    slots[1].set_running_or_notify_cancel()
    ex.cancel.set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not slots[2].cancelled():
        time.sleep(0.01)
    assert slots[2].cancelled()  # queued: never starts
    assert not slots[2].set_running_or_notify_cancel()
    slots[1].set_result("second")  # the one that was running ends on its own
    t.join(5)
    assert out[:2] == ["first", "second"]
    assert out[2].error_type is not None
    cache.close()
