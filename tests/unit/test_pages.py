"""A listing read one page ahead (store/pages.py, s3xml.peek_token), on plain functions."""

from __future__ import annotations

import threading

import pytest

from s3lync.errors import BadResponseError
from s3lync.store import s3xml
from s3lync.store.pages import pages_ahead
from s3lync.store.s3xml import Listed, peek_token

NS = b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def page(keys: list[str], token: str | None, *, ns: bytes = NS, prefix: str = "") -> bytes:
    """A ListObjectsV2 page as S3 writes it (``prefix``: a namespace prefix such as ``s3:``)."""
    p = prefix.encode()
    tag = p.rstrip(b":")
    xmlns = ns.replace(b"xmlns=", b"xmlns:" + tag + b"=") if prefix else ns
    items = b"".join(
        b"<%bContents><%bKey>%b</%bKey><%bSize>1</%bSize><%bETag>&quot;e&quot;</%bETag></%bContents>"
        % (p, p, k.encode(), p, p, p, p, p, p)
        for k in keys
    )
    more = b"true" if token else b"false"
    tok = b""
    if token is not None:
        esc = token.replace("&", "&amp;").replace("<", "&lt;").encode()
        tok = b"<%bNextContinuationToken>%b</%bNextContinuationToken>" % (p, esc, p)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><%bListBucketResult %b><%bKeyCount>%d</%bKeyCount>'
        b"<%bIsTruncated>%b</%bIsTruncated>%b%b</%bListBucketResult>"
        % (p, xmlns, p, len(keys), p, p, more, p, items, tok, p)
    )


@pytest.mark.parametrize("prefix", ["", "s3:"])
@pytest.mark.parametrize("token", ["1/abc+def==", "a&b<c>\"d'", "ü-token"])
def test_peek_token_finds_what_the_parse_finds(prefix: str, token: str) -> None:
    data = page([f"k{i}" for i in range(50)], token, prefix=prefix)
    _, parsed = s3xml.parse_list(data, "here", set())
    assert parsed == token
    assert peek_token(data) == token


def test_peek_token_is_none_on_the_last_page_and_on_garbage() -> None:
    assert peek_token(page(["a", "b"], None)) is None
    assert peek_token(b"\xff\xfe not xml") is None
    assert peek_token(b"<NextContinuationToken>\xff\xfe</NextContinuationToken>") is None


class Store:
    """Pages by token; records each fetch's token, thread and what had been parsed by then."""

    def __init__(self, pages: dict[str | None, bytes]) -> None:
        self.pages = pages
        self.fetched: list[str | None] = []
        self.threads: list[str] = []
        self.parsed: list[int] = []
        self.fail: dict[str | None, BaseException] = {}
        self.lock = threading.Lock()

    def fetch(self, token: str | None) -> bytes:
        with self.lock:
            self.fetched.append(token)
            self.threads.append(threading.current_thread().name)
        if token in self.fail:
            raise self.fail[token]
        return self.pages[token]

    def parse(self, data: bytes) -> tuple[list[Listed], str | None]:
        out = s3xml.parse_list(data, "here", set())
        with self.lock:
            self.parsed.append(len(self.fetched))
        return out


def three_pages() -> dict[str | None, bytes]:
    return {
        None: page(["a", "b"], "t1"),
        "t1": page(["c", "d"], "t2"),
        "t2": page(["e"], None),
    }


def test_every_page_in_order_with_the_next_request_sent_before_each_parse() -> None:
    store = Store(three_pages())
    keys = [o.key for p in pages_ahead(store.fetch, store.parse) for o in p]
    assert keys == ["a", "b", "c", "d", "e"]
    assert store.fetched == [None, "t1", "t2"]
    # The first page is fetched by the reader; each next one on a thread of its own, sent
    # before the page naming it was parsed (2 fetches by the first parse, 3 by the second).
    assert store.threads == [threading.current_thread().name, "s3lync-list", "s3lync-list"]
    assert store.parsed[:2] == [2, 3]


def test_a_wrong_guess_is_dropped_and_the_parsed_token_fetched() -> None:
    pages = three_pages()
    # A commented-out token before the real one: the bytes seem to say "zz", the parse (the
    # truth) says "t1"; the early page must not be used.
    pages[None] = pages[None].replace(
        b"<NextContinuationToken>",
        b"<!-- <NextContinuationToken>zz</NextContinuationToken> --><NextContinuationToken>",
    )
    pages["zz"] = page(["WRONG"], None)
    store = Store(pages)
    keys = [o.key for p in pages_ahead(store.fetch, store.parse) for o in p]
    assert keys == ["a", "b", "c", "d", "e"]
    assert "zz" in store.fetched and store.fetched.count("t1") == 1


def test_the_early_requests_error_comes_when_its_page_is_due() -> None:
    store = Store(three_pages())
    store.fail["t2"] = BadResponseError("page 3 broke")
    got = pages_ahead(store.fetch, store.parse)
    assert [o.key for o in next(got)] == ["a", "b"]
    assert [o.key for o in next(got)] == ["c", "d"]
    with pytest.raises(BadResponseError, match="page 3 broke"):
        next(got)


def test_at_most_one_request_is_ahead_of_the_reader() -> None:
    many = {None: page(["k0"], "t1")}
    for i in range(1, 30):
        many[f"t{i}"] = page([f"k{i}"], f"t{i + 1}" if i < 29 else None)
    store = Store(many)
    got = pages_ahead(store.fetch, store.parse)
    next(got)
    next(got)
    # Two pages read: the third page's request may be out, nothing beyond it.
    threading.Event().wait(0.2)
    assert store.fetched == [None, "t1", "t2"]
    assert [o.key for p in got for o in p] == [f"k{i}" for i in range(2, 30)]


def test_peek_token_reads_entities_and_character_references() -> None:
    data = b"<X><NextContinuationToken>a&amp;b&#233;&#xE9;&lt;&quot;&apos;&gt;</NextContinuationToken></X>"
    assert peek_token(data) == "a&b\u00e9\u00e9<\"'>"


def test_peek_token_never_raises_on_a_strange_reference() -> None:
    huge = b"<NextContinuationToken>a&#" + b"9" * 5000 + b";b&#xD800;</NextContinuationToken>"
    assert peek_token(huge) is not None  # a guess; parse_list judges the page
