"""The semantic checks: URLs, regions and paths that would crash a plan, globs, and warnings about
one mapping reading what another writes."""

from __future__ import annotations

import fnmatch
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from s3lync.errors import ManifestError
from s3lync.filters import glob_to_regex
from s3lync.manifest import yamlparse
from s3lync.manifest.loader import Manifest, validate_document
from s3lync.manifest.semantics import endpoint_problem

BASE = Path("/work/project")


def load(text: str, env: dict[str, str] | None = None) -> Manifest:
    return validate_document(textwrap.dedent(text), "s3lync.yaml", BASE, env or {})


def one_error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ManifestError) as info:
        load(text, env)
    assert len(info.value.errors) == 1, info.value.errors
    return info.value.errors[0]


def mapping(**fields: str) -> str:
    """A one-mapping manifest; ``fields`` (YAML text) replace or extend the mapping's keys."""
    keys = {"s3": "s3://bucket/p/", "local": "data", "direction": "download", **fields}
    body = "\n".join(f"    {k}: {v}" for k, v in keys.items())
    return f"version: 1\nmappings:\n  - name: m\n{body}\n"


# --- what used to validate and then crash plan ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:abc", "the port must be a number from 1 to 65535"),
        ("http://127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("http://127.0.0.1:65536", "the port must be a number from 1 to 65535"),
        ("http://:9000", "no host name"),
        ("http://exa mple.com", "spaces and control characters are not allowed"),
        ("http://127.0.0.1:9000\n", "spaces and control characters are not allowed"),
        ("http://example.com/é", "only ASCII characters"),
        ("http://[zz]:9000", "does not appear to be an IPv4 or IPv6 address"),
        ("http://under_score:9000", "is not a host name"),
        ("http://-x.example.com", "is not a host name"),
        ("http://" + "a." * 130 + "com", "is not a host name"),
        ("ftp://127.0.0.1", "must start with http:// or https://"),
    ],
)
def test_endpoint_url_is_parsed_and_its_port_checked(url: str, why: str) -> None:
    problem = endpoint_problem(url)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000",
        "https://s3.eu-west-1.amazonaws.com",
        "http://[::1]:9000",
        "http://[fe80::1%25eth0]:9000",
        "http://minio:9000/base/path",
        "http://user:secret@127.0.0.1:9000",
        "HTTPS://EXAMPLE.COM.",
    ],
)
def test_good_endpoint_urls_pass(url: str) -> None:
    assert endpoint_problem(url) is None


def test_bad_endpoint_points_at_its_value() -> None:
    text = mapping(endpoint_url="'http://127.0.0.1:abc'")
    assert one_error(text).startswith("s3lync.yaml:7:19: mappings[0].endpoint_url: not a valid URL")


def test_endpoint_the_schema_refuses_is_reported_once() -> None:
    error = one_error(mapping(endpoint_url="'http://'"))
    assert error == (
        "s3lync.yaml:7:19: mappings[0].endpoint_url: must be an http:// or https:// URL such as "
        "http://127.0.0.1:9000 (to a bare host:port, add http:// or https:// in front) "
        "(not 'http://')"
    )


@pytest.mark.parametrize("region", ["'us east'", "'-us'", "'us-'", "'" + "a" * 64 + "'", '"eu\\n"'])
def test_region_must_be_a_region_name(region: str) -> None:
    error = one_error(mapping(region=region))
    assert error.startswith("s3lync.yaml:7:13: mappings[0].region: must be a region name")


@pytest.mark.parametrize("region", ["us-east-1", "auto", "garage", "cn-north-1", "us-gov-west-1"])
def test_real_region_names_pass(region: str) -> None:
    assert load(mapping(region=region)).mappings[0].region == region


def test_region_from_the_environment_is_checked_too() -> None:
    error = one_error(mapping(region="${REGION}"), {"REGION": "eu\udcff"})
    assert error == (
        "s3lync.yaml:7:13: mappings[0].region: must be a region name: letters, digits and '-', "
        "such as 'eu-west-1' (not 'eu\\udcff')"
    )


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_local_path_with_a_nul_byte_is_refused(direction: str) -> None:
    error = one_error(mapping(local='"up\\0load"', direction=direction))
    assert error == (
        "s3lync.yaml:5:12: mappings[0].local: not a usable path: 'up\\x00load' contains a NUL "
        "character"
    )


def test_without_libyaml_lone_surrogates_from_escapes_are_refused_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pure-Python reader turns "\ud800" into a lone surrogate where libyaml refuses it.
    monkeypatch.setattr(yamlparse, "LOADER", yaml.SafeLoader)
    region = one_error(mapping(region='"\\ud800"'))
    assert region.startswith("s3lync.yaml:7:13: mappings[0].region: must be a region name")
    local = one_error(mapping(local='"d\\ud800"'))
    assert local.startswith("s3lync.yaml:5:12: mappings[0].local: not a usable path: ")
    assert "cannot be encoded as a file name" in local
    endpoint = one_error(mapping(endpoint_url='"http://h\\ud800:1"'))
    assert "spaces and control characters are not allowed" in endpoint


def test_with_libyaml_a_lone_surrogate_escape_is_a_yaml_error() -> None:
    error = one_error(mapping(region='"\\ud800"'))
    # At the escape itself.
    assert error.startswith("s3lync.yaml:7:16: invalid YAML: found invalid Unicode character")


# --- globs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "regex"),
    [
        ("*.tmp", ".*\\.tmp$"),
        ("**/*.bak", ".*\\.bak$"),
        ("build/*", "^build/"),
        ("a?c", "^a.c$"),
        ("[!ab]x", "^[^ab]x$"),
        ("a[b", "^a\\[b$"),
        ("x+y.(1)", "^x\\+y\\.\\(1\\)$"),
    ],
)
def test_glob_to_regex_is_readable(glob: str, regex: str) -> None:
    assert glob_to_regex(glob) == regex


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="ab/.*?[]!^-\\", max_size=8).filter(lambda g: not g.startswith("**/")),
    st.text(alphabet="ab/.^-]\\", max_size=8),
)
def test_glob_to_regex_matches_what_fnmatch_matches(glob: str, path: str) -> None:
    # fnmatch is what `aws s3 sync --exclude` uses, on the whole relative path.
    assert (re.search(glob_to_regex(glob), path) is not None) == fnmatch.fnmatchcase(path, glob)


def test_invalid_regex_that_looks_like_a_glob_gets_the_regex_hint() -> None:
    error = one_error(mapping(exclude="'*.tmp'"))
    assert error == (
        "s3lync.yaml:7:14: mappings[0].exclude: invalid regular expression '*.tmp': nothing to "
        "repeat at position 0; did you mean the regex '.*\\.tmp$'? (`exclude` is a regex; "
        "`exclude_glob: '*.tmp'` takes the glob as it is)"
    )


def test_invalid_regex_that_is_no_glob_gets_no_hint() -> None:
    error = one_error(mapping(exclude="'(a'"))
    assert "missing )" in error and "did you mean" not in error


def test_exclude_glob_becomes_regexes_after_exclude() -> None:
    manifest = load(
        """\
        version: 1
        defaults:
          exclude_glob: '*.log'
        mappings:
          - s3: s3://bucket/p/
            local: data
            direction: download
            exclude: '^x/'
            exclude_glob: ['*.tmp', 'build/*']
        """
    )
    assert manifest.mappings[0].exclude == (".*\\.log$", "^x/", ".*\\.tmp$", "^build/")


# --- names ------------------------------------------------------------------------------------------


def test_unknown_mapping_name_suggests_a_close_one() -> None:
    manifest = load(
        """\
        version: 1
        mappings:
          - {name: datasets, s3: 's3://bucket/a/', local: a, direction: download}
          - {name: reports, s3: 's3://bucket/b/', local: b, direction: upload}
        """
    )
    with pytest.raises(ManifestError) as info:
        manifest.select(["datset"])
    assert str(info.value).endswith(
        "unknown mapping 'datset' (did you mean 'datasets'? known: datasets, reports)"
    )
    with pytest.raises(ManifestError, match=r"unknown mapping 'zzz' \(known: datasets, reports\)"):
        manifest.select(["zzz"])


# --- warnings: one mapping reading what another writes ----------------------------------------------

CHAIN = """\
    version: 1
    mappings:
      - name: publish
        s3: s3://bucket/site/
        local: build
        direction: upload
      - name: mirror
        s3: s3://bucket/site/v2/
        local: mirror
        direction: download
      - name: stage
        s3: s3://other/in/
        local: mirror/sub
        direction: upload
"""


def test_a_mapping_reading_another_ones_target_is_a_warning() -> None:
    manifest = load(CHAIN)
    assert manifest.warnings == (
        "s3lync.yaml:8:9: mappings[1].s3: reads what mappings[0] ('publish') writes "
        "(s3://bucket/site/)",
        "s3lync.yaml:13:12: mappings[2].local: reads what mappings[1] ('mirror') writes "
        f"({BASE / 'mirror'})",
    )


def test_reversed_order_warns_at_the_later_mapping_too() -> None:
    manifest = load(
        """\
        version: 1
        mappings:
          - {name: get, s3: 's3://bucket/in/', local: data, direction: download}
          - {name: put, s3: 's3://bucket/in/sub/', local: src, direction: upload}
        """
    )
    assert manifest.warnings == (
        "s3lync.yaml:4:21: mappings[1].s3: writes what mappings[0] ('get') reads (s3://bucket/in/)",
    )


def test_other_endpoint_or_bucket_is_no_warning() -> None:
    manifest = load(
        """\
        version: 1
        mappings:
          - {s3: 's3://bucket/in/', local: a, direction: upload, endpoint_url: 'http://h1:9000'}
          - {s3: 's3://bucket/in/', local: b, direction: download, endpoint_url: 'http://h2:9000'}
          - {s3: 's3://other/in/', local: c, direction: download}
        """
    )
    assert manifest.warnings == ()


# --- bucket names by S3's rules; endpoints without a scheme ------------------------------------


@pytest.mark.parametrize(
    ("bucket", "why"),
    [
        ("Bucket_1", "only lower-case letters, digits, '-' and '.'"),
        ("my-bucket-", "must be 3-63 characters"),
        ("a" * 64, "invalid S3 URI"),
        ("my..bucket", ""),
        ("192.168.1.10", "may not look like an IP address"),
        ("xn--bucket", "S3 reserves that prefix or suffix"),
        ("data-s3alias", "S3 reserves that prefix or suffix"),
    ],
)
def test_bucket_names_follow_s3s_rules(bucket: str, why: str) -> None:
    error = one_error(mapping(s3=f"'s3://{bucket}/p/'"))
    assert error.startswith("s3lync.yaml:4:9: mappings[0].s3: "), error
    assert f"bucket name {bucket[:12]}" in error.replace("'", "") and why in error, error


def test_a_legacy_bucket_name_is_accepted_only_when_the_mapping_says_so() -> None:
    error = one_error(mapping(s3="'s3://Legacy_Bucket/p/'"))
    assert "`legacy_bucket_name: true` accepts it" in error
    manifest = load(mapping(s3="'s3://Legacy_Bucket/p/'", legacy_bucket_name="true"))
    assert manifest.mappings[0].s3_uri == "s3://Legacy_Bucket/p/"
    # Even the legacy rules have limits.
    error = one_error(mapping(s3="'s3://a%b/p/'", legacy_bucket_name="true"))
    assert "not a bucket name even by S3's legacy rules" in error or "invalid S3 URI" in error


def test_an_endpoint_without_a_scheme_says_what_to_add() -> None:
    assert endpoint_problem("localhost:9000") == (
        "not a valid URL 'localhost:9000': add http:// or https:// in front "
        "(e.g. 'http://localhost:9000')"
    )
    error = one_error(mapping(endpoint_url="localhost:9000"))
    assert "mappings[0].endpoint_url: " in error
    assert "(to a bare host:port, add http:// or https:// in front)" in error
