"""`make demo`: apply examples/localstack into the local AWS, send a burst of traffic, show the
outcome. The traffic is the article's request across the cost-center routes (sales, services,
support) and the six model aliases, bursts that run into the example's limits, one invalid request
and one call to an end-of-life model. The deployment has an application registry (REGISTRY), so
every call to a model alias goes through an application inference profile tagged with its
application, cost center and environment, and the bill (the local Cost Explorer) agrees with
Tollgate's ledger per cost center. The end-of-life model is left out of the registry (Bedrock
creates no profile for it), so its call is refused before it reaches Bedrock. The summary comes
back from CloudWatch (the metrics the record function wrote) and from the limits table (the
ledger); it ends with `tollgate report` by cost center, Tollgate beside the local Cost Explorer,
and writes the HTML report to dist/tollgate-report.html. LocalStack is left running.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config

from tollgate import cli
from tollgate.client import Tollgate
from tollgate.report import Period, build_report, render
from tollgate.report.html import as_html

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "localstack"
ENDPOINT = (
    os.environ.get("AWS_ENDPOINT_URL") or f"http://localhost:{os.environ.get('LOCALSTACK_PORT', '4566')}"
)
REGION = "us-east-1"

REPORT_HTML = ROOT / "dist" / "tollgate-report.html"
ARTICLE_REQUEST = json.loads((ROOT / "examples" / "requests" / "article.json").read_text())
ALIASES = [
    "nova-lite",
    "nova-micro",
    "claude-2",
    "claude-3-haiku",
    "claude-3-5-sonnet-v2",
    "claude-3-5-haiku",
]


# The demo's applications: which cost centers, environments and routes each may use. The module
# creates one tagged profile per (model alias x application x cost center x environment): 13 here,
# besides the three cost-center routes. `my-app` (the commands printed at the end) leaves its cost
# center and environment open: its calls are billed to costCenter = unassigned.
PRODUCTION = ["production"]
REGISTRY = {
    "aws-documentation-helper": {
        "cost_centers": ["sales", "services", "support"],
        "environments": PRODUCTION,
        "routes": ["claude-3-5-haiku", "sales", "services", "support"],
    },
    "support-bot": {
        "cost_centers": ["support"],
        "environments": PRODUCTION,
        "routes": [a for a in ALIASES if a != "claude-2"],
    },
    "sales-assistant": {"cost_centers": ["sales"], "environments": PRODUCTION, "routes": ["nova-micro"]},
    **{
        f"docs-{i}": {"cost_centers": ["support"], "environments": PRODUCTION, "routes": ["claude-3-5-haiku"]}
        for i in range(3)
    },
    "my-app": {"routes": ["sales", "nova-lite"]},
}


def article(model: str, cost_center: str, app: str = "aws-documentation-helper") -> dict:
    body = copy.deepcopy(ARTICLE_REQUEST)
    body["model"] = model
    body["tags"].update(costCenter=cost_center, applicationId=app)
    return body


def short(model: str, app: str, cost_center: str, text: str, max_tokens: int = 300) -> dict:
    return {
        "model": model,
        "prompt": {
            "messages": [
                {"role": "system", "content": "You are a concise AWS expert."},
                {"role": "user", "content": text},
            ],
            "parameters": {"max_tokens": max_tokens},
        },
        "tags": {"applicationId": app, "costCenter": cost_center, "environment": "production"},
    }


def traffic() -> list[tuple[str, dict]]:
    """(what it shows, request) in the order they are sent."""
    sent: list[tuple[str, dict]] = [("the article's request, unchanged", copy.deepcopy(ARTICLE_REQUEST))]
    for center in ("sales", "services", "support"):
        sent.append((f"cost-center route -> {center}'s profile", article(center, center)))
    for alias in ALIASES:
        sent.append((f"alias {alias}", short(alias, "support-bot", "support", f"What is {alias} good at?")))
    for i in range(7):
        sent.append(
            (
                "burst: 5 requests/min on nova-micro",
                short("nova-micro", "sales-assistant", "sales", f"Lead {i}?"),
            )
        )
    for i in range(9):
        sent.append(
            (
                "burst: 6k tokens/min on claude-3-5-haiku",
                article("claude-3-5-haiku", "support", f"docs-{i % 3}"),
            )
        )
    for _ in range(3):
        sent.append(("services: half a cent a day", article("services", "services")))
    invalid = short("claude-3-5-haiku", "", "support", "Hello")
    invalid["prompt"]["parameters"]["temperature"] = 1.5
    sent.append(("invalid: empty applicationId, temperature 1.5", invalid))
    return sent


def terraform(*args: str) -> str:
    proc = subprocess.run(
        ["terraform", f"-chdir={EXAMPLE}", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"terraform {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def client(service: str):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(inject_host_prefix=False, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def _amount(value: object) -> str:
    number = float(value) if isinstance(value, int | float | str) and str(value) else 0.0
    return f"{number:,.0f}" if number >= 10 else f"{number:.4g}"


def detail(outcome: cli.Outcome) -> str:
    cause = outcome.cause
    if outcome.name == "RateLimitExceeded":
        limit = cause.get("limit") or {}
        retry = cause.get("retryAfterSeconds")
        if "used" not in limit:
            return f"{limit.get('id', cause.get('reason'))} (retry in {retry} s)"
        # `used` counts what is settled plus the reservations still in flight: a reservation holds
        # max_tokens (and the estimated input) until its call settles to the real usage.
        return (
            f"{limit.get('id')}: {_amount(limit.get('used'))} held + {_amount(limit.get('requested'))} "
            f"asked > {_amount(limit.get('limit'))} (retry in {retry} s)"
        )
    if outcome.name == "InvocationFailed":
        error = cause.get("modelError") or {}
        return f"{error.get('code')}: {str(error.get('message'))[:60]}"
    if outcome.name == "ValidationError":
        return "; ".join(f"{e['field']} {e['message']}" for e in cause.get("errors", []))[:90]
    return ""


SUMMARY_METRICS = (
    "TotalRequests",
    "RateLimitDenied",
    "InvocationFailed",
    "InputTokens",
    "OutputTokens",
    "EstimatedCostUSD",
)


def metric_totals(cw, namespace: str, since: datetime) -> dict[str, dict[str, float]]:
    """{cost center: {metric: Sum}} over the metrics written since ``since``.

    Reads the aggregate series by CostCenter alone (one series per cost center, so nothing is
    summed twice): the record function also writes the five-dimension series, a total with no
    dimensions and one per other dimension. ListMetrics leaves out ``Dimensions`` for a series that
    has none, so every field is read with a default."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    end = datetime.now(UTC) + timedelta(minutes=1)
    for name in SUMMARY_METRICS:
        pages = cw.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName=name, Dimensions=[{"Name": "CostCenter"}]
        )
        for metric in (m for page in pages for m in page.get("Metrics", [])):
            dimensions = metric.get("Dimensions") or []
            if [d.get("Name") for d in dimensions] != ["CostCenter"]:
                continue
            points = cw.get_metric_statistics(
                Namespace=namespace,
                MetricName=name,
                Dimensions=dimensions,
                StartTime=since - timedelta(minutes=1),
                EndTime=end,
                Period=60,
                Statistics=["Sum"],
            ).get("Datapoints", [])
            totals[dimensions[0].get("Value", "?")][name] += sum(p.get("Sum", 0.0) for p in points)
    return totals


BURST_SECONDS = 40  # what the 16 burst requests may take on a loaded machine, with room
BURST_WORKERS = 6  # requests of a burst in flight together


def wait_for_a_fresh_minute(needed: float) -> None:
    """Sleep to the next UTC minute unless this one has `needed` seconds left."""
    now = datetime.now(UTC)
    left = 60 - now.second - now.microsecond / 1e6
    if left < needed:
        print(f"   (waiting {left:.0f} s for a new minute: the bursts' limits count per calendar minute)")
        time.sleep(left + 0.2)


def main() -> int:
    print(f"== terraform apply examples/localstack (LocalStack at {ENDPOINT})")
    started = time.monotonic()
    terraform(
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        f"-var=localstack_endpoint={ENDPOINT}",
        f"-var=applications={json.dumps(REGISTRY)}",
    )
    outputs = {k: v["value"] for k, v in json.loads(terraform("output", "-json")).items()}
    print(f"   applied in {time.monotonic() - started:.0f} s: state machine {outputs['state_machine_name']}")

    sfn, cw, ddb = client("stepfunctions"), client("cloudwatch"), client("dynamodb")
    arn = outputs["state_machine_arn"]
    express = cli.is_express(sfn, arn)
    sent = traffic()
    since = datetime.now(UTC)
    print(f"\n== sending {len(sent)} requests, 4 at a time, each burst at once ({BURST_WORKERS} in flight)")

    # The traffic goes through the application client, tollgate.client: each request gets a
    # requestId (a retry replays it), and its typed error becomes the table's outcome.
    tollgate = Tollgate(arn, stepfunctions=sfn, workflow_type="EXPRESS" if express else "STANDARD")

    def send(item: tuple[str, dict]) -> cli.Outcome:
        return cli.outcome_of(tollgate, item[1])

    started = time.monotonic()
    # The bursts run into per-minute limits: they go last, together, inside one calendar minute
    # (UTC windows), so that a minute boundary never splits a burst below its limit.
    bursts = [i for i, (what, _) in enumerate(sent) if what.startswith("burst:")]
    others = [i for i in range(len(sent)) if i not in bursts]
    outcomes: list[cli.Outcome | None] = [None] * len(sent)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, outcome in zip(others, pool.map(send, [sent[i] for i in others]), strict=True):
            outcomes[i] = outcome
    wait_for_a_fresh_minute(BURST_SECONDS)
    # each burst at once, as a burst comes: the token limit counts what is reserved and not yet
    # settled, so it denies only requests in flight together
    for what in dict.fromkeys(sent[i][0] for i in bursts):
        group = [i for i in bursts if sent[i][0] == what]
        with ThreadPoolExecutor(max_workers=BURST_WORKERS) as pool:
            for i, outcome in zip(group, pool.map(send, [sent[i] for i in group]), strict=True):
                outcomes[i] = outcome
    print(f"   {len(sent)} executions in {time.monotonic() - started:.1f} s\n")

    rows = []
    for i, ((what, body), outcome) in enumerate(zip(sent, outcomes, strict=True), start=1):
        usage = (outcome.output or {}).get("usage") or {}
        tags = body.get("tags") or {}
        rows.append(
            {
                "n": i,
                "what": what,
                "model": body.get("model"),
                "costCenter": tags.get("costCenter", ""),
                "outcome": outcome.name,
                "tokens": f"{usage['inputTokens']}+{usage['outputTokens']}" if usage else "",
                "usd": f"{outcome.output['costUsd']:.6f}" if outcome.output else "",
                "detail": detail(outcome),
            }
        )
    columns = [
        ("n", "#"),
        ("what", "what"),
        ("model", "model"),
        ("costCenter", "cost center"),
        ("outcome", "outcome"),
        ("tokens", "in+out"),
        ("usd", "USD"),
        ("detail", "detail"),
    ]
    print(cli.format_table(rows, columns))
    counts = defaultdict(int)
    for outcome in outcomes:
        counts[outcome.name] += 1
    print("\n   " + ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    print(
        "   A denial's 'held' is what the limit's counter holds: settled usage plus the reservations of\n"
        "   requests still in flight. Each request reserves its estimate (input + max_tokens) before the\n"
        "   call and settles to its real usage after it, so the token burst (4 in flight, max_tokens 2000)\n"
        "   is denied while the settled use in the limits table below stays far under 6,000."
    )

    print(f"\n== per cost center, from CloudWatch ({outputs['metrics_namespace']}, this run)")
    totals = metric_totals(cw, outputs["metrics_namespace"], since)
    summary = [
        {
            "costCenter": center,
            "requests": int(m["TotalRequests"]),
            "denied": int(m["RateLimitDenied"]),
            "failed": int(m["InvocationFailed"]),
            "tokens": int(m["InputTokens"] + m["OutputTokens"]),
            "usd": f"{m['EstimatedCostUSD']:.6f}",
        }
        for center, m in sorted(totals.items())
    ]
    print(
        cli.format_table(
            summary,
            [
                ("costCenter", "cost center"),
                ("requests", "requests"),
                ("denied", "denied"),
                ("failed", "failed"),
                ("tokens", "tokens"),
                ("usd", "USD"),
            ],
        )
    )

    print("\n== limits, from the table (this window)")
    usage = cli.usage_rows(ddb, outputs["limits_table_name"])
    for row in usage:
        row["mode"] = "enforce" if row["enforce"] else "shadow"
    print(cli.format_table(usage, cli.USAGE_COLUMNS))

    print("\n== tollgate report --by costCenter: Tollgate's metrics beside the local Cost Explorer")
    report = build_report(
        client,
        by=["costCenter"],
        period=Period.parse(None, None),
        namespace=outputs["metrics_namespace"],
        table=outputs["limits_table_name"],
    )
    print(render.as_text(report))
    REPORT_HTML.parent.mkdir(exist_ok=True)
    REPORT_HTML.write_text(as_html(report), encoding="utf-8")
    print(f"\n   HTML report (charts; open it in a browser): {REPORT_HTML.relative_to(ROOT)}")

    print(
        f"""
== try it by hand (LocalStack keeps running)
  . .venv/bin/activate
  export AWS_ENDPOINT_URL={ENDPOINT} AWS_DEFAULT_REGION={REGION}
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  export AWS_DISABLE_HOST_PREFIX_INJECTION=true   # StartSyncExecution's "sync-" host does not resolve locally
  tollgate invoke --terraform-dir examples/localstack --model sales --app my-app "Explain S3."
  tollgate usage --terraform-dir examples/localstack
  tollgate report --terraform-dir examples/localstack --by costCenter,applicationId --html report.html
  # with the AWS CLI installed (pip install awscli):
  aws stepfunctions start-sync-execution --state-machine-arn {arn} \\
      --input '{json.dumps(short("nova-lite", "my-app", "sales", "Hi"))}'
  # the dashboard {outputs.get("dashboard_name")} with this run's data, its widgets as the console shows them:
  tollgate dashboard --terraform-dir examples/localstack --html dashboard.html
  make localstack-down    # stop LocalStack"""
    )
    unexpected = [o for o in outcomes if o.name not in {"Succeeded", *cli.EXIT_CODES}]
    if unexpected:
        print(
            f"\n{len(unexpected)} executions ended outside the contract: {[o.as_dict() for o in unexpected]}"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
