"""The semantic rules of a filled manifest: names, filters, upload arguments, endpoints, regions,
buckets, local paths, and two mappings that write one target or read what another writes.

Like checks.py, everything takes the plain data and its positions and returns ``Problem``s at the
offending value's own line; nothing raises for bad input. Run on every load (they look at paths).
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from s3lync.errors import InvalidURIError
from s3lync.filters import glob_reading, regex_problem
from s3lync.manifest.checks import resolve_local, setting, value_loc
from s3lync.manifest.yamldoc import DocPath, Pos, Problem, format_path, quote, shorten
from s3lync.upload_args import UPLOAD_ARGS, check_extra_args
from s3lync.uri import S3Uri, parse_s3_uri, scheme_hint

# A DNS host name as botocore's is_valid_endpoint_url accepts it (IPv4 addresses included).
_HOST_RE = re.compile(
    r"((?!-)[a-z\d-]{1,63}(?<!-)\.)*((?!-)[a-z\d-]{1,63}(?<!-))\.?", re.IGNORECASE
)
# botocore's own rule (botocore.utils.validate_region_name): a region becomes part of a host name.
_REGION_RE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


def _string_items(value: Any, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        yield from (((*path, i), v) for i, v in enumerate(value) if isinstance(v, str))


# S3's bucket naming rules:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_LEGACY_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{3,255}")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(bucket: str, *, legacy: bool = False) -> str | None:
    """Why ``bucket`` is no S3 bucket name, or None; ``legacy`` accepts the us-east-1 names of
    before March 2018 (upper case, '_', up to 255 characters)."""
    shown = quote(bucket)
    if legacy:
        if _LEGACY_BUCKET_RE.fullmatch(bucket):
            return None
        return (
            f"bucket name {shown} is not a bucket name even by S3's legacy rules "
            "(3-255 characters: letters, digits, '.', '-', '_')"
        )
    why = None
    if not 3 <= len(bucket) <= 63:
        why = "it must be 3 to 63 characters long"
    elif not _BUCKET_RE.fullmatch(bucket):
        why = (
            "only lower-case letters, digits, '-' and '.' are allowed, starting and ending with a "
            "letter or digit"
        )
    elif ".." in bucket:
        why = "two dots may not follow each other"
    elif re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        why = "it may not look like an IP address"
    elif bucket.startswith(_BUCKET_PREFIXES) or bucket.endswith(_BUCKET_SUFFIXES):
        why = "S3 reserves that prefix or suffix"
    if why is None:
        return None
    legacy_ok = _LEGACY_BUCKET_RE.fullmatch(bucket) is not None
    return f"bucket name {shown} breaks S3's naming rules: {why}" + (
        " (a legacy us-east-1 bucket of before March 2018 may have such a name: "
        "`legacy_bucket_name: true` accepts it)"
        if legacy_ok
        else ""
    )


def extra_args_problem(name: str, value: Any) -> str | None:
    """Why one ``extra_args`` value cannot be sent (md5chksum metadata, a bad date), or None."""
    from s3lync.errors import ConfigError

    try:
        check_extra_args({name: value}, "extra_args")
    except ConfigError as exc:
        return (
            str(exc)
            .removeprefix(f"extra_args: extra_args {name} ")
            .removeprefix("extra_args: extra_args ")
        )
    return None


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be an S3 endpoint (http(s), a host, a port from 1 to 65535), or None."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"not a valid URL {quote(url)}: spaces and control characters are not allowed"
    if not url.isascii():
        return f"not a valid URL {quote(url)}: only ASCII characters (percent-encode the others)"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        text = str(exc)
        if "Port" in text:
            return f"not a valid URL {quote(url)}: the port must be a number from 1 to 65535"
        return f"not a valid URL {quote(url)}: {text}"
    if parts.scheme.lower() not in ("http", "https"):
        if "://" in url:
            return f"not a valid URL {quote(url)}: must start with http:// or https://"
        return f"not a valid URL {quote(url)}: {scheme_hint(url)}"
    host = parts.hostname or ""
    if not host:
        return f"not a valid URL {quote(url)}: no host name"
    if port == 0:
        return f"not a valid URL {quote(url)}: the port must be a number from 1 to 65535"
    if parts.netloc.rpartition("@")[2].startswith("["):
        import ipaddress  # only for an IPv6 endpoint (urllib.parse may already have it)

        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return f"not a valid URL {quote(url)}: {quote(host)} is not an IPv6 address"
    elif len(host) > 255 or not _HOST_RE.fullmatch(host):
        return f"not a valid URL {quote(url)}: {quote(host)} is not a host name"
    return None


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be a region name, or None."""
    if _REGION_RE.fullmatch(region):
        return None
    # Worded as the schema's pattern: that check usually speaks first, this one catches the rest.
    return (
        f"must be a region name: letters, digits and '-', such as 'eu-west-1' (not {quote(region)})"
    )


def local_problem(local: str) -> str | None:
    """Why ``local`` cannot be a local path, or None."""
    if "\x00" in local:
        return f"not a usable path: {quote(local)} contains a NUL character"
    try:
        os.fsencode(local)
    except UnicodeError:
        return f"not a usable path: {quote(local)} cannot be encoded as a file name"
    return None


def _nested_paths(a: str, b: str) -> bool:
    a, b = os.path.normcase(a), os.path.normcase(b)
    return os.path.commonpath([a, b]) in (a, b)


def _overlap(mine: str, theirs: str, label: str) -> str:
    if mine == theirs:
        return f"writes the same target as {label}: {mine}"
    if len(mine) > len(theirs):
        return f"writes inside the target of {label}: {mine} is inside {theirs}"
    return f"writes around the target of {label}: {theirs} is inside {mine}"


def _label(index: int, item: dict[str, Any]) -> str:
    name = item.get("name")
    return f"mappings[{index}]" + (f" ({quote(name)})" if isinstance(name, str) else "")


# One side of a mapping: ("local", absolute path) or ("s3", (endpoint, bucket, folder prefix)).
_Side = tuple[str, Any]


def _sides_overlap(a: _Side | None, b: _Side | None) -> bool:
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[0] == "local":
        return _nested_paths(a[1], b[1])
    (end_a, bucket_a, prefix_a), (end_b, bucket_b, prefix_b) = a[1], b[1]
    same = end_a == end_b and bucket_a == bucket_b
    return bool(same and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)))


def _show(side: _Side) -> str:
    if side[0] == "local":
        return str(side[1])
    return f"s3://{side[1][1]}/{side[1][2]}"


def semantic_problems(
    data: Any, base_dir: Path, positions: dict[DocPath, Pos]
) -> tuple[list[Problem], list[Problem]]:
    """Errors (names, regexes, URLs, regions, paths, two mappings writing one target) and warnings."""
    found = _Semantics(data, base_dir, positions)
    found.check()
    return found.problems, found.warnings


# A mapping's two sides as far as they could be worked out: (index, item, source, target).
_Sides = tuple[int, dict[str, Any], "_Side | None", "_Side | None"]


class _Semantics:
    """The semantic rules of one filled document, each a method; problems and warnings collected."""

    def __init__(self, data: Any, base_dir: Path, positions: dict[DocPath, Pos]) -> None:
        self.base_dir = base_dir
        self.positions = positions
        self.defaults = data.get("defaults") if isinstance(data.get("defaults"), dict) else {}
        self.items = data.get("mappings") if isinstance(data.get("mappings"), list) else []
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, where: DocPath, message: str, warning: bool = False) -> None:
        into = self.warnings if warning else self.problems
        into.append(Problem(*value_loc(self.positions, where), format_path(where), message))

    def check(self) -> None:
        self.settings(self.defaults, ("defaults",))
        names: dict[str, int] = {}
        sides: list[_Sides] = []
        for i, item in enumerate(self.items):
            if not isinstance(item, dict):
                continue
            here: DocPath = ("mappings", i)
            self.settings(item, here)
            name = item.get("name")
            if isinstance(name, str):
                if name in names:
                    message = f"duplicate name {quote(name)} (also mappings[{names[name]}])"
                    self.add((*here, "name"), message)
                names.setdefault(name, i)
            mine = self.sides(i, item, here)
            if mine is not None:
                self.overlaps(mine, sides, here)
                sides.append(mine)

    def settings(self, item: dict[str, Any], here: DocPath) -> None:
        """What a mapping and the defaults both set: filters, upload arguments, endpoint, region."""
        for key in ("exclude", "include"):
            for where, pattern in _string_items(item.get(key), (*here, key)):
                if (message := regex_problem(pattern, key)) is not None:
                    self.add(where, message)
                elif (message := glob_reading(pattern, key)) is not None:
                    self.add(where, message, warning=True)
        extra = item.get("extra_args")
        if isinstance(extra, dict):
            for name, value in extra.items():
                if name in UPLOAD_ARGS and (message := extra_args_problem(name, value)):
                    self.add((*here, "extra_args", name), message)
        checks = {"endpoint_url": endpoint_problem, "region": region_problem}
        for key, check in checks.items():
            value = item.get(key)
            if isinstance(value, str) and value and (message := check(value)) is not None:
                self.add((*here, key), message)
        for key in ("connect_timeout", "read_timeout"):
            value = item.get(key)
            # YAML's .nan and .inf are numbers the schema lets by (nan <= 0 is false).
            if isinstance(value, float) and not math.isfinite(value):
                self.add((*here, key), f"must be a finite number of seconds, not {value}")

    def sides(self, i: int, item: dict[str, Any], here: DocPath) -> _Sides | None:
        """The mapping's source and target (checking its s3 URI and local path on the way)."""
        s3, local, direction = item.get("s3"), item.get("local"), item.get("direction")
        uri: S3Uri | None = None
        if isinstance(s3, str) and s3.startswith("s3://"):
            try:
                uri = parse_s3_uri(s3)
            except InvalidURIError as exc:
                self.add((*here, "s3"), shorten(str(exc)))
            else:
                legacy = item.get("legacy_bucket_name") is True
                if (message := bucket_problem(uri.bucket, legacy=legacy)) is not None:
                    self.add((*here, "s3"), message)
        local_side: _Side | None = None
        if isinstance(local, str) and local:
            if (message := local_problem(local)) is not None:
                self.add((*here, "local"), message)
            else:
                local_side = ("local", resolve_local(local, self.base_dir))
        s3_side: _Side | None = None
        if uri is not None:
            endpoint = setting(item, self.defaults, "endpoint_url")
            s3_side = ("s3", (endpoint, uri.bucket, uri.dir_prefix))
        if direction == "download":
            return i, item, s3_side, local_side
        if direction == "upload":
            return i, item, local_side, s3_side
        return None

    def overlaps(self, mine: _Sides, earlier: list[_Sides], here: DocPath) -> None:
        """Two mappings writing one target (an error, once, at the later one); one reading what
        another writes (a warning)."""
        _, item, source, target = mine
        download = item.get("direction") == "download"
        target_key, source_key = ("local", "s3") if download else ("s3", "local")
        clashed = False
        for j, other, other_source, other_target in earlier:
            if not clashed and _sides_overlap(target, other_target):
                assert target is not None and other_target is not None
                message = _overlap(_show(target), _show(other_target), _label(j, other))
                self.add((*here, target_key), message)
                clashed = True
            if _sides_overlap(source, other_target):
                assert other_target is not None
                message = f"reads what {_label(j, other)} writes ({_show(other_target)})"
                self.add((*here, source_key), message, warning=True)
            if _sides_overlap(target, other_source):
                assert other_source is not None
                message = f"writes what {_label(j, other)} reads ({_show(other_source)})"
                self.add((*here, target_key), message, warning=True)
