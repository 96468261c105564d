"""The manifest loader: Mappings out of valid files, exact file:line:col errors out of broken ones."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from s3lync.errors import ManifestError
from s3lync.manifest.loader import (
    STARTER_MANIFEST,
    Manifest,
    load_manifest,
    load_schema,
    validate_document,
)
from s3lync.mapping import Direction, Mapping

BASE = Path("/work/project")


def load(text: str, env: dict[str, str] | None = None) -> Manifest:
    """Validate dedented manifest text as if read from /work/project/s3lync.yaml."""
    return validate_document(textwrap.dedent(text), "s3lync.yaml", BASE, env or {})


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    """The error lines a broken manifest produces."""
    with pytest.raises(ManifestError) as info:
        load(text, env)
    return info.value.errors


GOOD = """\
    version: 1
    defaults:
      region: eu-west-1
      endpoint_url: http://127.0.0.1:9000
      profile: dev
      check_hash: false
      exclude: '.*\\.tmp$'
    mappings:
      - name: datasets
        s3: s3://my-bucket/datasets/v3/
        local: data/v3
        direction: download
        exclude: ['^scratch/', '.*\\.bak$']
        delete: true
      - name: reports
        s3: s3://my-bucket/reports/
        local: /abs/reports/../out
        direction: upload
        force_sync: true
        check_hash: true
        region: us-east-1
        profile: ''
"""


def test_valid_manifest_loads_into_mappings() -> None:
    manifest = load(GOOD)
    assert manifest.path == BASE / "s3lync.yaml"
    assert manifest.version == 1
    datasets, reports = manifest.mappings
    assert datasets == Mapping(
        s3_uri="s3://my-bucket/datasets/v3/",
        local=str(BASE / "data" / "v3"),
        direction=Direction.DOWNLOAD,
        name="datasets",
        exclude=(".*\\.tmp$", "^scratch/", ".*\\.bak$"),
        force_sync=False,
        delete=True,
        check_hash=False,
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9000",
        profile="dev",
    )
    # Own settings win; an empty string means "not set here", so the default still applies.
    assert reports.local == "/abs/out"
    assert reports.direction is Direction.UPLOAD
    assert (reports.force_sync, reports.check_hash) == (True, True)
    assert (reports.region, reports.profile) == ("us-east-1", "dev")
    assert reports.exclude == (".*\\.tmp$",)


def test_minimal_mapping_gets_builtin_defaults() -> None:
    (m,) = load(
        """\
        version: 1
        mappings:
          - s3: s3://bucket/key.txt
            local: ~/key.txt
            direction: upload
        """
    ).mappings
    assert m.local == os.path.expanduser("~/key.txt")
    assert (m.name, m.exclude, m.force_sync, m.delete, m.check_hash) == (
        None,
        (),
        False,
        False,
        True,
    )
    assert (m.region, m.endpoint_url, m.profile) == (None, None, None)


def test_load_manifest_reads_file_and_resolves_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s3lync.yaml").write_text(textwrap.dedent(GOOD), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    manifest = load_manifest("sub/s3lync.yaml", environ={})
    assert manifest.path == tmp_path / "sub" / "s3lync.yaml"
    assert manifest.mappings[0].local == str(tmp_path / "sub" / "data" / "v3")


def test_yaml_anchors_and_merge_keys_work() -> None:
    manifest = load(
        """\
        version: 1
        mappings:
          - &base
            name: a
            s3: s3://bucket/a/
            local: a
            direction: download
            delete: true
          - <<: *base
            name: b
            s3: s3://bucket/b/
            local: b
        """
    )
    assert [(m.name, m.delete, m.local) for m in manifest.mappings] == [
        ("a", True, str(BASE / "a")),
        ("b", True, str(BASE / "b")),
    ]


def test_timestamp_like_value_stays_text() -> None:
    (m,) = load(
        """\
        version: 1
        mappings:
          - {s3: s3://bucket/x/, local: 2024-01-01, direction: download}
        """
    ).mappings
    assert m.local == str(BASE / "2024-01-01")


# --- one problem each, with its exact location -------------------------------------------------------


def one_error(text: str, env: dict[str, str] | None = None) -> str:
    (error,) = errors_of(text, env)
    return error


def test_unknown_key_points_at_that_key() -> None:
    error = one_error(
        """\
        version: 1
        mappings:
          - name: a
            s3: s3://bucket/a/
            local: a
            direction: download
            colour: red
        """
    )
    assert error.startswith("s3lync.yaml:7:5: mappings[0].colour: unknown key 'colour' (allowed: ")


def test_unknown_key_suggests_a_close_one() -> None:
    missing, unknown = errors_of("version: 1\nmapings: []\n")
    assert missing == "s3lync.yaml:1:1: <root>: missing required key 'mappings'"
    assert unknown.startswith(
        "s3lync.yaml:2:1: mapings: unknown key 'mapings' (did you mean 'mappings'?"
    )


def test_wrong_enum_value_points_at_the_value() -> None:
    error = one_error(
        """\
        version: 1
        mappings:
          - s3: s3://bucket/a/
            local: a
            direction: downlaod
        """
    )
    assert error.startswith(
        "s3lync.yaml:5:16: mappings[0].direction: must be one of: download, upload"
    )
    assert "did you mean 'download'?" in error


def test_wrong_type_points_at_the_value() -> None:
    error = one_error(
        """\
        version: 1
        mappings:
          - s3: s3://bucket/a/
            local: a
            direction: upload
            delete: sometimes
        """
    )
    assert error == "s3lync.yaml:6:13: mappings[0].delete: must be true or false, not 'sometimes'"


def test_missing_required_key_points_at_the_mapping_that_lacks_it() -> None:
    error = one_error(
        """\
        version: 1
        mappings:
          - name: a
            local: a
            direction: upload
        """
    )
    assert error == "s3lync.yaml:3:5: mappings[0]: missing required key 's3'"


def test_missing_version() -> None:
    error = one_error("mappings:\n  - {s3: 's3://bucket/a/', local: a, direction: upload}\n")
    assert error == "s3lync.yaml:1:1: <root>: missing required key 'version' (add `version: 1`)"


def test_unsupported_version_is_reported_alone() -> None:
    with pytest.raises(ManifestError) as info:
        load("version: 2\nsomething_new: {}\n")
    assert info.value.errors == [
        "s3lync.yaml:1:10: version: unsupported version 2; this s3lync reads version 1"
    ]
    assert str(info.value) == info.value.errors[0]


def test_version_of_wrong_type() -> None:
    error = one_error(
        "version: '1'\nmappings:\n  - {s3: 's3://bucket/a/', local: a, direction: upload}\n"
    )
    assert error == "s3lync.yaml:1:10: version: must be 1, not '1'"


def test_empty_mappings_list() -> None:
    assert one_error("version: 1\nmappings: []\n") == (
        "s3lync.yaml:2:11: mappings: must list at least one mapping"
    )


def test_duplicate_key_points_at_the_repeat() -> None:
    error = one_error(
        """\
        version: 1
        mappings:
          - s3: s3://bucket/a/
            local: a
            direction: upload
            local: b
        """
    )
    assert error == "s3lync.yaml:6:5: mappings[0].local: duplicate key 'local' (first on line 4)"


def test_non_string_key() -> None:
    error = one_error(
        "version: 1\n1: x\nmappings:\n  - {s3: 's3://bucket/a/', local: a, direction: upload}\n"
    )
    assert error == "s3lync.yaml:2:1: <root>: key '1' is read as int, not a string; quote it"


def test_unsupported_tag() -> None:
    error = one_error("version: 1\nmappings:\n  - {s3: !Ref bucket, local: a, direction: upload}\n")
    assert error == "s3lync.yaml:3:10: mappings[0].s3: unsupported YAML tag '!Ref'"


def test_bad_name_pattern() -> None:
    error = one_error(
        "version: 1\nmappings:\n  - {name: -x, s3: 's3://bucket/a/', local: a, direction: upload}\n"
    )
    assert error.startswith("s3lync.yaml:3:12: mappings[0].name: must start with a letter or digit")


def test_s3_must_start_with_scheme_and_parse() -> None:
    text = """\
        version: 1
        mappings:
          - {s3: 'http://bucket/a/', local: a, direction: upload}
          - {s3: 's3://x/a/', local: b, direction: upload}
        """
    first, second = errors_of(text)
    assert (
        first
        == "s3lync.yaml:3:10: mappings[0].s3: must start with 's3://' (not 'http://bucket/a/')"
    )
    assert second.startswith(
        "s3lync.yaml:4:10: mappings[1].s3: invalid S3 URI 's3://x/a/': bucket name"
    )


def test_exclude_must_be_string_or_list_of_strings() -> None:
    text = """\
        version: 1
        mappings:
          - s3: s3://bucket/a/
            local: a
            direction: upload
            exclude: [ok, 3]
          - s3: s3://bucket/b/
            local: b
            direction: upload
            exclude: {a: 1}
        """
    assert errors_of(text) == [
        "s3lync.yaml:6:19: mappings[0].exclude[1]: must be a string, not 3",
        "s3lync.yaml:10:14: mappings[1].exclude: must be a string or a list, not a mapping",
    ]


def test_invalid_regex_names_the_re_error() -> None:
    text = """\
        version: 1
        defaults:
          exclude: '(['
        mappings:
          - s3: s3://bucket/a/
            local: a
            direction: upload
            exclude:
              - ok
              - 'a)'
        """
    assert errors_of(text) == [
        "s3lync.yaml:3:12: defaults.exclude: invalid regular expression '([': "
        "unterminated character set at position 1",
        "s3lync.yaml:10:9: mappings[0].exclude[1]: invalid regular expression 'a)': "
        "unbalanced parenthesis at position 1",
    ]


def test_duplicate_names() -> None:
    text = """\
        version: 1
        mappings:
          - {name: a, s3: 's3://bucket/a/', local: a, direction: upload}
          - {name: a, s3: 's3://bucket/b/', local: b, direction: upload}
        """
    assert (
        one_error(text)
        == "s3lync.yaml:4:12: mappings[1].name: duplicate name 'a' (also mappings[0])"
    )


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            "data",
            "./data/",
            "writes the same target as mappings[0] ('datasets'): /work/project/data",
        ),
        ("data", "data/sub", "writes inside the target of mappings[0] ('datasets')"),
        ("data/sub", "data", "writes around the target of mappings[0] ('datasets')"),
    ],
)
def test_two_downloads_writing_the_same_folder(first: str, second: str, message: str) -> None:
    text = f"""\
        version: 1
        mappings:
          - name: datasets
            s3: s3://bucket/a/
            local: {first}
            direction: download
          - s3: s3://bucket/b/
            local: {second}
            direction: download
        """
    error = one_error(text)
    assert error.startswith(f"s3lync.yaml:8:12: mappings[1].local: {message}")


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        ("s3://bucket/a/", "s3://bucket/a", True),
        ("s3://bucket/a/", "s3://bucket/a/b/", True),
        ("s3://bucket", "s3://bucket/a/", True),
        ("s3://bucket/a", "s3://bucket/ab", False),
        ("s3://bucket/a/", "s3://other/a/", False),
    ],
)
def test_two_uploads_writing_the_same_prefix(first: str, second: str, clash: bool) -> None:
    text = f"""\
        version: 1
        mappings:
          - {{name: up, s3: '{first}', local: a, direction: upload}}
          - {{s3: '{second}', local: b, direction: upload}}
        """
    if not clash:
        assert len(load(text).mappings) == 2
        return
    error = one_error(text)
    assert error.startswith("s3lync.yaml:4:10: mappings[1].s3: writes ")
    assert "mappings[0] ('up')" in error


def test_upload_and_download_may_share_paths_and_force_sync_with_delete_is_allowed() -> None:
    text = """\
        version: 1
        mappings:
          - {s3: 's3://bucket/a/', local: a, direction: upload, force_sync: true, delete: true}
          - {s3: 's3://bucket/a/', local: a, direction: download}
        """
    assert len(load(text).mappings) == 2


def test_several_errors_are_reported_at_once_sorted_by_line() -> None:
    text = """\
        version: 1
        mappings:
          - name: a
            s3: s3://bucket/a/
            local: a
            direction: sideways
            colour: red
          - name: a
            local: b
            direction: upload
            force_sync: 3
        """
    with pytest.raises(ManifestError) as info:
        load(text)
    errors = info.value.errors
    assert [e.split(": ")[0:2] for e in errors] == [
        ["s3lync.yaml:6:16", "mappings[0].direction"],
        ["s3lync.yaml:7:5", "mappings[0].colour"],
        ["s3lync.yaml:8:5", "mappings[1]"],
        ["s3lync.yaml:8:11", "mappings[1].name"],
        ["s3lync.yaml:11:17", "mappings[1].force_sync"],
    ]
    assert str(info.value) == "5 error(s) in s3lync.yaml:\n" + "\n".join(errors)


# --- the file itself ---------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"nope\.yaml: no such file"):
        load_manifest(tmp_path / "nope.yaml")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is a folder"):
        load_manifest(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "s3lync.yaml").write_bytes(b"version: 1\n\xff\xfe")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(tmp_path / "s3lync.yaml")


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    assert one_error(text) == (
        "s3lync.yaml:1:1: <root>: file is empty; expected `version: 1` and `mappings:`"
    )


def test_yaml_syntax_error_has_line_and_column() -> None:
    error = one_error("version: 1\nmappings:\n  - s3: [unclosed\n")
    assert error.startswith("s3lync.yaml:4:1: invalid YAML: ")


def test_top_level_must_be_a_mapping() -> None:
    assert one_error("- 1\n- 2\n") == (
        "s3lync.yaml:1:1: <root>: top level must be a mapping with `version` and `mappings`, not a list"
    )


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "too large" in one_error("\n".join(lines))


def test_recursive_alias_is_an_error() -> None:
    assert any("recursive YAML alias" in e for e in errors_of("version: 1\nx: &a [*a]\n"))


# --- ${VAR} --------------------------------------------------------------------------------------------


ENV_TEXT = """\
    version: 1
    defaults:
      region: ${REGION:-eu-west-1}
      endpoint_url: ${ENDPOINT:-}
    mappings:
      - s3: s3://${BUCKET}/${PREFIX:-data}/
        local: $${literal}/${HOME_DIR}
        direction: download
        check_hash: ${CHECK_HASH:-true}
"""


def test_env_interpolation_with_defaults() -> None:
    (m,) = load(ENV_TEXT, {"BUCKET": "my-bucket", "HOME_DIR": "h", "CHECK_HASH": "no"}).mappings
    assert m.s3_uri == "s3://my-bucket/data/"
    assert m.local == str(BASE / "${literal}" / "h")
    assert (m.region, m.endpoint_url, m.check_hash) == ("eu-west-1", None, False)


def test_env_set_values_win_and_empty_takes_default() -> None:
    env = {
        "BUCKET": "b-1",
        "PREFIX": "",
        "HOME_DIR": "h",
        "REGION": "us-east-2",
        "ENDPOINT": "http://x:1",
    }
    (m,) = load(ENV_TEXT, env).mappings
    assert (m.s3_uri, m.region, m.endpoint_url) == ("s3://b-1/data/", "us-east-2", "http://x:1")


def test_missing_env_vars_point_at_their_values() -> None:
    assert errors_of(ENV_TEXT, {"HOME_DIR": "h"}) == [
        "s3lync.yaml:6:9: mappings[0].s3: environment variable BUCKET is not set"
    ]
    assert errors_of(ENV_TEXT, {}) == [
        "s3lync.yaml:6:9: mappings[0].s3: environment variable BUCKET is not set",
        "s3lync.yaml:7:12: mappings[0].local: environment variable HOME_DIR is not set",
    ]


def test_malformed_reference_is_an_error() -> None:
    text = "version: 1\nmappings:\n  - {s3: 's3://bucket/${oops', local: a, direction: upload}\n"
    assert one_error(text).startswith("s3lync.yaml:3:10: mappings[0].s3: malformed '${'")


def test_default_environ_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3LYNC_TEST_BUCKET", "from-env")
    text = "version: 1\nmappings:\n  - {s3: 's3://${S3LYNC_TEST_BUCKET}/', local: a, direction: upload}\n"
    manifest = validate_document(text, "s3lync.yaml", BASE)
    assert manifest.mappings[0].s3_uri == "s3://from-env/"


# --- starter and select --------------------------------------------------------------------------------


def test_starter_manifest_loads(tmp_path: Path) -> None:
    assert STARTER_MANIFEST.startswith("# yaml-language-server: $schema=")
    (tmp_path / "s3lync.yaml").write_text(STARTER_MANIFEST, encoding="utf-8")
    manifest = load_manifest(tmp_path / "s3lync.yaml", environ={})
    assert [m.name for m in manifest.mappings] == ["datasets"]


def test_select() -> None:
    manifest = load(
        """\
        version: 1
        mappings:
          - {name: a, s3: 's3://bucket/a/', local: a, direction: upload}
          - {name: b, s3: 's3://bucket/b/', local: b, direction: upload}
          - {s3: 's3://bucket/c/', local: c, direction: upload}
        """
    )
    assert manifest.select([]) == manifest.mappings
    assert [m.label for m in manifest.select(["b", "a", "b"])] == ["a", "b"]
    assert [m.label for m in manifest.select(["s3://bucket/c/"])] == ["s3://bucket/c/"]
    with pytest.raises(ManifestError, match=r"unknown mapping 'zz' \(known: a, b\)"):
        manifest.select(["a", "zz"])


# --- never anything but a Manifest or a ManifestError ------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json_like = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_field_values = _json_like | st.sampled_from(
    ["s3://bucket/a/", "s3://bucket/", "download", "upload", "a", "(", "${X}", "${X:-y}", "$${"]
)
_mapping_like = st.dictionaries(
    st.sampled_from(
        ["name", "s3", "local", "direction", "exclude", "delete", "force_sync", "bogus"]
    ),
    _field_values,
)
_manifest_like = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, "1", None])},
    optional={
        "mappings": st.lists(_mapping_like, max_size=3) | _json_like,
        "defaults": st.dictionaries(
            st.sampled_from(["region", "exclude", "check_hash"]), _field_values
        ),
    },
)


_YAML_CHARS = st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,?\n ${}\t~1."))


def _loads_or_manifest_error(text: str) -> None:
    try:
        result = validate_document(text, "s3lync.yaml", BASE, {"X": "x"})
    except ManifestError as exc:
        assert exc.errors and all(line.startswith("s3lync.yaml") for line in exc.errors)
    else:
        assert isinstance(result, Manifest)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_json_like, _manifest_like))
def test_any_data_dumped_to_yaml_loads_or_raises_manifest_error(data: object) -> None:
    _loads_or_manifest_error(yaml.safe_dump(data))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_YAML_CHARS, max_size=80) | st.text(max_size=80))
@example("!1\n?")  # a custom-tagged mapping at the top level once raised AttributeError
def test_any_text_loads_or_raises_manifest_error(text: str) -> None:
    _loads_or_manifest_error(text)


_SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(load_schema())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_manifest_like)
@example({"version": 1, "mappings": [{"s3": "s3://bucket/a/", "local": "a", "direction": "up"}]})
def test_jsonschema_decides_every_manifest(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data)
    assume("$" not in text)  # ${VAR} filling would change the data the schema sees
    if _SCHEMA_VALIDATOR.is_valid(data):
        return
    with pytest.raises(ManifestError):
        validate_document(text, "s3lync.yaml", BASE, {})
