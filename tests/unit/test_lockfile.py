"""s3lync.lock without a server: deterministic text, the schema, and bad lock files named by FILE:LINE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from s3lync.mapping import Direction, Mapping
from s3lync.sync.jsonpos import locate
from s3lync.sync.lockfile import (
    LockedMapping,
    LockedObject,
    LockFileError,
    load,
    lock_path,
    lock_schema,
    manifest_digest,
)
from s3lync.sync.lockrules import check_manifest
from s3lync.sync.lockwrite import render

ROOT = Path(__file__).resolve().parents[2]
DOWN = Mapping(s3_uri="s3://bkt/data/", local="/tmp/x", direction=Direction.DOWNLOAD, name="data")
UP = Mapping(s3_uri="s3://bkt/up/", local="/tmp/y", direction=Direction.UPLOAD, name="up")


def entry(name: str | None = "data", s3: str = "s3://bkt/data/", n: int = 5) -> LockedMapping:
    objects = tuple(
        LockedObject(key=f"data/f{i}.bin", size=10 * i, etag=f"{i:032x}") for i in range(n)
    )
    return LockedMapping(name=name, s3=s3, exclude=(), versioned=False, objects=objects)


VERSIONED = '"versioned"'
OLD_NAME = '"name": "old"'


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s3lync.lock"
    p.write_text(text, encoding="utf-8")
    return p


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_lock_path_is_beside_the_manifest() -> None:
    assert lock_path("/repo/s3lync.yaml") == Path("/repo/s3lync.lock")
    assert lock_path("ci/prod.yaml") == Path("ci/prod.lock")


def test_render_is_deterministic_sorted_and_one_object_per_line(tmp_path: Path) -> None:
    a = entry("b-mapping", "s3://bkt/b/", 0)
    b = entry()
    text = render(manifest_digest([DOWN]), [a, b])
    assert text == render(manifest_digest([DOWN]), [b, a])  # input order does not matter
    assert text.index('"name": "b-mapping"') < text.index('"name": "data"')
    lines = text.splitlines()
    assert sum(1 for line in lines if line.strip().startswith('{"key": ')) == 5
    data = json.loads(text)
    Draft202012Validator(lock_schema()).validate(data)
    loaded = load(write(tmp_path, text))
    assert loaded.find(DOWN) == b
    assert render(loaded.manifest_digest, loaded.mappings) == text


def test_both_schema_copies_are_identical() -> None:
    packaged = ROOT / "s3lync" / "manifest" / "schemas" / "s3lync.lock.schema.json"
    published = ROOT / "schemas" / "s3lync.lock.schema.json"
    assert packaged.read_bytes() == published.read_bytes()
    Draft202012Validator.check_schema(json.loads(packaged.read_text()))


def test_truncated_lock_names_its_line(tmp_path: Path) -> None:
    text = render(manifest_digest([DOWN]), [entry()])
    cut = text[: len(text) // 2]
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, cut))
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 's3lync.lock'}:{len(cut.splitlines())}: ")
    assert "truncated" in msg and "s3lync lock" in msg


def test_empty_lock_file(tmp_path: Path) -> None:
    with pytest.raises(LockFileError, match=r"s3lync.lock:1: not a valid lock file"):
        load(write(tmp_path, ""))


def test_wrong_version_names_its_line(tmp_path: Path) -> None:
    text = render(manifest_digest([DOWN]), [entry()]).replace(
        '"lock_version": 1', '"lock_version": 7'
    )
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, text))
    assert f"s3lync.lock:{line_of(text, 'lock_version')}: lock_version 7 is not supported" in str(
        info.value
    )


def test_hand_edited_etag_is_refused_by_the_objects_digest(tmp_path: Path) -> None:
    text = render(manifest_digest([DOWN]), [entry()])
    edited = text.replace(f'"etag": "{3:032x}"', f'"etag": "{9:032x}"')
    assert edited != text
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, edited))
    assert (
        f"s3lync.lock:{line_of(text, 'objects_digest')}: mapping 'data': the objects do not "
        in str(info.value)
    )


def test_hand_edited_types_give_every_line(tmp_path: Path) -> None:
    text = render(manifest_digest([DOWN]), [entry()])
    edited = text.replace('"size": 20,', '"size": "twenty",').replace(
        '"versioned": false', '"versioned": "no"'
    )
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, edited))
    errors = info.value.errors
    assert any(
        e.startswith(
            f"{tmp_path / 's3lync.lock'}:{line_of(edited, 'twenty')}: mappings/0/objects/2/size"
        )
        for e in errors
    ), errors
    assert any(f":{line_of(edited, VERSIONED)}: mappings/0/versioned" in e for e in errors), errors


def test_unknown_field_and_unsorted_keys(tmp_path: Path) -> None:
    text = render(manifest_digest([DOWN]), [entry()])
    extra = text.replace('"size": 30,', '"size": 30, "colour": "red",')
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, extra))
    assert f":{line_of(extra, 'colour')}: mappings/0/objects/3: Additional properties" in str(
        info.value
    )
    lines = text.splitlines()
    i, j = line_of(text, "f1.bin") - 1, line_of(text, "f2.bin") - 1
    lines[i], lines[j] = lines[j], lines[i]
    swapped = "\n".join(lines)
    with pytest.raises(LockFileError) as info:
        load(write(tmp_path, swapped))
    assert f":{j + 1}: key 'data/f1.bin' is out of order" in str(info.value)


def test_lock_and_manifest_are_checked_together(tmp_path: Path) -> None:
    old = entry("old", "s3://bkt/old/", 0)
    text = render(manifest_digest([DOWN]), [entry(), old])
    lf = load(write(tmp_path, text))
    with pytest.raises(LockFileError) as info:
        check_manifest(lf, [DOWN, UP], [DOWN], "s3lync.yaml")
    assert (
        f"s3lync.lock:{line_of(text, OLD_NAME)}: mapping 'old' is locked but is not in s3lync.yaml"
        in str(info.value)
    )
    # A mapping whose s3 changed since it was locked.
    moved = Mapping(s3_uri="s3://bkt/v2/", local="/x", direction=Direction.DOWNLOAD, name="data")
    lf = load(write(tmp_path, render(manifest_digest([DOWN]), [entry()])))
    with pytest.raises(
        LockFileError, match=r"s3lync.lock:\d+: mapping 'data' was locked at s3://bkt/data/"
    ):
        check_manifest(lf, [moved], [moved], "s3lync.yaml")
    # A selected download mapping that is not locked.
    other = Mapping(s3_uri="s3://bkt/o/", local="/o", direction=Direction.DOWNLOAD, name="other")
    with pytest.raises(LockFileError, match="mapping 'other' is not in"):
        check_manifest(lf, [DOWN, other], [other], "s3lync.yaml")
    check_manifest(lf, [DOWN, other], [DOWN], "s3lync.yaml")  # not selected: fine
    check_manifest(lf, [DOWN, UP], [DOWN, UP], "s3lync.yaml")  # uploads are never locked


def test_hand_edited_manifest_digest(tmp_path: Path) -> None:
    text = render("sha256:" + "0" * 64, [entry()])
    lf = load(write(tmp_path, text))
    with pytest.raises(
        LockFileError,
        match=rf"s3lync.lock:{line_of(text, 'manifest_digest')}: manifest_digest does not match",
    ):
        check_manifest(lf, [DOWN], [DOWN], "s3lync.yaml")


def test_locate_finds_keys_values_and_falls_back_to_the_parent() -> None:
    text = '{\n "a": [\n  1,\n  {"b": "x,]"},\n  3\n ],\n "c": {}\n}\n'
    found = locate(text, {("a",), ("a", 1, "b"), ("a", 2), ("c",), ("c", "missing")})
    assert found == {("a",): 2, ("a", 1, "b"): 4, ("a", 2): 5, ("c",): 7, ("c", "missing"): 7}
