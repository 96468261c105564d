"""s3lync.filters: aws s3 sync's rule (in order, the last match wins), folders, hints."""

from __future__ import annotations

import re

import pytest
import yaml

from s3lync.filters import EXCLUDE, INCLUDE, glob_reading, glob_to_regex, matcher, regex_problem
from s3lync.mapping import Direction, Mapping


def left_out(rules: list[tuple[str, str]], paths: list[str]) -> list[str]:
    match = matcher(rules)
    assert match is not None
    return [p for p in paths if match(p)]


PATHS = ["a.csv", "b.txt", "d/c.csv", "d/e.log"]


def test_the_last_matching_filter_decides() -> None:
    only_csv = [(EXCLUDE, glob_to_regex("*")), (INCLUDE, glob_to_regex("*.csv"))]
    assert left_out(only_csv, PATHS) == ["b.txt", "d/e.log"]
    nothing = [(INCLUDE, glob_to_regex("*.csv")), (EXCLUDE, glob_to_regex("*"))]
    assert left_out(nothing, PATHS) == PATHS
    # No filter matching: included, as aws does.
    assert left_out([(INCLUDE, r"\.csv$")], PATHS) == []


def test_folders_are_skipped_whole_only_by_excludes_after_the_last_include() -> None:
    rules = [(EXCLUDE, "."), (INCLUDE, r"\.csv$")]
    match = matcher(rules)
    assert match is not None and not match("d/")  # d/c.csv may still be taken back in
    rules = [(INCLUDE, r"\.csv$"), (EXCLUDE, "^d/")]
    match = matcher(rules)
    assert match is not None and match("d/")


def test_a_mapping_keeps_its_filters_through_json() -> None:
    m = Mapping(
        "s3://my-bucket/p/",
        "/tmp/p",
        Direction.DOWNLOAD,
        exclude=(r"\.tmp$",),
        filters=((INCLUDE, r"x\.tmp$"),),
    )
    assert Mapping.from_dict(m.to_dict()) == m
    assert m.rules == ((EXCLUDE, r"\.tmp$"), (INCLUDE, r"x\.tmp$"))
    assert m.filter_key == (r"exclude:\.tmp$", r"include:x\.tmp$")


@pytest.mark.parametrize("glob", ["*.tmp", "*.tar.gz", "?x*", "*it's*"])
def test_the_yaml_hint_reads_back_as_the_regex_it_names(glob: str) -> None:
    message = regex_problem(glob)
    assert message is not None
    quoted = re.search(r"did you mean the regex ('(?:[^']|'')*')\?", message)
    assert quoted, message
    # Pasted into a single-quoted YAML value, it is exactly the regex the glob means.
    assert yaml.safe_load(f"exclude: {quoted.group(1)}")["exclude"] == glob_to_regex(glob)


@pytest.mark.parametrize(
    ("pattern", "warned"),
    [("build/*", True), ("data*.csv", True), ("logs/?.txt", True), (r".*\.tmp$", False),
     ("^build/", False), ("a+b", False), ("tmp", False)],
)  # fmt: skip
def test_only_glob_looking_regexes_are_warned_about(pattern: str, warned: bool) -> None:
    assert (glob_reading(pattern) is not None) is warned
