"""Stores from the boto3 configuration chain: which implementation serves an endpoint, chosen once.

Both implementations come from one botocore session, so profiles, ``~/.aws/config`` /
``AWS_CONFIG_FILE`` (endpoint_url, region, ca_bundle, FIPS, dual-stack, addressing style,
max_attempts), SSO and assume-role credentials with refresh, and ``HTTPS_PROXY``/``NO_PROXY`` mean
the same to both: the fast one (fast.py) asks botocore where each bucket's requests go (a
presigned URL: host, path, signing region) and signs with botocore's credentials object, frozen
per request. Where a setting needs botocore (client certificates, proxy TLS options, another
signature version), where something answers botocore's requests before they are sent (moto's
``mock_aws``), or with ``S3LYNC_LEAN=0``, the botocore-backed one (boto.py) serves the endpoint;
an access point ARN or an S3 Express bucket gets it for that bucket.

botocore is imported lazily, so ``import s3lync`` and ``s3lync --help`` stay fast.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from s3lync.errors import ConfigError
from s3lync.redact import redact_url
from s3lync.settings import Settings
from s3lync.store.describe import s3_label, translate
from s3lync.store.fast import BucketTarget, FastWire, Origin
from s3lync.store.sigv4 import Credentials, uri_encode
from s3lync.store.wire import Wire
from s3lync.uri import scheme_hint

if TYPE_CHECKING:
    from s3lync.store.remote import Remote

__all__ = [
    "get_client",
    "get_wire",
    "intercepted",
    "make_client",
    "open_remote",
    "s3_label",
    "translate",
]

log = logging.getLogger(__name__)


# A key that no bucket needs to hold: presigning it tells where a bucket's requests go.
_PROBE_KEY = "s3lync-probe"


@dataclass(frozen=True)
class _EnvOnly:
    """What botocore's session resolves when the environment alone decides (see _env_only)."""

    credentials: Credentials
    region: str | None
    ca_bundle: str | None
    max_attempts: int | None


# The AWS_* variables _env_only reads itself, as botocore reads them (AWS_REGION: botocore
# ignores it, s3lync's Settings read it); any other one present sends the resolution through
# botocore's session. tests/unit/test_env_only.py holds both to the same answers.
_ENV_ONLY_VARS = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_CA_BUNDLE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_EC2_METADATA_DISABLED",
    }
)


def _env_only(profile: str | None, endpoint_url: str | None, settings: Settings) -> _EnvOnly | None:
    """Credentials and settings for a plain endpoint read from the environment alone, or None.

    Importing botocore's session costs about a third of a no-op run's start-up. Where the
    environment decides everything (keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an explicit
    endpoint, no profile, no AWS config or credentials file, no proxy, no other AWS_* variable),
    botocore's answer is known without it. Anything else: None, and the session resolves.
    """
    env = settings.environ
    if profile or not endpoint_url:
        return None
    if any(k.startswith("AWS_") and k not in _ENV_ONLY_VARS for k in env):
        return None
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    if not key or not secret:
        return None
    for name, default in (
        ("AWS_CONFIG_FILE", "~/.aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ):
        path = os.path.expandvars(os.path.expanduser(env.get(name, default)))
        # botocore reads profiles from both files; an empty or absent one holds none.
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return None
    if proxies_for(endpoint_url, env):
        return None
    attempts = env.get("AWS_MAX_ATTEMPTS")
    if attempts is not None and not (attempts.isascii() and attempts.isdigit()):
        return None  # botocore's int() decides what such a value means
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None
    return _EnvOnly(
        credentials=Credentials(key, secret, token),
        region=env.get("AWS_DEFAULT_REGION") or None,
        ca_bundle=env.get("AWS_CA_BUNDLE") or None,
        max_attempts=(int(attempts) or None) if attempts else None,
    )


@dataclass
class _Clients:
    """One botocore session and its S3 client (both built on first use), and the store
    implementation; ``static`` when the environment alone gave the credentials (_env_only)."""

    session_factory: Callable[[], Any]
    config_factory: Any
    endpoint_url: str | None
    region: str | None
    workers: int
    timeouts: tuple[float, float]
    attempts: int
    s3_config: dict[str, Any] = field(default_factory=dict)
    wire: Wire | None = None
    regional: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    static: _EnvOnly | None = None
    _session: Any = None
    _session_lock: threading.Lock = field(default_factory=threading.Lock)
    _client: Any = None
    _config: Any = None

    @property
    def session(self) -> Any:
        """The botocore session (built on first use: importing it costs ~0.1-0.2 s)."""
        with self._session_lock:
            if self._session is None:
                self._session = self.session_factory()
            return self._session

    def credentials(self) -> Credentials | None:
        """The credentials to sign with now (refreshable ones renew themselves when due)."""
        if self.static is not None:
            return self.static.credentials
        creds = self.session.get_credentials()
        if creds is None:
            return None
        frozen = creds.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def ca_bundle(self) -> str | None:
        """The CA bundle botocore would verify TLS with (AWS_CA_BUNDLE / ca_bundle)."""
        if self.static is not None:
            return self.static.ca_bundle
        return self.session.get_config_variable("ca_bundle") or None

    def default_region(self) -> str:
        """The region requests are signed for when none was given."""
        if self.static is not None:
            found = self.static.region
        else:
            found = self.session.get_config_variable("region")
        return self.region or found or "us-east-1"

    @property
    def proxies(self) -> dict[str, str]:
        """The proxies the client config carries (read from the Settings' snapshot)."""
        found: dict[str, str] = self.config_factory.keywords["proxies"]
        return found

    @property
    def config(self) -> Any:
        """The botocore Config of the clients (built on first use)."""
        if self._config is None:
            self._config = self.config_factory()
        return self._config

    @property
    def client(self) -> Any:
        """The botocore S3 client (~0.2 s to build: only where botocore must send or locate)."""
        with self.lock:
            if self._client is None:
                try:
                    self._client = self.session.create_client(
                        "s3",
                        region_name=self.region or None,
                        endpoint_url=self.endpoint_url,
                        config=self.config,
                    )
                except ValueError as exc:  # botocore's word for an endpoint URL it cannot use
                    endpoint = str(self.endpoint_url)
                    hint = "" if "://" in endpoint else f"; {redact_url(scheme_hint(endpoint))}"
                    raise ConfigError(
                        f"cannot use the S3 endpoint: {redact_url(str(exc))}{hint}"
                    ) from None
            return self._client


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


def get_wire(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> Wire:
    """The store implementation for these settings: the fast one unless botocore must send."""
    from s3lync.store.boto import BotoWire

    settings = settings or Settings.from_env()
    c = _resolved(region, endpoint_url, profile, max_workers, timeouts, settings)
    if intercepted():
        # Someone stands between botocore and the network (moto's mock_aws, a before-send hook
        # in botocore's built-in handlers): every request must go through botocore to reach them.
        return BotoWire(c.client)
    if c.wire is None:
        made = _make_fast(c, settings) or BotoWire(c.client)
        with c.lock:
            if c.wire is None:
                c.wire = made
    return c.wire


def open_remote(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    max_workers: int,
    timeouts: tuple[float | None, float | None],
    settings: Settings,
) -> Remote:
    """A Remote for these settings; its store implementation is built on first use."""
    from s3lync.store.boto import BotoWire
    from s3lync.store.remote import Remote

    args = (region, endpoint_url, profile, max_workers, timeouts, settings)
    return Remote(
        max_workers=max_workers,
        wire_factory=lambda: get_wire(*args),
        boto_factory=lambda: BotoWire(get_client(*args)),
        attempts_factory=lambda: get_attempts(*args),
        settings=settings,
    )


def get_attempts(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> int:
    """How many attempts each request gets (S3LYNC_MAX_ATTEMPTS, else the config's max_attempts)."""
    return _resolved(region, endpoint_url, profile, max_workers, timeouts, settings).attempts


def intercepted() -> bool:
    """True when botocore's built-in handlers answer requests before they are sent.

    moto's ``mock_aws`` (and tools like it) add a ``before-send`` handler to every botocore client
    that is enabled while the mock is active; a request the fast path sent itself would bypass
    it and go to the real network. A handler without an ``enabled`` flag counts as always on.
    """
    handlers = sys.modules.get("botocore.handlers")
    if handlers is None:
        return False  # botocore not even imported: nobody has registered a handler in it
    return any(
        event.startswith("before-send") and getattr(handler, "enabled", True)
        for event, handler, *_ in handlers.BUILTIN_HANDLERS
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
    """A botocore session for ``profile`` (else AWS_PROFILE...); an unknown profile is ConfigError.

    It reads the environment the Settings captured, never the live one: a variable changed after
    an object was built does not change what it does (its endpoint, credentials, region...).
    """
    import botocore.exceptions as bex
    import botocore.session

    session = botocore.session.Session(profile=profile or None)
    _read_env_from(session, settings.environ)
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


def _read_env_from(session: Any, environ: Mapping[str, str]) -> None:
    """Make ``session``'s configuration chain and credential providers read ``environ``.

    botocore lets each provider take the mapping it reads (``environ=``); the session builds
    them from ``os.environ``, so the same chains are built again over the snapshot.
    """
    import botocore.configprovider as cp
    import botocore.credentials

    chain = cp.ConfigChainFactory(session=session, environ=environ)

    def mapping(variables: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: chain.create_config_chain(
                instance_name=name,
                env_var_names=var[1],
                config_property_names=var[0],
                default=var[2],
                conversion_func=var[3],
            )
            for name, var in variables.items()
        }

    store = mapping(cp.BOTOCORE_DEFAUT_SESSION_VARIABLES)
    store["s3"] = cp.SectionConfigProvider("s3", session, mapping(cp.DEFAULT_S3_CONFIG_VARS))
    store["proxies_config"] = cp.SectionConfigProvider(
        "proxies_config", session, mapping(cp.DEFAULT_PROXIES_CONFIG_VARS)
    )
    session._components.register_component("config_store", cp.ConfigValueStore(mapping=store))

    def resolver() -> Any:
        made = botocore.credentials.create_credential_resolver(
            session, region_name=session._last_client_region_used
        )
        for provider in made.providers:
            # EnvProvider keeps ``environ``; the file-reading ones ``_environ``.
            for attr in ("environ", "_environ"):
                if isinstance(getattr(provider, attr, None), MutableMapping):
                    setattr(provider, attr, dict(environ))
        return made

    session._components.lazy_register_component("credential_provider", resolver)


def proxies_for(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The proxies ``HTTP(S)_PROXY``/``NO_PROXY`` in ``environ`` give for ``url`` (as botocore)."""
    from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]

    proxies = {}
    for name, value in environ.items():
        lower = name.lower()
        if value and lower.endswith("_proxy") and lower != "no_proxy":
            proxies[lower[: -len("_proxy")]] = value
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY")
    host = urlsplit(url).hostname or ""
    if no_proxy and proxy_bypass_environment(host, {"no": no_proxy}):
        return {}
    return proxies


def _configured_endpoint(session: Any, environ: Mapping[str, str]) -> str | None:
    """The endpoint_url the config file or AWS_ENDPOINT_URL(_S3) sets for S3, as botocore reads it."""
    from botocore.configprovider import ConfiguredEndpointProvider

    if session.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    found: str | None = ConfiguredEndpointProvider(
        full_config=session.full_config,
        scoped_config=session.get_scoped_config(),
        client_name="s3",
        environ=environ,
    ).provide()
    return found or None


def _client_config(**kwargs: Any) -> Any:
    import botocore.config

    return botocore.config.Config(**kwargs)


def _create(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    workers: int,
    timeouts: tuple[float | None, float | None],
    settings: Settings,
) -> _Clients:
    static = _env_only(profile, endpoint_url, settings)
    if static is not None:
        session_factory = functools.partial(_session, profile, region, settings)
        scoped: dict[str, Any] = {}
        endpoint = endpoint_url
        configured_attempts: Any = static.max_attempts
    else:
        session = _session(profile, region, settings)
        session_factory = functools.partial(_known, session)
        scoped = session.get_scoped_config()
        endpoint = endpoint_url or _configured_endpoint(session, settings.environ)
        configured_attempts = session.get_config_variable("max_attempts")
    if endpoint and "@" in urlsplit(endpoint).netloc:
        # botocore refuses such URLs only at the first request, quoting them whole.
        raise ConfigError(
            f"the S3 endpoint {redact_url(endpoint)} has a user name or password in it; "
            "pass credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
        )
    connect = settings.connect_timeout(timeouts[0])
    read = settings.read_timeout(timeouts[1])
    attempts = settings.attempts(int(configured_attempts) if configured_attempts else None)
    s3_cfg = dict(scoped.get("s3") or {}) if isinstance(scoped.get("s3"), dict) else {}
    if "addressing_style" not in s3_cfg:
        # S3-compatible stores on an IP or localhost cannot serve bucket.host names.
        s3_cfg["addressing_style"] = "path" if endpoint else "auto"
    retry_mode = settings.aws_retry_mode or scoped.get("retry_mode") or "standard"
    # botocore.config costs ~0.15 s to import: its Config is built only with a client.
    cfg = functools.partial(
        _client_config,
        # HTTPS_PROXY/NO_PROXY as the Settings captured them (botocore would read them live).
        proxies=proxies_for(endpoint or "https://s3.amazonaws.com", settings.environ),
        max_pool_connections=workers * 2 + 4,
        # One attempt per call: s3lync's one retry policy (retry.py) repeats requests.
        retries={"mode": retry_mode, "total_max_attempts": 1},
        connect_timeout=connect,
        read_timeout=read,
        tcp_keepalive=True,
        # S3-compatible stores (rclone, MinIO, older Ceph) reject botocore's default CRC trailers;
        # integrity is ours to check: Content-MD5 on PUT and MD5/ETag verification on GET.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3=s3_cfg,
    )
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        hint = "" if "://" in endpoint else f"; {scheme_hint(endpoint)}"
        raise ConfigError(
            f"cannot use the S3 endpoint: Invalid endpoint: {redact_url(endpoint)}"
            + redact_url(hint)
        )
    return _Clients(
        session_factory,
        cfg,
        endpoint,
        region,
        workers,
        (connect, read),
        attempts,
        s3_config=s3_cfg,
        static=static,
    )


def _known(session: Any) -> Any:
    return session


def _make_fast(c: _Clients, settings: Settings) -> FastWire | None:
    """The fast implementation for these clients, or None where a setting needs botocore.

    A plain endpoint (``endpoint_url`` with path-style addressing, the S3-compatible stores'
    case) needs no botocore client at all: requests go to ``endpoint/bucket/key``, signed for the
    configured region. AWS's own endpoints (regional hosts, FIPS, dual-stack, accelerate) are
    read off presigned URLs of a botocore client, built once.
    """
    if not settings.lean:
        return None
    from s3lync.store.scheduler import scheduler_for
    from s3lync.store.transport import Transport

    transport = Transport(
        maxsize=c.workers * 2 + 4,
        connect_timeout=c.timeouts[0],
        read_timeout=c.timeouts[1],
        ca_bundle=c.ca_bundle(),
        scheduler=scheduler_for(c.workers),
    )
    credentials = c.credentials

    if _plain_endpoint(c):
        assert c.endpoint_url is not None
        region = c.default_region()
        parts = urlsplit(c.endpoint_url)
        proxy, headers = None, ()
        if c.proxies:
            from botocore.httpsession import ProxyConfiguration

            proxy_config = ProxyConfiguration(proxies=c.proxies)
            proxy = proxy_config.proxy_url_for(f"{parts.scheme}://{parts.netloc}/")
            headers = tuple(proxy_config.proxy_headers_for(proxy).items()) if proxy else ()
        origin = Origin(parts.scheme, parts.netloc, proxy, headers)

        def plain(bucket: str, learned_region: str | None) -> BucketTarget | None:
            if not _VALID_BUCKET.match(bucket):
                return None  # botocore refuses it, in its own words
            base = f"{parts.path.rstrip('/')}/{uri_encode(bucket, '~')}"
            return BucketTarget(origin, base, learned_region or region)

        return FastWire(c.endpoint_url, region, credentials, locate=plain, transport=transport)
    cfg = c.client.meta.config
    proxying = cfg.proxies_config or {}
    if (
        cfg.signature_version not in (None, "s3v4")
        or cfg.client_cert
        or any(proxying.get(k) for k in ("proxy_ca_bundle", "proxy_client_cert"))
        or proxying.get("proxy_use_forwarding_for_https")
    ):
        log.debug("fast path off: the S3 client's configuration needs botocore")
        return None
    from botocore.httpsession import ProxyConfiguration

    proxy_config = ProxyConfiguration(proxies=cfg.proxies)

    def locate(bucket: str, learned_region: str | None) -> BucketTarget | None:
        client = c.client if learned_region is None else _regional(c, learned_region)
        return _bucket_target(client, bucket, proxy_config)

    return FastWire(
        c.client.meta.endpoint_url,
        c.client.meta.region_name or "us-east-1",
        credentials,
        locate=locate,
        transport=transport,
    )


# Bucket names botocore sends as they are (its own check); anything else it refuses or treats as
# an ARN, so the fast path leaves it to botocore.
_VALID_BUCKET = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")


def _plain_endpoint(c: _Clients) -> bool:
    """True for an ``endpoint_url`` with path-style addressing and nothing only botocore does."""
    s3 = c.s3_config
    return bool(
        c.endpoint_url
        and s3.get("addressing_style", "path") == "path"
        and not s3.get("use_accelerate_endpoint")
        and s3.get("signature_version") in (None, "s3v4")
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
        log.debug("fast path steps aside for bucket %s: %s", bucket, exc)
        return None
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if not parts.path.endswith("/" + _PROBE_KEY) or ":" in bucket or bucket.endswith("--x-s3"):
        log.debug("fast path steps aside for bucket %s (an ARN or S3 Express)", bucket)
        return None
    if "X-Amz-Algorithm" in query:
        scope = (query.get("X-Amz-Credential") or [""])[0].split("/")
        if query["X-Amz-Algorithm"] != ["AWS4-HMAC-SHA256"] or len(scope) != 5 or scope[3] != "s3":
            log.debug("fast path steps aside for bucket %s: %s signing", bucket, scope[3:4])
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
