"""The workflow's longest path, retries included, stays under the Express limit of 5 minutes.

tools/workflow_bound.py walks whatever the definition is (every Next, Catch, Choice and Default);
these tests prove the bound for asl/tollgate.asl.json and that the walk charges what it must.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import workflow_bound as wb  # noqa: E402

ASL = json.loads((ROOT / "asl" / "tollgate.asl.json").read_text(encoding="utf-8"))


def test_the_longest_path_of_the_workflow_is_shorter_than_the_express_limit():
    bound = wb.longest_path(ASL)
    assert bound.seconds < wb.EXPRESS_LIMIT_SECONDS, wb.breakdown(ASL, bound, {})
    # the walk really went from the start to an end through the model call
    assert bound.path[0] == ASL["StartAt"]
    assert ASL["States"][bound.path[-1]]["Type"] in ("Succeed", "Fail")
    assert "Invoke" in bound.path


def test_every_task_state_is_charged_all_its_attempts_at_its_timeout():
    for name, state in ASL["States"].items():
        if state["Type"] != "Task":
            continue
        running = 1 + sum(
            r["MaxAttempts"] for r in state.get("Retry", []) if set(r["ErrorEquals"]) - wb.NOT_RUN_ERRORS
        )
        assert wb.state_seconds(name, state, {}) >= running * state["TimeoutSeconds"], name


def task(timeout=None, retry=(), nxt=None, catch=None, resource="fn"):
    state = {"Type": "Task", "Resource": resource, "Retry": list(retry)}
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    if nxt:
        state["Next"] = nxt
    else:
        state["End"] = True
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": catch}]
    return state


def test_retries_add_attempts_and_backoff_capped_by_max_delay():
    retrier = {
        "ErrorEquals": ["X"],
        "IntervalSeconds": 2,
        "MaxAttempts": 4,
        "BackoffRate": 3,
        "MaxDelaySeconds": 10,
    }
    # waits 2, 6, 10 (18 capped), 10 (54 capped)
    assert wb.retry_delays(retrier) == 28
    assert wb.state_seconds("T", task(5, [retrier]), {}) == 5 * 5 + 28
    # ASL defaults: 3 attempts, 1 s, rate 2 -> 1 + 2 + 4
    assert wb.retry_delays({"ErrorEquals": ["X"]}) == 7


def test_a_throttled_invoke_runs_no_code_so_only_its_waits_count():
    throttled = {"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 2, "BackoffRate": 2}
    assert wb.state_seconds("T", task(5, [throttled]), {}) == 5 + 1 + 2


def test_the_longest_branch_wins_including_catch_paths():
    definition = {
        "StartAt": "A",
        "States": {
            "A": task(10, nxt="Short", catch="Long"),
            "Short": {"Type": "Succeed"},
            "Long": task(100, nxt="End"),
            "End": {"Type": "Fail"},
        },
    }
    bound = wb.longest_path(definition)
    assert bound.seconds == 110
    assert bound.path == ("A", "Long", "End")


def test_the_function_timeout_bounds_a_task_without_timeout_seconds():
    definition = {"StartAt": "A", "States": {"A": task(None, resource="arn:fn")}}
    assert wb.longest_path(definition, {"arn:fn": 7}).seconds == 7
    assert (
        wb.longest_path({"StartAt": "A", "States": {"A": task(30, resource="arn:fn")}}, {"arn:fn": 7}).seconds
        == 7
    )


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"A": task(None)}, "state A: a Task needs TimeoutSeconds"),
        ({"A": task(1, nxt="B"), "B": task(1, nxt="A")}, "the workflow loops (A -> B -> A)"),
        ({"A": {"Type": "Wait", "SecondsPath": "$.x", "End": True}}, "only a Wait with fixed Seconds"),
        ({"A": {"Type": "Map", "End": True}}, "a Map state has no bound"),
        ({"A": task(1, nxt="Nowhere")}, "goes to Nowhere, which does not exist"),
    ],
)
def test_an_unbounded_workflow_is_an_error_that_names_the_state(states, message):
    with pytest.raises(wb.UnboundedWorkflow, match=message.replace("(", r"\(").replace(")", r"\)")):
        wb.longest_path({"StartAt": "A", "States": states})


def test_a_parallel_state_takes_its_longest_branch():
    branch = {"StartAt": "X", "States": {"X": task(40)}}
    short = {"StartAt": "Y", "States": {"Y": task(3)}}
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [short, branch], "End": True}},
    }
    assert wb.longest_path(definition).seconds == 40
