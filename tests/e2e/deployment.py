"""The real module, applied into LocalStack with `terraform apply`, for one test session.

Each session gets its own run ID: the limits that the tests rely on are scoped to application
IDs that contain it, and are passed to `examples/localstack` as a tfvars file, so a session never
sees counters of an earlier one. The state lives in a Terraform workspace of its own, so `make
demo`'s deployment in the default workspace is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "localstack"
NAME = "tollgate-e2e"
WORKSPACE = "e2e"
STANDARD_NAME = "tollgate-std-e2e"  # not a prefix of NAME, nor NAME of it: leftovers are told apart
STANDARD_WORKSPACE = "e2e-standard"
REPORTING_NAME = "tollgate-rpt-e2e"
REPORTING_WORKSPACE = "e2e-reporting"


@dataclass(frozen=True)
class Run:
    """Names that belong to this session only."""

    id: str

    def app(self, purpose: str) -> str:
        return f"e2e-{self.id}-{purpose}"


# The fault suite's cases (tests/e2e/test_faults.py), one application ID each.
FAULT_CASES = (
    "throttled-then-ok",
    "throttled-always",
    "5xx-before-generation",
    "5xx-after-generation",
    "delay-past-read-timeout",
    "execution-died-after-reserve",
    "invoke-died-after-the-call",
    "settle-never-ran",
    "same-id-two-apps-a",
    "same-id-two-apps-b",
    "same-id-twice-one-app",
    "same-id-other-request",
    "oversized-request",
)


def fault_apps(run: Run) -> list[str]:
    return [run.app(f"fault-{case}") for case in FAULT_CASES]


def new_run() -> Run:
    return Run(uuid.uuid4().hex[:8])


def tfvars(run: Run, endpoint: str) -> dict[str, Any]:
    """The example's inputs for the tests: per-test limits and one profile only the metrics test uses."""
    day = "day"
    return {
        "name": NAME,
        "localstack_endpoint": endpoint,
        "config_cache_seconds": 1,
        # tag activation is account-wide: only the reporting deployment (test_reporting.py) does it
        "cost_allocation_tags_enabled": False,
        "budgets": {},
        "inference_profiles": {
            "sales": {
                "model": "claude-3-haiku",
                "tags": {
                    "costCenter": "sales",
                    "applicationId": "aws-documentation-helper",
                    "environment": "production",
                },
            },
            "services": {
                "model": "nova-lite",
                "tags": {
                    "costCenter": "services",
                    "applicationId": "aws-documentation-helper",
                    "environment": "production",
                },
            },
            "support": {
                "model": "claude-3-5-haiku",
                "tags": {
                    "costCenter": "support",
                    "applicationId": "aws-documentation-helper",
                    "environment": "production",
                },
            },
            "metrics": {
                "model": "nova-micro",
                "tags": {"costCenter": "e2e", "applicationId": run.app("metrics"), "environment": "dev"},
            },
        },
        # The fault suite waits for a lease to expire before it runs the sweeper.
        "reservation_lease_seconds": 60,
        "limits": [
            {"scope": {"applicationId": run.app("deny")}, "window": "minute", "unit": "requests", "limit": 1},
            {
                "scope": {"applicationId": run.app("concurrency")},
                "window": day,
                "unit": "requests",
                "limit": 10,
            },
            {
                "scope": {"applicationId": run.app("failing")},
                "window": day,
                "unit": "total_tokens",
                "limit": 1_000_000,
            },
            {"scope": {"applicationId": run.app("failing")}, "window": day, "unit": "requests", "limit": 100},
            {
                "scope": {"applicationId": run.app("throttle")},
                "window": day,
                "unit": "requests",
                "limit": 100,
            },
            {"scope": {"applicationId": run.app("replay")}, "window": day, "unit": "requests", "limit": 100},
            {"scope": {"applicationId": run.app("metrics")}, "window": day, "unit": "requests", "limit": 4},
            # One tokens counter per fault-suite application (tests/e2e/test_faults.py).
            *[
                {"scope": {"applicationId": app}, "window": day, "unit": "total_tokens", "limit": 10_000_000}
                for app in fault_apps(run)
            ],
            {
                "scope": {"applicationId": run.app("whole")},
                "window": day,
                "unit": "total_tokens",
                "limit": 100,
            },
            # The warm-up's requests are all denied (tests/e2e/conftest.py): they start environments
            # of validate, rate-limit and record-metrics without holding a reservation.
            {"scope": {"applicationId": run.app("warm-up")}, "window": day, "unit": "requests", "limit": 0},
            # A sharded limit (issue 9, P5): 20 requests over 4 counter items (tests/e2e/test_shards.py).
            {
                "scope": {"applicationId": run.app("shards")},
                "window": day,
                "unit": "requests",
                "limit": 20,
                "shards": 4,
            },
            # Threshold alerts (tests/e2e/test_alerts.py): 10 requests a day, alerting at 50, 80 and
            # 100 %, and a shadow limit of 4 that alerts when it is reached.
            {
                "scope": {"applicationId": run.app("alerts")},
                "window": day,
                "unit": "requests",
                "limit": 10,
                "alert_at": [0.5, 0.8, 1.0],
            },
            {
                "name": f"e2e-{run.id}-alerts-shadow",
                "scope": {"applicationId": run.app("alerts")},
                "window": day,
                "unit": "requests",
                "limit": 4,
                "enforce": False,
                "alert_at": [1.0],
            },
            # every request of the session is counted per cost center, and never blocked
            {
                "scope": {"costCenter": "*"},
                "window": "month",
                "unit": "usd",
                "limit": 1_000_000,
                "enforce": False,
            },
        ],
    }


def standard_tfvars(run: Run, endpoint: str) -> dict[str, Any]:
    """A second, smaller deployment: the same module as a STANDARD workflow."""
    return {
        "name": STANDARD_NAME,
        "localstack_endpoint": endpoint,
        "workflow_type": "STANDARD",
        "config_cache_seconds": 1,
        "inference_profiles": {},
        "create_dashboard": False,
        "alarms_enabled": False,
        "cost_allocation_tags_enabled": False,
        "budgets": {},
        "limits": [
            {
                "scope": {"applicationId": run.app("standard")},
                "window": "day",
                "unit": "requests",
                "limit": 1,
            },
        ],
        # With a registry, only these applications are accepted (tests/e2e/test_applications.py).
        "applications": {
            run.app("standard"): {"environments": ["dev"], "routes": ["nova-micro"]},
            run.app("registry"): {"cost_centers": ["sales"], "routes": ["nova-micro"]},
        },
    }


def reporting_tfvars(run: Run, endpoint: str) -> dict[str, Any]:
    """The reporting deployment: three cost centers of this run, each behind its own profile, with
    a budget and a monthly USD limit; tag activation on; metrics in a namespace of this run."""
    centers = reporting_cost_centers(run)
    models = {"north": "nova-lite", "south": "claude-3-haiku", "west": "nova-micro"}
    return {
        "name": REPORTING_NAME,
        "localstack_endpoint": endpoint,
        "config_cache_seconds": 1,
        "metrics_namespace": f"TollgateE2E/{run.id}",
        "create_dashboard": False,
        "cost_allocation_tags_enabled": True,
        "cost_export_enabled": True,
        "inference_profiles": {
            route: {
                "model": models[route],
                "tags": {"costCenter": cc, "applicationId": run.app("report-a"), "environment": "production"},
            }
            for route, cc in centers.items()
        },
        "budgets": {
            route: {"amount_usd": 5 + i, "tag_value": cc} for i, (route, cc) in enumerate(centers.items())
        },
        "limits": [
            {"scope": {"costCenter": cc}, "window": "month", "unit": "usd", "limit": 10, "enforce": False}
            for cc in centers.values()
        ],
    }


def reporting_cost_centers(run: Run) -> dict[str, str]:
    """Route (profile) -> this run's cost center."""
    return {route: f"e2e-{run.id}-{route}" for route in ("north", "south", "west")}


def terraform(*args: str, check: bool = True, workspace: str | None) -> subprocess.CompletedProcess:
    """Run terraform in examples/localstack; TF_WORKSPACE keeps the selection out of .terraform/."""
    env = {k: v for k, v in os.environ.items() if k != "TF_WORKSPACE"}
    if workspace:
        env["TF_WORKSPACE"] = workspace
    proc = subprocess.run(
        ["terraform", f"-chdir={EXAMPLE}", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**env, "TF_IN_AUTOMATION": "1"},
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass
class Deployment:
    run: Run
    workspace: str
    var_file: Path
    outputs: dict[str, Any]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["state_machine_arn"]

    @property
    def table(self) -> str:
        return self.outputs["limits_table_name"]

    def profile_id(self, route: str) -> str:
        return self.outputs["inference_profile_arns"][route].rsplit("/", 1)[-1]


def apply(run: Run, variables: dict[str, Any], workspace: str, var_file: Path) -> Deployment:
    """`terraform apply` of examples/localstack with ``variables``, in ``workspace``."""
    var_file.write_text(json.dumps(variables, indent=2))
    terraform("init", "-input=false", "-no-color", workspace=None)
    listed = terraform("workspace", "list", "-no-color", workspace=None).stdout.split()
    if workspace not in listed:
        terraform("workspace", "new", workspace, "-no-color", workspace=None)
        # `new` also selects it; keep the default selected (TF_WORKSPACE picks ours per command)
        terraform("workspace", "select", "default", "-no-color", workspace=None)
    terraform(
        "apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}", workspace=workspace
    )
    raw = json.loads(terraform("output", "-json", "-no-color", workspace=workspace).stdout)
    return Deployment(run, workspace, var_file, {k: v["value"] for k, v in raw.items()})


def plan_is_empty(deployment: Deployment) -> bool:
    """A second plan after apply must show no changes (exit code 0 with -detailed-exitcode)."""
    proc = terraform(
        "plan",
        "-detailed-exitcode",
        "-input=false",
        "-no-color",
        f"-var-file={deployment.var_file}",
        check=False,
        workspace=deployment.workspace,
    )
    if proc.returncode == 1:
        raise RuntimeError(f"terraform plan failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode == 0


def destroy(deployment: Deployment) -> None:
    terraform(
        "destroy",
        "-auto-approve",
        "-input=false",
        "-no-color",
        f"-var-file={deployment.var_file}",
        workspace=deployment.workspace,
    )
    terraform("workspace", "delete", deployment.workspace, "-no-color", workspace=None)


def leftovers(client, name: str) -> list[str]:
    """Everything named after a deployment that is still in the local AWS after its destroy."""
    found = []
    found += [
        f["FunctionName"]
        for f in client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(name)
    ]
    found += [
        m["name"]
        for m in client("stepfunctions").list_state_machines()["stateMachines"]
        if m["name"].startswith(name)
    ]
    found += [t for t in client("dynamodb").list_tables()["TableNames"] if t.startswith(name)]
    found += [r["RoleName"] for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(name)]
    found += [
        g["logGroupName"]
        for g in client("logs").describe_log_groups()["logGroups"]
        if name in g["logGroupName"]
    ]
    found += [
        d["DashboardName"]
        for d in client("cloudwatch").list_dashboards()["DashboardEntries"]
        if d["DashboardName"].startswith(name)
    ]
    found += [
        a["AlarmName"]
        for a in client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"].startswith(name)
    ]
    found += [t["TopicArn"] for t in client("sns").list_topics()["Topics"] if f":{name}" in t["TopicArn"]]
    profiles = client("bedrock").list_inference_profiles(typeEquals="APPLICATION")[
        "inferenceProfileSummaries"
    ]
    found += [p["inferenceProfileName"] for p in profiles if p["inferenceProfileName"].startswith(name)]
    return found
