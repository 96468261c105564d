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
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from s3lync.errors import ConfigError
from s3lync.redact import redact_url
from s3lync.settings import Settings
from s3lync.store.describe import s3_label, translate
from s3lync.store.locate import make_fast, ready_for_probes
from s3lync.store.resolve import (
    PlainResolution,
    botocore_session,
    configured_endpoint,
    plain_resolution,
    proxies_for,
)
from s3lync.store.sigv4 import Credentials
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
    "portable",
    "reopen",
    "s3_label",
    "translate",
]

log = logging.getLogger(__name__)


@dataclass
class Clients:
    """One botocore session and its S3 client (both built on first use), and the store
    implementation; ``static``: the credentials and settings, where they could be read without
    the session (resolve.plain_resolution)."""

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
    static: PlainResolution | None = None
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
                # Before anyone sends on it: botocore's emitter is not safe to register on then.
                ready_for_probes(self._client)
            return self._client

    def close(self) -> None:
        """Close the idle connections of both implementations (they reconnect if used again)."""
        with self.lock:
            clients = [self._client, *self.regional.values()]
            wire = self.wire
        if wire is not None:
            wire.close()
        for client in clients:
            if client is not None:
                client.close()


# The clients of the settings used most recently. A process whose configuration changes (a
# session token rotated through the environment, a profile or endpoint per tenant, a
# Settings per call) would otherwise keep every set of clients it ever built, and their
# connections; one dropped here stays usable by whoever still holds it.
_KEEP = 16
_clients: OrderedDict[tuple[Any, ...], Clients] = OrderedDict()
_clients_lock = threading.Lock()


def _resolved(
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    max_workers: int | None,
    timeouts: tuple[float | None, float | None] = (None, None),
    settings: Settings | None = None,
) -> Clients:
    """The shared clients per settings: creating a client costs ~0.1 s, and they are thread-safe.

    The key includes a digest of the configuration-related environment the Settings captured,
    and the AWS config and credentials files' identity (size, times, inode), so changed
    credentials, endpoints or proxies, or keys rotated in ``~/.aws/credentials`` by `aws
    configure` in a long-running process, get fresh clients rather than stale ones.
    """
    settings = settings or Settings.from_env()
    env = hashlib.sha256("\0".join(settings.client_env).encode()).hexdigest()
    workers = max_workers or settings.max_workers
    key = (region, endpoint_url, profile, workers, timeouts, env, _aws_files(settings))
    dropped: list[Clients] = []
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            found = _create(region, endpoint_url, profile, workers, timeouts, settings)
            _clients[key] = found
            while len(_clients) > _KEEP:
                dropped.append(_clients.popitem(last=False)[1])
        else:
            _clients.move_to_end(key)
    for old in dropped:
        old.close()
    return found


def _aws_files(settings: Settings) -> tuple[tuple[int, int, int, int] | None, ...]:
    """(size, mtime, ctime, inode) of the AWS config and credentials files, None where absent."""
    env = settings.environ
    found: list[tuple[int, int, int, int] | None] = []
    for var, default in (
        ("AWS_CONFIG_FILE", "~/.aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ):
        path = os.path.expanduser(os.path.expandvars(env.get(var, default)))
        try:
            st = os.stat(path)
        except OSError:
            found.append(None)
            continue
        found.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(found)


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
        made = make_fast(c, settings) or BotoWire(c.client)
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
    remote = Remote(
        max_workers=max_workers,
        wire_factory=lambda: get_wire(*args),
        boto_factory=lambda: BotoWire(get_client(*args)),
        attempts_factory=lambda: get_attempts(*args),
        settings=settings,
    )
    remote.recipe = (region, endpoint_url, profile, timeouts)
    return remote


def portable(remote: Remote) -> bool:
    """True when another process can open the same store from ``remote.recipe`` and the
    Settings alone: the fast implementation, credentials read without botocore's session
    (static keys from the environment or the AWS files: nothing to prompt for or refresh).
    """
    from s3lync.store.fast import FastWire

    if remote.recipe is None or intercepted():
        return False
    region, endpoint_url, profile, timeouts = remote.recipe
    found = _resolved(region, endpoint_url, profile, remote.max_workers, timeouts, remote.settings)
    return found.static is not None and isinstance(remote.wire, FastWire)


def reopen(recipe: tuple[Any, ...], max_workers: int, settings: Settings) -> Remote:
    """The Remote another process's ``recipe`` describes (see :func:`portable`)."""
    region, endpoint_url, profile, timeouts = recipe
    return open_remote(region, endpoint_url, profile, max_workers, timeouts, settings)


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
) -> Clients:
    static = plain_resolution(profile, endpoint_url, settings)
    if static is not None:
        session_factory = functools.partial(
            botocore_session, profile, region, settings, static.full_config
        )
        scoped: Mapping[str, Any] = static.scoped
        endpoint = static.endpoint_url
        configured_attempts: Any = static.max_attempts
    else:
        session = botocore_session(profile, region, settings)
        session_factory = functools.partial(_known, session)
        scoped = session.get_scoped_config()
        endpoint = endpoint_url or configured_endpoint(session, settings.environ)
        configured_attempts = session.get_config_variable("max_attempts")
    _check_endpoint(endpoint)
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
    return Clients(
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


def _check_endpoint(endpoint: str | None) -> None:
    """Refuse an endpoint botocore would refuse only at the first request, in its own words."""
    if not endpoint:
        return
    if "@" in urlsplit(endpoint).netloc:
        raise ConfigError(
            f"the S3 endpoint {redact_url(endpoint)} has a user name or password in it; "
            "pass credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
        )
    if urlsplit(endpoint).scheme not in ("http", "https"):
        hint = "" if "://" in endpoint else f"; {scheme_hint(endpoint)}"
        raise ConfigError(
            f"cannot use the S3 endpoint: Invalid endpoint: {redact_url(endpoint)}"
            + redact_url(hint)
        )


def _known(session: Any) -> Any:
    return session
