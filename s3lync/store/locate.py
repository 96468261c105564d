"""Building the fast implementation for an endpoint: where each bucket's requests go.

A plain endpoint (``endpoint_url`` with path-style addressing, the S3-compatible stores' case) needs
no botocore client at all: requests go to ``endpoint/bucket/key``, signed for the configured
region. AWS itself with plain settings needs none either (:func:`aws_target`: botocore's default
endpoint rules for the ``aws`` partition). Otherwise (FIPS, dual-stack, accelerate, a profile only
botocore reads...) each bucket's host and signing region are read off the request a botocore
client, built once, prepares for it; where a bucket or a setting needs more than SigV4 over
HTTP(S) (an access point ARN, S3 Express, client certificates...), the fast path steps aside.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from s3lync.settings import Settings
from s3lync.store.fast import FastWire
from s3lync.store.protocol import BucketTarget, Origin
from s3lync.store.resolve import aws_by_default_rules
from s3lync.store.sigv4 import uri_encode

if TYPE_CHECKING:
    from s3lync.store.clients import Clients

log = logging.getLogger(__name__)

# A key that no bucket needs to hold: a HEAD of it, prepared and never sent, tells where a
# bucket's requests go.
_PROBE_KEY = "s3lync-probe"


def make_fast(c: Clients, settings: Settings) -> FastWire | None:
    """The fast implementation for these clients, or None where a setting needs botocore."""
    if not settings.lean:
        return None
    from s3lync.store.scheduler import scheduler_for
    from s3lync.store.transport import Transport

    transport = Transport(
        maxsize=c.workers * 2 + 4,
        connect_timeout=c.timeouts[0],
        read_timeout=c.timeouts[1],
        # botocore's own fallback where no ca_bundle is configured: REQUESTS_CA_BUNDLE.
        ca_bundle=c.ca_bundle() or settings.environ.get("REQUESTS_CA_BUNDLE") or None,
        scheduler=scheduler_for(c.workers),
    )
    if _plain_endpoint(c):
        return _plain(c, transport)
    if not c.endpoint_url and (
        c.static is not None or aws_by_default_rules(c.session, settings.environ)
    ):
        return _aws(c, transport)
    return _located(c, transport)


def _plain(c: Clients, transport: Any) -> FastWire:
    """Requests to ``endpoint/bucket/key``, signed for the configured region: no botocore client."""
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
        if not _VALID_BUCKET.fullmatch(bucket) or bucket.endswith(_BOTOCORE_ONLY_SUFFIXES):
            return None  # botocore refuses it in its own words, or signs it otherwise
        base = f"{parts.path.rstrip('/')}/{uri_encode(bucket, '~')}"
        return BucketTarget(origin, base, learned_region or region)

    return FastWire(c.endpoint_url, region, c.credentials, locate=plain, transport=transport)


# The regions of botocore's "aws" partition (its partitions data matches them so), and the bucket
# names its endpoint rules send to BUCKET.s3.REGION.amazonaws.com (isVirtualHostableS3Bucket
# without dots) or, with dots, to s3.REGION.amazonaws.com/BUCKET.
_AWS_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d+$")
_HOSTED_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_DOTTED_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Suffixes of access point, Object Lambda, S3 Express and table bucket aliases: botocore's.
_ALIAS_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--xa-s3", "--op-s3", "--table-s3")
# Names botocore's S3 rules send elsewhere, signed otherwise (S3 Express buckets and access points
# open a session first, over the network; Outposts access points): botocore serves them.
_BOTOCORE_ONLY_SUFFIXES = ("--x-s3", "--xa-s3", "--op-s3")


def aws_target(bucket: str, region: str) -> BucketTarget | None:
    """Where botocore's endpoint rules send ``bucket`` in ``region`` of AWS, by default settings.

    Only the plain case: the "aws" partition, HTTPS, no FIPS, dual-stack, accelerate, addressing
    or us-east-1 setting (resolve.plain_resolution lets none through), a bucket name of lowercase
    letters, digits, hyphens and dots. us-east-1 takes the global ``s3.amazonaws.com``, as
    botocore's ``us_east_1_regional_endpoint = legacy`` default. None for anything else: a
    botocore client then locates that bucket. tests/unit/test_env_only.py compares every answer
    with the request botocore sends.
    """
    if not _AWS_REGION.fullmatch(region) or bucket.endswith(_ALIAS_SUFFIXES) or ".." in bucket:
        return None
    host = _aws_host(region)
    if _HOSTED_BUCKET.fullmatch(bucket):
        return BucketTarget(Origin("https", f"{bucket}.{host}"), "", region, virtual=True)
    if _DOTTED_BUCKET.fullmatch(bucket) and not _IPV4.fullmatch(bucket):
        return BucketTarget(Origin("https", host), f"/{bucket}", region)
    return None


def _aws_host(region: str) -> str:
    """S3's host in ``region``: the global one for us-east-1 (botocore's ``legacy`` default)."""
    return "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"


_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def _aws(c: Clients, transport: Any) -> FastWire:
    """AWS's own endpoints for settings read without botocore's session: no botocore client."""
    region = c.default_region()

    def locate(bucket: str, learned_region: str | None) -> BucketTarget | None:
        found = aws_target(bucket, learned_region or region)
        if found is None:
            # A bucket or region the plain rules do not cover: read off a botocore client.
            return _located_bucket(c, bucket, learned_region)
        return found

    return FastWire(
        f"https://{_aws_host(region)}", region, c.credentials, locate=locate, transport=transport
    )


def _located_bucket(c: Clients, bucket: str, learned_region: str | None) -> BucketTarget | None:
    """One bucket's target read off a botocore client (none for settings that need botocore)."""
    from botocore.httpsession import ProxyConfiguration

    client = c.client if learned_region is None else _regional(c, learned_region)
    return _bucket_target(client, bucket, ProxyConfiguration(proxies=client.meta.config.proxies))


def _located(c: Clients, transport: Any) -> FastWire | None:
    """Each bucket's requests sent where a botocore client would send them (None: botocore must)."""
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
        c.credentials,
        locate=locate,
        transport=transport,
    )


# Bucket names botocore sends as they are (its own check); anything else it refuses or treats as
# an ARN, so the fast path leaves it to botocore.
_VALID_BUCKET = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")


def _plain_endpoint(c: Clients) -> bool:
    """True for an ``endpoint_url`` with path-style addressing and nothing only botocore does."""
    s3 = c.s3_config
    return bool(
        c.endpoint_url
        and s3.get("addressing_style", "path") == "path"
        and not s3.get("use_accelerate_endpoint")
        and s3.get("signature_version") in (None, "s3v4")
    )


def _regional(c: Clients, region: str) -> Any:
    """A client like ``c.client`` for another region (a bucket's region learned from a redirect)."""
    with c.lock:
        client = c.regional.get(region)
        if client is None:
            client = c.session.create_client(
                "s3", region_name=region, endpoint_url=c.endpoint_url, config=c.config
            )
            ready_for_probes(client)
            c.regional[region] = client
        return client


def _bucket_target(client: Any, bucket: str, proxy_config: Any) -> BucketTarget | None:
    """Where botocore sends ``bucket``'s requests and the region it signs them for.

    Read off the HEAD botocore prepares for a key of the bucket, stopped before it is sent: the
    very host its endpoint rules pick for a request (a presigned URL names the global
    ``BUCKET.s3.amazonaws.com`` instead, which buckets in regions opened since 2019 refuse).
    """
    if ":" in bucket or bucket.endswith(_BOTOCORE_ONLY_SUFFIXES):
        # An ARN, or S3 Express (whose HEAD would first open a session over the network).
        log.debug("fast path steps aside for bucket %s (an ARN or S3 Express)", bucket)
        return None
    request = _prepared_head(client, bucket)
    if request is None:
        return None
    parts = urlsplit(request.url)
    auth = request.headers.get("Authorization") or b""
    auth = auth.decode() if isinstance(auth, bytes) else str(auth)
    scope = auth.partition("Credential=")[2].split(",")[0].split("/")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or len(scope) != 5 or scope[3] != "s3":
        log.debug("fast path steps aside for bucket %s: not SigV4 for s3", bucket)
        return None
    if not parts.path.endswith("/" + _PROBE_KEY) or parts.query:
        log.debug("fast path steps aside for bucket %s: an unusual request path", bucket)
        return None
    netloc = parts.netloc.rpartition("@")[2]
    base = parts.path[: -len(_PROBE_KEY) - 1]
    proxy = proxy_config.proxy_url_for(f"{parts.scheme}://{netloc}/")
    headers = tuple(proxy_config.proxy_headers_for(proxy).items()) if proxy else ()
    origin = Origin(parts.scheme, netloc, proxy, headers)
    return BucketTarget(origin, base, scope[2], virtual=not base)


class _Prepared(Exception):
    """Stops a probe request in ``before-send`` (it carries nothing: no header reaches a log)."""


# The probe's handler is registered once per client (registering while another thread sends on
# the same client is not safe in botocore's emitter); a thread-local box arms it for one call.
_probing = threading.local()
_probed_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_probe_lock = threading.Lock()


def _stop_probe(request: Any, **_: Any) -> None:
    box = getattr(_probing, "box", None)
    if box is not None and not box:  # armed by this thread's probe: other requests pass
        box.append(request)
        raise _Prepared()


def ready_for_probes(client: Any) -> None:
    """Register the probe's handler on a new client, before any thread sends on it."""
    with _probe_lock:
        if client not in _probed_clients:
            client.meta.events.register("before-send.s3.HeadObject", _stop_probe)
            _probed_clients.add(client)


def _prepared_head(client: Any, bucket: str) -> Any:
    """The HEAD of a key of ``bucket`` as botocore would send it (never sent), or None."""
    ready_for_probes(client)  # s3lync's clients already are (Clients.client, _regional)
    found: list[Any] = []
    _probing.box = found
    try:
        client.head_object(Bucket=bucket, Key=_PROBE_KEY)
    except _Prepared:
        pass
    except Exception as exc:  # an invalid bucket name, missing credentials...
        log.debug("fast path steps aside for bucket %s: %s", bucket, exc)
    finally:
        _probing.box = None
    return found[0] if found else None
