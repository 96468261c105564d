"""The parse cache (manifest/parsecache.py): a manifest text parsed before is read back from the
state folder without PyYAML and gives exactly what parse() gave; everything after the parse
(``${VAR}`` from the environment, the checks, FILE:LINE:COL messages) is as without it; any trouble
with an entry is a miss, never a failed run."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3lync.errors import ManifestError
from s3lync.manifest import parsecache, yamlparse
from s3lync.manifest.loader import STARTER_MANIFEST, load_manifest
from s3lync.manifest.parsecache import ParseCache, parse_cached
from s3lync.manifest.yamldoc import Fatal
from s3lync.settings import state_dir_in

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
defaults:
  region: eu-west-1
mappings:
  - name: data
    s3: s3://bucket/data/
    local: ./data
    direction: download
"""


def _env(**extra: str) -> dict[str, str]:
    # XDG_CACHE_HOME is the test's own (tests/conftest.py), so is the state folder.
    return {**os.environ, **extra}


def _entries() -> list[Path]:
    folder = state_dir_in(os.environ) / "parsed-manifests"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts PyYAML was asked to parse (a cache hit asks nothing)."""
    calls: list[str] = []
    real = yamlparse.parse

    def counted(text: str, loader: Any = None) -> Any:
        calls.append(text)
        return real(text, loader)

    monkeypatch.setattr(yamlparse, "parse", counted)
    return calls


def _error(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path, environ=environ)
    return list(info.value.errors)


# --- a hit needs no PyYAML --------------------------------------------------------------------------


def _run(code: str, cache: Path, cwd: Path | None = None) -> Any:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=cwd
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stderr.strip().splitlines()[-1])


def test_a_second_load_of_the_same_text_imports_no_pyyaml(tmp_path: Path) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    code = (
        "import sys, json\n"
        "from s3lync.manifest.loader import load_manifest\n"
        f"m = load_manifest({str(path)!r})\n"
        "print(json.dumps(['yaml' in sys.modules, repr(m.mappings)]), file=sys.stderr)\n"
    )
    cold, warm = (_run(code, tmp_path / "cache") for _ in range(2))
    assert cold[0] is True
    assert warm == [False, cold[1]]


def test_the_cli_validates_an_unchanged_manifest_without_pyyaml(tmp_path: Path) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    # --endpoint-url is checked by the manifest's own rule (checked_endpoint) before any load.
    argv = ["-f", str(path), "--endpoint-url", "http://127.0.0.1:9000", "validate"]
    code = (
        "import sys, json\n"
        f"sys.argv = ['s3lync', *{argv!r}]\n"
        "from s3lync.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print(json.dumps([code, 'yaml' in sys.modules]), file=sys.stderr)\n"
    )
    runs = [_run(code, tmp_path / "cache", cwd=tmp_path) for _ in range(2)]
    assert runs == [[0, True], [0, False]]


def test_the_checks_and_the_endpoint_option_import_no_pyyaml() -> None:
    code = (
        "import sys, json\n"
        "import s3lync.manifest.loader, s3lync.manifest.semantics, s3lync.manifest.checks\n"
        "from s3lync.cli.options import checked_endpoint\n"
        "checked_endpoint('http://[::1]:9000')\n"
        "print(json.dumps('yaml' in sys.modules), file=sys.stderr)\n"
    )
    assert _run(code, Path(tempfile.gettempdir()) / "unused") is False


# --- what comes after the parse is as before --------------------------------------------------------


def test_one_changed_character_is_another_text(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    assert load_manifest(path).mappings[0].region == "eu-west-1"
    assert load_manifest(path).mappings[0].region == "eu-west-1"
    assert len(parses) == 1
    path.write_text(VALID.replace("eu-west-1", "eu-west-2"))
    assert load_manifest(path).mappings[0].region == "eu-west-2"
    assert len(parses) == 2
    assert len(_entries()) == 2


BROKEN = {
    "bad region": VALID.replace("eu-west-1", "'eu west 1'"),
    "bad bucket": VALID.replace("s3://bucket/", "s3://Bucket_1/"),
    "same target twice": VALID
    + "  - s3: s3://bucket/other/\n    local: data/sub\n    direction: download\n",
    "unknown key": VALID.replace("    direction:", "    directoin: x\n    direction:"),
    "wrong direction": VALID.replace("direction: download", "direction: sideways"),
    "wrong type": VALID.replace("local: ./data", "local: [a, b]"),
    "missing variable": VALID.replace("./data", "${S3LYNC_TEST_UNSET_DIR}"),
    "bad regex": VALID + "    exclude: '*.tmp'\n",
    "bad endpoint": VALID.replace("  region:", "  endpoint_url: localhost:9000\n  region:"),
}


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_errors_after_a_hit_are_the_same_at_the_same_line_and_column(
    tmp_path: Path, parses: list[str], text: str
) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(text)
    parsed = _error(path)
    cached = _error(path)
    assert len(parses) == 1  # the second load was a hit
    assert cached == parsed
    assert all(re.match(rf"{re.escape(str(path))}:\d+:\d+: ", e) for e in cached), cached


def test_a_semantic_error_on_a_hit_names_its_line_and_column(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(BROKEN["bad region"])
    for _ in range(2):
        assert _error(path) == [
            f"{path}:3:11: defaults.region: must be a region name: letters, digits and '-', "
            "such as 'eu-west-1' (not 'eu west 1')"
        ]
    assert len(parses) == 1


def test_a_text_with_yaml_problems_is_not_kept(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID + "version: 1\n")
    for _ in range(2):
        assert _error(path) == [f"{path}:9:1: version: duplicate key 'version' (first on line 1)"]
    assert len(parses) == 2
    assert _entries() == []


def test_the_same_text_elsewhere_resolves_against_its_own_folder(
    tmp_path: Path, parses: list[str]
) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "s3lync.yaml").write_text(VALID)
        manifest = load_manifest(tmp_path / name / "s3lync.yaml")
        assert manifest.mappings[0].local == str(tmp_path / name / "data")
    assert len(parses) == 1


def test_variables_are_filled_from_the_environment_of_each_load(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID.replace("./data", "${DATA_DIR}").replace("eu-west-1", "${R:-us-east-1}"))
    first = load_manifest(path, environ=_env(DATA_DIR="a")).mappings[0]
    assert (first.local, first.region) == (str(tmp_path / "a"), "us-east-1")
    second = load_manifest(path, environ=_env(DATA_DIR="b", R="eu-west-3")).mappings[0]
    assert (second.local, second.region) == (str(tmp_path / "b"), "eu-west-3")
    assert _error(path, _env()) == [
        f"{path}:7:12: mappings[0].local: environment variable DATA_DIR is not set"
    ]
    assert len(parses) == 1


# --- an entry is only ever a cache ------------------------------------------------------------------

CORRUPT = {
    "garbage bytes": b"\x00\xff\xfe garbage",
    "empty": b"",
    "half an entry": b'{"data":{"version":1,"mapp',
    "a list": b"[]",
    "no positions": b'{"data": {"version": 1}}',
    "an extra key": b'{"data": {}, "positions": [[[], 1, 1, 1, 1]], "more": 1}',
    "data not a mapping": b'{"data": [1], "positions": [[[], 1, 1, 1, 1], [[0], 1, 2, 1, 2]]}',
    "positions missing a value": b'{"data": {"version": 1}, "positions": [[[], 1, 1, 1, 1]]}',
    "a position for nothing": (
        b'{"data": {}, "positions": [[[], 1, 1, 1, 1], [["version"], 1, 1, 1, 10]]}'
    ),
    "a boolean line": b'{"data": {}, "positions": [[[], 1, 1, true, 1]]}',
    "a float path part": (
        b'{"data": {"a": [1]}, "positions": [[[], 1, 1, 1, 1], [["a"], 1, 1, 1, 4],'
        b' [["a", 0.0], 1, 4, 1, 4]]}'
    ),
    "a short row": b'{"data": {}, "positions": [[[], 1, 1, 1]]}',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("body", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_entry_is_parsed_again_and_replaced(
    tmp_path: Path, parses: list[str], body: bytes
) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    expected = load_manifest(path)
    [entry] = _entries()
    good = entry.read_bytes()
    entry.write_bytes(body)
    assert load_manifest(path) == expected
    assert len(parses) == 2
    assert entry.read_bytes() == good
    assert load_manifest(path) == expected
    assert len(parses) == 2


def test_a_state_folder_that_cannot_be_written_fails_no_load(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    folder = state_dir_in(os.environ) / "parsed-manifests"
    folder.parent.mkdir(parents=True)
    folder.write_text("a file where the folder should be")
    expected = load_manifest(path)
    assert load_manifest(path) == expected
    assert len(parses) == 2


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC], ids=errno.errorcode.get)
def test_an_entry_that_cannot_be_written_fails_no_load(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # As a read-only or full file system answers (root ignores permission bits, so faked here).
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    expected = load_manifest(path)
    assert load_manifest(path) == expected
    assert len(parses) == 2
    assert _entries() == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anyway")
def test_a_read_only_state_folder_is_still_read(tmp_path: Path, parses: list[str]) -> None:
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    expected = load_manifest(path)
    folder = state_dir_in(os.environ) / "parsed-manifests"
    folder.chmod(0o500)
    try:
        path.write_text(VALID.replace("eu-west-1", "eu-west-2"))
        assert load_manifest(path).mappings[0].region == "eu-west-2"  # not kept, not an error
        path.write_text(VALID)
        assert load_manifest(path) == expected
        assert len(parses) == 2
    finally:
        folder.chmod(0o700)


def test_a_write_that_fails_halfway_leaves_no_entry_and_no_temporary(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replaced: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: Any) -> None:
        replaced.append((os.path.dirname(src), str(dst)))
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(parsecache.os, "replace", failing_replace)
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    load_manifest(path)
    folder = state_dir_in(os.environ) / "parsed-manifests"
    # Written beside the entry under another name, then renamed over it: never half an entry.
    assert replaced == [(str(folder), str(folder / ParseCache.key(VALID)))]
    assert list(folder.iterdir()) == []


def test_only_the_newest_entries_are_kept(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ParseCache, "KEEP", 3)
    path = tmp_path / "s3lync.yaml"
    texts = [VALID.replace("eu-west-1", f"eu-west-{i}") for i in range(1, 6)]
    for text in texts:
        path.write_text(text)
        load_manifest(path)
    assert len(_entries()) == 3
    assert (_entries()[0].parent / ParseCache.key(texts[-1])).is_file()
    assert not [p for p in _entries() if p.name.endswith(".tmp")]
    load_manifest(path)
    assert len(parses) == 5


def test_concurrent_loads_all_succeed(tmp_path: Path) -> None:
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"{i}.yaml")
        paths[-1].write_text(VALID.replace("eu-west-1", f"eu-west-{i + 1}"))
    failures: list[BaseException] = []

    def work(path: Path, region: str) -> None:
        try:
            for _ in range(20):
                assert load_manifest(path).mappings[0].region == region
        except BaseException as exc:  # reported below, from the test's own thread
            failures.append(exc)

    threads = [
        threading.Thread(target=work, args=(paths[i % 2], f"eu-west-{i % 2 + 1}")) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(_entries()) == 2


# --- the cached parse is the parse -----------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1, 1.0 and True differ; NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


ANCHORS = """\
base: &base {region: eu-west-1, check_hash: yes, exclude: [a, 'b']}
more: &more
  delete: off
  max_delete: 10%
mappings:
  - <<: *base
    name: one
  - <<: [*base, *more]
    region: us-east-2
    list: &l [1, 2]
    again: *l
    nested: {<<: *more, deep: *base}
"""
SCALARS = """\
floats: [1.5, -0.0, 0.0, 1e3, 6.02e+23, .inf, -.inf, .nan, 1:30.5, 0.1, 1.0]
ints: [0, -7, 0x1F, 0o17, 0b101, 1_000, 190:20:30, 123456789012345678901234567890, -0]
bools: [yes, no, on, off, true, False, TRUE, y, n]
nulls: [~, null, Null]
nothing:
strings: ['single ''quoted''', "double \\"quoted\\" \\t \\u00e9 \\U0001F600", plain text, '123']
more strings: ["yes", '1.5', '', "", 'null', "#not a comment", 'a: b']
unicode: {clé: Grüße, 日本: 😀, "a b": "x\\u2028y", "\\u00e9": café}
empty: {list: [], map: {}, str: ""}
stamps: [2024-01-01, 2024-01-01T10:00:00Z, 2001-12-14 21:59:43.10 -5]
empty tag: !
tagged: !!str 12
block: |
  line one
   line two
folded: >-
  folded
  text
deep: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
"""
SPECIAL = {
    "crlf and bom": "\ufeffversion: 1\r\nmappings:\r\n  - s3: s3://b/p/\r\n    local: d\r\n",
    "flow root": "{version: 1, mappings: [{s3: 's3://b/p/', local: d, direction: upload}]}",
    "empty root": "{}",
    "unicode line breaks": 'a: 1\u2028b: 2\x85c: [x,\u2029 y]\r\nd: "\u2028"\n',
    "anchors": ANCHORS,
    "scalars": SCALARS,
    "starter": STARTER_MANIFEST,
}
README = {f"README {i}": b for i, b in enumerate(_yaml_blocks((ROOT / "README.md").read_text()))}
EXAMPLES = {
    p.name: p.read_text()
    for p in sorted((ROOT / "examples").rglob("*.yaml"))
    if re.search(r"^version: 1$", p.read_text(), re.M)  # not the CI and cluster files beside them
}
DIFFERENTIAL = {**SPECIAL, **README, **EXAMPLES}


def _check_differential(text: str, env: dict[str, str]) -> None:
    data, doc = yamlparse.parse(text)
    assert not doc.problems
    cache = ParseCache(state_dir_in(env))
    assert cache.get(cache.key(text)) is None
    first = parse_cached(text, env)
    found = cache.get(cache.key(text))
    assert found is not None, "not kept"
    for got, got_doc in (first, found):
        assert _same(got, data), (got, data)
        assert got_doc.positions == doc.positions
        assert (got_doc.problems, got_doc.bad) == ([], set())
    assert _same(parse_cached(text, env)[0], data)


@pytest.mark.parametrize("text", DIFFERENTIAL.values(), ids=DIFFERENTIAL.keys())
def test_the_cached_parse_gives_what_parse_gives(text: str) -> None:
    _check_differential(text, _env())


def test_the_differential_covers_the_readme_and_the_examples() -> None:
    assert len(README) >= 3
    assert len(EXAMPLES) >= 3


_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats()
    | st.text(max_size=12)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.text(max_size=6),
        st.recursive(
            _SCALAR,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
            max_leaves=12,
        ),
    ),
    st.sampled_from([True, False]),
)
def test_the_cached_parse_gives_what_parse_gives_for_dumped_data(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any], flow: bool
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    try:
        _, doc = yamlparse.parse(text)
    except Fatal:
        return  # control characters and the like: refused before anything is kept
    if doc.problems:
        return
    cache = tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())  # each example its own
    _check_differential(text, {"XDG_CACHE_HOME": cache})


KEPT_NOT: dict[str, Callable[[], str]] = {
    "bytes from !!binary": lambda: "a: !!binary aGk=\n",
    "an int too long for text": lambda: "a: 0x" + "f" * 4000 + "\n",
}


@pytest.mark.parametrize("make", KEPT_NOT.values(), ids=KEPT_NOT.keys())
def test_what_json_cannot_give_back_exactly_is_not_kept(make: Callable[[], str]) -> None:
    text = make()
    data, doc = yamlparse.parse(text)
    assert not doc.problems
    got, _ = parse_cached(text, _env())
    assert got == data
    assert _entries() == []


# The parser's source under each FORMAT. Entries are keyed by FORMAT (and the version, which
# stays 1.0.0.dev0 between releases): a parser that gives other data or positions for a text
# under the same FORMAT would have old entries read back as its own.
_PARSER_SOURCE_BY_FORMAT = {
    1: "a4fd6ce47ed95e078cfcec4171ae151a91d4a5084fa8b8286bc567890ae77f6f",
}


def test_the_parser_source_is_pinned_to_the_cache_format() -> None:
    import hashlib

    here = Path(parsecache.__file__)
    source = b"".join(here.with_name(n).read_bytes() for n in ("yamlparse.py", "yamldoc.py"))
    assert hashlib.sha256(source).hexdigest() == _PARSER_SOURCE_BY_FORMAT.get(parsecache.FORMAT), (
        "manifest/yamlparse.py or yamldoc.py changed: if any text may now parse to other data "
        "or positions, bump parsecache.FORMAT; then pin the new sha256 of the two files here"
    )


def test_another_pyyaml_parses_again(
    tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text parsed by one PyYAML is not served to another (an upgrade may parse it otherwise):
    the installed PyYAML's package file is part of the key, read without importing it."""
    stand_in = tmp_path / "yaml" / "__init__.py"
    stand_in.parent.mkdir()
    stand_in.write_text("__version__ = '6.0.1'\n")
    monkeypatch.setattr(parsecache, "_pyyaml_file", lambda: str(stand_in))
    parsecache.pyyaml_identity.cache_clear()
    path = tmp_path / "s3lync.yaml"
    path.write_text(VALID)
    try:
        load_manifest(path)
        load_manifest(path)
        assert len(parses) == 1
        stand_in.write_text("__version__ = '6.0.2'\n")  # the same size: another version
        parsecache.pyyaml_identity.cache_clear()  # the next process
        assert load_manifest(path).mappings[0].region == "eu-west-1"
        assert len(parses) == 2
        load_manifest(path)
        assert len(parses) == 2  # and kept for that PyYAML
        (stand_in.parent / "_yaml.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
        parsecache.pyyaml_identity.cache_clear()  # reinstalled with libyaml
        load_manifest(path)
        assert len(parses) == 3
    finally:
        parsecache.pyyaml_identity.cache_clear()


def test_the_pyyaml_identity_is_the_installed_package_read_without_importing_it() -> None:
    code = (
        "import sys; from s3lync.manifest import parsecache\n"
        "ident = parsecache.pyyaml_identity()\n"
        "print(ident, 'yaml' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    digest = hashlib.sha256(Path(yaml.__file__).read_bytes()).hexdigest()[:16]
    assert out.stdout.startswith(f"PyYAML {digest}")
    assert out.stdout.strip().endswith("False")  # told without importing it
