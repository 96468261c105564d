"""The cyclic collector is paused while a plan is built, and only then (sync/gcpause.py)."""

from __future__ import annotations

import gc
import os
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


def test_overlapping_pauses_end_with_the_first() -> None:
    """A plan that starts while another holds the pause does not extend it: the collector
    runs again when the first ends, so plans that keep overlapping never starve it."""
    inside = threading.Event()
    leave = threading.Event()
    after_first: list[bool] = []

    def other() -> None:
        with gcpause.paused():
            inside.set()
            leave.wait(5)
            after_first.append(gc.isenabled())

    t = threading.Thread(target=other)
    with gcpause.paused():
        t.start()
        assert inside.wait(5)
        with gcpause.paused():  # nested: the same pause
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()  # the first ended: collecting again, the other still inside
    leave.set()
    t.join(5)
    assert after_first == [True] and gc.isenabled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_forked_mid_plan_collects_again() -> None:
    with gcpause.paused():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: not inside any plan of its own
            try:
                with gcpause.paused():
                    inside = gc.isenabled()
                os.write(w, f"{int(inside)}{int(gc.isenabled())}".encode())
            finally:
                os._exit(0)
        os.close(w)
        got = os.read(r, 8)
        os.close(r)
        os.waitpid(pid, 0)
    # Its own plan paused the collector and turned it back on afterwards.
    assert got == b"01"


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
