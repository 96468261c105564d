"""``s3://`` parsing and the rules that turn remote keys into safe local relative paths (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3lync.errors import InvalidURIError, UnsafeKeyError

# Real S3 allows 3-63 characters; legacy us-east-1 buckets and some compatible stores also allow
# upper case and underscores, so those are accepted rather than refused client-side.
_BUCKET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")
_MAX_KEY_BYTES = 1024
# s3lync 0.4's endpoint-in-URI forms: s3://HOST[:PORT]@bucket/key (HOST with a '.', or localhost;
# anything else before '@' may be a key pair and is never echoed) and s3://http(s)://HOST/bucket/key.
_ENDPOINT_AT_RE = re.compile(
    r"^(?P<scheme>https?://)?(?P<host>(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+|localhost|\[[0-9A-Fa-f:]+\])"
    r"(?P<port>:[0-9]{1,5})?@(?P<bucket>[^/@]+)/(?P<key>.*)$"
)
_ENDPOINT_SCHEME_RE = re.compile(
    r"^(?P<scheme>https?://)(?P<host>[^/@]+)/(?P<bucket>[^/@]+)/(?P<key>.*)$"
)


@dataclass(frozen=True)
class S3Uri:
    """A parsed ``s3://bucket/key`` URI; ``key`` may be empty (the whole bucket)."""

    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        """True when the URI explicitly names a prefix (empty key or trailing ``/``)."""
        return self.key == "" or self.key.endswith("/")

    @property
    def dir_prefix(self) -> str:
        """The key as a folder prefix: ``""`` or ending with ``/``."""
        return self.key if self.is_prefix else self.key + "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Uri:
    """Parse ``s3://bucket/key``; raise InvalidURIError (also a ValueError) naming what is wrong."""
    if not isinstance(uri, str):
        raise InvalidURIError(f"S3 URI must be a string, got {type(uri).__name__}")
    if not uri.startswith("s3://"):
        raise InvalidURIError(f"invalid S3 URI {uri!r}: must start with 's3://'")
    rest = uri[len("s3://") :]
    endpoint = _ENDPOINT_AT_RE.match(rest) or _ENDPOINT_SCHEME_RE.match(rest)
    if endpoint is not None:
        url = (
            (endpoint["scheme"] or "http://")
            + endpoint["host"]
            + (endpoint.groupdict().get("port") or "")
        )
        plain = f"s3://{endpoint['bucket']}/{endpoint['key']}"
        raise InvalidURIError(
            f"invalid S3 URI {uri!r}: s3lync 0.4's endpoint-in-URI form is not supported; "
            f"write S3Object({plain!r}, endpoint_url={url!r}) (or set AWS_ENDPOINT_URL={url}; "
            f"in s3lync.yaml, endpoint_url: {url})"
        )
    # s3://http://USER:PASS@host/... : the authority ends at the first '/' after the scheme.
    scheme = re.match(r"https?://", rest)
    start = scheme.end() if scheme else 0
    bucket, _, key = rest[start:].partition("/")
    if "@" in bucket:
        # Upstream's s3://KEY:SECRET@host/... puts secrets in logs and shell history: refuse it
        # without repeating what came before the '@'.
        shown = f"s3://***@{bucket.rsplit('@', 1)[1]}/{key}"
        raise InvalidURIError(
            f"invalid S3 URI {shown!r}: credentials do not belong in a URI; use "
            "s3://bucket/key, pass the endpoint as endpoint_url= (or AWS_ENDPOINT_URL) and the "
            "keys through the AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile)"
        )
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidURIError(f"invalid S3 URI {uri!r}: missing bucket name")
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise InvalidURIError(
            f"invalid S3 URI {uri!r}: bucket name {bucket!r} must be 3-63 characters of letters, "
            "digits, '.', '-' or '_', starting and ending with a letter or digit"
        )
    if "\x00" in key:
        raise InvalidURIError(f"invalid S3 URI {uri!r}: key contains a NUL character")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        # os.fsdecode turns undecodable bytes into lone surrogates; S3 keys must be UTF-8.
        raise InvalidURIError(f"invalid S3 URI {uri!r}: key is not valid UTF-8") from None
    if len(encoded) > _MAX_KEY_BYTES:
        raise InvalidURIError(f"invalid S3 URI {uri!r}: key is longer than {_MAX_KEY_BYTES} bytes")
    return S3Uri(bucket=bucket, key=key)


def is_folder_marker(key: str) -> bool:
    """Keys ending in ``/`` are folder markers, not files."""
    return key.endswith("/")


def key_to_rel(key: str, prefix: str) -> str:
    """Turn a key under ``prefix`` into a safe relative path with ``/`` separators.

    Raises UnsafeKeyError when the key would land outside the local root: ``..`` or ``.`` segments,
    an absolute path, empty segments (``a//b``), backslashes or NUL bytes.
    """
    if not key.startswith(prefix):
        raise UnsafeKeyError(f"key {key!r} is not under prefix {prefix!r}")
    rel = key[len(prefix) :]
    if is_folder_marker(rel):
        rel = rel[:-1]
    check_rel(rel, key)
    return rel


def check_rel(rel: str, key: str | None = None) -> None:
    """Refuse a relative path that could escape its root; ``key`` names it in the error."""
    what = f"key {key!r}" if key is not None else f"path {rel!r}"
    if rel == "":
        raise UnsafeKeyError(f"refused {what}: empty relative path")
    if rel.startswith("/"):
        raise UnsafeKeyError(f"refused {what}: absolute path would land outside the local root")
    if "\\" in rel or "\x00" in rel:
        raise UnsafeKeyError(f"refused {what}: backslash or NUL in the path")
    if len(rel) >= 2 and rel[1] == ":" and rel[0].isalpha():
        raise UnsafeKeyError(f"refused {what}: drive-qualified path would land outside the root")
    for part in rel.split("/"):
        if part == "":
            raise UnsafeKeyError(f"refused {what}: empty path segment ('//')")
        if part in (".", ".."):
            raise UnsafeKeyError(f"refused {what}: '{part}' segment would escape the local root")


def scheme_hint(endpoint: str) -> str:
    """What to add to an endpoint URL without ``http://``/``https://`` (``localhost:9000``)."""
    bare = endpoint.split("://", 1)[-1] if "://" in endpoint else endpoint
    return f"add http:// or https:// in front (e.g. {'http://' + bare!r})"
