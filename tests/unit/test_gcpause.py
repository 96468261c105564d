"""The cyclic collector is paused while a plan is built, and only then (sync/gcpause.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from s3lync.sync import gcpause


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_still_turns_it_back_on() -> None:
    with pytest.raises(KeyError), gcpause.paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_nested_and_concurrent_pauses_end_with_the_last() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with gcpause.paused():
            inside.set()
            leave.wait(5)

    t = threading.Thread(target=other)
    with gcpause.paused():
        t.start()
        assert inside.wait(5)
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's plan is still being built
    leave.set()
    t.join(5)
    assert gc.isenabled()


def test_a_collector_someone_switched_off_stays_off() -> None:
    gc.disable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_someone_switching_it_back_on_meanwhile_is_not_undone() -> None:
    """A caller that turns the collector on inside a pause keeps it on (it is theirs)."""
    with gcpause.paused():
        gc.enable()
    assert gc.isenabled()
