"""The fast path reads S3 error answers itself: the same error class and message as botocore's reading.

A small server on 127.0.0.1 answers every request with one S3 error document; the same operation
runs through the fast implementation and through the botocore-backed one (a botocore client), and
what the user gets (the exception's class and its one-line message) must be the same, for every
error code s3lync treats specially and a few it does not.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync.errors import S3lyncError
from s3lync.settings import Settings
from s3lync.store.clients import get_client, get_wire
from s3lync.store.remote import Remote

CASES = [
    ("404 Not Found", "NoSuchKey", "The specified key does not exist."),
    ("404 Not Found", "NoSuchBucket", "The specified bucket does not exist"),
    ("403 Forbidden", "AccessDenied", "Access Denied"),
    ("403 Forbidden", "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist."),
    (
        "403 Forbidden",
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match.",
    ),
    ("400 Bad Request", "ExpiredToken", "The provided token has expired."),
    ("412 Precondition Failed", "PreconditionFailed", "At least one precondition failed."),
    ("400 Bad Request", "InvalidArgument", "Invalid Argument"),
    ("400 Bad Request", "BadDigest", "The Content-MD5 you specified did not match."),
    (
        "400 Bad Request",
        "MissingContentMD5",
        "Missing required header for this request: Content-Md5.",
    ),
    (
        "501 Not Implemented",
        "NotImplemented",
        "A header you provided implies functionality not implemented.",
    ),
    ("503 Slow Down", "SlowDown", "Please reduce your request rate."),
    ("500 Internal Server Error", "InternalError", "We encountered an internal error."),
    ("409 Conflict", "OperationAborted", "A conflicting conditional operation is in progress."),
]


class _ErrorServer:
    """Answers every request with one S3 error document (HEAD: status and headers only)."""

    def __init__(self, status: str, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
        ).encode()
        self.status, self.body = status, body
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline(65537)
                if not line:
                    return
                length = 0
                while True:
                    h = reader.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                    if name.strip().lower() == "expect":
                        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if length:
                    reader.read(length)
                head = (
                    f"HTTP/1.1 {self.status}\r\nContent-Type: application/xml\r\n"
                    f"x-amz-request-id: 4442587FB7D0A2F9\r\nContent-Length: {len(self.body)}\r\n\r\n"
                ).encode()
                conn.sendall(head if line.startswith(b"HEAD ") else head + self.body)
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.done.set()
        # Closing alone does not wake a thread blocked in accept(); shutting down does.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3LYNC_")) or name.upper().endswith("_PROXY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sk")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")


@pytest.fixture(params=CASES, ids=[c[1] for c in CASES])
def server(request: pytest.FixtureRequest) -> Iterator[_ErrorServer]:
    srv = _ErrorServer(*request.param)
    yield srv
    srv.close()


def _remotes(url: str) -> dict[str, Remote]:
    settings = Settings.from_env()
    return {
        "fast": Remote(wire=get_wire(endpoint_url=url, settings=settings), settings=settings),
        "botocore": Remote(get_client(endpoint_url=url, settings=settings), settings=settings),
    }


OPERATIONS: dict[str, Callable[[Remote, Path], Any]] = {
    "head": lambda r, d: r.head("bkt", "dir/a.txt"),
    "download": lambda r, d: r.download("bkt", "dir/a.txt", str(d / "a.txt"), 5, ranged=False),
    "upload": lambda r, d: r.upload(
        str(d / "up.txt"), "bkt", "dir/up.txt", 2, "b" * 32, body=b"hi"
    ),
    "list": lambda r, d: list(r.list_objects("bkt", "dir/")),
    "open bucket": lambda r, d: r.bucket_exists("bkt"),
}


def _outcome(call: Callable[[], Any], url: str) -> tuple[str, str]:
    try:
        call()
    except S3lyncError as exc:
        # The endpoint is named the same way; the request id is botocore's detail, not ours.
        return type(exc).__name__, re.sub(r"\s+", " ", str(exc).replace(url, "ENDPOINT"))
    return "no error", ""


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_an_error_answer_means_the_same_on_both_paths(
    server: _ErrorServer, operation: str, tmp_path: Path
) -> None:
    remotes = _remotes(server.url)
    got = {
        name: _outcome(lambda r=r: OPERATIONS[operation](r, tmp_path), server.url)
        for name, r in remotes.items()
    }
    assert got["fast"] == got["botocore"]
    assert got["fast"][0] != "no error"
    if operation != "head" and operation != "open bucket":
        # The store's own code is in the message (or its meaning: not found, access denied).
        text = got["fast"][1]
        code = server.body.decode().split("<Code>")[1].split("</Code>")[0]
        assert code in text or "does not exist" in text or "no such key" in text or "denied" in text


def test_a_200_listing_that_is_html_means_the_same_on_both_paths(tmp_path: Path) -> None:
    srv = _ErrorServer("200 OK", "x", "y")
    srv.body = b"<html><body>Welcome to the captive portal</body></html>"
    try:
        got = {
            name: _outcome(lambda r=r: list(r.list_objects("bkt", "dir/")), srv.url)
            for name, r in _remotes(srv.url).items()
        }
    finally:
        srv.close()
    assert got["fast"][0] == got["botocore"][0] == "BadResponseError"
    assert "not an S3 listing" in got["fast"][1] and "not an S3 listing" in got["botocore"][1]
