"""What the scan ahead logs is held per thread (stages._HOLD), with other threads logging."""

from __future__ import annotations

import logging
import threading

import pytest

from s3lync.sync import stages


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lock_ = threading.Lock()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self.lock_:
            self.seen.append(record.getMessage())


@pytest.mark.parametrize("name", stages._AHEAD_LOGGERS)
def test_held_threads_say_nothing_and_the_others_are_not_swallowed(name: str) -> None:
    logger = logging.getLogger(name)
    sink = Collect()
    logger.addHandler(sink)
    hold = stages._HOLD
    held: dict[int, list[logging.LogRecord]] = {}
    start = threading.Barrier(8)

    def holding(i: int) -> None:
        held[i] = []
        start.wait()
        for round_ in range(300):
            hold.local.records = held[i]  # scans starting and ending over and over
            logger.warning("held %d/%d", i, round_)
            hold.local.records = None

    def saying(i: int) -> None:
        start.wait()
        for round_ in range(300):
            logger.warning("said %d/%d", i, round_)

    threads = [threading.Thread(target=holding, args=(i,)) for i in range(4)]
    threads += [threading.Thread(target=saying, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        logger.removeHandler(sink)
    assert not [m for m in sink.seen if m.startswith("held")]
    assert sorted(m for m in sink.seen if m.startswith("said")) == sorted(
        f"said {i}/{r}" for i in range(4) for r in range(300)
    )
    assert all(len(held[i]) == 300 for i in range(4))
