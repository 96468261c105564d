"""When a batch of transfers is shared between processes, and how the workers are split."""

from __future__ import annotations

import pickle
from types import MappingProxyType

import pytest

from s3lync.settings import Settings
from s3lync.sync import fanout


def test_by_default_one_process_runs_them_all() -> None:
    # Unset ("auto") and "1": this process's transfer loop, whatever the count.
    assert fanout.processes_for(0, 100_000) == 1
    assert fanout.processes_for(1, 100_000) == 1


def test_one_means_this_process_and_a_number_is_taken_as_asked() -> None:
    assert fanout.processes_for(1, 100_000) == 1
    assert fanout.processes_for(3, 100_000) == 3
    # Never more processes than two files each.
    assert fanout.processes_for(8, 6) == 3
    assert fanout.processes_for(2, 1) == 1


@pytest.mark.parametrize(
    ("workers", "processes", "shares"),
    [(16, 2, [8, 8]), (5, 2, [3, 2]), (64, 3, [22, 21, 21]), (2, 2, [1, 1])],
)
def test_max_workers_is_split_so_the_run_stays_within_it(
    workers: int, processes: int, shares: list[int]
) -> None:
    assert fanout.split(workers, processes) == shares
    assert sum(fanout.split(workers, processes)) == workers


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 0), ("auto", 0), ("AUTO", 0), ("1", 1), ("4", 4), ("0", 1)]
)
def test_s3lync_processes_is_read_by_settings(raw: str, expected: int) -> None:
    assert Settings.from_env({"S3LYNC_PROCESSES": raw}).processes == expected


def test_an_unreadable_s3lync_processes_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert Settings.from_env({"S3LYNC_PROCESSES": "many"}).processes == 0
    assert "S3LYNC_PROCESSES" in caplog.text


def test_settings_travel_to_a_worker_whole() -> None:
    s = Settings.from_env({"AWS_ACCESS_KEY_ID": "k", "S3LYNC_MAX_WORKERS": "7"}).with_(
        extra_args={"StorageClass": "STANDARD_IA"}
    )
    back = pickle.loads(pickle.dumps(s))
    assert back == s
    assert dict(back.environ) == dict(s.environ)
    assert isinstance(back.environ, MappingProxyType)
