"""S3 clients: the boto3 client and the lean client, created once per settings, and botocore's
errors turned into s3lync's.

boto3/botocore are imported lazily (remote.py is the only other module that uses them), so
``import s3lync`` and ``s3lync --help`` stay fast.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from .config import Config
from .errors import HashMismatchError, RemoteNotFoundError, S3ObjectError, SyncError
from .lean import LeanClient, env_allows_lean, env_credentials


def s3_label(bucket: str, key: str | None) -> str:
    """``s3://bucket/key`` (or ``s3://bucket``) for messages."""
    return f"s3://{bucket}/{key}" if key is not None else f"s3://{bucket}"


def translate(exc: BaseException, bucket: str, key: str | None, action: str) -> SyncError:
    """Turn a botocore/s3transfer exception into a one-line SyncError naming bucket and key."""
    import botocore.exceptions as bex

    where = s3_label(bucket, key)
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        msg = str(err.get("Message") or "").strip()
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


_ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_MAX_ATTEMPTS",
    "S3LYNC_MAX_ATTEMPTS",
)
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def get_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
) -> Any:
    """A shared client per settings: creating one costs ~0.1 s and boto3 clients are thread-safe.

    The key includes a digest of the credential-related environment, so changing credentials or
    endpoints in ``os.environ`` gets a fresh client rather than a stale one.
    """
    env = hashlib.sha256("\0".join(os.environ.get(k, "") for k in _ENV_KEYS).encode()).hexdigest()
    key = (region, endpoint_url, profile, max_workers or Config.get_max_workers(), env)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = make_client(region, endpoint_url, profile, max_workers)
            _clients[key] = client
        return client


_leans: dict[tuple[Any, ...], LeanClient] = {}


def get_lean(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
) -> LeanClient | None:
    """The lean client when the environment fully determines endpoint, region and credentials.

    That is: static keys in the environment and no profile; anything else (profiles, SSO, IMDS,
    proxies, FIPS) stays with botocore, which knows how to resolve it.
    """
    if not env_allows_lean() or profile or os.environ.get("AWS_PROFILE"):
        return None
    creds = env_credentials()
    if creds is None:
        return None
    endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    region = region or Config.get_aws_region()
    if endpoint:
        region, virtual = region or "us-east-1", False
    elif region:
        endpoint, virtual = f"https://s3.{region}.amazonaws.com", True
    else:
        return None
    workers = max_workers or Config.get_max_workers()
    attempts = Config.get_max_attempts()
    key = (region, endpoint, virtual, workers, attempts, creds, os.environ.get("AWS_CA_BUNDLE"))
    with _clients_lock:
        lean = _leans.get(key)
        if lean is None:
            lean = LeanClient(
                endpoint,
                region,
                lambda: creds,
                virtual_host=virtual,
                pool_size=workers * 2 + 4,
                max_attempts=attempts,
                ca_bundle=os.environ.get("AWS_CA_BUNDLE") or None,
            )
            _leans[key] = lean
        return lean


def make_client(
    region: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    max_workers: int | None = None,
) -> Any:
    """A new boto3 S3 client whose connection pool fits the workers, with standard retries."""
    import boto3
    import botocore.config
    import botocore.exceptions as bex

    workers = max_workers or Config.get_max_workers()
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except bex.ProfileNotFound as exc:
        raise S3ObjectError(f"AWS profile '{profile}' not found ({exc})") from exc
    custom_endpoint = (
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    cfg = botocore.config.Config(
        max_pool_connections=workers * 2 + 4,
        retries={"mode": "standard", "total_max_attempts": Config.get_max_attempts()},
        connect_timeout=10,
        read_timeout=60,
        tcp_keepalive=True,
        # S3-compatible stores (rclone, MinIO, older Ceph) reject botocore's default CRC trailers;
        # integrity is ours to check: Content-MD5 on PUT and MD5/ETag verification on GET.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if custom_endpoint else "auto"},
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=cfg)
