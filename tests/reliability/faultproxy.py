"""An in-process HTTP fault-injection proxy for S3-compatible test servers.

Usage::

    with FaultProxy(server.endpoint_url) as proxy:
        rule = proxy.add_rule("reset", method="GET", key="data/a.bin", times=1)
        S3Object("s3://bucket/data/", local, endpoint_url=proxy.url).download()
        assert rule.hits == 1

The proxy listens on ``127.0.0.1`` (free port), reads each HTTP/1.1 request from the client (keep-alive
supported, ``Expect: 100-continue`` answered at once), forwards it verbatim to the upstream server (the
``Host`` header is kept, so SigV4 signatures stay valid), buffers the response and sends it back,
unless a :class:`Rule` matches. Rules match on method, a substring of the URL-decoded path
(``/bucket/key``) and a substring of the raw query, for their first ``times`` matching requests
(``times=None``: forever). Actions:

- ``"reset"``: forward; send the response headers and the first half of the body, then a TCP RST
  (a response without a body is not sent at all: the client sees a reset instead of an answer);
- ``"stall"``: wait ``delay`` seconds (or until ``rule.release()``) before answering
  (``where="before"``), or after the headers and half of the body (``where="body"``), then finish
  the response normally;
- ``"truncate"``: send the headers (with the full ``Content-Length``), ``keep`` bytes of the body
  (default: half), then close the connection;
- ``"flip"``: XOR one byte (``offset``, default the middle) of the body with 0xFF;
- ``"error"``: answer ``status`` (500 InternalError, 503 SlowDown) with a proper S3 XML error body,
  without forwarding;
- ``"flip_request"``: XOR one byte (``offset``, default the middle) of the *request* body with 0xFF
  before forwarding it (damage on the way to the store);
- ``"pass"``: forward normally (with ``before`` a hook, e.g. to kill the server; with
  ``transform`` a function rewriting the answer's body, e.g. a listing's XML namespace);
- ``"answer"``: ``respond(seen)`` returns ``(status, headers, body)`` to send instead of
  forwarding, or None to forward normally (e.g. a region redirect for some requests only).

``emulate_kms=True`` makes the proxy stand for an AWS front end serving SSE-KMS objects: every ETag
(headers and XML bodies) becomes a stable random 32-hex value that is not the MD5, object answers
carry ``x-amz-server-side-encryption: aws:kms``, and a PUT whose ``Content-MD5`` does not match its
body is refused with ``400 BadDigest`` as AWS does (moto accepts it).

``before`` (any action) is called with the :class:`Seen` request right after the match and before the
action. ``proxy.log`` lists every request seen, with the action applied (``"ok"`` when none).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import http.client
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from .netkit import Server

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te"}
_ERROR_CODES = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway timeout."),
    403: ("AccessDenied", "Access Denied"),
}


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it."""

    method: str
    path: str  # URL-decoded, e.g. "/bucket/dir/a b.txt"
    query: str  # raw query string
    headers: tuple[tuple[str, str], ...]
    action: str = "ok"

    def header(self, name: str) -> str | None:
        """A request header's value, case-insensitively."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Rule:
    """Which requests to break (first ``times`` matches) and how."""

    action: str
    method: str | None = None
    key: str | None = None
    query: str | None = None
    # A request header (name, value prefix) the request must carry, e.g. ("range", "bytes=10485760-").
    header: tuple[str, str] | None = None
    times: int | None = 1
    status: int = 503
    delay: float = 3.0
    where: str = "before"
    keep: int | None = None
    offset: int | None = None
    before: Callable[[Seen], None] | None = None
    respond: Callable[[Seen], tuple[int, list[tuple[str, str]], bytes] | None] | None = None
    # "pass" only: rewrite the upstream answer's body before sending it on.
    transform: Callable[[bytes], bytes] | None = None
    hits: int = 0
    matched: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """End every current and future stall of this rule now."""
        self.released.set()

    def wants(
        self, method: str, path: str, query: str, headers: Sequence[tuple[str, str]] = ()
    ) -> bool:
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.key is not None and self.key not in path:
            return False
        if self.query is not None and self.query not in query:
            return False
        if self.header is not None and not any(
            k.lower() == self.header[0].lower() and v.startswith(self.header[1]) for k, v in headers
        ):
            return False
        return self.times is None or self.hits < self.times


class FaultProxy(Server):
    """A threaded TCP proxy in front of one HTTP endpoint that injects faults per rule."""

    def __init__(self, upstream_url: str, *, emulate_kms: bool = False) -> None:
        self.emulate_kms = emulate_kms
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: list[Rule] = []
        # The most client connections open at once (a client's pool bound, seen from outside).
        self.peak_connections = 0
        # Every client connection accepted so far (a client reusing its connections opens few).
        self.accepted = 0
        # Requests being handled at once (read, forwarded, not yet answered), and the most seen.
        self.inflight = 0
        self.peak_inflight = 0
        self._counted = threading.local()
        self.log: list[Seen] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    # -- public API -----------------------------------------------------------------------

    def add_rule(self, action: str, **kwargs: Any) -> Rule:
        """Add a rule (see the module docstring); rules are tried in the order added."""
        if action not in (
            "reset",
            "stall",
            "truncate",
            "flip",
            "flip_request",
            "error",
            "pass",
            "answer",
        ):
            raise ValueError(f"unknown action {action!r}")
        rule = Rule(action=action, **kwargs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule, ending their stalls (the log is kept)."""
        with self._lock:
            for rule in self._rules:
                rule.released.set()
            self._rules.clear()

    def requests(self, method: str | None = None, key: str | None = None) -> list[Seen]:
        """Logged requests filtered by method and path substring."""
        with self._lock:
            seen = list(self.log)
        return [
            s
            for s in seen
            if (method is None or s.method == method) and (key is None or key in s.path)
        ]

    def close(self) -> None:
        """Stop accepting, abort every open connection, wake stalled handlers."""
        self._closing.set()
        with self._lock:
            for rule in self._rules:
                rule.released.set()
        super().close()

    def __enter__(self) -> FaultProxy:
        return self

    # -- machinery ------------------------------------------------------------------------

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.add(s)
            self.accepted += 1
            self.peak_connections = max(self.peak_connections, len(self._conns))

    def handle(self, conn: socket.socket) -> None:
        """Serve one client connection (the accept loop's thread per connection)."""
        self._serve(conn)

    def _match(
        self, method: str, path: str, query: str, headers: Sequence[tuple[str, str]]
    ) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.wants(method, path, query, headers):
                    rule.hits += 1
                    return rule
        return None

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._closing.is_set():
                req = _read_request(reader, conn)
                if req is None:
                    return
                method, target, headers, body = req
                split = urlsplit(target)
                path, query = unquote(split.path), split.query
                rule = self._match(method, path, query, headers)
                seen = Seen(method, path, query, tuple(headers), rule.action if rule else "ok")
                with self._lock:
                    self.log.append(seen)
                if rule is not None:
                    if rule.before is not None:
                        rule.before(seen)
                    rule.matched.set()
                if rule is not None and rule.action == "answer" and rule.respond is not None:
                    answer = rule.respond(seen)
                    if answer is not None:
                        status, rheaders, rbody = answer
                        reason = http.client.responses.get(status, "Answer")
                        size = None if method == "HEAD" else len(rbody)
                        out = _head_bytes(status, reason, rheaders, size)
                        conn.sendall(out + (b"" if method == "HEAD" else rbody))
                        continue
                with self._lock:
                    self.inflight += 1
                    self.peak_inflight = max(self.peak_inflight, self.inflight)
                self._counted.active = True
                try:
                    handled = self._handle(conn, rule, method, target, headers, body)
                finally:
                    self._answered()
                if not handled:
                    return
        except (OSError, ValueError, http.client.HTTPException):
            return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _answered(self) -> None:
        """The current request is answered (once per request)."""
        if getattr(self._counted, "active", False):
            self._counted.active = False
            with self._lock:
                self.inflight -= 1

    def _handle(
        self,
        conn: socket.socket,
        rule: Rule | None,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> bool:
        """Answer one request; False when the connection must end."""
        if rule is not None and rule.action == "error":
            _send_error(conn, rule.status, method, target)
            return True
        if rule is not None and rule.action == "flip_request" and body:
            data = bytearray(body)
            data[len(data) // 2 if rule.offset is None else rule.offset] ^= 0xFF
            body = bytes(data)
        if self.emulate_kms:
            headers = [
                (k, _real_etags(v) if k.lower() in ("if-match", "if-none-match") else v)
                for k, v in headers
            ]
            if method == "POST" and body:
                # CompleteMultipartUpload names the parts by the ETags we handed out.
                body = _real_etags(body.decode("utf-8")).encode("utf-8")
        if self.emulate_kms and method == "PUT":
            sent = {k.lower(): v for k, v in headers}.get("content-md5")
            if sent and sent != base64.b64encode(hashlib.md5(body).digest()).decode():
                _send_error(conn, 400, method, target, code="BadDigest")
                return True
        if rule is not None and rule.action == "stall" and rule.where == "before":
            rule.released.wait(rule.delay)
        try:
            status, reason, rheaders, rbody = self._forward(method, target, headers, body)
            # The store has answered: the request is no longer in flight there. (Counted before
            # the answer goes out, so a client that reuses its slot at once is not counted twice.)
            self._answered()
        except OSError:
            _reset(conn)  # upstream unreachable: the client sees a dead connection
            return False
        if self.emulate_kms:
            rheaders, rbody = _as_kms(rheaders, rbody)
        if rule is not None and rule.action == "pass" and rule.transform is not None:
            rbody = rule.transform(rbody)
        has_body = method != "HEAD" and status not in (204, 304) and not 100 <= status < 200
        head = _head_bytes(status, reason, rheaders, len(rbody) if has_body else None)
        if (
            rule is None
            or rule.action in ("pass", "error", "flip_request", "answer")
            or (rule.action == "stall" and rule.where == "before")
        ):
            conn.sendall(head + (rbody if has_body else b""))
            return True
        if rule.action == "reset":
            if has_body and rbody:
                conn.sendall(head + rbody[: len(rbody) // 2])
                time.sleep(0.05)
            _reset(conn)
            return False
        if rule.action == "stall":  # where == "body"
            half = len(rbody) // 2
            conn.sendall(head + rbody[:half])
            rule.released.wait(rule.delay)
            conn.sendall(rbody[half:])
            return True
        if rule.action == "truncate":
            keep = len(rbody) // 2 if rule.keep is None else rule.keep
            conn.sendall(head + rbody[:keep])
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            return False
        if rule.action == "flip":
            data = bytearray(rbody)
            if data:
                i = len(data) // 2 if rule.offset is None else rule.offset
                data[i] ^= 0xFF
            conn.sendall(head + bytes(data))
            return True
        raise AssertionError(rule.action)

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        up = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            up.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                if k.lower() in _HOP_BY_HOP or k.lower() == "content-length":
                    continue
                up.putheader(k, v)
            if body or method in ("PUT", "POST"):
                up.putheader("Content-Length", str(len(body)))
            up.putheader("Connection", "close")
            up.endheaders(body if body else None)
            resp = up.getresponse()
            rbody = resp.read()
            rheaders = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in _HOP_BY_HOP
                and (method == "HEAD" or k.lower() != "content-length")
            ]
            return resp.status, resp.reason, rheaders, rbody
        except http.client.HTTPException as exc:
            raise OSError(f"upstream: {exc}") from exc
        finally:
            up.close()


def _read_request(
    reader: IO[bytes], conn: socket.socket
) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = reader.readline(65537)
    if not line:
        return None
    while line in (b"\r\n", b"\n"):
        line = reader.readline(65537)
        if not line:
            return None
    method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        h = reader.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    if lower.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += reader.read(size)
            reader.readline()
        return method, target, headers, bytes(body)
    n = int(lower.get("content-length", "0") or 0)
    return method, target, headers, reader.read(n) if n else b""


def _head_bytes(
    status: int, reason: str, headers: list[tuple[str, str]], length: int | None
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_KMS_TO_REAL: dict[str, str] = {}


def _kms_etag(etag: str) -> str:
    real = html.unescape(etag).strip().strip('"')
    fake = hashlib.md5(b"kms:" + real.encode()).hexdigest()[::-1]
    _KMS_TO_REAL[fake] = real
    return fake


def _real_etags(value: str) -> str:
    """An If-Match/If-None-Match value with our fake KMS ETags mapped back to the store's."""
    return re.sub(r"[0-9a-f]{32}", lambda m: _KMS_TO_REAL.get(m.group(0), m.group(0)), value)


def _as_kms(headers: list[tuple[str, str]], body: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Rewrite an answer as AWS gives it for an SSE-KMS object: an ETag that is not the MD5."""
    out = []
    is_object = False
    for k, v in headers:
        if k.lower() == "etag":
            v = f'"{_kms_etag(v)}"'
            is_object = True
        out.append((k, v))
    if is_object:
        out.append(("x-amz-server-side-encryption", "aws:kms"))
    if body.lstrip().startswith(b"<?xml") or body.lstrip().startswith(b"<"):
        body = re.sub(
            rb"<ETag>([^<]*)</ETag>",
            lambda m: (
                b"<ETag>&quot;"
                + _kms_etag(m.group(1).decode().replace("&quot;", "")).encode()
                + b"&quot;</ETag>"
            ),
            body,
        )
    return out, body


def _send_error(
    conn: socket.socket, status: int, method: str, target: str, code: str | None = None
) -> None:
    code_, message = _ERROR_CODES.get(status, ("InternalError", "Injected error."))
    if code is not None:
        code_, message = code, "The Content-MD5 you specified did not match what we received."
    code = code_
    rid = uuid.uuid4().hex[:16].upper()
    resource = urlsplit(target).path
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{rid}</RequestId></Error>"
    ).encode()
    reason = http.client.responses.get(status, "Error")
    headers = [("Content-Type", "application/xml"), ("x-amz-request-id", rid)]
    if method == "HEAD":
        conn.sendall(_head_bytes(status, reason, headers, None))  # HEAD answers carry no body
        return
    conn.sendall(_head_bytes(status, reason, headers, len(body)) + body)


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, not a clean FIN."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()
