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
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "localstack"
NAME = "tollgate-e2e"
WORKSPACE = "e2e"


@dataclass(frozen=True)
class Run:
    """Names that belong to this session only."""

    id: str

    def app(self, purpose: str) -> str:
        return f"e2e-{self.id}-{purpose}"


def new_run() -> Run:
    return Run(uuid.uuid4().hex[:8])


def tfvars(run: Run, endpoint: str) -> dict[str, Any]:
    """The example's inputs for the tests: per-test limits and one profile only the metrics test uses."""
    day = "day"
    return {
        "name": NAME,
        "localstack_endpoint": endpoint,
        "config_cache_seconds": 1,
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
            {
                "scope": {"applicationId": run.app("whole")},
                "window": day,
                "unit": "total_tokens",
                "limit": 100,
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


def terraform(
    *args: str, check: bool = True, workspace: str | None = WORKSPACE
) -> subprocess.CompletedProcess:
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
    outputs: dict[str, Any]
    apply_seconds: float
    var_file: Path

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["state_machine_arn"]

    @property
    def table(self) -> str:
        return self.outputs["limits_table_name"]

    def profile_id(self, route: str) -> str:
        return self.outputs["inference_profile_arns"][route].rsplit("/", 1)[-1]


def apply(run: Run, endpoint: str, var_file: Path) -> Deployment:
    var_file.write_text(json.dumps(tfvars(run, endpoint), indent=2))
    terraform("init", "-input=false", "-no-color", workspace=None)
    listed = terraform("workspace", "list", "-no-color", workspace=None).stdout.split()
    if WORKSPACE not in listed:
        terraform("workspace", "new", WORKSPACE, "-no-color", workspace=None)
        # `new` also selects it; keep the default selected (TF_WORKSPACE picks e2e per command)
        terraform("workspace", "select", "default", "-no-color", workspace=None)
    started = time.monotonic()
    terraform("apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}")
    elapsed = time.monotonic() - started
    raw = json.loads(terraform("output", "-json", "-no-color").stdout)
    return Deployment(run, {k: v["value"] for k, v in raw.items()}, elapsed, var_file)


def plan_is_empty(var_file: Path) -> bool:
    """A second plan after apply must show no changes (exit code 0 with -detailed-exitcode)."""
    proc = terraform(
        "plan", "-detailed-exitcode", "-input=false", "-no-color", f"-var-file={var_file}", check=False
    )
    if proc.returncode == 1:
        raise RuntimeError(f"terraform plan failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode == 0


def destroy(var_file: Path) -> None:
    terraform("destroy", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}")
    terraform("workspace", "delete", WORKSPACE, "-no-color", workspace=None)


def leftovers(client) -> list[str]:
    """Everything named after this deployment that is still in the local AWS after destroy."""
    found = []
    found += [
        f["FunctionName"]
        for f in client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(NAME)
    ]
    found += [
        m["name"]
        for m in client("stepfunctions").list_state_machines()["stateMachines"]
        if m["name"].startswith(NAME)
    ]
    found += [t for t in client("dynamodb").list_tables()["TableNames"] if t.startswith(NAME)]
    found += [r["RoleName"] for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(NAME)]
    found += [
        g["logGroupName"]
        for g in client("logs").describe_log_groups()["logGroups"]
        if NAME in g["logGroupName"]
    ]
    found += [
        d["DashboardName"]
        for d in client("cloudwatch").list_dashboards()["DashboardEntries"]
        if d["DashboardName"].startswith(NAME)
    ]
    found += [
        a["AlarmName"]
        for a in client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a["AlarmName"].startswith(NAME)
    ]
    found += [t["TopicArn"] for t in client("sns").list_topics()["Topics"] if f":{NAME}" in t["TopicArn"]]
    profiles = client("bedrock").list_inference_profiles(typeEquals="APPLICATION")[
        "inferenceProfileSummaries"
    ]
    found += [p["inferenceProfileName"] for p in profiles if p["inferenceProfileName"].startswith(NAME)]
    return found
