"""Plan.write_json (``plan --out``) streams the same document as Plan.to_json."""

from __future__ import annotations

import io
import json

from s3lync.mapping import Direction, Mapping
from s3lync.sync.plan import MappingPlan, Operation, OpKind, Plan


def test_streamed_plan_equals_to_json() -> None:
    m = Mapping(s3_uri="s3://b/p/", local="/d", direction=Direction.DOWNLOAD, name="m")
    ops = tuple(
        Operation(
            OpKind.CREATE, f"f{i}", f"p/f{i}", f"/d/f{i}", i, "missing locally", version_id="v"
        )
        for i in range(3)
    )
    plans = [
        Plan(mappings=(), manifest="x"),
        Plan(mappings=(MappingPlan(m, "b", "p/", True),), meta={"shard": "1/2"}),
        Plan(
            mappings=(
                MappingPlan(m, "b", "p/", True, ops),
                MappingPlan(m, "b", "p/", True, ops[:1]),
            )
        ),
    ]
    for plan in plans:
        out = io.StringIO()
        plan.write_json(out)
        assert json.loads(out.getvalue()) == json.loads(plan.to_json())
        assert Plan.from_json(out.getvalue()) == Plan.from_json(plan.to_json())
    text = out.getvalue()
    assert sum(1 for line in text.splitlines() if line.strip().startswith('{"kind"')) == 4
