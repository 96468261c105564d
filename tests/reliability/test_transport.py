"""The transport against real https, proxies, AWS config files and endpoints that misbehave.

Each scenario runs through the lean client (the default) and through botocore (``S3LYNC_LEAN=0``):
both must honour the same settings and fail the same way.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3lync import S3Object, SyncError
from s3lync.errors import BadResponseError, ConfigError, S3lyncError

from .faultproxy import FaultProxy, Seen
from .helpers import BOTH_SERVERS, MOTO_ONLY, blob, cli_env, put_objects, run_cli, tree, write_files
from .netkit import FAKE_HOST, OddServer, RecordingProxy, TlsFront, http_response, make_cert

pytestmark = pytest.mark.integration

LEAN = pytest.mark.parametrize("lean", ["1", "0"], ids=["lean", "botocore"])
NEW = {"p/a.bin": blob(1, 3000), "p/b.bin": blob(2, 2000), "p/sub/c.bin": blob(3, 1000)}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def expected() -> dict[str, bytes]:
    return {k.removeprefix("p/"): v for k, v in NEW.items()}


@pytest.fixture(autouse=True)
def _transport_env(monkeypatch: pytest.MonkeyPatch, lean: str) -> None:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3LYNC_LEAN", lean)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https(
    proxy: FaultProxy, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """https://127.0.0.1:PORT in front of the fault proxy, its CA trusted via AWS_CA_BUNDLE."""
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert[0]))
    with TlsFront(proxy.port, *cert) as front:
        yield front.url


def _agents(proxy: FaultProxy) -> set[str]:
    return {"lean" if "(fast)" in (s.header("user-agent") or "") else "botocore" for s in proxy.log}


def _causes(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return out


# --------------------------------------------------------------------------- TLS timeouts


@MOTO_ONLY
@LEAN
@pytest.mark.parametrize("where", ["before", "body"], ids=["before-headers", "mid-body"])
def test_https_stall_fails_within_the_read_timeout_and_the_file_is_retried(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    https: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", "2")
    put_objects(s3, bucket, NEW)
    # A stall far longer than the read timeout: only a timeout that fires lets the retry happen.
    rule = proxy.add_rule("stall", method="GET", key="/p/a.bin", delay=120, where=where)

    S3Object(f"s3://{bucket}/p/", tmp_path / "out", endpoint_url=https).download()

    assert tree(tmp_path / "out") == expected()
    assert rule.hits == 1
    # The stalled attempt, then the retry: without a read timeout that fires, the one GET would
    # wait out the whole stall instead.
    assert len(proxy.requests("GET", "/p/a.bin")) >= 2


# --------------------------------------------------------------------------- answers that are not S3's

_HTML = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
_BROKEN_HTML = b"<!DOCTYPE html><html><body>Sign in<br></body></html>"
_JSON = b'{"message": "hello from a web app"}'


@LEAN
@pytest.mark.parametrize(
    ("body", "ctype"),
    [(_HTML, "text/html"), (_BROKEN_HTML, "text/html"), (_JSON, "application/json")],
    ids=["html", "broken-html", "json"],
)
def test_a_200_that_is_not_an_s3_listing_is_a_clear_error(
    cert: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: bytes,
    ctype: str,
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert[0]))
    with OddServer(http_response("200 OK", body, ctype)) as odd, TlsFront(odd.port, *cert) as front:
        with pytest.raises(BadResponseError) as info:
            S3Object("s3://some-bucket/p/", tmp_path / "out", endpoint_url=front.url).download()
        message = str(info.value)
        assert "s3://some-bucket/p" in message
        assert f"127.0.0.1:{front.port}" in message
        assert not any(isinstance(e, ET.ParseError) for e in _causes(info.value))
        assert not (tmp_path / "out").exists()

        manifest = tmp_path / "s3lync.yaml"
        manifest.write_text(
            "version: 1\nmappings:\n  - s3: s3://some-bucket/p/\n    local: out\n"
            "    direction: download\n"
        )
        env = cli_env(tmp_path)
        proc = run_cli("--endpoint-url", front.url, "plan", cwd=tmp_path, env=env)
        assert proc.returncode == 1
        assert "not an S3" in proc.stderr and f"127.0.0.1:{front.port}" in proc.stderr
        assert "Traceback" not in proc.stderr and "ParseError" not in proc.stderr


_EMPTY_LISTING = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
    b"<Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated></ListBucketResult>"
)


@LEAN
def test_an_upload_answered_without_etag_is_not_counted_as_done(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_files(src, {"a.txt": b"payload"})
    answer = http_response("200 OK", _EMPTY_LISTING, "application/xml")
    with OddServer(answer) as odd, pytest.raises(BadResponseError) as info:
        S3Object("s3://some-bucket/p/", src, endpoint_url=odd.url).upload()
    assert "without an ETag" in str(info.value)
    assert "s3://some-bucket/p/a.txt" in str(info.value)
    assert f"127.0.0.1:{odd.port}" in str(info.value)
    assert any(r.startswith("PUT ") for r in odd.requests)


# --------------------------------------------------------------------------- the AWS config chain


@BOTH_SERVERS
@LEAN
def test_endpoint_url_from_aws_config_file(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nendpoint_url = {proxy.url}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    src = tmp_path / "src"
    write_files(src, expected())

    S3Object(f"s3://{bucket}/p/", src).upload()  # no endpoint_url: the config file's
    S3Object(f"s3://{bucket}/p/", tmp_path / "out").download()

    assert tree(tmp_path / "out") == expected()
    assert len(proxy.log) >= 4
    # Small files and listings go the lean way unless it is switched off.
    assert _agents(proxy) == ({"lean"} if lean == "1" else {"botocore"})


@MOTO_ONLY
@LEAN
@pytest.mark.parametrize("trust", ["ca_bundle", "REQUESTS_CA_BUNDLE"])
def test_ca_bundle_and_region_from_a_usual_aws_config_over_https(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    cert: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
    trust: str,
) -> None:
    # Objects boto3 wrote; the only trust for the https front is the config file's ca_bundle (the
    # fast path reads such a file without botocore's session: it must honour what it reads), or
    # REQUESTS_CA_BUNDLE, botocore's fallback where none is configured (a TLS-inspecting
    # corporate proxy's usual set-up).
    put_objects(s3, bucket, NEW)
    config = tmp_path / "aws-config"
    ca = f"ca_bundle = {cert[0]}\n" if trust == "ca_bundle" else ""
    config.write_text(
        f"[default]\nregion = us-east-1\n{ca}s3 =\n    max_concurrent_requests = 32\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    if trust == "REQUESTS_CA_BUNDLE":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert[0]))
    with TlsFront(proxy.port, *cert) as front:
        _download_through(front, proxy, bucket, tmp_path, lean)

        # Without that trust (another file: clients are kept per set of settings): the front's
        # certificate is not trusted.
        bare = tmp_path / "aws-config-bare"
        bare.write_text("[default]\nregion = us-east-1\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(bare))
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        with pytest.raises(S3lyncError) as info:
            S3Object(f"s3://{bucket}/p/", tmp_path / "out2", endpoint_url=front.url).download()
        assert "certificate" in str(info.value).lower() or "tls" in str(info.value).lower()
        assert not (tmp_path / "out2").exists()


def _download_through(
    front: Any, proxy: FaultProxy, bucket: str, tmp_path: Path, lean: str
) -> None:
    """Download the NEW tree through the TLS ``front``: byte-exact, by the expected path."""
    S3Object(f"s3://{bucket}/p/", tmp_path / "out", endpoint_url=front.url).download()
    assert tree(tmp_path / "out") == expected()
    assert _agents(proxy) == ({"lean"} if lean == "1" else {"botocore"})


@LEAN
@pytest.mark.parametrize(
    ("setting", "host"),
    [
        ("use_fips_endpoint = true", "s3lync-cfg-test.s3-fips.us-east-1.amazonaws.com:443"),
        (
            "use_dualstack_endpoint = true",
            "s3lync-cfg-test.s3.dualstack.us-east-1.amazonaws.com:443",
        ),
    ],
    ids=["fips", "dualstack"],
)
def test_fips_and_dualstack_from_aws_config_choose_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, host: str
) -> None:
    """The CONNECT target shows the host; the recording proxy hangs up, so nothing goes further."""
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nregion = us-east-1\n{setting}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    with RecordingProxy(tunnel=False) as recorder:
        monkeypatch.setenv("HTTPS_PROXY", recorder.url)
        with pytest.raises(SyncError):
            S3Object("s3://s3lync-cfg-test/p/", tmp_path / "out").download()
    assert recorder.connects
    assert set(recorder.connects) == {host}


@BOTH_SERVERS
@LEAN
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_every_request_goes_through_the_configured_proxy(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    cert: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scheme: str,
) -> None:
    """The endpoint's name does not resolve: only the proxy knows where it is."""
    put_objects(s3, bucket, NEW)
    src = tmp_path / "src"
    write_files(src, {"up/x.txt": b"x" * 100, "up/y.txt": b"y" * 200})
    with TlsFront(proxy.port, *cert) as front:
        if scheme == "https":
            monkeypatch.setenv("AWS_CA_BUNDLE", str(cert[0]))
            routes = {f"{FAKE_HOST}:443": ("127.0.0.1", front.port)}
            endpoint, var = f"https://{FAKE_HOST}", "HTTPS_PROXY"
        else:
            routes = {f"{FAKE_HOST}:8080": ("127.0.0.1", proxy.port)}
            endpoint, var = f"http://{FAKE_HOST}:8080", "HTTP_PROXY"
        with RecordingProxy(routes) as recorder:
            monkeypatch.setenv(var, recorder.url)
            S3Object(f"s3://{bucket}/p/", tmp_path / "out", endpoint_url=endpoint).download()
            S3Object(f"s3://{bucket}/up/", src / "up", endpoint_url=endpoint).upload()
    assert tree(tmp_path / "out") == expected()
    assert {s.path.split("/", 2)[-1] for s in proxy.requests("PUT")} == {"up/x.txt", "up/y.txt"}
    if scheme == "https":
        assert recorder.connects and set(recorder.connects) == {f"{FAKE_HOST}:443"}
    else:
        assert len(recorder.forwarded) == len(proxy.log)
        assert all(f"http://{FAKE_HOST}:8080/" in r for r in recorder.forwarded)


def _redirect_unless_eu(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes] | None:
    scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", seen.header("authorization") or "")
    if scope and scope.group(1) == "eu-west-1":
        return None
    body = (
        b"<Error><Code>PermanentRedirect</Code><Message>The bucket is in this region: "
        b"eu-west-1.</Message></Error>"
    )
    return 301, [("x-amz-bucket-region", "eu-west-1"), ("Content-Type", "application/xml")], body


@MOTO_ONLY
@LEAN
def test_a_region_redirect_is_learned_once_per_bucket(
    s3: Any, bucket: str, proxy: FaultProxy, tmp_path: Path, lean: str
) -> None:
    put_objects(s3, bucket, NEW)
    redirects = proxy.add_rule("answer", respond=_redirect_unless_eu, times=None)

    S3Object(f"s3://{bucket}/p/", tmp_path / "out", endpoint_url=proxy.url).download()

    assert tree(tmp_path / "out") == expected()
    regions = [
        re.search(r"/\d{8}/([^/]+)/", s.header("authorization") or "").group(1)  # type: ignore[union-attr]
        for s in proxy.log
    ]
    assert regions.count("us-east-1") == 1, regions  # one redirected request, then eu-west-1
    assert redirects.hits == len(proxy.log)


# --------------------------------------------------------------------------- dead endpoints, messages


@LEAN
def test_an_endpoint_that_never_answers_fails_naming_endpoint_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "2")
    with OddServer(silent=True) as dead:
        with pytest.raises(SyncError) as info:
            S3Object("s3://quiet-bucket/p/", tmp_path / "out", endpoint_url=dead.url).download()
        assert len(dead.requests) == 2  # both attempts reached it, and each timed out
        message = str(info.value)
        assert f"127.0.0.1:{dead.port}" in message and "s3://quiet-bucket/p" in message
        assert "timed out" in message.lower() or "timeout" in message.lower()
        assert all(type(e).__module__ != "s3lync.store.lean" for e in _causes(info.value))

        manifest = tmp_path / "s3lync.yaml"
        manifest.write_text(
            "version: 1\nmappings:\n  - s3: s3://quiet-bucket/p/\n    local: out\n"
            "    direction: download\n"
        )
        env = cli_env(tmp_path)
        proc = run_cli("--endpoint-url", dead.url, "plan", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    assert f"127.0.0.1:{dead.port}" in proc.stderr
    assert "LeanExhausted" not in proc.stderr + proc.stdout


@LEAN
def test_endpoint_credentials_are_never_printed_or_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("S3LYNC_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    caplog.set_level("DEBUG", logger="s3lync")
    with OddServer(silent=True) as dead:
        endpoint = f"http://admin:s3cr3tpw@127.0.0.1:{dead.port}/?X-Amz-Security-Token=t0k3n"
        with pytest.raises(S3lyncError) as info:
            S3Object("s3://quiet-bucket/p/", tmp_path / "out", endpoint_url=endpoint).download()
        texts = [str(e) for e in _causes(info.value)]
        texts += [r.getMessage() for r in caplog.records if r.name.startswith("s3lync")]
        manifest = tmp_path / "s3lync.yaml"
        manifest.write_text(
            "version: 1\nmappings:\n  - s3: s3://quiet-bucket/p/\n    local: out\n"
            "    direction: download\n"
        )
        env = cli_env(tmp_path, S3LYNC_LOG_LEVEL="DEBUG")
        proc = run_cli("--endpoint-url", endpoint, "plan", cwd=tmp_path, env=env)
    assert proc.returncode == 1
    texts += [proc.stdout, proc.stderr]
    assert str(dead.port) in str(info.value)
    for text in texts:
        assert "s3cr3tpw" not in text and "t0k3n" not in text, text


@LEAN
def test_an_unknown_aws_profile_is_one_configuration_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(ConfigError) as info:
        S3Object(
            "s3://some-bucket/p/", tmp_path / "out", endpoint_url="http://127.0.0.1:9"
        ).download()
    assert "'nope'" in str(info.value) and "AWS_PROFILE" in str(info.value)
    assert not isinstance(info.value, SyncError)
    monkeypatch.delenv("AWS_PROFILE")
    with pytest.raises(ConfigError, match="'other'"):
        S3Object(
            "s3://some-bucket/p/",
            tmp_path / "out",
            endpoint_url="http://127.0.0.1:9",
            profile="other",
        ).download()

    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\nmappings:\n  - s3: s3://some-bucket/p/\n    local: out\n    direction: download\n"
    )
    proc = run_cli("plan", cwd=tmp_path, env=cli_env(tmp_path, AWS_PROFILE="nope"))
    assert proc.returncode == 1
    assert "'nope'" in proc.stderr and "Traceback" not in proc.stderr


_CREDENTIAL_PROCESS = """
import datetime, json, sys
with open(sys.argv[1], "a") as f:
    f.write("called\\n")
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=11)
print(json.dumps({"Version": 1, "AccessKeyId": "test", "SecretAccessKey": "testsecret",
                  "SessionToken": "refreshed-token", "Expiration": soon.isoformat()}))
"""


@MOTO_ONLY
@LEAN
def test_refreshable_credentials_are_renewed_and_their_token_sent(
    s3: Any,
    bucket: str,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lean: str,
) -> None:
    """credential_process credentials that expire soon are refreshed as botocore would, per request."""
    put_objects(s3, bucket, NEW)
    script, calls = tmp_path / "creds.py", tmp_path / "calls.txt"
    script.write_text(_CREDENTIAL_PROCESS)
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\ncredential_process = {sys.executable} {script} {calls}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    S3Object(f"s3://{bucket}/p/", tmp_path / "out", endpoint_url=proxy.url).download()

    assert tree(tmp_path / "out") == expected()
    assert _agents(proxy) == ({"lean"} if lean == "1" else {"botocore"})
    assert {s.header("x-amz-security-token") for s in proxy.log} == {"refreshed-token"}
    # Due for refresh (under 15 minutes left): renewed after the first fetch, by either path.
    assert len(calls.read_text().splitlines()) >= 2


@LEAN
def test_manifest_read_timeout_reaches_the_client_and_the_variable_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("S3LYNC_READ_TIMEOUT", raising=False)
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        "version: 1\ndefaults:\n  connect_timeout: 2\n  read_timeout: 0.4\nmappings:\n"
        "  - s3: s3://quiet-bucket/p/\n    local: out\n    direction: download\n"
    )
    with OddServer(silent=True) as dead:
        env = cli_env(tmp_path, S3LYNC_MAX_ATTEMPTS="1")
        proc = run_cli("--endpoint-url", dead.url, "plan", cwd=tmp_path, env=env)
        assert proc.returncode == 1
        assert "timeout=0.4" in proc.stderr.replace(" ", ""), proc.stderr
        env["S3LYNC_READ_TIMEOUT"] = "0.6"
        proc = run_cli("--endpoint-url", dead.url, "plan", cwd=tmp_path, env=env)
        assert proc.returncode == 1
        assert "timeout=0.6" in proc.stderr.replace(" ", ""), proc.stderr


@LEAN
@pytest.mark.parametrize("value", ["0", "-1", "'soon'"])
def test_a_bad_manifest_timeout_is_refused_by_validate(tmp_path: Path, value: str) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(
        f"version: 1\ndefaults:\n  read_timeout: {value}\nmappings:\n"
        "  - s3: s3://b/p/\n    local: out\n    direction: download\n"
    )
    proc = run_cli("validate", cwd=tmp_path, env=cli_env(tmp_path))
    assert proc.returncode == 1
    assert "read_timeout" in proc.stderr + proc.stdout
