"""The README's first command, run as a user runs it: `make demo` against a LocalStack of its own.

`make demo` is a make target with its own prerequisites (LocalStack up, the package, the venv,
terraform init), a `terraform apply` of examples/localstack and a script that prints the outcome
table, the per-cost-center summary from CloudWatch, the limits from the ledger and the report. The
test runs the target itself in a subprocess, with a fresh LocalStack on another port (so the
summary holds only the demo's own traffic, as on a new machine) and the state in a Terraform
workspace of its own (TF_WORKSPACE, so a developer's own demo in the default workspace is left
alone), then reads what it printed: every section is there, the summary agrees with the table, the
burst limits show their use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import deployment as tf
import pytest
from localstack import client, default_port, is_healthy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = "e2e-demo"
SECTIONS = (
    "== terraform apply examples/localstack",
    "== sending 30 requests",
    "== per cost center, from CloudWatch",
    "== limits, from the table",
    "== tollgate report --by costCenter",
    "== try it by hand",
)
REPORT_ARGS = ("--terraform-dir", "examples/localstack", "--by", "costCenter", "--json")
# what a make variable or an outer `make test` would otherwise hand down to the user's command
INHERITED = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "AWS_ENDPOINT_URL", "TF_WORKSPACE")


def demo_port() -> int:
    return int(os.environ.get("TOLLGATE_DEMO_PORT") or default_port() + 10)


def table(lines: list[str], heading: str) -> list[dict[str, str]]:
    """The plain table (cli.format_table) whose header line starts with ``heading``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    dashes = lines[start + 1]
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
    # a cell runs from its column's start to the next column's start (the last one to the end)
    bounds = [(s, spans[i + 1][0] if i + 1 < len(spans) else None) for i, (s, _) in enumerate(spans)]
    names = [lines[start][s:e].strip() for s, e in bounds]
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append({n: line[s:e].strip() for n, (s, e) in zip(names, bounds, strict=True)})
    return rows


@pytest.fixture(scope="module")
def demo_run() -> tuple[str, dict, dict]:
    """What `make demo` printed, what `tollgate report --by costCenter --json` says right after it,
    and the local bill's own figures (before its LocalStack goes)."""
    port = demo_port()
    if is_healthy(port):
        pytest.fail(
            f"a LocalStack is already running on port {port}: the demo test needs a fresh one there "
            "(set TOLLGATE_DEMO_PORT to a free port, or stop it with "
            f"LOCALSTACK_PORT={port} make localstack-down)"
        )
    tf.terraform("init", "-input=false", "-no-color", workspace=None)
    if WORKSPACE not in tf.terraform("workspace", "list", "-no-color", workspace=None).stdout.split():
        tf.terraform("workspace", "new", WORKSPACE, "-no-color", workspace=None)
        tf.terraform("workspace", "select", "default", "-no-color", workspace=None)
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    env.update(LOCALSTACK_PORT=str(port), TF_WORKSPACE=WORKSPACE)
    try:
        proc = subprocess.run(
            ["make", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500, check=False
        )
        report = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "tollgate"), "report", *REPORT_ARGS],
            cwd=ROOT,
            env={
                **env,
                "AWS_ENDPOINT_URL": f"http://localhost:{port}",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        bill = local_bill(f"http://localhost:{port}") if proc.returncode == 0 else {}
    finally:
        subprocess.run(
            [sys.executable, str(ROOT / "local" / "launcher.py"), "down"],
            env={**env, "LOCALSTACK_PORT": str(port)},
            capture_output=True,
            timeout=120,
            check=False,
        )
        # the state describes a LocalStack that is gone now
        tf.terraform("workspace", "delete", "-force", WORKSPACE, "-no-color", workspace=None, check=False)
    assert proc.returncode == 0, (
        f"make demo failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
    )
    assert report.returncode == 0, f"tollgate report failed:\n{report.stdout[-3000:]}\n{report.stderr}"
    return proc.stdout, json.loads(report.stdout), bill


def local_bill(endpoint: str) -> dict:
    """Each budget's actual spend, the services the month billed under, and the month's cost per
    cost center counted with a Service = Amazon Bedrock filter alone."""
    budgets = client("budgets", endpoint).describe_budgets(AccountId="000000000000")["Budgets"]
    ce = client("ce", endpoint)
    first = datetime.now(UTC).date().replace(day=1)
    period = {"Start": first.isoformat(), "End": (datetime.now(UTC).date() + timedelta(days=1)).isoformat()}
    services = ce.get_dimension_values(TimePeriod=period, Dimension="SERVICE")["DimensionValues"]
    bedrock_only = ce.get_cost_and_usage(
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
        GroupBy=[{"Type": "TAG", "Key": "costCenter"}],
    )["ResultsByTime"]
    return {
        "budgets": {
            b["CostFilters"]["TagKeyValue"][0].split("$", 1)[1]: float(
                b["CalculatedSpend"]["ActualSpend"]["Amount"]
            )
            for b in budgets
        },
        "services": sorted(v["Value"] for v in services),
        "bedrockOnly": {
            g["Keys"][0].split("$", 1)[1]: float(g["Metrics"]["UnblendedCost"]["Amount"])
            for bucket in bedrock_only
            for g in bucket["Groups"]
        },
    }


@pytest.fixture(scope="module")
def demo(demo_run) -> str:
    return demo_run[0]


def test_every_section_prints_in_order(demo):
    positions = [demo.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), [s for s, p in zip(SECTIONS, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "Traceback" not in demo
    assert (ROOT / "dist" / "tollgate-report.html").stat().st_size > 10_000


def test_the_outcome_table_holds_every_request_with_a_contract_outcome(demo):
    rows = table(demo.splitlines(), "#   what")
    assert [int(r["#"]) for r in rows] == list(range(1, 31))
    outcomes = {r["outcome"] for r in rows}
    assert outcomes <= {"Succeeded", "RateLimitExceeded", "InvocationFailed", "ValidationError"}
    by_what = defaultdict(list)
    for r in rows:
        by_what[r["what"]].append(r["outcome"])
    assert by_what["the article's request, unchanged"] == ["Succeeded"]
    assert by_what["invalid: empty applicationId, temperature 1.5"] == ["ValidationError"]
    # end of life: Bedrock creates no profile for it, so the registry leaves it out and the call is
    # refused before it could reach the bill untagged
    assert by_what["alias claude-2"] == ["ValidationError"]
    # the bursts run into their limits; a denial says what the counter held and what was asked
    for burst in ("burst: 5 requests/min on nova-micro", "burst: 6k tokens/min on claude-3-5-haiku"):
        assert "RateLimitExceeded" in by_what[burst], burst
    denials = [r for r in rows if r["outcome"] == "RateLimitExceeded"]
    assert all(
        re.search(r": [\d,.]+ held \+ [\d,.]+ asked > [\d,.]+ \(retry in \d+ s\)", r["detail"])
        for r in denials
    )


def test_the_cloudwatch_summary_matches_the_outcome_table(demo):
    lines = demo.splitlines()
    rows = table(lines, "#   what")
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        e = expected[r["cost center"]]
        e["requests"] += 1
        e["denied"] += r["outcome"] == "RateLimitExceeded"
        e["failed"] += r["outcome"] == "InvocationFailed"
        if r["in+out"]:
            e["tokens"] += sum(int(t) for t in r["in+out"].split("+"))
        if r["USD"]:
            e["usd"] += float(r["USD"])
    summary = {s["cost center"]: s for s in table(lines, "cost center  requests")}
    assert set(summary) == set(expected)
    for center, e in expected.items():
        s = summary[center]
        assert int(s["requests"]) == e["requests"], center
        assert int(s["denied"]) == e["denied"], center
        assert int(s["failed"]) == e["failed"], center
        assert int(s["tokens"]) == e["tokens"], center
        # the table prints 6 decimals per row: the sum of rounded cells is within half a unit a row
        assert float(s["USD"]) == pytest.approx(e["usd"], abs=0.5e-6 * (e["requests"] + 1)), center


def test_the_limits_table_shows_the_burst_limits_use(demo):
    limits = {r["limit"]: r for r in table(demo.splitlines(), "limit ")}
    requests = limits["model=nova-micro/minute/requests"]
    tokens = limits["model=claude-3-5-haiku/minute/total_tokens"]
    assert float(requests["ceiling"]) == 5 and 1 <= float(requests["used"]) <= 5
    assert float(tokens["ceiling"]) == 6000 and 0 < float(tokens["used"]) <= 6000


def test_the_report_totals_agree_with_the_summary(demo):
    lines = demo.splitlines()
    summary = table(lines, "cost center  requests")
    report = {r["costCenter"]: r for r in table(lines, "costCenter  requests")}
    assert int(report["total"]["requests"]) == sum(int(s["requests"]) for s in summary) == 30
    assert float(report["total"]["Tollgate USD"]) == pytest.approx(
        sum(float(s["USD"]) for s in summary), abs=1e-5
    )


def test_the_bill_matches_the_ledger_per_cost_center_and_holds_no_untagged_spend(demo_run):
    """Every admitted call went through a profile tagged with its cost center: per group, Tollgate's
    cost and the local Cost Explorer's agree within 1 %, and the bill has no untagged ("(none)",
    empty key) spend."""
    _, report, _ = demo_run
    assert report["costExplorer"] is True
    rows = {r["costCenter"]: r for r in report["rows"]}
    assert {"sales", "services", "support"} <= set(rows)
    assert "" not in rows or float(rows[""]["costExplorerUsd"]) == 0, rows.get("")
    for center, row in rows.items():
        ours, theirs = float(row["costUsd"]), float(row["costExplorerUsd"])
        assert ours == pytest.approx(theirs, rel=0.01, abs=1e-9), (center, row)
        if row["driftPercent"] is not None:
            assert -1 <= float(row["driftPercent"]) <= 1, (center, row)
    assert float(rows["support"]["costExplorerUsd"]) > 0 and float(rows["sales"]["costExplorerUsd"]) > 0
    assert -1 <= float(report["totals"]["driftPercent"]) <= 1, report["totals"]


def test_claude_bills_under_its_marketplace_name_and_the_budgets_see_it(demo_run):
    """The local bill puts Claude under "<model> (Amazon Bedrock Edition)": a Service = Amazon
    Bedrock filter misses it, the budgets (the cost center's tag alone) count it all."""
    _, report, bill = demo_run
    rows = {r["costCenter"]: float(r["costExplorerUsd"]) for r in report["rows"]}
    assert "Amazon Bedrock" in bill["services"]
    assert any(s.startswith("Claude") and s.endswith("(Amazon Bedrock Edition)") for s in bill["services"])
    # support's traffic is mostly Claude: the Amazon Bedrock service alone holds a fraction of it
    assert bill["bedrockOnly"].get("support", 0) < rows["support"] / 2
    for center in ("sales", "services", "support"):
        assert bill["budgets"][center] == pytest.approx(rows[center], rel=1e-9, abs=1e-12), center
