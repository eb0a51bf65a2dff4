"""The workflow's longest path, retries included, stays under the Express limit of 5 minutes.

tools/workflow_bound.py walks whatever the definition is (every Next, Catch, Choice and Default);
these tests prove the bound for asl/tollgate.asl.json and that the walk charges what it must.
"""

from __future__ import annotations

import copy
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


# --- issue 18 item 1: long generations under EXPRESS -------------------------------------------------

MODEL_SECONDS_REQUIRED = 240


def default_invoke_timeout() -> int:
    return wb.default_invoke_timeout(ROOT / "variables.tf")


def test_under_express_the_model_may_read_for_at_least_240_seconds():
    timeout = default_invoke_timeout()
    assert timeout < ASL["States"]["Invoke"]["TimeoutSeconds"]  # what a main.tf precondition also enforces
    assert wb.model_seconds(ASL, timeout) >= MODEL_SECONDS_REQUIRED, wb.breakdown(
        ASL, wb.longest_path(ASL), {}
    )


def test_the_margins_are_the_invoke_functions_own():
    from tollgate import bedrock

    assert wb.READ_MARGIN_SECONDS == bedrock.READ_TIMEOUT_MARGIN_SECONDS
    # what the function reads with its whole timeout left but one second: the model_seconds figure
    timeout = default_invoke_timeout()
    assert bedrock.read_timeout_seconds(10**6, None, timeout - 0.5) >= wb.model_seconds(ASL, timeout)


def test_the_invoke_state_is_charged_one_attempt_and_its_throttle_backoff_only():
    # a throttled Invoke call never ran: its retry costs its wait, not a second 248 s attempt
    invoke = ASL["States"]["Invoke"]
    assert {e for r in invoke["Retry"] for e in r["ErrorEquals"]} <= wb.NOT_RUN_ERRORS
    assert wb.state_seconds("Invoke", invoke, {}) <= invoke["TimeoutSeconds"] + 3


@pytest.mark.parametrize(
    "retrier",
    [
        # the model retry the state machine used to make: a second full attempt
        {"ErrorEquals": ["ModelThrottled", "ModelUnavailable"], "IntervalSeconds": 2, "MaxAttempts": 1},
        # a Lambda service error may come after the function ran: a full attempt too
        {"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 1},
    ],
)
def test_a_retry_that_may_rerun_the_model_breaks_the_bound(retrier):
    changed = copy.deepcopy(ASL)
    changed["States"]["Invoke"]["Retry"].append(retrier)
    assert wb.longest_path(changed).seconds >= wb.EXPRESS_LIMIT_SECONDS
    assert wb.model_seconds(changed, default_invoke_timeout()) == 0


def test_a_longer_small_state_breaks_the_bound():
    changed = copy.deepcopy(ASL)
    changed["States"]["Record"]["TimeoutSeconds"] += 2
    assert wb.longest_path(changed).seconds >= wb.EXPRESS_LIMIT_SECONDS
