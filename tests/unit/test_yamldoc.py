"""yamlparse: libyaml (CSafeLoader) and the pure-Python SafeLoader give the same data, positions and
problems, so the fallback on a PyYAML built without libyaml changes no message."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from s3lync.manifest import yamlparse
from s3lync.manifest.yamldoc import Fatal, line_col, quote
from s3lync.manifest.yamlparse import parse

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml")

LOADERS = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)]


def _outcome(text: str, loader: type[yaml.SafeLoader]) -> Any:
    try:
        data, doc = parse(text, loader)
    except Fatal as exc:
        return ("fatal", exc.loc)
    return data, doc.positions, sorted(doc.problems)


def test_libyaml_is_used_where_available() -> None:
    assert yamlparse.LOADER is yaml.CSafeLoader


SAMPLES = [
    "version: 1\nmappings:\n  - s3: s3://b/p/\n    local: d\n    direction: download\n",
    "é: ü\nkey: {a: 😀b, c: [1, 'x']}\n  # comment\nz: |\n  lit\n  more\nq: \"\\u00e9\"\n",
    "\ufeffa: 1\r\nb: [x,\r\n  y]\r\n",
    "a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\nc: !!binary aGk=\nd: 2024-01-01\ne: !!set {a}\n",
    "a: 1\na: 2\n1: x\n? [k]\n: v\n",
]
CONTROL = ["a: é\x01\n", "é: 1\nb: 😀\x00\n", "k: 'x'\n\x7f\n", "ü\u2028ü: \x08\n"]


@pytest.mark.parametrize("text", SAMPLES + CONTROL)
def test_both_loaders_agree(text: str) -> None:
    python, c = (_outcome(text, loader) for loader in LOADERS)
    assert python == c


@pytest.mark.parametrize("text", CONTROL)
def test_control_character_is_located_by_character_not_byte(text: str) -> None:
    bad = next(i for i, ch in enumerate(text) if ch in "\x00\x01\x08\x7f")
    for loader in LOADERS:
        with pytest.raises(Fatal, match="unacceptable character") as info:
            parse(text, loader)
        assert info.value.loc == line_col(text, bad)


def test_lone_surrogate_in_text_is_a_located_error() -> None:
    with pytest.raises(Fatal, match="#xd800") as info:
        parse("a: 1\nbb: x\ud800\n", yaml.CSafeLoader)
    assert info.value.loc == (2, 6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=12,
    ),
    st.sampled_from([True, False]),
)
def test_both_loaders_agree_on_dumped_data(data: object, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    python, c = (_outcome(text, loader) for loader in LOADERS)
    assert python == c


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n ,é\t")), max_size=40))
@example("a: [b,\n  c: d]")
@example(":: !")  # a non-specific tag: libyaml reads a string, PyYAML's own parser read null
def test_both_loaders_agree_on_what_they_both_read(text: str) -> None:
    python, c = (_outcome(text, loader) for loader in LOADERS)
    # Syntax errors are worded (and sometimes placed) differently by the two parsers.
    if python[0] != "fatal" and c[0] != "fatal":
        assert python == c


@pytest.mark.parametrize("loader", LOADERS)
def test_an_empty_scalar_tagged_with_a_bare_exclamation_mark_is_a_string(
    loader: type[yaml.SafeLoader],
) -> None:
    data, _ = parse("version: 1\nname: !\nother: ! 12\n", loader)
    assert data == {"version": 1, "name": "", "other": 12}


def test_line_col_counts_yaml_line_breaks() -> None:
    text = "a\r\nbb\rc\u2028dé\nxyz"
    assert line_col(text, 0) == (1, 1)
    assert line_col(text, text.index("bb") + 1) == (2, 2)
    assert line_col(text, text.index("c")) == (3, 1)
    assert line_col(text, text.index("é")) == (4, 2)
    assert line_col(text, text.index("z")) == (5, 3)


def test_quote_caps_long_values() -> None:
    assert quote("short") == "'short'"
    long = quote("x" * 10_000)
    assert len(long) == 120 and long.endswith("…") and long.startswith("'xxx")
