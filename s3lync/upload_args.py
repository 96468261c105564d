"""The upload arguments s3lync passes on (boto3's ExtraArgs spelling): which, checked how, sent as what."""

from __future__ import annotations

import re
from collections.abc import Mapping as EnvMapping
from typing import Any

# The upload arguments s3lync passes on (boto3's ExtraArgs spelling), and the header each
# becomes on the lean path (the one table of them). Others would change what integrity checks can
# rely on (checksums, SSE-C, object lock). Metadata becomes one x-amz-meta-NAME header per entry.
UPLOAD_ARGS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
    "StorageClass": "x-amz-storage-class",
    "RequestPayer": "x-amz-request-payer",
    "ACL": "x-amz-acl",
    "ContentType": "content-type",
    "CacheControl": "cache-control",
    "ContentDisposition": "content-disposition",
    "ContentEncoding": "content-encoding",
    "ContentLanguage": "content-language",
    "Expires": "expires",
    "Metadata": "x-amz-meta-",
    "Tagging": "x-amz-tagging",
    "WebsiteRedirectLocation": "x-amz-website-redirect-location",
}
# s3lync's own metadata entry (the content MD5, rclone's convention): never the user's to set.
OWN_METADATA = "md5chksum"


def check_extra_args(args: EnvMapping[str, Any] | None, where: str) -> tuple[tuple[str, str], ...]:
    """``args`` as a sorted tuple of (name, value), or ConfigError naming a key not allowed.

    Values are strings, except ``Metadata`` (a mapping of names to ASCII strings, kept as
    compact JSON), ``Tagging`` (``"k=v&k2=v2"`` or a mapping) and ``Expires`` (an HTTP date, an
    ISO 8601 time or a ``datetime``, kept as an HTTP date).
    """
    from s3lync.errors import ConfigError

    out = []
    for name, value in (args or {}).items():
        if name not in UPLOAD_ARGS:
            raise ConfigError(
                f"{where}: extra_args key {name!r} is not allowed; use one of "
                + ", ".join(sorted(UPLOAD_ARGS))
            )
        if name == "Metadata":
            value = _metadata(value, where)
        elif name == "Tagging" and isinstance(value, EnvMapping):
            from urllib.parse import urlencode

            value = urlencode({str(k): str(v) for k, v in value.items()})
        elif name == "Expires":
            value = _http_date(value, where)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{where}: extra_args {name} must be a non-empty string, got {value!r}"
            )
        out.append((name, value.strip()))
    return tuple(sorted(out))


def _metadata(value: Any, where: str) -> str:
    """``Metadata`` as compact JSON of a {name: ASCII string} mapping (JSON text is accepted)."""
    import json

    from s3lync.errors import ConfigError

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if not isinstance(value, EnvMapping) or not value:
        raise ConfigError(
            f"{where}: extra_args Metadata must be a mapping of names to strings, got {value!r}"
        )
    for k, v in value.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", k):
            raise ConfigError(f"{where}: extra_args Metadata name {k!r} is not a header name")
        if k.lower() == OWN_METADATA:
            raise ConfigError(
                f"{where}: extra_args Metadata {k!r} is s3lync's own (the content MD5 it "
                "verifies with); choose another name"
            )
        if not isinstance(v, str) or not v.isascii() or not v.isprintable():
            raise ConfigError(
                f"{where}: extra_args Metadata {k!r} must be printable ASCII text (S3 keeps "
                f"metadata as HTTP headers), got {v!r}"
            )
    return json.dumps({k.lower(): value[k] for k in sorted(value)}, separators=(",", ":"))


def _http_date(value: Any, where: str) -> Any:
    """``Expires`` as an HTTP date (RFC 7231), from a datetime, ISO 8601 or an HTTP date."""
    import datetime as dt
    from email.utils import format_datetime, parsedate_to_datetime

    from s3lync.errors import ConfigError

    when: dt.datetime | None = value if isinstance(value, dt.datetime) else None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                when = None
        if when is None:
            raise ConfigError(
                f"{where}: extra_args Expires {value!r} is not a date (use ISO 8601, "
                "'2027-01-01T00:00:00Z', or an HTTP date)"
            )
    if when is None:
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return format_datetime(when.astimezone(dt.timezone.utc), usegmt=True)


def upload_arguments(
    args: EnvMapping[str, str],
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(boto3 ExtraArgs without Metadata, the user's metadata, lean-path headers) for ``args``
    (checked by :func:`check_extra_args`); s3lync's own md5chksum is never among them."""
    import json

    extra = {k: v for k, v in args.items() if k != "Metadata"}
    meta = {
        k: v
        for k, v in json.loads(args.get("Metadata") or "{}").items()
        if k.lower() != OWN_METADATA
    }
    headers = {UPLOAD_ARGS[k]: v for k, v in extra.items()}
    headers.update({f"x-amz-meta-{k}": v for k, v in meta.items()})
    return extra, meta, headers
