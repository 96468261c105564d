"""A download that starts after its run was cancelled leaves no file behind.

The executor's abort sets ``cancel`` and then removes the run's temporaries; a worker that creates
its temporary after that removal must remove it itself (a leftover was seen once in the suite,
``test_sigint_exits_promptly_even_when_a_transfer_is_stalled``, under load).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from s3lync.store.download import Downloader
from s3lync.store.objects import Meter, ObjectInfo
from s3lync.store.retry import RetryPolicy
from s3lync.store.scheduler import Scheduler
from s3lync.store.wire import Cancelled


class _NoRequests:
    """A store implementation that must not be asked anything."""

    def get(self, *args: Any, **kwargs: Any) -> ObjectInfo:
        raise AssertionError("a cancelled download sent a request")

    def head(self, *args: Any, **kwargs: Any) -> ObjectInfo:
        return ObjectInfo(etag="e" * 32, size=3 * 5 * 1024 * 1024, metadata_md5=None)


@pytest.mark.parametrize("ranged", [False, True], ids=["streamed", "ranged"])
def test_a_download_begun_after_the_cancel_leaves_no_file(tmp_path: Path, ranged: bool) -> None:
    wire = _NoRequests()
    down = Downloader(
        lambda bucket: wire,  # type: ignore[arg-type, return-value]
        RetryPolicy(1),
        Scheduler(4),
        threshold=5 * 1024 * 1024,
        chunksize=5 * 1024 * 1024,
        max_workers=4,
    )
    cancel = threading.Event()
    cancel.set()
    dest = tmp_path / ".s3lync-tmp-x"
    with pytest.raises(Cancelled):
        down.download(
            "b",
            "k",
            str(dest),
            3 * 5 * 1024 * 1024,
            ranged=ranged,
            version_id=None,
            if_match=None,
            cancel=cancel,
            meter=Meter(None),
        )
    assert list(tmp_path.iterdir()) == []
