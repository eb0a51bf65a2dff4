"""The two stream machines are deployed as EXPRESS (streaming.tf) and run with StartSyncExecution:
each one's longest path, retries included, must end within the Express limit, or a caller's admit or
settle could be cut off with the reservation in an unknown state."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import workflow_bound as wb  # noqa: E402


@pytest.mark.parametrize("name", ["stream_admit", "stream_settle"])
def test_each_stream_machine_ends_within_the_express_limit(name):
    definition = json.loads((ROOT / "asl" / f"{name}.asl.json").read_text(encoding="utf-8"))
    bound = wb.longest_path(definition)
    assert bound.seconds < wb.EXPRESS_LIMIT_SECONDS, wb.breakdown(definition, bound, {})
    assert definition["States"][bound.path[-1]]["Type"] in ("Succeed", "Fail")
    assert "invoke_function_arn" not in json.dumps(definition), "the caller calls the model, not the machine"
