"""Bad manifests through the real CLI: refused by `validate` and `plan` with FILE:LINE:COL, never a
traceback; non-UTF-8 files located by line and column; huge files refused, quoted values capped."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from s3lync.cli.main import cli
from s3lync.manifest.loader import MAX_MANIFEST_BYTES

from .helpers import MOTO_ONLY

LOCATED = re.compile(r"^error: (?P<file>\S*s3lync\.yaml):(?P<line>\d+):(?P<col>\d+): ", re.M)


def _cli(manifest: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-f", str(manifest), *args])


def _clean_failure(result: Result) -> None:
    """Exit 1 with an `error:` line, and no exception escaped (click turns it into exit 1 too)."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")


def _manifest_text(endpoint: str, bucket: str, **fields: str) -> str:
    # Values are written as given (already YAML), so each case can use quoting and escapes.
    region = fields.pop("region", "us-east-1")
    mapping = {"name": "d", "s3": f"s3://{bucket}/p/", "local": "data", "direction": "upload"}
    mapping.update(fields)
    lines = ["version: 1", "defaults:", f"  endpoint_url: {endpoint}", f"  region: {region}"]
    lines += ["mappings:", "  - " + "\n    ".join(f"{k}: {v}" for k, v in mapping.items())]
    return "\n".join(lines) + "\n"


# Each crashed `plan` with a traceback before: (fields, line, col, field path, message part)
CRASHED_PLAN = [
    pytest.param(
        {"endpoint": '"http://[::1"'},
        3,
        17,
        "defaults.endpoint_url",
        "Invalid IPv6 URL",
        id="ipv6-unclosed",
    ),
    pytest.param(
        {"endpoint": "http://127.0.0.1:abc"},
        3,
        17,
        "defaults.endpoint_url",
        "the port must be a number from 1 to 65535",
        id="port-not-a-number",
    ),
    pytest.param(
        {"region": "'us east'"},
        4,
        11,
        "defaults.region",
        "must be a region name",
        id="region-space",
    ),
    pytest.param(
        {"region": '"\\ud800"'},
        4,
        14,
        "invalid YAML",
        "invalid Unicode character escape",
        id="region-lone-surrogate",
    ),
    pytest.param(
        {"local": '"up\\0load"'},
        8,
        12,
        "mappings[0].local",
        "contains a NUL character",
        id="local-nul",
    ),
]


@MOTO_ONLY
@pytest.mark.parametrize(("fields", "line", "col", "where", "message"), CRASHED_PLAN)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_manifest_that_crashed_plan_is_refused_at_its_position(
    s3_server: Any,
    bucket: str,
    tmp_path: Path,
    command: str,
    fields: dict[str, str],
    line: int,
    col: int,
    where: str,
    message: str,
) -> None:
    fields = dict(fields)
    endpoint = fields.pop("endpoint", s3_server.endpoint_url)
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(_manifest_text(endpoint, bucket, **fields), encoding="utf-8")
    (tmp_path / "data").mkdir()
    result = _cli(manifest, command)
    _clean_failure(result)
    assert result.stderr.startswith(f"error: {manifest}:{line}:{col}: {where}"), result.stderr
    assert message in result.stderr


@MOTO_ONLY
def test_region_with_a_lone_surrogate_from_the_environment_is_refused(
    s3_server: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A non-UTF-8 byte in an environment variable reaches Python as a lone surrogate.
    monkeypatch.setenv("REGION", "eu\udcff")
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(_manifest_text(s3_server.endpoint_url, bucket, region="${REGION}"))
    for command in ("validate", "plan"):
        result = _cli(manifest, command)
        _clean_failure(result)
        assert result.stderr.startswith(f"error: {manifest}:4:11: defaults.region: ")


# --- no generated manifest reaches a traceback -----------------------------------------------------

_TEXT = st.text(max_size=12)
# A non-UTF-8 byte in an environment variable arrives as a lone surrogate (U+DC80..U+DCFF): such
# strings are handed over through ${VAR}, the one way a file read as UTF-8 can hold them.
_ANY_TEXT = st.lists(
    st.characters(exclude_categories=("Cs",)) | st.sampled_from(["\udcff", "\udc80", "\udce9"]),
    max_size=12,
).map("".join)


def _endpoints(moto: str) -> st.SearchStrategy[str]:
    # Never a name that could resolve to a real host: only loopback, in every broken shape.
    port = moto.rsplit(":", 1)[1]
    shapes = [
        moto,
        moto + "/",
        "",
        "http://[::1",
        "http://127.0.0.1:abc",
        "http://127.0.0.1:",
        "http://127.0.0.1:0",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:1",
        "http://[::1]:1",
        f"http://[::1]:{port}",
        "ftp://127.0.0.1",
        "http://",
        "https://",
        "http://:80",
        f"http://user:pw@127.0.0.1:{port}",
        f"http://127.0.0.1:{port}?x=1#f",
        "http://[zz]:1",
        "http://127.0.0.1:-1",
        "http://localhost:1",
        " " + moto,
        moto + "\n",
    ]
    return st.sampled_from(shapes) | st.builds(lambda t: f"{moto}/{t}", _ANY_TEXT)


def _locals() -> st.SearchStrategy[str]:
    # Relative and under the test's folder: a plan must never scan the whole machine.
    safe = _ANY_TEXT.map(lambda t: "d/" + t.replace("..", "_").replace("~", "_").lstrip("/"))
    return safe | st.sampled_from(
        [
            "data",
            "a\x00b",
            "\udcff",
            "\ud800",
            "x" * 300,
            "d/" + "y" * 5000,
            "é",
            "d/ ",
            "~nobody0/x",
        ]
    )


_DEFAULTS_KEYS = {"region", "endpoint_url", "profile", "check_hash", "exclude", "exclude_glob"}


def _manifests(moto: str, bucket: str) -> st.SearchStrategy[dict[str, Any]]:
    anything = _ANY_TEXT | st.none() | st.integers() | st.booleans() | st.lists(_TEXT, max_size=2)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "region": st.sampled_from(["us-east-1", "us east", "\ud800", "a" * 70, "-x", ""])
        | _ANY_TEXT,
        "endpoint_url": _endpoints(moto),
        "profile": st.sampled_from(["", "nope", "\udcff"]) | _ANY_TEXT,
        "local": _locals(),
        "s3": st.sampled_from([f"s3://{bucket}/p/", f"s3://{bucket}/k", f"s3://{bucket}"])
        | _ANY_TEXT.map(lambda t: f"s3://{bucket}/{t}")
        | _ANY_TEXT.map(lambda t: "s3://" + t),
        "exclude": st.sampled_from(["*.tmp", "(", ".*", "[", "**/x"])
        | _ANY_TEXT
        | st.lists(_ANY_TEXT),
        "exclude_glob": st.sampled_from(["*.tmp", "[", "[!a]", "**"]) | _ANY_TEXT,
        "name": st.sampled_from(["d", "d d", "-d"]) | _ANY_TEXT,
        "direction": st.sampled_from(["upload", "download", "sideways"]),
        "delete": st.booleans() | st.sampled_from(["yes", "${B:-true}"]),
        "check_hash": st.booleans(),
    }
    base = {
        "name": "d",
        "s3": f"s3://{bucket}/p/",
        "local": "data",
        "direction": "download",
        "endpoint_url": moto,
    }

    def build(changes: dict[str, Any], where: dict[str, str], junk: Any) -> dict[str, Any]:
        mapping, defaults = dict(base), {"region": "us-east-1"}
        for key, value in changes.items():
            in_defaults = where.get(key) == "defaults" and key in _DEFAULTS_KEYS
            target = defaults if in_defaults else mapping
            target[key] = value
        doc: dict[str, Any] = {"version": 1, "defaults": defaults, "mappings": [mapping]}
        if junk is not None:
            mapping["extra"] = junk
        return doc

    keys = st.sampled_from(sorted(fields))
    changes = st.lists(keys, min_size=1, max_size=3, unique=True).flatmap(
        lambda ks: st.fixed_dictionaries({k: fields[k] for k in ks})
    )
    where = st.dictionaries(keys, st.sampled_from(["defaults", "mapping"]))
    junk = st.sampled_from([None, None, None, None]) | anything  # an unknown key, now and then
    return st.builds(build, changes, where, junk)


GOOD_DOC = {
    "version": 1,
    "mappings": [{"s3": "s3://b-x/p/", "local": "data", "direction": "upload"}],
}


def _through_env(value: Any, env: dict[str, str]) -> Any:
    """``value`` with every string holding a lone surrogate replaced by a ${VAR} set in ``env``."""
    if isinstance(value, dict):
        return {k: _through_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_through_env(v, env) for v in value]
    if isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value):
        name = f"S3LYNC_FUZZ_{len(env)}"
        # No environment holds a NUL, and only U+DC80..U+DCFF can be (os.fsdecode of a byte).
        env[name] = "".join(
            "0" if c == "\x00" else "\udcff" if "\ud800" <= c < "\udc80" else c for c in value
        )
        return "${" + name + "}"
    return value


@MOTO_ONLY
def test_no_generated_manifest_reaches_a_traceback(
    s3_server: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto = s3_server.endpoint_url
    # An empty endpoint_url must still land on moto, never on AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("S3LYNC_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    @settings(
        max_examples=int(os.environ.get("S3LYNC_FUZZ_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_manifests(moto, bucket))
    @example({**GOOD_DOC, "defaults": {"endpoint_url": moto + "/¡"}})  # crashed the HTTP client
    def check(doc: dict[str, Any]) -> None:
        env: dict[str, str] = {}
        doc = _through_env(doc, env)
        with tempfile.TemporaryDirectory() as folder:
            manifest = Path(folder) / "s3lync.yaml"
            manifest.write_text(json.dumps(doc, indent=1), encoding="utf-8")  # JSON is YAML
            (Path(folder) / "data").mkdir()
            for command in ("validate", "plan"):
                result = CliRunner(env=env).invoke(cli, ["-f", str(manifest), command])
                event(f"{command} exit {result.exit_code}")
                assert result.exit_code in (0, 1), (doc, result.output)
                exc = result.exception
                assert exc is None or isinstance(exc, SystemExit), (doc, repr(exc))
                assert "Traceback" not in result.output, (doc, result.output)
                if result.exit_code == 1 and command == "validate":
                    assert LOCATED.match(result.stderr), (doc, result.stderr)
                if result.exit_code == 1:
                    break  # a manifest validate refuses, plan refuses the same way

    check()


# --- not UTF-8 ---------------------------------------------------------------------------------------

GOOD = "version: 1\nmappings:\n  - s3: s3://bucket/p/\n    local: data\n    direction: download\n"


@pytest.mark.parametrize(
    ("data", "line", "col", "detail"),
    [
        pytest.param(
            "version: 1\n# café\nmappings: []\n".encode("latin-1"),
            2,
            6,
            "byte 0xe9 at offset 16",
            id="latin-1",
        ),
        pytest.param(GOOD.encode("utf-16"), 1, 1, "looks like UTF-16", id="utf-16"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, 1, "byte 0x89", id="binary"),
        pytest.param(
            "version: 1\nmappings:\n  - s3: s3://bücket/\n".encode() + b"    local: d\xffta\n",
            4,
            13,
            "byte 0xff",
            id="utf-8-then-a-bad-byte",
        ),
        pytest.param("ü: x\n".encode() + b"\xc3", 2, 1, "unexpected end of data", id="truncated"),
    ],
)
def test_non_utf8_manifest_names_line_and_column_of_the_byte(
    tmp_path: Path, data: bytes, line: int, col: int, detail: str
) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_bytes(data)
    result = _cli(manifest, "validate")
    _clean_failure(result)
    prefix = f"error: {manifest}:{line}:{col}: not UTF-8 text ("
    assert result.stderr.startswith(prefix), result.stderr
    assert detail in result.stderr and "save it as UTF-8" in result.stderr


def test_binary_manifest_that_decodes_as_utf8_names_the_control_character(tmp_path: Path) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_bytes(b"version: 1\nm\xc3\xa9: x\x00y\n")
    result = _cli(manifest, "validate")
    _clean_failure(result)
    assert result.stderr.startswith(f"error: {manifest}:2:6: invalid YAML: unacceptable character")


# --- huge input ----------------------------------------------------------------------------------------


def test_huge_file_is_refused_before_parsing_in_one_short_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    line = "2026-01-01T00:00:00Z INFO worker-7 handled request id=1234567890 status=200 in 3ms\n"
    log.write_text(line * (6_500_000 // len(line)), encoding="utf-8")
    result = _cli(log, "validate")
    _clean_failure(result)
    assert result.stderr == (
        f"error: {log}: larger than 1 MiB, the most a manifest may be; is it the right file?\n"
    )
    assert MAX_MANIFEST_BYTES == 1024 * 1024


def test_file_just_over_the_limit_is_refused_and_at_the_limit_is_parsed(tmp_path: Path) -> None:
    manifest = tmp_path / "s3lync.yaml"
    padding = "#" * (MAX_MANIFEST_BYTES - len(GOOD) - 1) + "\n"
    manifest.write_text(GOOD + padding)
    assert manifest.stat().st_size == MAX_MANIFEST_BYTES
    assert _cli(manifest, "validate").exit_code == 0
    manifest.write_text(GOOD + padding + "\n")
    assert "larger than 1 MiB" in _cli(manifest, "validate").stderr


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 900_000 + "\n", id="one-long-line"),
        pytest.param(GOOD + f"    exclude: '({'a' * 500_000}'\n", id="long-bad-regex"),
        pytest.param(
            GOOD.replace("direction: download", f"direction: {'u' * 500_000}"), id="long-enum-value"
        ),
        pytest.param(
            GOOD.replace("local: data", f"local: data\n    ? {'k' * 500_000}\n    : 1"),
            id="long-key",
        ),
        pytest.param(GOOD + "    region: ${" + "V" * 500_000 + "}\n", id="long-variable-name"),
    ],
)
def test_quoted_values_in_messages_are_capped(tmp_path: Path, text: str) -> None:
    manifest = tmp_path / "s3lync.yaml"
    manifest.write_text(text, encoding="utf-8")
    result = _cli(manifest, "validate")
    _clean_failure(result)
    assert len(result.stderr) < 1000, result.stderr[:2000]
    assert "…" in result.stderr


def test_thousands_of_errors_are_summed_up(tmp_path: Path) -> None:
    manifest = tmp_path / "s3lync.yaml"
    # 3000 x (an unknown key + 3 missing ones) = 12000 errors
    mappings = "".join(f"  - bogus{i}: 1\n" for i in range(3000))
    manifest.write_text("version: 1\nmappings:\n" + mappings)
    result = _cli(manifest, "validate")
    _clean_failure(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 51
    assert lines[-1] == f"error: {manifest}: ... and 11950 more error(s)"
