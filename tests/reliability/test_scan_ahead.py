"""The scan stage beside the list stage (stages.ScanAhead, Engine.plan_mapping).

Where the listing cannot change what is scanned (an upload's folder, a download of a prefix), the
local folder is scanned and its hash-cache rows read on a thread of its own while the listing
waits for the store. What a plan says must not change: the same plan as scanning after the
listing, the listing's error before the scan's, nothing left running after an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import RemoteNotFoundError, S3lyncError, S3ObjectError
from s3lync.localfs import scan as localfs
from s3lync.mapping import Direction, Mapping
from s3lync.settings import Settings
from s3lync.sync import stages
from s3lync.sync.engine import Engine
from s3lync.sync.plan import MappingPlan, OpKind
from s3lync.sync.run import RunOptions
from s3lync.uri import parse_s3_uri

from .faultproxy import FaultProxy, Rule
from .helpers import blob, put_objects, wait_until, write_files

pytestmark = pytest.mark.integration

SCAN = "s3lync-scan"
FILES = {f"d/f{i:02d}.bin": blob(i, 300 + i) for i in range(12)}


class ScanWatch:
    """Wraps ``localfs.scan``: on which thread it ran and whether the listing was held at the
    store at that moment (then releases it)."""

    def __init__(self, listing: Rule) -> None:
        self.listing = listing
        self.threads: list[str] = []
        self.listing_in_flight: list[bool] = []
        self.real = localfs.scan

    def __call__(self, *args: Any, **kw: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        # The listing reaches the proxy within moments when both run at once; scanning after
        # the listing would find it already answered (the stall ended by its delay).
        arrived = self.listing.matched.wait(2)
        self.listing_in_flight.append(arrived and not self.listing.released.is_set())
        self.listing.release()
        return self.real(*args, **kw)


@pytest.fixture
def no_scan_left() -> Iterator[None]:
    yield
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name == SCAN], "scan threads end", 5
    )


def plan(endpoint: str, mapping: Mapping, settings: Settings | None = None) -> MappingPlan:
    with Engine(endpoint_url=endpoint, settings=settings or Settings.from_env()) as engine:
        return engine.plan_mapping(mapping, RunOptions())


@pytest.mark.parametrize("direction", [Direction.UPLOAD, Direction.DOWNLOAD])
def test_the_folder_is_scanned_while_the_listing_waits_for_the_store(
    direction: Direction,
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_scan_left: None,
) -> None:
    local = tmp_path / "data"
    write_files(local, {k: v for k, v in FILES.items() if k < "d/f06"})
    put_objects(s3, bucket, {f"p/{k}": v for k, v in FILES.items() if k >= "d/f03"})
    held = proxy.add_rule("stall", method="GET", query="list-type=2", delay=3.0)
    watch = ScanWatch(held)
    monkeypatch.setattr(localfs, "scan", watch)

    mplan = plan(proxy.url, Mapping(f"s3://{bucket}/p/", str(local), direction))

    assert watch.threads == [SCAN]
    assert watch.listing_in_flight == [True]
    kinds = {op.rel: op.kind for op in mplan.operations}
    if direction is Direction.UPLOAD:
        assert set(kinds) == {k for k in FILES if k < "d/f03"}
    else:
        assert set(kinds) == {k for k in FILES if k >= "d/f06"}
    assert set(kinds.values()) == {OpKind.CREATE}
    assert mplan.unchanged == 3  # d/f03..d/f05 on both sides, compared by content


def test_a_download_of_a_key_scans_after_its_listing(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``s3://b/k`` may be one object or a prefix: where it lands is known only after listing."""
    put_objects(s3, bucket, {"k/a.bin": b"a"})
    held = proxy.add_rule("stall", method="GET", query="list-type=2", delay=0.2)
    watch = ScanWatch(held)
    monkeypatch.setattr(localfs, "scan", watch)

    mplan = plan(proxy.url, Mapping(f"s3://{bucket}/k", str(tmp_path / "out"), Direction.DOWNLOAD))

    assert watch.threads == [threading.current_thread().name]  # after the listing, here
    assert [op.rel for op in mplan.operations] == ["a.bin"]


def test_the_listings_error_wins_over_the_scans(
    proxy: FaultProxy, tmp_path: Path, no_scan_left: None
) -> None:
    """A missing bucket and a file where the download's folder goes: the missing bucket is
    reported, as when the scan came after the listing; the scan thread has ended."""
    target = tmp_path / "file"
    target.write_bytes(b"x")
    mapping = Mapping("s3://no-such-bucket-s3lync/p/", str(target), Direction.DOWNLOAD)

    with pytest.raises(S3lyncError) as caught:
        plan(proxy.url, mapping)
    # The scan had ended before the error came out (the engine closed after it).
    assert [t for t in threading.enumerate() if t.name == SCAN] == []

    assert not isinstance(caught.value, S3ObjectError) or "is a file" not in str(caught.value)
    assert "no-such-bucket-s3lync" in str(caught.value)


def test_a_failed_listing_says_nothing_of_the_folder(
    proxy: FaultProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture, no_scan_left: None
) -> None:
    """The scan ran beside the listing and met a dangling symlink; the listing failed: only the
    listing's error is said, as when the scan came after it."""
    local = tmp_path / "data"
    write_files(local, {"a.txt": b"a"})
    (local / "gone").symlink_to(local / "nowhere")
    mapping = Mapping("s3://no-such-bucket-s3lync/p/", str(local), Direction.UPLOAD)

    with caplog.at_level("WARNING"), pytest.raises(S3lyncError, match="no-such-bucket-s3lync"):
        plan(proxy.url, mapping)
    assert [r.getMessage() for r in caplog.records if "symlink" in r.getMessage()] == []


def test_the_scans_warnings_are_said_once_its_result_is_used(
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    no_scan_left: None,
) -> None:
    local = tmp_path / "data"
    write_files(local, {"a.txt": b"a"})
    (local / "gone").symlink_to(local / "nowhere")

    with caplog.at_level("WARNING"):
        mplan = plan(proxy.url, Mapping(f"s3://{bucket}/p/", str(local), Direction.UPLOAD))
    said = [r for r in caplog.records if "dangling symlink" in r.getMessage()]
    assert [r.getMessage() for r in said] == [f"skipping dangling symlink {local / 'gone'}"]
    assert said[0].threadName == SCAN  # held from the scan thread, said by the planning one
    assert [op.rel for op in mplan.operations] == ["a.txt"]


def test_the_scans_error_comes_once_the_listing_succeeded(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, no_scan_left: None
) -> None:
    put_objects(s3, bucket, {"p/a.bin": b"a"})
    target = tmp_path / "file"
    target.write_bytes(b"x")

    with pytest.raises(S3ObjectError, match="is a file, but the remote side is a folder"):
        plan(proxy.url, Mapping(f"s3://{bucket}/p/", str(target), Direction.DOWNLOAD))


def test_an_empty_source_is_still_judged_with_the_scan_ahead(
    bucket: str, proxy: FaultProxy, tmp_path: Path, no_scan_left: None
) -> None:
    local = tmp_path / "data"
    write_files(local, {"a.bin": b"a"})
    mapping = Mapping(f"s3://{bucket}/empty/", str(local), Direction.DOWNLOAD, delete=True)
    with Engine(endpoint_url=proxy.url) as engine:
        with pytest.raises(RemoteNotFoundError):
            engine.plan_mapping(mapping, RunOptions(missing_source_raises=True))
        mplan = engine.plan_mapping(mapping, RunOptions())
    assert mplan.operations == ()
    assert any(p.blocks for p in mplan.problems)


# ------------------------------------------------------------------------- the stage on its own


def test_scan_target_is_known_only_where_the_listing_cannot_move_it(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    one = tmp_path / "one.bin"
    one.write_bytes(b"1")

    def target(uri: str, local: Path, direction: Direction) -> tuple[str, bool] | None:
        return stages.scan_target(Mapping(uri, str(local), direction), parse_s3_uri(uri))

    assert target("s3://bkt/p/", tmp_path / "new", Direction.DOWNLOAD) == (
        str(tmp_path / "new"),
        True,
    )
    assert target("s3://bkt/p", folder, Direction.DOWNLOAD) is None
    assert target("s3://bkt/p/", folder, Direction.UPLOAD) == (str(folder), True)
    assert target("s3://bkt/p/", one, Direction.UPLOAD) == (str(one), False)
    assert target("s3://bkt/p/", tmp_path / "missing", Direction.UPLOAD) is None


def test_scan_ahead_gives_what_the_scan_stage_gives_or_none_when_the_listing_moved(
    tmp_path: Path,
) -> None:
    local = tmp_path / "data"
    write_files(local, {"a.bin": b"a", "s/b.bin": b"bb", "x.tmp": b"t"})
    mapping = Mapping("s3://bkt/p/", str(local), Direction.DOWNLOAD, exclude=(r"\.tmp$",))
    uri = parse_s3_uri(mapping.s3_uri)
    warmed: list[str] = []
    listing = stages.Listing(uri, True, "p/", str(local), [])

    ahead = stages.ScanAhead(uri, (str(local), True), mapping, lambda _: frozenset(), warmed.append)
    snap, _ = ahead.result(listing) or (None, 0)
    expected, _ = stages.scan(listing, mapping)

    assert snap is not None and sorted(snap.files) == sorted(expected.files) == ["a.bin", "s/b.bin"]
    assert warmed == [str(local)]
    moved = stages.Listing(uri, False, "p", str(local / "a.bin"), [])
    again = stages.ScanAhead(uri, (str(local), True), mapping, lambda _: frozenset(), warmed.append)
    assert again.result(moved) is None


def test_a_failed_listing_waits_for_a_slow_scan_before_it_is_reported(
    proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is closed once the error is out: no scan may still be reading its cache."""
    local = tmp_path / "data"
    write_files(local, {"a.bin": b"a"})
    real = localfs.scan
    finished: list[bool] = []

    def slow(*args: Any, **kw: Any) -> Any:
        threading.Event().wait(0.5)
        out = real(*args, **kw)
        finished.append(True)
        return out

    monkeypatch.setattr(localfs, "scan", slow)
    mapping = Mapping("s3://no-such-bucket-s3lync/p/", str(local), Direction.DOWNLOAD)

    with pytest.raises(S3lyncError, match="no-such-bucket-s3lync"):
        plan(proxy.url, mapping)

    assert finished == [True]
    assert [t for t in threading.enumerate() if t.name == SCAN] == []


def test_an_engine_planning_again_reads_the_rows_another_process_cached_since(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scan stage's thread reads the root's cache rows for each plan: a long-lived engine
    uses what another process hashed meanwhile instead of hashing it again."""
    from s3lync.hashing import digest_file
    from s3lync.localfs.hashcache import HashCache, fingerprint
    from s3lync.sync import digests as digests_mod

    local = tmp_path / "data"
    files = {f"f{i}.bin": blob(50 + i, 400 + i) for i in range(3)}
    write_files(local, files)
    for name in files:  # stamped long ago: not racily clean, so their digests are cached
        os.utime(local / name, ns=(1_600_000_000_000_000_000,) * 2)
    put_objects(s3, bucket, {f"p/{k}": v for k, v in files.items()})
    hashed: list[str] = []

    def counting(path: str, *a: Any, **kw: Any) -> Any:
        hashed.append(os.path.basename(path))
        return digest_file(path, *a, **kw)

    monkeypatch.setattr(digests_mod, "digest_file", counting)
    mapping = Mapping(f"s3://{bucket}/p/", str(local), Direction.UPLOAD)
    settings = Settings.from_env()
    with Engine(endpoint_url=proxy.url, settings=settings) as engine:
        assert engine.plan_mapping(mapping, RunOptions()).operations == ()
        assert sorted(hashed) == sorted(files)  # hashed once, now cached
        extra = local / "f9.bin"
        extra.write_bytes(blob(99, 777))
        os.utime(extra, ns=(1_600_000_000_000_000_000,) * 2)  # not racily clean
        s3.put_object(Bucket=bucket, Key="p/f9.bin", Body=extra.read_bytes())
        other = HashCache(settings.state_dir / "hashes.sqlite3")  # "another process"
        fp = fingerprint(os.stat(extra))
        other.put_many([(str(extra), fp, digest_file(str(extra), []))])
        other.close()
        hashed.clear()
        assert engine.plan_mapping(mapping, RunOptions()).operations == ()
    assert hashed == []
