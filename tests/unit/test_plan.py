"""Plan data: JSON round trip, format version and summary counters (s3lync.sync.plan)."""

from __future__ import annotations

import json

import pytest

from s3lync.errors import S3lyncError
from s3lync.mapping import Direction, Mapping
from s3lync.sync.plan import PLAN_FORMAT_VERSION, MappingPlan, Operation, OpKind, Plan, Problem


def _op(kind: OpKind, rel: str, size: int, **kw: object) -> Operation:
    return Operation(
        kind=kind,
        rel=rel,
        key=f"p/{rel}" + ("/" if kind is OpKind.MKDIR else ""),
        local_path=f"/data/{rel}",
        size=size,
        reason=f"because {kind.value}",
        **kw,  # type: ignore[arg-type]
    )


def sample_plan() -> Plan:
    down = MappingPlan(
        mapping=Mapping(
            s3_uri="s3://bkt/p/",
            local="/data",
            direction=Direction.DOWNLOAD,
            name="models",
            exclude=(r".*\.tmp$", r"^cache/"),
            delete=True,
            region="eu-west-1",
            endpoint_url="http://127.0.0.1:9000",
            profile="dev",
        ),
        bucket="bkt",
        root_key="p/",
        is_dir=True,
        operations=(
            _op(OpKind.CREATE, "new.bin", 100, source_etag="a" * 32),
            _op(OpKind.UPDATE, "sub/changed 한글.txt", 50, source_etag="b" * 32 + "-3"),
            _op(OpKind.DELETE, "old.txt", 7),
            _op(OpKind.MKDIR, "empty", 0),
        ),
        unchanged=3,
        unchanged_bytes=300,
        unchanged_paths=("x", "y", "z"),
        problems=(
            Problem(key="p/../evil", message="refused key 'p/../evil'", fatal=True),
            Problem(key="p/d", message="both a file and a folder", fatal=False),
        ),
    )
    up = MappingPlan(
        mapping=Mapping(
            s3_uri="s3://bkt/one.txt",
            local="/data/one.txt",
            direction=Direction.UPLOAD,
            force_sync=True,
            check_hash=False,
            follow_symlinks=True,
        ),
        bucket="bkt",
        root_key="one.txt",
        is_dir=False,
        operations=(
            Operation(
                kind=OpKind.UPDATE,
                rel="",
                key="one.txt",
                local_path="/data/one.txt",
                size=11,
                reason="force_sync",
                source_md5="c" * 32,
                source_mtime_ns=1_700_000_000_123_456_789,
            ),
        ),
    )
    empty = MappingPlan(
        mapping=Mapping(s3_uri="s3://bkt/q/", local="/q", direction=Direction.DOWNLOAD),
        bucket="bkt",
        root_key="q/",
        is_dir=True,
        unchanged=5,
        unchanged_bytes=5000,
    )
    return Plan(
        mappings=(down, up, empty),
        manifest="/work/s3lync.yaml",
        created_at="2024-01-01T00:00:00+00:00",
        meta={"tool": "s3lync", "n": 1},
    )


def test_json_round_trip_equality() -> None:
    plan = sample_plan()
    text = plan.to_json()
    back = Plan.from_json(text)
    assert back == plan
    # Every kind survived with its enum type, not as a bare string.
    kinds = [o.kind for o in back.operations]
    assert set(kinds) == set(OpKind)
    assert all(isinstance(k, OpKind) for k in kinds)
    assert back.mappings[0].mapping.direction is Direction.DOWNLOAD
    assert back.mappings[1].mapping.direction is Direction.UPLOAD
    assert back.mappings[0].mapping.exclude == (r".*\.tmp$", r"^cache/")
    # A second trip is byte-for-byte stable.
    assert back.to_json() == text


def test_json_is_plain_data_with_version() -> None:
    data = json.loads(sample_plan().to_json())
    assert data["format_version"] == PLAN_FORMAT_VERSION
    assert data["mappings"][0]["operations"][0]["kind"] == "create"
    assert data["mappings"][0]["mapping"]["direction"] == "download"


@pytest.mark.parametrize("version", [None, 0, PLAN_FORMAT_VERSION + 1, "1", "x"])
def test_unknown_format_version_refused(version: object) -> None:
    data = json.loads(sample_plan().to_json())
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    with pytest.raises(S3lyncError) as excinfo:
        Plan.from_json(json.dumps(data))
    assert "format_version" in str(excinfo.value)


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '"a string"', "42"])
def test_not_a_plan_refused(text: str) -> None:
    with pytest.raises(S3lyncError):
        Plan.from_json(text)


def test_mapping_from_dict_ignores_unknown_fields() -> None:
    m = Mapping(s3_uri="s3://b/k", local="/l", direction=Direction.UPLOAD, name="n")
    d = m.to_dict()
    d["from_the_future"] = 1
    assert Mapping.from_dict(d) == m


def test_summary_counters() -> None:
    plan = sample_plan()
    assert plan.count(OpKind.CREATE) == 1
    assert plan.count(OpKind.UPDATE) == 2
    assert plan.count(OpKind.DELETE) == 1
    assert plan.count(OpKind.MKDIR) == 1
    assert len(plan.operations) == 5
    # Only creates and updates move bytes; deletes and mkdirs do not.
    assert plan.bytes_to_transfer == 100 + 50 + 11
    assert plan.unchanged == 8
    assert plan.has_changes is True
    down = plan.mappings[0]
    assert [o.rel for o in down.transfers] == ["new.bin", "sub/changed 한글.txt"]
    assert [o.rel for o in down.deletes] == ["old.txt"]
    assert down.bytes_to_transfer == 150


def test_no_changes() -> None:
    plan = sample_plan()
    quiet = Plan(mappings=(plan.mappings[2],))
    assert quiet.has_changes is False
    assert quiet.bytes_to_transfer == 0
    assert all(quiet.count(k) == 0 for k in OpKind)
    assert quiet.unchanged == 5
    assert Plan().has_changes is False
    # A plan with only a delete or only a mkdir still changes something.
    only_delete = MappingPlan(
        mapping=plan.mappings[2].mapping,
        bucket="bkt",
        root_key="q/",
        is_dir=True,
        operations=(_op(OpKind.DELETE, "gone", 10),),
    )
    assert Plan(mappings=(only_delete,)).has_changes is True
    assert Plan(mappings=(only_delete,)).bytes_to_transfer == 0


def test_op_symbols() -> None:
    assert OpKind.CREATE.symbol == "+"
    assert OpKind.UPDATE.symbol == "~"
    assert OpKind.DELETE.symbol == "-"
    assert OpKind.MKDIR.symbol == "+"


def test_mapping_label() -> None:
    assert Mapping(s3_uri="s3://b/k", local="/l", direction=Direction.UPLOAD).label == "s3://b/k"
    assert Mapping(s3_uri="s3://b/k", local="/l", direction=Direction.UPLOAD, name="n").label == "n"
