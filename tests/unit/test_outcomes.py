"""The executor's futures: the loop's light Slot behaves as the part of a Future it stands for,
and AllDone fires once every future of a batch is done (finished or cancelled)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError

import pytest

from s3lync.sync.outcomes import AllDone, Slot


def test_a_cancelled_slot_never_starts_and_counts_as_done() -> None:
    slot = Slot[int](threading.Lock())
    seen: list[object] = []
    slot.add_done_callback(seen.append)
    assert slot.cancel()
    assert slot.cancelled() and slot.done()
    assert seen == [slot]
    assert not slot.set_running_or_notify_cancel()
    with pytest.raises(InvalidStateError):
        slot.set_result(1)
    assert seen == [slot]  # the callback ran once


def test_a_started_slot_cannot_be_cancelled_and_keeps_its_result() -> None:
    slot = Slot[str](threading.Lock())
    assert slot.set_running_or_notify_cancel()
    assert not slot.cancel()
    assert not slot.done()
    with pytest.raises(RuntimeError):
        slot.result()
    slot.set_result("ok")
    assert slot.done() and not slot.cancelled()
    assert slot.result() == "ok"
    assert not slot.cancel()  # a finished operation is not cancelled after the fact
    with pytest.raises(InvalidStateError):
        slot.set_result("again")
    late: list[object] = []
    slot.add_done_callback(late.append)  # already done: called at once
    assert late == [slot]


def test_all_done_waits_for_every_future_of_either_kind() -> None:
    lock = threading.Lock()
    slots = [Slot[int](lock) for _ in range(3)]
    future: Future[int] = Future()
    done = AllDone([*slots, future])
    assert not done.wait(0)
    slots[0].set_running_or_notify_cancel()
    slots[0].set_result(1)
    slots[1].cancel()
    future.set_result(2)
    assert not done.wait(0.01)  # slots[2] is still queued
    slots[2].set_running_or_notify_cancel()
    slots[2].set_result(3)
    assert done.wait(0)


def test_all_done_of_nothing_is_done() -> None:
    assert AllDone([]).wait(0)


def test_all_done_across_threads() -> None:
    lock = threading.Lock()
    slots = [Slot[int](lock) for _ in range(200)]
    done = AllDone(slots)

    def run() -> None:
        for i, s in enumerate(slots):
            if s.set_running_or_notify_cancel():
                s.set_result(i)

    worker = threading.Thread(target=run)
    worker.start()
    for s in slots[::2]:
        s.cancel()  # races the worker: each slot ends either cancelled or finished, once
    worker.join()
    assert done.wait(1)
    assert all(s.done() for s in slots)
    assert all(s.cancelled() or s.result() == i for i, s in enumerate(slots))


def test_a_slot_starts_once() -> None:
    slot = Slot[int](threading.Lock())
    assert slot.set_running_or_notify_cancel()
    with pytest.raises(RuntimeError):
        slot.set_running_or_notify_cancel()
