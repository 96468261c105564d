"""S3 clients from the boto3 configuration chain: the botocore client, and the lean client built
from it; and botocore's errors turned into s3lync's.

Both clients come from one botocore session, so profiles, ``~/.aws/config`` / ``AWS_CONFIG_FILE``
(endpoint_url, region, ca_bundle, FIPS, dual-stack, addressing style, max_attempts), SSO and
assume-role credentials with refresh, and ``HTTPS_PROXY``/``NO_PROXY`` mean the same to both:
the lean client asks botocore where each bucket's requests go (a presigned URL: host, path,
signing region) and signs with botocore's credentials object, frozen per request. A setting it
cannot honour (client certificates, proxy TLS options, another signature version, S3 Express)
makes it step aside for that client or bucket, and botocore does the work.

botocore is imported lazily, so ``import s3lync`` and ``s3lync --help`` stay fast.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from s3lync.errors import (
    BadResponseError,
    ConfigError,
    HashMismatchError,
    RemoteNotFoundError,
    S3lyncError,
    SyncError,
)
from s3lync.redact import redact_url
from s3lync.settings import Settings
from s3lync.store.lean import BucketTarget, LeanClient, Origin
from s3lync.store.sigv4 import Credentials
from s3lync.uri import scheme_hint

log = logging.getLogger(__name__)


def s3_label(bucket: str, key: str | None) -> str:
    """``s3://bucket/key`` (or ``s3://bucket``) for messages."""
    return f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"


def translate(exc: BaseException, bucket: str, key: str | None, action: str) -> S3lyncError:
    """Turn a botocore/s3transfer exception into a one-line error naming bucket and key.

    Errors of s3lync's own (a configuration error, a bad answer) pass through unchanged; URLs
    in messages lose their userinfo and secret query values.
    """
    if isinstance(exc, S3lyncError):
        return exc
    err = _translate(exc, bucket, key, action)
    text = redact_url(str(err))
    return err if text == str(err) else type(err)(text)


def _translate(exc: BaseException, bucket: str, key: str | None, action: str) -> SyncError:
    import botocore.exceptions as bex
    from botocore.parsers import ResponseParserError

    where = s3_label(bucket, key)
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        msg = str(err.get("Message") or "").strip()
        ctype = str(
            exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("content-type", "")
        ).lower()
        if (
            ctype
            and "xml" not in ctype
            and (code.isdigit() or code == "Unknown")
            and (status or 0) not in range(300, 500)  # a body-less HEAD 404 is not one
        ):
            # botocore turns a 200 it cannot parse into a retried 500; either way this is not
            # an S3 answer (an HTML portal page, a JSON API).
            return BadResponseError(
                f"{action} {where}: the endpoint's answer is not an S3 answer "
                f"(HTTP {status}, {ctype})"
            )
        if code == "NoSuchBucket":
            return RemoteNotFoundError(f"{action} {where}: bucket '{bucket}' does not exist")
        if code in ("NoSuchKey", "404", "NotFound"):
            return RemoteNotFoundError(f"{action} {where}: no such key")
        if (
            code
            in (
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "InvalidToken",
                "ExpiredToken",
                "AccessDenied",
                "403",
            )
            or status == 403
        ):
            return SyncError(
                f"{action} {where}: access denied ({code}); check the credentials, profile "
                "and permissions"
            )
        detail = f": {msg}" if msg else ""
        return SyncError(f"{action} {where} failed: {code} (HTTP {status}){detail}")
    if isinstance(exc, bex.FlexibleChecksumError):
        return HashMismatchError(f"{action} {where}: response checksum mismatch ({exc})")
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return SyncError(
            f"{action} {where}: no AWS credentials found (set AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a credentials file)"
        )
    if isinstance(exc, ResponseParserError):
        return BadResponseError(
            f"{action} {where}: the endpoint's answer is not an S3 answer ({_first_line(exc)})"
        )
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return SyncError(f"{action} {where}: cannot reach the S3 endpoint ({exc})")
    if isinstance(exc, bex.BotoCoreError):
        return SyncError(f"{action} {where} failed: {exc}")
    text = str(exc).replace("\n", " ")
    name = type(exc).__name__
    if "NoSuchBucket" in text:
        return RemoteNotFoundError(f"{action} {where}: bucket '{bucket}' does not exist")
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return SyncError(f"{action} {where} failed locally: {exc.strerror or text}")
    return SyncError(f"{action} {where} failed: {name}: {text}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


# A key that no bucket needs to hold: presigning it tells where a bucket's requests go.
_PROBE_KEY = "s3lync-probe"


@dataclass
class _Clients:
    """One botocore session, its S3 client, and the lean client built from them (lazily)."""

    session: Any
    client: Any
    config: Any
    endpoint_url: str | None
    workers: int
    timeouts: tuple[float, float]
    attempts: int
    lean: LeanClient | None = None
    lean_made: bool = False
    regional: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_clients: dict[tuple[Any, ...], _Clients] = {}
_clients_lock = threading.Lock()


def _resolved(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    max_workers: int | None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> _Clients:
    """The shared clients per settings: creating a client costs ~0.1 s, and they are thread-safe.

    The key includes a digest of the configuration-related environment the Settings captured,
    so changed credentials, endpoints or proxies get fresh clients rather than stale ones.
    """
    settings = settings or Settings.from_env()
    env = hashlib.sha256("\0".join(settings.client_env).encode()).hexdigest()
    workers = max_workers or settings.max_workers
    key = (region, endpoint_url, profile, workers, timeouts, env)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _create(region, endpoint_url, profile, workers, timeouts, settings)
            _clients[key] = found
        return found


def get_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> Any:
    """The shared botocore S3 client for these settings (see :func:`make_client`)."""
    return _resolved(region, endpoint_url, profile, max_workers, timeouts, settings).client


def get_lean(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> LeanClient | None:
    """The lean client built from the shared botocore client, or None where it steps aside."""
    settings = settings or Settings.from_env()
    if intercepted():
        # Someone stands between botocore and the network (moto's mock_aws, a before-send hook
        # in botocore's built-in handlers): every request must go through botocore to reach them.
        return None
    c = _resolved(region, endpoint_url, profile, max_workers, timeouts, settings)
    with c.lock:
        if not c.lean_made:
            c.lean = _make_lean(c, settings)
            c.lean_made = True
        return c.lean


def intercepted() -> bool:
    """True when botocore's built-in handlers answer requests before they are sent.

    moto's ``mock_aws`` (and tools like it) add a ``before-send`` handler to every botocore client
    that is enabled while the mock is active; a request the lean client sent itself would bypass
    it and go to the real network. A handler without an ``enabled`` flag counts as always on.
    """
    import botocore.handlers

    return any(
        event.startswith("before-send") and getattr(handler, "enabled", True)
        for event, handler, *_ in botocore.handlers.BUILTIN_HANDLERS
    )


def make_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> Any:
    """A new botocore S3 client whose connection pool fits the workers, with standard retries."""
    settings = settings or Settings.from_env()
    workers = max_workers or settings.max_workers
    return _create(region, endpoint_url, profile, workers, timeouts, settings).client


def _session(profile: str | None, region: str | None, settings: Settings) -> Any:
    """A botocore session for ``profile`` (else AWS_PROFILE...); an unknown profile is ConfigError."""
    import botocore.exceptions as bex
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    if region:
        session.set_config_variable("region", region)
    try:
        session.get_scoped_config()
    except bex.ProfileNotFound as exc:
        name = profile or getattr(exc, "kwargs", {}).get("profile") or settings.aws_profile
        origin = "--profile/profile:" if profile else "AWS_PROFILE"
        files = settings.aws_config_file
        raise ConfigError(
            f"AWS profile '{name}' (from {origin}) is not in {files} or the credentials file; "
            "check the name or create it with 'aws configure --profile NAME'"
        ) from None
    return session


def _configured_endpoint(session: Any) -> str | None:
    """The endpoint_url the config file or AWS_ENDPOINT_URL(_S3) sets for S3, as botocore reads it."""
    from botocore.configprovider import ConfiguredEndpointProvider

    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    found: str | None = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name="s3",
    ).provide()
    return found or None


def _create(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    workers: int,
    timeouts: tuple[float | None, float | None],
    settings: Settings,
) -> _Clients:
    import botocore.config

    session = _session(profile, region, settings)
    scoped = session.get_scoped_config()
    endpoint = endpoint_url or _configured_endpoint(session)
    if endpoint and "@" in urlsplit(endpoint).netloc:
        # botocore refuses such URLs only at the first request, quoting them whole.
        raise ConfigError(
            f"the S3 endpoint {redact_url(endpoint)} has a user name or password in it; "
            "pass credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
        )
    connect = settings.connect_timeout(timeouts[0])
    read = settings.read_timeout(timeouts[1])
    configured_attempts = session.get_config_variable("max_attempts")
    attempts = settings.attempts(int(configured_attempts) if configured_attempts else None)
    s3_cfg = dict(scoped.get("s3") or {}) if isinstance(scoped.get("s3"), dict) else {}
    if "addressing_style" not in s3_cfg:
        # S3-compatible stores on an IP or localhost cannot serve bucket.host names.
        s3_cfg["addressing_style"] = "path" if endpoint else "auto"
    retry_mode = settings.aws_retry_mode or scoped.get("retry_mode") or "standard"
    cfg = botocore.config.Config(
        max_pool_connections=workers * 2 + 4,
        retries={"mode": retry_mode, "total_max_attempts": attempts},
        connect_timeout=connect,
        read_timeout=read,
        tcp_keepalive=True,
        # S3-compatible stores (rclone, MinIO, older Ceph) reject botocore's default CRC trailers;
        # integrity is ours to check: Content-MD5 on PUT and MD5/ETag verification on GET.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3=s3_cfg,
    )
    try:
        client = session.create_client(
            "s3", region_name=region or None, endpoint_url=endpoint, config=cfg
        )
    except ValueError as exc:  # botocore's word for an endpoint URL it cannot use
        hint = "" if "://" in str(endpoint) else f"; {redact_url(scheme_hint(str(endpoint)))}"
        raise ConfigError(f"cannot use the S3 endpoint: {redact_url(str(exc))}{hint}") from None
    return _Clients(session, client, cfg, endpoint, workers, (connect, read), attempts)


def _make_lean(c: _Clients, settings: Settings) -> LeanClient | None:
    """The lean client for these clients, or None where a setting needs botocore."""
    if not settings.lean:
        return None
    cfg = c.client.meta.config
    proxying = cfg.proxies_config or {}
    if (
        cfg.signature_version not in (None, "s3v4")
        or cfg.client_cert
        or any(proxying.get(k) for k in ("proxy_ca_bundle", "proxy_client_cert"))
        or proxying.get("proxy_use_forwarding_for_https")
    ):
        log.debug("lean client off: the S3 client's configuration needs botocore")
        return None
    creds = c.session.get_credentials()
    if creds is None:
        return None  # botocore then says which credentials are missing
    from botocore.httpsession import ProxyConfiguration
    from botocore.utils import get_environ_proxies

    from s3lync.store.scheduler import scheduler_for
    from s3lync.store.transport import Transport

    proxies = cfg.proxies or get_environ_proxies(c.client.meta.endpoint_url)
    proxy_config = ProxyConfiguration(proxies=proxies)
    region = c.client.meta.region_name or "us-east-1"

    def credentials() -> Credentials:
        # Refreshable credentials (SSO, assume-role) renew themselves here when due.
        frozen = creds.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def locate(bucket: str, learned_region: str | None) -> BucketTarget | None:
        client = c.client if learned_region is None else _regional(c, learned_region)
        return _bucket_target(client, bucket, proxy_config)

    transport = Transport(
        maxsize=c.workers * 2 + 4,
        connect_timeout=c.timeouts[0],
        read_timeout=c.timeouts[1],
        ca_bundle=c.session.get_config_variable("ca_bundle") or None,
        scheduler=scheduler_for(c.workers),
    )
    return LeanClient(
        c.client.meta.endpoint_url,
        region,
        credentials,
        max_attempts=c.attempts,
        locate=locate,
        transport=transport,
    )


def _regional(c: _Clients, region: str) -> Any:
    """A client like ``c.client`` for another region (a bucket's region learned from a redirect)."""
    with c.lock:
        client = c.regional.get(region)
        if client is None:
            client = c.session.create_client(
                "s3", region_name=region, endpoint_url=c.endpoint_url, config=c.config
            )
            c.regional[region] = client
        return client


def _bucket_target(client: Any, bucket: str, proxy_config: Any) -> BucketTarget | None:
    """Where botocore would send ``bucket``'s requests, read off a presigned URL."""
    try:
        url = client.generate_presigned_url(
            "head_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
        )
    except Exception as exc:  # an invalid bucket name, an ARN botocore alone handles...
        log.debug("lean client steps aside for bucket %s: %s", bucket, exc)
        return None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if not parts.path.endswith("/" + _PROBE_KEY) or ":" in bucket or bucket.endswith("--x-s3"):
        log.debug("lean client steps aside for bucket %s (an ARN or S3 Express)", bucket)
        return None
    if "X-Amz-Algorithm" in query:
        scope = (query.get("X-Amz-Credential") or [""])[0].split("/")
        if query["X-Amz-Algorithm"] != ["AWS4-HMAC-SHA256"] or len(scope) != 5 or scope[3] != "s3":
            log.debug("lean client steps aside for bucket %s: %s signing", bucket, scope[3:4])
            return None
        region = scope[2]
    else:
        # botocore presigns S3 with SigV2 where the region allows; requests still use SigV4
        # in the client's region.
        region = client.meta.region_name or "us-east-1"
        region = "us-east-1" if region == "aws-global" else region
    netloc = parts.netloc.rpartition("@")[2]
    base = parts.path[: -len(_PROBE_KEY) - 1]
    proxy = proxy_config.proxy_url_for(f"{parts.scheme}://{netloc}/")
    headers = tuple(proxy_config.proxy_headers_for(proxy).items()) if proxy else ()
    origin = Origin(parts.scheme, netloc, proxy, headers)
    return BucketTarget(origin, base, region, virtual=not base)
