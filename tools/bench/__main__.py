"""`make bench`: every figure of docs/benchmarks.md, printed as tables and written to dist/bench.json.

    PYTHONPATH=tools python -m bench [--only p1,p2,p3,p4,p5,p6,e2e,inprocess]

LocalStack (for DynamoDB Local and the end-to-end figure) is started on $LOCALSTACK_PORT with
local/launcher.py when nothing runs there, and stopped again at the end; a LocalStack that was
already running is used as it is and left running (the end-to-end before/after comparison needs
two LocalStacks of its own, so it is skipped then, with a message).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenAIRateLimiting")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tollgate")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from . import accuracy, calls, costs, ddb, e2e, ledger_local, requestpath, simulation, throughput
from .ddb import ARTICLE_REQUEST

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "dist" / "bench.json"
FIGURES = ("p1", "p2", "p3", "p4", "p5", "p6", "e2e", "inprocess")
SHARDS = (1, 4, 16, 64)


def table(title: str, header: list[str], rows: list[list[Any]], note: str = "") -> None:
    """A plain-text table (also valid Markdown, so docs/benchmarks.md can hold it as printed)."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}\n")
    for i, row in enumerate(cells):
        print(
            "| "
            + " | ".join(
                c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            + " |"
        )
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if note:
        print(f"\n{note}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


# --- figures -------------------------------------------------------------------------------------------


def p1(endpoint: str) -> dict[str, Any]:
    result = accuracy.measure(endpoint)
    rows = []
    for unit, figures in (("requests", result), ("total tokens", result["tokens"])):
        for design in ("tollgate", "read_then_decide"):
            f = figures[design]
            rows.append(
                [
                    f"{design} ({unit})",
                    f["admitted"],
                    f["ceiling"],
                    f["used"],
                    f["overshoot"],
                    f["false_denials"],
                ]
            )
    table(
        f"P1 accuracy: {accuracy.CONCURRENT} concurrent requests, ceiling {accuracy.CEILING_REQUESTS} "
        "(requests; then tokens, 20 estimates' worth, real output half of max_tokens), DynamoDB Local",
        ["design (unit)", "admitted", "ceiling", "settled usage", "overshoot", "false denials"],
        rows,
    )
    return result


def p2(endpoint: str) -> dict[str, Any]:
    variants = {
        "emf_cached": {"sink": "emf", "cache_seconds": 60},
        "put_metric_data_cached": {"sink": "cloudwatch_api", "cache_seconds": 60},
        "emf_uncached": {"sink": "emf", "cache_seconds": 0},
    }
    measured = {
        name: {k: v.as_json() for k, v in calls.measure(endpoint, ARTICLE_REQUEST, **kw).items()}
        for name, kw in variants.items()
    }
    default = measured["emf_cached"]
    rows = [
        [
            outcome,
            o["transitions"],
            o["lambda_invocations"],
            len(o["service_integrations"]),
            o["dynamodb_writes"],
            o["dynamodb_reads"],
            max(o["write_units"], o["modeled_write_units"]),
            o["read_units"],
            o["cloudwatch_calls"],
            measured["emf_uncached"][outcome]["dynamodb_reads"],
            measured["put_metric_data_cached"][outcome]["cloudwatch_calls"],
            o["log_bytes"],
        ]
        for outcome, o in default.items()
    ]
    table(
        "P2 AWS calls per request, counted "
        "(real handlers in the ASL's order; DynamoDB Local; Bedrock stubbed)",
        [
            "outcome",
            "state transitions",
            "Lambda invocations",
            "SFN service calls",
            "DynamoDB writes",
            "DynamoDB reads",
            "write units",
            "read units",
            "CloudWatch calls",
            "reads, cache off",
            "CloudWatch, PutMetricData sink",
            "log bytes",
        ],
        rows,
        "Default settings: EMF metrics, config cache 60 s (a warm container). One limit matches "
        "(two for `denied`). failed: the model refused (released); unknown: the model answered 500 "
        "(may have run: charged); record_fallback: Record timed out, RecordFallback's own PutItem and "
        "PutMetricData (SFN service calls, also counted in the DynamoDB and CloudWatch columns). "
        "Write units: what DynamoDB reported, or by its rules where it reports nothing (a cancelled "
        "transaction, counted as if it wrote).",
    )
    over = calls.over_lambda_budget(default)
    if over:
        raise RuntimeError(f"P2: Lambda invocations over the request path's budget: {over}")
    out = {outcome: o for outcome, o in default.items()}
    out["variants"] = measured
    return out


def p6_express_model_seconds() -> dict[str, Any]:
    """P6, the EXPRESS bound's part: how long the model may read under the default EXPRESS workflow,
    proved from asl/tollgate.asl.json by tools/workflow_bound.py (with lambda_timeouts.invoke's
    default)."""
    import workflow_bound as wb

    definition = json.loads((ROOT / "asl" / "tollgate.asl.json").read_text(encoding="utf-8"))
    timeout = wb.default_invoke_timeout(ROOT / "variables.tf")
    bound = wb.longest_path(definition)
    seconds = wb.model_seconds(definition, timeout)
    table(
        "P6 the model's reading time under EXPRESS (tools/workflow_bound.py)",
        ["longest path, retries included", "Express limit", "invoke function timeout", "model may read"],
        [[bound.seconds, wb.EXPRESS_LIMIT_SECONDS, timeout, seconds]],
    )
    return {"express_model_seconds": seconds}


def p6_request_path(endpoint: str, run_dir: Path, *, destroy: bool) -> dict[str, Any]:
    """P6, the request path through LocalStack (tools/bench/requestpath.py)."""
    r = requestpath.run(endpoint, run_dir, destroy=destroy)
    table(
        f"P6 one request end to end through LocalStack, median of {r['samples']} (ms)",
        ["path", "median ms", "ratio"],
        [
            ["direct Converse to the emulator", r["direct_ms"], 1.0],
            ["workflow: raw StartSyncExecution", r["workflow_ms"], r["workflow_over_direct"]],
            ["tollgate.client converse", r["client_ms"], round(r["client_ms"] / r["direct_ms"], 1)],
            ["client - raw StartSyncExecution (medians)", r["client_overhead_ms"], r["client_over_workflow"]],
            ["client overhead in process, stub Step Functions", r["client_overhead_us"] / 1000, ""],
        ],
        f"ratio: over the direct Converse call (client - raw: client / raw). 1-minute load average "
        f"{r['load_average_1m']} on {os.cpu_count()} CPUs: LocalStack medians move with it; the in-process "
        "overhead does not.",
    )
    table(
        f"P6 streaming, the model pacing {r['stream_pace_ms_per_delta']} ms per three-word delta (ms)",
        ["path", "first event", "last event", "first / last"],
        [
            [
                "tollgate.client converse_stream (admit, stream, settle)",
                r["stream_first_ms"],
                r["stream_full_ms"],
                r["stream_first_over_full"],
            ],
            [
                "direct ConverseStream to the emulator",
                r["direct_stream_first_ms"],
                r["direct_stream_full_ms"],
                round(r["direct_stream_first_ms"] / r["direct_stream_full_ms"], 3),
            ],
        ],
        "converse_stream's first event waits for the admit execution; its last for the settle execution.",
    )
    return r


def p3(p2_result: dict[str, Any]) -> dict[str, Any]:
    rows_by_name = costs.table(p2_result["variants"])
    labels = {
        "express_emf": "Tollgate: EXPRESS, EMF, config cache on (default)",
        "standard_emf": "Tollgate: STANDARD, EMF, cache on",
        "express_put_metric_data": "Tollgate: EXPRESS, PutMetricData, cache on",
        "express_emf_config_cache_off": "Tollgate: EXPRESS, EMF, config cache off",
        "article_design": "article: EXPRESS, CloudWatch metrics read per request",
    }
    rows = [
        [
            labels[name],
            r["step_functions"],
            r["lambda"],
            r["dynamodb"],
            r["cloudwatch"],
            r["logs"],
            r["total"],
            r["per_second_of_model_latency"],
        ]
        for name, r in rows_by_name.items()
    ]
    table(
        f"P3 dollars per 1 million succeeded requests, model cost excluded (us-east-1 list prices of "
        f"{costs.PRICES_DATE})",
        [
            "design",
            "Step Functions",
            "Lambda",
            "DynamoDB",
            "CloudWatch",
            "Logs",
            "total",
            "+ per s of model latency",
        ],
        rows,
        f"Assumed: {costs.LAMBDA_TASK_MS} ms per Lambda task at 256 MB, a 64 MB Express execution. "
        "The last column is what each second spent waiting for the model adds (the invoke function runs).",
    )
    return {name: r["total"] for name, r in rows_by_name.items()} | {"detail": rows_by_name}


def p4(endpoint: str, port: int) -> dict[str, Any]:
    """Through LocalStack's gateway (what the functions use here) and, when it can be found,
    straight to DynamoDB Local (no gateway in between: closer to what DynamoDB itself does)."""
    endpoints = {"via LocalStack": endpoint}
    direct = ddb.direct_endpoint(port)
    if direct:
        endpoints["DynamoDB Local direct"] = direct
    results = {label: throughput.measure(url) for label, url in endpoints.items()}
    rows = []
    for label, r in results.items():
        per_decision = r["calls_per_decision"]
        calls = sum(v for k, v in per_decision.items() if k != "items written")
        r["calls_ratio"] = round(r["decisions_per_s"] * calls / r["raw_update_item_per_s"], 3)
        r["items_written_ratio"] = round(
            r["decisions_per_s"] * per_decision.get("items written", 0) / r["raw_update_item_per_s"], 3
        )
        rows.append(
            [
                label,
                r["raw_update_item_per_s"],
                r["decisions_per_s"],
                r["ratio"],
                r["calls_ratio"],
                r["items_written_ratio"],
            ]
        )
    first = next(iter(results.values()))
    table(
        f"P4 decision throughput, {first['threads']} threads, one hot counter",
        [
            "endpoint",
            "raw UpdateItem /s",
            "reserve+mark+settle /s",
            "ratio (goal >= 0.5)",
            "calls/s ratio",
            "items written/s ratio",
        ],
        rows,
        f"Calls per decision: {first['calls_per_decision']}; transaction cancellation reasons: "
        f"{ {k: r['cancellation_reasons'] for k, r in results.items()} }. The last two columns compare "
        "DynamoDB calls, and items written, per second by the decisions with the raw UpdateItems.",
    )
    best = results.get("DynamoDB Local direct", first)
    return {**best, "by_endpoint": results}


def p5() -> dict[str, Any]:
    offered = 20_000.0
    throughputs = {n: simulation.simulate_throughput(n, offered_per_s=offered) for n in SHARDS}
    amounts = simulation.request_amounts(3_000, low=1, high=99)
    accuracies = {n: simulation.simulate_accuracy(n, ceiling=100_000, amounts=amounts) for n in SHARDS}
    before = {
        n: simulation.simulate_accuracy(n, ceiling=100_000, amounts=amounts, strategy=simulation.TRIES)
        for n in SHARDS
    }
    rows = [
        [
            n,
            simulation.capacity_per_second(n),
            throughputs[n].admitted_per_s,
            accuracies[n].overshoot,
            accuracies[n].false_denial_rate,
            accuracies[n].near_ceiling_false_denial_rate,
            accuracies[n].ceiling - accuracies[n].admitted_amount,
            accuracies[n].split_requests,
            before[n].near_ceiling_false_denial_rate,
        ]
        for n in SHARDS
    ]
    table(
        f"P5 one hot counter, simulated: a limit every request matches, {offered:,.0f} requests/s offered",
        [
            "shards",
            "capacity /s",
            "admitted /s",
            "overshoot",
            "false denials",
            "false denials, last 10%",
            "ceiling left unused",
            "split requests",
            "last 10%, 3 tries (before)",
        ],
        rows,
        "1,000 write units/s per item, 2 per transactional item write, reserve and settle both write "
        "the counter (a USD limit). Accuracy: 3,000 requests of 1-99 units against a ceiling of 100,000 "
        "(about 2,000 requests' worth); a false denial is a request the limit as a whole had room for. "
        "A request whose hashed shard is full goes to another with room, or is split over several in "
        "the same transaction; the last column is the design before (hashed shard and two others).",
    )
    ledger_run = p5_ledger()
    return {
        "simulated_admitted_per_s": {str(n): t.admitted_per_s for n, t in throughputs.items()},
        "capacity_per_s": {str(n): simulation.capacity_per_second(n) for n in SHARDS},
        "false_denial_rate": {
            str(n): round(a.near_ceiling_false_denial_rate, 4) for n, a in accuracies.items()
        },
        "false_denial_rate_whole_run": {str(n): round(a.false_denial_rate, 4) for n, a in accuracies.items()},
        "false_denial_rate_three_tries": {
            str(n): round(a.near_ceiling_false_denial_rate, 4) for n, a in before.items()
        },
        "split_requests": {str(n): a.split_requests for n, a in accuracies.items()},
        "overshoot": {str(n): a.overshoot for n, a in accuracies.items()},
        "ledger": ledger_run,
    }


LEDGER_SHARDS = (1, 4, 16)
LEDGER_REQUESTS = 300  # the simulation's mix, scaled down: a minute or two on DynamoDB Local
LEDGER_CEILING = 10_000  # as in the simulation, two thirds of what is offered


def p5_ledger() -> dict[str, Any]:
    """The same workload through tollgate.ledger.Ledger against DynamoDB Local (its own, in memory)."""
    amounts = simulation.request_amounts(LEDGER_REQUESTS, low=1, high=99)
    print("\nstarting DynamoDB Local for P5 (real ledger) ...", flush=True)
    with ledger_local.dynamodb_local() as endpoint:
        # A few reserves first, so that the JVM's warm-up does not land on the first shard count.
        ledger_local.measure(endpoint, 1, ceiling=10**6, amounts=amounts[:30])
        runs = {
            n: ledger_local.measure(endpoint, n, ceiling=LEDGER_CEILING, amounts=amounts)
            for n in LEDGER_SHARDS
        }
    table(
        f"P5 on the real ledger: tollgate.ledger.Ledger on DynamoDB Local, {LEDGER_REQUESTS} requests of "
        f"1-99 output tokens against a ceiling of {LEDGER_CEILING:,}, one by one",
        [
            "shards",
            "admitted",
            "counted (read back)",
            "overshoot",
            "false denials",
            "false denials, last 10%",
            "split reservations",
            "counter items per admitted",
            "reserves /s",
        ],
        [
            [
                n,
                r["admitted_amount"],
                r["counted"],
                r["overshoot"],
                r["false_denial_rate_whole_run"],
                r["false_denial_rate"],
                r["split_reservations"],
                r["counter_items_per_admitted"],
                r["reserves_per_s"],
            ]
            for n, r in runs.items()
        ],
    )
    return {str(n): r for n, r in runs.items()}


def print_e2e(result: dict[str, Any]) -> None:
    rows = []
    for label in ("hooks_off", "hooks_on"):
        if label in result:
            r = result[label]
            rows.append(
                [
                    label.replace("_", " "),
                    r["median_ms_log_all"],
                    r["median_ms_log_off"],
                    r["log_all_cost_share"],
                ]
            )
    if "speedup" in result:
        rows.append(["ratio off/on (log level ALL)", result["speedup"], "", ""])
    table(
        "End to end in LocalStack: median latency of one request (ms), the project's hooks off and on",
        ["LocalStack", "log level ALL", "log level OFF", "share of ALL"],
        rows,
    )
    for label in ("hooks_off", "hooks_on"):
        top = result.get(label, {}).get("profile_top")
        if top:
            print(f"\ncProfile of one execution inside LocalStack, {label.replace('_', ' ')} (cumulative):")
            print("\n".join("  " + line for line in top))


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(FIGURES), help="figures to run, separated by commas")
    only = set(parser.parse_args(argv).only.split(","))
    unknown = only - set(FIGURES)
    if unknown:
        parser.error(f"--only names {', '.join(sorted(unknown))}; known figures: {', '.join(FIGURES)}")
    port = int(os.environ.get("LOCALSTACK_PORT", "4566"))
    endpoint = f"http://localhost:{port}"
    os.environ.pop("AWS_ENDPOINT_URL", None)  # the bench names its endpoints itself
    print(
        f"Tollgate benchmarks - Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"LocalStack port {port}"
    )
    result: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "prices_date": costs.PRICES_DATE,
            "prices_usd": costs.PRICES_USD,
        }
    }
    if "p5" in only:
        result["p5"] = p5()
    if "p6" in only:
        result.setdefault("p6", {}).update(p6_express_model_seconds())
    if "inprocess" in only:
        from . import inprocess

        inprocess.section_request_path()
    needs_localstack = only & {"p1", "p2", "p3", "p4", "p6", "e2e"}
    started = False
    if needs_localstack and not e2e.healthy(port):
        print(f"\nstarting LocalStack on port {port} (local/launcher.py) ...", flush=True)
        e2e.launcher("up", port, **e2e.localstack_env("hooks_off", port))
        started = True
    with tempfile.TemporaryDirectory() as run_dir:
        try:
            if "p1" in only:
                result["p1"] = p1(endpoint)
            if only & {"p2", "p3"}:
                result["p2"] = p2(endpoint)
            if "p3" in only:
                result["p3"] = p3(result["p2"])
            if "p4" in only:
                result["p4"] = p4(endpoint, port)
            if "e2e" in only and started:
                result["e2e"] = {"hooks_off": e2e.run(port, Path(run_dir), "hooks_off", start=False)}
            if "p6" in only:
                # A LocalStack started here forgets the deployment when stopped; one already running
                # keeps running, so the deployment is destroyed.
                result.setdefault("p6", {}).update(
                    p6_request_path(endpoint, Path(run_dir), destroy=not started)
                )
        finally:
            if started:
                e2e.launcher("down", port)
        if "e2e" in only:
            if started:
                result["e2e"]["hooks_on"] = e2e.run(port, Path(run_dir), "hooks_on", start=True)
                off, on = result["e2e"]["hooks_off"], result["e2e"]["hooks_on"]
                result["e2e"]["speedup"] = round(off["median_ms_log_all"] / on["median_ms_log_all"], 2)
                print_e2e(result["e2e"])
            else:
                print(
                    f"\nEnd to end: not compared - a LocalStack was already running on port {port}; the "
                    "before/after comparison starts two of its own (stop it, or pick a free LOCALSTACK_PORT)."
                )
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\nwrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
