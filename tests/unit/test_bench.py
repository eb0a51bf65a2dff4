"""tools/bench: the P5 simulation's arithmetic, the ASL path walk, and the P3 cost arithmetic."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from bench import asl_walk, costs, simulation
from bench.accuracy import false_denials

# --- P5 ----------------------------------------------------------------------------------------------


def test_one_counter_item_admits_what_its_write_units_allow():
    # 1,000 units/s, 2 per transactional item write, reserve and settle both write it: 250/s
    assert simulation.units_per_request() == 4
    assert simulation.units_per_request(settle_writes_counter=False) == 2
    assert simulation.capacity_per_second(1) == 250
    assert simulation.capacity_per_second(1, settle_writes_counter=False) == 500
    assert simulation.capacity_per_second(16) == 4_000


@pytest.mark.parametrize("shards", [1, 4, 16])
def test_simulated_throughput_reaches_the_capacity_of_its_shards_and_no_more(shards):
    result = simulation.simulate_throughput(shards, offered_per_s=20_000, seconds=1.0)
    capacity = simulation.capacity_per_second(shards)
    # (+1 per shard: an idle item can take its first request at once)
    assert capacity * 0.97 <= result.admitted_per_s <= capacity + shards
    assert result.admitted_per_s + result.throttled_per_s == pytest.approx(20_000, rel=0.001)


def test_simulated_throughput_below_capacity_admits_everything():
    result = simulation.simulate_throughput(4, offered_per_s=500, seconds=1.0)
    assert result.admitted_per_s == 500
    assert result.throttled_per_s == 0


def test_the_ceiling_is_split_without_losing_or_adding_a_unit():
    assert simulation.split_ceiling(10, 4) == [3, 3, 2, 2]
    assert sum(simulation.split_ceiling(1_000_003, 64)) == 1_000_003
    with pytest.raises(ValueError, match="shards is 0; it must be at least 1"):
        simulation.split_ceiling(10, 0)


def test_a_reservation_tries_its_shard_then_two_distinct_others():
    import random

    rng = random.Random(1)
    order = simulation.shard_order(5, 16, rng)
    assert order[0] == 5 and len(order) == 3 and len(set(order)) == 3
    assert simulation.shard_order(0, 1, rng) == [0]
    assert sorted(simulation.shard_order(1, 2, rng)) == [0, 1]


def test_one_shard_never_denies_falsely_and_never_overshoots():
    amounts = simulation.request_amounts(500, low=1, high=50)
    result = simulation.simulate_accuracy(1, ceiling=5_000, amounts=amounts)
    assert result.false_denials == 0
    assert result.overshoot == 0
    # a single counter fills up to the point where no remaining request fits
    assert result.admitted_amount <= 5_000
    assert 5_000 - result.admitted_amount < 50


def test_three_tries_kept_the_overshoot_at_zero_but_denied_falsely_near_the_ceiling():
    # The design before issue 15 (kept for the comparison column of P5).
    amounts = simulation.request_amounts(2_000, low=1, high=99)
    results = {
        n: simulation.simulate_accuracy(n, ceiling=50_000, amounts=amounts, strategy=simulation.TRIES)
        for n in (4, 64)
    }
    assert all(r.overshoot == 0 and r.admitted_amount <= 50_000 for r in results.values())
    assert results[64].false_denials > results[4].false_denials > 0
    assert results[64].near_ceiling_false_denial_rate >= results[64].false_denial_rate


@pytest.mark.parametrize("shards", [4, 16, 64])
def test_placing_and_splitting_keeps_the_overshoot_at_zero_and_denies_nothing_that_fits(shards):
    # Issue 15's goal at P5's offered load: false denials below 5 % (here none), overshoot 0.
    amounts = simulation.request_amounts(3_000, low=1, high=99)
    result = simulation.simulate_accuracy(shards, ceiling=100_000, amounts=amounts)
    assert result.overshoot == 0
    assert result.admitted_amount == 100_000  # filled exactly: the last requests split
    assert result.false_denials == 0 and result.near_ceiling_false_denial_rate == 0
    assert 0 < result.split_requests < 0.01 * len(amounts)  # the split is rare: one write is the rule


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="strategy is 'best'; it must be 'place' or 'tries'"):
        simulation.simulate_accuracy(2, ceiling=10, amounts=[1], strategy="best")


def test_a_false_denial_is_a_request_the_whole_limit_had_room_for():
    # two shards of 5, every request 5: a request is denied only when both are full (not false)
    result = simulation.simulate_accuracy(2, ceiling=10, amounts=[5, 5, 5, 5])
    assert (result.admitted_amount, result.false_denials) == (10, 0)
    # shares of 4 and 4, requests of 3: 1 unit is left on each shard; the limit as a whole has 2,
    # enough for a request of 2, which no shard can take: a false denial with three tries...
    result = simulation.simulate_accuracy(2, ceiling=8, amounts=[3, 3, 2], strategy=simulation.TRIES)
    assert (result.admitted_amount, result.false_denials, result.false_denial_rate) == (6, 1, 1 / 3)
    # ... and split over both shards (1 + 1) when placed
    result = simulation.simulate_accuracy(2, ceiling=8, amounts=[3, 3, 2])
    assert (result.admitted_amount, result.false_denials, result.split_requests) == (8, 0, 1)
    # with 1 unit left in all, a request of 3 would be denied by one counter too: not false
    result = simulation.simulate_accuracy(2, ceiling=7, amounts=[3, 3, 3])
    assert (result.admitted_amount, result.false_denials) == (6, 0)


def test_p1_false_denials_count_only_requests_the_settled_usage_had_room_for():
    assert false_denials(denied=44, ceiling=20, used=20, real_amount=1) == 0
    assert false_denials(denied=44, ceiling=2000, used=600, real_amount=30) == 44
    assert false_denials(denied=10, ceiling=2000, used=1900, real_amount=30) == 3
    assert false_denials(denied=5, ceiling=20, used=37, real_amount=1) == 0


# --- the ASL walk ------------------------------------------------------------------------------------

ASL = json.loads((Path(__file__).resolve().parents[2] / "asl" / "tollgate.asl.json").read_text())


DIMENSIONS = {k: "x" for k in ("Model", "ModelId", "CostCenter", "Application", "Environment")}
USAGE = {"inputTokens": 21, "outputTokens": 90, "totalTokens": 111}


def tasks(
    *,
    valid=True,
    decision="approved",
    invoke_error=None,
    settled=True,
    record=None,
    record_error=None,
    calls=None,
):
    """Fake tasks for the walk; ``calls`` collects (service integration, Parameters). ``settled``:
    the invoke function settled the reservation itself (else the Settle state does)."""
    calls = [] if calls is None else calls

    def rate_limit(event):
        return {"decision": decision} if event["action"] == "reserve" else {"state": "settled"}

    def invoke(event):
        if invoke_error:
            raise asl_walk.TaskFailed(invoke_error, "{}")
        invocation = {"requestId": "r", "usage": USAGE, "costUsd": 0.0004, "latencyMs": 321}
        return {**invocation, "settlement": {"state": "settled"}} if settled else invocation

    def record_metrics(event):
        if record_error:
            raise asl_walk.TaskFailed(record_error, "")
        outcome = event["state"]["outcome"]
        return record or {"outcome": outcome, "output": {"ok": True}, "cause": "{}"}

    def integration(name, error=None):
        def call(parameters):
            calls.append((name, parameters))
            if error:
                raise asl_walk.TaskFailed(error, "")
            return {}

        return call

    claim_error = "DynamoDB.ConditionalCheckFailedException" if record and not record_error else None
    return {
        "validate_function_arn": lambda event: {"valid": valid, "requestId": "r", "dimensions": DIMENSIONS},
        "rate_limit_function_arn": rate_limit,
        "invoke_function_arn": invoke,
        "record_metrics_function_arn": record_metrics,
        "dynamodb:putItem": integration("dynamodb:putItem", claim_error),
        "aws-sdk:cloudwatch:putMetricData": integration("aws-sdk:cloudwatch:putMetricData"),
    }


ADMITTED = ["Validate", "IsValid", "Reserve", "ReserveDecision"]
FALLBACK = ["FallbackClaim", "FallbackDimensions", "FallbackKnownDimensions", "FallbackMetrics"]


@pytest.mark.parametrize(
    ("scenario", "end", "states", "lambdas"),
    [
        # issue 18: the invoke function settles; the Settle state runs only when it could not
        ({}, "Succeeded", [*ADMITTED, "Invoke", "DropPrompt", "Settled", "SetSucceeded"], 4),
        (
            {"settled": False},
            "Succeeded",
            [*ADMITTED, "Invoke", "DropPrompt", "Settled", "Settle", "SetSucceeded"],
            5,
        ),
        ({"decision": "denied"}, "Denied", [*ADMITTED, "SetDenied"], 3),
        ({"decision": "replay"}, "Succeeded", [*ADMITTED, "SetReplayed"], 3),
        ({"valid": False}, "Invalid", ["Validate", "IsValid", "SetInvalid"], 2),
        (
            {"invoke_error": "ModelInvocationError"},
            "Failed",
            [*ADMITTED, "Invoke", "InvokeError", "Release", "SetFailed"],
            5,
        ),
        # anything but the three did-not-run errors may have run: Resolve, never Release
        (
            {"invoke_error": "ModelOutcomeUnknown"},
            "Failed",
            [*ADMITTED, "Invoke", "InvokeUnknown", "Resolve", "SetFailed"],
            5,
        ),
        (
            {"invoke_error": "States.Timeout"},
            "Failed",
            [*ADMITTED, "Invoke", "InvokeUnknown", "Resolve", "SetFailed"],
            5,
        ),
    ],
)
def test_the_walk_follows_the_real_definition_for_each_outcome(scenario, end, states, lambdas):
    calls = []
    walk = asl_walk.walk(ASL, tasks(**scenario, calls=calls), {"model": "nova-lite"})
    assert walk.end == end
    assert walk.states == [*states, "Record", "Finish", end]
    assert walk.transitions == len(states) + 3
    assert walk.lambda_invocations == lambdas
    assert walk.service_calls == [] and calls == []  # Record worked: no fallback call


@pytest.mark.parametrize(
    ("scenario", "metrics_state", "end", "metric_names"),
    [
        (
            {},
            "FallbackMetricsInvoked",
            "FallbackSucceeded",
            [
                "TotalRequests",
                "RateLimitApproved",
                "InputTokens",
                "OutputTokens",
                "EstimatedCostUSD",
                "InvocationLatency",
            ],
        ),
        (
            {"decision": "denied"},
            "FallbackMetricsDenied",
            "FallbackDenied",
            ["TotalRequests", "RateLimitDenied"],
        ),
        ({"valid": False}, "FallbackMetricsTotal", "FallbackInvalid", ["TotalRequests"]),
        (
            {"invoke_error": "ModelOutcomeUnknown"},
            "FallbackMetricsFailed",
            "FallbackFailed",
            ["TotalRequests", "RateLimitApproved", "InvocationFailed"],
        ),
    ],
)
def test_a_record_that_times_out_takes_the_fallback_with_two_service_calls(
    scenario, metrics_state, end, metric_names
):
    calls = []
    walk = asl_walk.walk(
        ASL,
        tasks(**scenario, record_error="States.Timeout", calls=calls),
        {"model": "m"},
        execution_id="arn:e",
    )
    assert walk.end == end
    record = walk.states.index("Record")
    assert walk.states[record:] == ["Record", *FALLBACK, metrics_state, "RecordFallback", end]
    # two AWS calls of the state machine itself, each a state (and a transition) of its own
    assert walk.service_calls == ["dynamodb:putItem", "aws-sdk:cloudwatch:putMetricData"]
    assert walk.transitions == len(walk.states)
    (_, claim), (_, metrics) = calls
    assert claim["Item"]["pk"] == {"S": "arn:e"} and claim["Item"]["sk"] == {"S": "RECORD"}
    assert claim["TableName"] == "${table_name}"  # not rendered: load_definition() does that
    # each metric under the five dimensions, then under the six aggregate sets (total last)
    five = [m["MetricName"] for m in metrics["MetricData"] if len(m.get("Dimensions", [])) == 5]
    total = [m["MetricName"] for m in metrics["MetricData"] if not m.get("Dimensions")]
    assert five == metric_names and total == metric_names
    assert len(metrics["MetricData"]) == 6 * len(metric_names)
    assert metrics["MetricData"][0]["Dimensions"][0] == {"Name": "Model", "Value": "x"}


def test_the_replay_fallback_counts_what_record_would_have():
    """A replay whose reservation result is present is counted as a replayed success."""
    calls = []

    def reserve_replay(event):
        return {"decision": "replay", "result": {"cached": True}} if event["action"] == "reserve" else {}

    walk = asl_walk.walk(
        ASL,
        {**tasks(record_error="States.Timeout", calls=calls), "rate_limit_function_arn": reserve_replay},
        {},
    )
    assert walk.states[-3:] == ["FallbackMetricsReplayed", "RecordFallback", "FallbackReplayed"]
    assert walk.output == {"cached": True}
    names = [m["MetricName"] for m in calls[1][1]["MetricData"] if not m.get("Dimensions")]
    assert names == ["TotalRequests", "RateLimitApproved"]


def test_the_definition_is_rendered_like_templatefile():
    definition = asl_walk.load_definition(variables={"table_name": "t1", "metrics_namespace": "NS"})
    calls = []
    walk = asl_walk.walk(definition, tasks(record_error="States.Timeout", calls=calls), {})
    assert calls[0][1]["TableName"] == "t1" and calls[1][1]["Namespace"] == "NS"
    assert walk.tasks[0] == "validate_function_arn"  # the function ARNs stay task names
    assert asl_walk.resource_name("arn:aws:states:::aws-sdk:cloudwatch:putMetricData") == (
        "aws-sdk:cloudwatch:putMetricData"
    )


def test_the_walk_passes_parameters_and_the_execution_id_to_tasks():
    seen = {}

    def validate(event):
        seen.update(event)
        return {"valid": False}

    walk = asl_walk.walk(
        ASL, {**tasks(), "validate_function_arn": validate}, {"model": "m"}, execution_id="arn:x:exec"
    )
    assert seen == {"request": {"model": "m"}, "executionId": "arn:x:exec"}
    assert walk.status == "FAILED" and walk.error == "ValidationError" and walk.cause == "{}"


def test_an_unusable_record_result_takes_the_fallback():
    # Record ran (and claimed the record mark) but returned no output: Finish falls through to the
    # fallback, whose claim finds the mark taken (nothing emitted twice). The state is then
    # {record, outcome} (Record's ResultSelector): RecordFallback no longer sees $.invocation.
    calls = []
    walk = asl_walk.walk(ASL, tasks(record={"outcome": "succeeded"}, calls=calls), {})
    assert walk.states[-5:] == ["Record", "Finish", "FallbackClaim", "RecordFallback", "FallbackFailed"]
    assert [name for name, _ in calls] == ["dynamodb:putItem"]
    assert walk.service_calls == ["dynamodb:putItem"]


def test_an_uncaught_task_error_fails_the_execution_in_that_state():
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "Resource": "${a_function_arn}", "End": True}},
    }

    def fail(event):
        raise KeyError("x")

    walk = asl_walk.walk(definition, {"a_function_arn": fail}, {})
    assert (walk.end, walk.status, walk.error, walk.lambda_invocations) == ("A", "FAILED", "KeyError", 1)


def test_a_changed_definition_changes_the_counts():
    definition = json.loads(json.dumps(ASL))
    definition["States"]["SetSucceeded"]["Next"] = "Audit"
    definition["States"]["Audit"] = {"Type": "Pass", "Next": "Record"}
    walk = asl_walk.walk(definition, tasks(), {})
    assert walk.states[walk.states.index("SetSucceeded") + 1] == "Audit"
    assert walk.transitions == 12


def test_the_walk_names_what_it_cannot_interpret():
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True}}}
    with pytest.raises(asl_walk.WalkError, match="type Map is not interpreted"):
        asl_walk.walk(definition, {}, {})
    with pytest.raises(asl_walk.WalkError, match="no task function for resource 'x_function_arn'"):
        asl_walk.walk(
            {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${x_function_arn}", "End": True}}},
            {},
            {},
        )
    loop = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "P"}}}
    with pytest.raises(asl_walk.WalkError, match="loops"):
        asl_walk.walk(loop, {}, {})


def test_choice_rules():
    data = {"a": {"b": "x", "n": 3, "t": True}}
    assert asl_walk.matches({"Variable": "$.a.b", "StringEquals": "x"}, data)
    assert not asl_walk.matches({"Variable": "$.a.missing", "StringEquals": "x"}, data)
    assert asl_walk.matches({"Variable": "$.a.missing", "IsPresent": False}, data)
    assert asl_walk.matches({"Not": {"Variable": "$.a.t", "BooleanEquals": False}}, data)
    assert asl_walk.matches(
        {"Or": [{"Variable": "$.a.n", "NumericEquals": 4}, {"Variable": "$.a.n", "IsNumeric": True}]}, data
    )
    assert not asl_walk.matches({"Variable": "$.a.t", "IsNumeric": True}, data)


# --- P3 ----------------------------------------------------------------------------------------------


def usage(**overrides):
    base = {
        "transitions": 10,
        "lambda_invocations": 5,
        "dynamodb_write_units": 8.0,
        "dynamodb_read_units": 1.0,
        "put_metric_data_calls": 0,
        "get_metric_data_metrics": 0,
        "log_bytes": 0,
    }
    return costs.Usage(**{**base, **overrides})


def test_standard_costs_a_transition_per_state_entered():
    row = costs.per_million(usage(), workflow="STANDARD")
    assert row["step_functions"] == 250.0  # 10 x $25 per million transitions


def test_express_bills_a_request_and_its_duration_in_100_ms_steps():
    assert costs.express_duration_seconds(5, task_ms=30) == 0.2
    assert costs.express_duration_seconds(1, task_ms=30) == 0.1
    row = costs.per_million(usage(), workflow="EXPRESS", task_ms=30)
    # $1 per million requests + 0.2 s x 64 MB x $0.00001667 per GB-second
    assert row["step_functions"] == pytest.approx(1.0 + 0.2 * 0.0625 * 16.67, abs=0.01)


def test_dynamodb_and_cloudwatch_are_priced_per_unit_and_call():
    row = costs.per_million(usage(put_metric_data_calls=1, get_metric_data_metrics=2), workflow="EXPRESS")
    assert row["dynamodb"] == pytest.approx(8 * 0.625 + 0.125, abs=0.01)
    assert row["cloudwatch"] == pytest.approx(10 + 20, abs=0.01)
    assert row["total"] == pytest.approx(sum(v for k, v in row.items() if k != "total"), abs=0.05)
    with pytest.raises(ValueError, match="workflow is 'X'"):
        costs.per_million(usage(), workflow="X")


# --- P2 on moto: the real handlers, counted ------------------------------------------------------------


@pytest.fixture
def counted_pipeline(aws, monkeypatch):
    """calls.measure() rewires the client factories and the environment: restore both afterwards."""
    from tollgate import clients

    for name in ("dynamodb", "cloudwatch", "bedrock_runtime"):
        monkeypatch.setattr(clients, name, getattr(clients, name))
    for name in ("TOLLGATE_TABLE_NAME", "TOLLGATE_METRICS_SINK", "TOLLGATE_CONFIG_CACHE_SECONDS"):
        monkeypatch.setenv(name, "placeholder")
    from bench import calls

    return calls


def test_p2_counts_each_outcome_through_the_real_handlers(counted_pipeline):
    from conftest import article_request

    emf = counted_pipeline.measure(None, article_request(), sink="emf", cache_seconds=60)
    api = counted_pipeline.measure(None, article_request(), sink="cloudwatch_api", cache_seconds=0)
    assert {o: r.ended_in for o, r in emf.items()} == counted_pipeline.EXPECTED_END
    for outcome, result in emf.items():
        # the model is called only when a request is admitted and not a replay
        called = outcome in ("succeeded", "failed", "unknown", "record_fallback")
        assert result.bedrock_calls == (1 if called else 0), outcome
        # EMF: no CloudWatch call on the request path unless Record is down (the state machine's
        # own PutMetricData); the PutMetricData sink: exactly one per execution either way
        assert result.cloudwatch_calls == (1 if outcome == "record_fallback" else 0), outcome
        assert api[outcome].calls.get("cloudwatch:PutMetricData") == 1, outcome
        assert result.transitions == len(result.states)
        # the record mark: one conditional PutItem per execution, by Record or by RecordFallback
        assert result.calls.get("dynamodb:PutItem") == 1, outcome
    ok, fallback = emf["succeeded"], emf["record_fallback"]
    assert emf["invalid"].calls == {"dynamodb:PutItem": 1}  # only the record mark
    # reserve and settle (transactions), the invoking mark (UpdateItem); settle writes from the
    # counters Reserve returned, so nothing is read on the way
    assert ok.calls["dynamodb:TransactWriteItems"] == 2
    assert ok.calls["dynamodb:UpdateItem"] == 1 and ok.calls.get("dynamodb:GetItem", 0) == 0
    assert ok.modeled_write_units >= 2 * 2 + 1 + 1  # two transactions of 2+ items, mark, record mark
    # the fallback: Record was invoked (and timed out); the claim and the metrics are made by the
    # state machine itself
    assert fallback.service_integrations == ["dynamodb:putItem", "aws-sdk:cloudwatch:putMetricData"]
    assert fallback.lambda_invocations == ok.lambda_invocations
    assert fallback.transitions == ok.transitions - 2 + 7
    # a refused call takes its invoking mark back (UpdateItem) and releases; an unknown one is
    # charged (Resolve reads the reservation once and charges it by what it read)
    assert emf["failed"].calls["dynamodb:UpdateItem"] == 2
    assert emf["unknown"].calls["dynamodb:UpdateItem"] == 1
    assert emf["unknown"].calls["dynamodb:GetItem"] == 1
    assert emf["unknown"].states[5:7] == ["InvokeUnknown", "Resolve"]
    # with the cache off, the limits (and the routes) are read on every request
    assert api["succeeded"].calls.get("dynamodb:Query", 0) > ok.calls.get("dynamodb:Query", 0)


def test_p2_keeps_the_request_path_within_its_lambda_budget(counted_pipeline):
    """Issue 18: at most 4 Lambda invocations for a success (the invoke function settles), 3 for a
    denial, 2 for invalid input (5, 3 and 2 before), measured through the real handlers."""
    from conftest import article_request

    emf = counted_pipeline.measure(None, article_request(), sink="emf", cache_seconds=60)
    measured = {outcome: result.as_json() for outcome, result in emf.items()}
    assert counted_pipeline.over_lambda_budget(measured) == {}
    assert {o: measured[o]["lambda_invocations"] for o in ("succeeded", "denied", "invalid")} == {
        "succeeded": 4,
        "denied": 3,
        "invalid": 2,
    }
    assert "Settle" not in emf["succeeded"].states and "Settled" in emf["succeeded"].states
    # one transaction settles, as before, now inside the invoke function
    assert emf["succeeded"].calls["dynamodb:TransactWriteItems"] == 2
    assert counted_pipeline.over_lambda_budget({**measured, "succeeded": {"lambda_invocations": 5}}) == {
        "succeeded": 5
    }


def test_p6_reports_the_models_reading_time_under_express(capsys):
    from bench.__main__ import p6_express_model_seconds

    figure = p6_express_model_seconds()
    assert figure["express_model_seconds"] >= 240
    assert "model may read" in capsys.readouterr().out


def test_p6_request_path_interleaves_the_series_and_derives_its_ratios(monkeypatch):
    """tools/bench/requestpath.py against fakes: every series is sampled once per round, each stream
    is paced by one "stream" fault on the routed model, and the ratios are those of the medians."""
    from bench import requestpath

    import tollgate.client

    clock = {"t": 0.0}
    cost = {"workflow": 0.5, "client": 0.52, "direct": 0.01}
    armed = []

    def spend(seconds):
        clock["t"] += seconds

    class Sfn:
        def start_sync_execution(self, **_):
            spend(cost["workflow"])
            return {"status": "SUCCEEDED"}

    def events(first, rest):
        spend(first)
        yield {"messageStart": {}}
        spend(rest)
        yield {"metadata": {}}

    class Runtime:
        def converse(self, **_):
            spend(cost["direct"])

        def converse_stream(self, **_):
            return {"stream": events(0.01, 0.3)}

    class Client:
        def __init__(self, *_, **__):
            pass

        def converse(self, **kwargs):
            assert kwargs["requestId"]
            spend(cost["client"])

        def converse_stream(self, **_):
            return events(0.4, 0.3 + 0.4)

    monkeypatch.setattr(requestpath.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(
        requestpath.e2e, "client", lambda service, _: Sfn() if service == "stepfunctions" else Runtime()
    )
    monkeypatch.setattr(requestpath.e2e, "arm_fault", lambda endpoint, spec, **_: armed.append(spec))
    monkeypatch.setattr(tollgate.client, "Tollgate", Client)
    outputs = {
        "state_machine_arn": "arn:sm",
        "stream_admit_state_machine_arn": "arn:admit",
        "stream_settle_state_machine_arn": "arn:settle",
        "model_routes": {requestpath.ROUTE: "us.amazon.nova-lite-v1:0"},
    }
    r = requestpath.measure("http://localhost:1", outputs, samples=3)

    assert (r["workflow_ms"], r["client_ms"], r["direct_ms"]) == (500.0, 520.0, 10.0)
    assert (
        r["workflow_over_direct"] == 50.0
        and r["client_overhead_ms"] == 20.0
        and r["client_over_workflow"] == 1.04
    )
    assert (r["stream_first_ms"], r["stream_full_ms"], r["stream_first_over_full"]) == (400.0, 1100.0, 0.364)
    assert (r["direct_stream_first_ms"], r["direct_stream_full_ms"]) == (10.0, 310.0)
    assert (
        armed
        == [{"modelId": "us.amazon.nova-lite-v1:0", "phase": "stream", "delayMs": requestpath.PACE_MS}] * 6
    )


def test_p6_client_overhead_is_measured_in_process_against_a_stub():
    from bench import requestpath

    overhead = requestpath.client_overhead_us(calls=200)
    assert 0 < overhead < 5_000, "the client's own work per call: microseconds, not milliseconds"
