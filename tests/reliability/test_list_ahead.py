"""A listing of many pages reads one page ahead over HTTP (store/pages.py, Remote._pages).

The store here is a proxy answering ListObjectsV2 pages of its own (three pages of 1000, 1000
and 5 keys), so the pages' order, tokens and faults are the test's; every other request goes to
the real server behind it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from s3lync import S3Object
from s3lync.errors import S3lyncError
from s3lync.settings import Settings
from s3lync.store import s3xml
from s3lync.store.clients import get_wire
from s3lync.store.remote import Remote

from .faultproxy import FaultProxy, Seen
from .helpers import MOTO_ONLY

pytestmark = [pytest.mark.integration, MOTO_ONLY]

LISTING = "list-type=2"
KEYS = [f"p/k{i:05d}" for i in range(2005)]
TOKENS = {None: 0, "tok-1/2+a==": 1000, "tok&2": 2000}
NEXT = {0: "tok-1/2+a==", 1000: "tok&2", 2000: None}


def listing_page(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    token = parse_qs(seen.query).get("continuation-token", [None])[0]
    start = TOKENS[token]
    keys = KEYS[start : start + 1000]
    nxt = NEXT[start]
    items = "".join(
        f"<Contents><Key>{k}</Key><Size>1</Size><ETag>&quot;0cc175b9c0f1b6a831c399e269772661"
        f"&quot;</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
        for k in keys
    )
    more = (
        f"<IsTruncated>true</IsTruncated><NextContinuationToken>{nxt.replace('&', '&amp;')}"
        "</NextContinuationToken>"
        if nxt
        else "<IsTruncated>false</IsTruncated>"
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>b</Name><Prefix>p/</Prefix><KeyCount>{len(keys)}</KeyCount>"
        f"<MaxKeys>1000</MaxKeys>{more}{items}</ListBucketResult>"
    )
    return 200, [("Content-Type", "application/xml")], body.encode()


def remote_at(url: str) -> Remote:
    settings = Settings.from_env()
    return Remote(wire=get_wire(endpoint_url=url, settings=settings), settings=settings)


def test_the_next_page_is_requested_before_this_one_is_parsed(
    bucket: str, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    requested_by_parse: list[int] = []
    real = s3xml.parse_list

    def parse(data: bytes, where: str, seen: set[str]) -> Any:
        n = len(requested_by_parse) + 2  # this page's request and the next one's
        last = b"<IsTruncated>false" in data
        # The early request reaches the proxy within moments when it was sent before parsing.
        deadline = threading.Event()
        for _ in range(100):
            if last or len(proxy.requests("GET")) >= n:
                break
            deadline.wait(0.02)
        requested_by_parse.append(len(proxy.requests("GET")))
        return real(data, where, seen)

    monkeypatch.setattr(s3xml, "parse_list", parse)

    keys = [o.key for o in remote_at(proxy.url).list_objects(bucket, "p/")]

    assert keys == KEYS
    assert requested_by_parse == [2, 3, 3]
    tokens = [parse_qs(s.query).get("continuation-token", [None])[0] for s in proxy.requests("GET")]
    assert tokens == [None, "tok-1/2+a==", "tok&2"]


def test_a_failed_early_request_is_retried_and_the_listing_completes(
    bucket: str, proxy: FaultProxy
) -> None:
    proxy.add_rule("error", method="GET", query="continuation-token=tok%262", status=503, times=1)
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)

    keys = [o.key for o in remote_at(proxy.url).list_objects(bucket, "p/")]

    assert keys == KEYS
    assert [s.action for s in proxy.requests("GET")].count("error") == 1


def test_an_early_request_that_keeps_failing_fails_the_listing_naming_it(
    bucket: str, proxy: FaultProxy
) -> None:
    proxy.add_rule(
        "error", method="GET", query="continuation-token=tok%262", status=503, times=None
    )
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    listed: list[str] = []

    with pytest.raises(S3lyncError) as caught:
        for o in remote_at(proxy.url).list_objects(bucket, "p/"):
            listed.append(o.key)

    assert listed == KEYS[:2000]  # the pages before it were handed on, in order
    assert f"s3://{bucket}/p/" in str(caught.value)


def test_the_lock_listing_reads_ahead_too(bucket: str, proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    listed = [o.key for o in remote_at(proxy.url).list_for_lock(bucket, "p/", versioned=False)]
    assert listed == KEYS
    assert len(proxy.requests("GET")) == 3


def list_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "s3lync-list"]


def test_a_reader_that_stops_early_leaves_no_request_out(bucket: str, proxy: FaultProxy) -> None:
    """Closing the listing after its first page waits for the page already asked for."""
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    listing = remote_at(proxy.url).list_objects(bucket, "p/")
    first = next(listing)
    listing.close()
    assert first.key == KEYS[0]
    assert list_threads() == []
    assert len(proxy.requests("GET")) == 2  # the first page and the one read ahead, no more


def test_exists_sends_one_listing_of_a_many_page_prefix(
    bucket: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """``exists()`` stops at the first object: nothing is read ahead for it."""
    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    obj = S3Object(f"s3://{bucket}/p/", tmp_path / "x", endpoint_url=proxy.url)
    assert obj.exists()
    assert len([s for s in proxy.requests("GET") if LISTING in s.query]) == 1
    assert list_threads() == []


def test_a_listing_inside_a_transfer_loop_reads_page_after_page(
    bucket: str, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing from a loop's transfer (a delete's check) never waits on a thread of its own:
    the loop would stop while its transfers hold the request slots that thread needs."""
    from s3lync.store.loop import Loop

    proxy.add_rule("answer", method="GET", query=LISTING, times=None, respond=listing_page)
    remote = remote_at(proxy.url)
    listed: list[str] = []
    requested_by_parse: list[int] = []
    real = s3xml.parse_list

    def parse(data: bytes, where: str, seen: set[str]) -> Any:
        threading.Event().wait(0.3)  # time enough for a request sent ahead to arrive
        requested_by_parse.append(len(proxy.requests("GET")))
        return real(data, where, seen)

    monkeypatch.setattr(s3xml, "parse_list", parse)

    def job() -> None:
        listed.extend(o.key for o in remote.list_objects(bucket, "p/"))

    Loop(2).run(iter([job]))

    assert listed == KEYS
    assert requested_by_parse == [1, 2, 3]
