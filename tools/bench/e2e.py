"""End to end in LocalStack: the project's Step Functions hooks and the log level, before and after.

LocalStack's Step Functions interpreter dominates an execution here. The project's plugin hooks
(local/plugins/tollgate_localstack/hooks.py) cache JSONPath parsing and each definition's parse
tree; TOLLGATE_SFN_SPEEDUPS=0 turns them off. The bench applies examples/localstack with a
LocalStack started without them, then with them, and compares the median latency of the same
request; in each, it also switches the state machine's log level between ALL and OFF
(UpdateStateMachine), and profiles one execution with cProfile inside LocalStack
(TOLLGATE_SFN_PROFILE; executions named "profile-...").
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "localstack"
LAUNCHER = ROOT / "local" / "launcher.py"
WORKSPACE = "bench"
NAME = "tollgate-bench"
APP = "bench-e2e"
SAMPLES = 12


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def launcher(command: str, port: int, **env: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(LAUNCHER), command],
        env={**os.environ, "LOCALSTACK_PORT": str(port), **env},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"local/launcher.py {command} failed:\n{proc.stdout}\n{proc.stderr}")


def profile_dir(port: int) -> Path:
    return ROOT / ".localstack" / f"run-{port}" / "profiles"


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 2}, read_timeout=120, inject_host_prefix=False
        ),
    )


def _terraform(*args: str, workspace: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_WORKSPACE"}
    if workspace:
        env["TF_WORKSPACE"] = workspace
    proc = subprocess.run(
        ["terraform", f"-chdir={EXAMPLE}", *args, "-no-color"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**env, "TF_IN_AUTOMATION": "1"},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def apply(
    endpoint: str, var_file: Path, *, name: str = NAME, workspace: str = WORKSPACE, app: str = APP
) -> dict[str, Any]:
    """examples/localstack in a workspace of the bench's own, into a LocalStack that has nothing yet."""
    var_file.write_text(
        json.dumps(
            {
                "name": name,
                "localstack_endpoint": endpoint,
                "inference_profiles": {},
                "create_dashboard": False,
                "alarms_enabled": False,
                "budgets": {},  # the example's budgets need the alarms' topic or an address
                "limits": [
                    {"scope": {"applicationId": app}, "window": "day", "unit": "requests", "limit": 10**6}
                ],
            }
        )
    )
    _terraform("init", "-input=false")
    if workspace not in _terraform("workspace", "list").split():
        _terraform("workspace", "new", workspace)
        _terraform("workspace", "select", "default")
    _terraform("apply", "-auto-approve", "-input=false", f"-var-file={var_file}", workspace=workspace)
    raw = json.loads(_terraform("output", "-json", workspace=workspace))
    return {k: v["value"] for k, v in raw.items()}


def forget(workspace: str = WORKSPACE) -> None:
    """The LocalStack it described is stopped (and forgot everything): drop the workspace's state."""
    _terraform("workspace", "delete", "-force", workspace)


def destroy(var_file: Path, *, workspace: str) -> None:
    """Destroy what apply made in a LocalStack that stays up, then drop the workspace."""
    _terraform("destroy", "-auto-approve", "-input=false", f"-var-file={var_file}", workspace=workspace)
    _terraform("workspace", "delete", workspace)


def arm_fault(endpoint: str, spec: dict[str, Any] | None, *, model_id: str | None = None) -> None:
    """Arm a Bedrock emulator fault (local/plugins/.../faults.py); ``spec`` None disarms ``model_id``'s."""
    url = f"{endpoint}/_tollgate/bedrock/faults"
    if spec is None:
        request = urllib.request.Request(f"{url}?modelId={model_id}", method="DELETE")
    else:
        request = urllib.request.Request(
            url, data=json.dumps(spec).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def request(app: str = APP) -> dict[str, Any]:
    body = json.loads((ROOT / "examples" / "requests" / "article.json").read_text())
    body["model"] = "nova-lite"
    body["tags"]["applicationId"] = app
    body["prompt"]["parameters"] = {"max_tokens": 200}
    return body


def latency(sfn: Any, arn: str, n: int, *, name_prefix: str | None = None) -> list[float]:
    payload = json.dumps(request())
    out = []
    for _ in range(n):
        kwargs = {"name": f"{name_prefix}-{uuid.uuid4().hex[:12]}"} if name_prefix else {}
        started = time.perf_counter()
        result = sfn.start_sync_execution(stateMachineArn=arn, input=payload, **kwargs)
        out.append(time.perf_counter() - started)
        if result["status"] != "SUCCEEDED":
            raise RuntimeError(
                f"bench execution ended {result['status']}: {result.get('error')} {result.get('cause')}"
            )
    return out


def set_log_level(sfn: Any, arn: str, level: str, log_group_arn: str) -> None:
    config: dict[str, Any] = {"level": level, "includeExecutionData": False}
    if level != "OFF":
        config["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group_arn}}]
    sfn.update_state_machine(stateMachineArn=arn, loggingConfiguration=config)


def measure_deployed(endpoint: str, outputs: dict[str, Any], port: int) -> dict[str, Any]:
    """Median latency with the log level ALL and OFF (interleaved), and one profiled execution."""
    sfn = client("stepfunctions", endpoint)
    arn = outputs["state_machine_arn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    destinations = described.get("loggingConfiguration", {}).get("destinations") or []
    log_group_arn = destinations[0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    latency(sfn, arn, 2)  # warm: the functions' first start, DynamoDB Local's first call
    samples: dict[str, list[float]] = {"ALL": [], "OFF": []}
    for _ in range(2):
        for level in ("ALL", "OFF"):
            set_log_level(sfn, arn, level, log_group_arn)
            samples[level] += latency(sfn, arn, SAMPLES // 2)
    set_log_level(sfn, arn, "ALL", log_group_arn)
    folder = profile_dir(port)
    shutil.rmtree(folder, ignore_errors=True)
    latency(sfn, arn, 1, name_prefix="profile")
    profiles = sorted(folder.glob("profile-*.txt")) if folder.exists() else []
    return {
        "median_ms_log_all": round(statistics.median(samples["ALL"]) * 1000, 1),
        "median_ms_log_off": round(statistics.median(samples["OFF"]) * 1000, 1),
        "log_all_cost_share": round(
            1 - statistics.median(samples["OFF"]) / statistics.median(samples["ALL"]), 3
        ),
        "profile_top": _top(profiles[0].read_text()) if profiles else [],
    }


def _top(stats: str, n: int = 12) -> list[str]:
    """The heaviest lines of a cProfile text report (cumulative), skipping the header."""
    lines = [line for line in stats.splitlines() if line.strip() and line.strip()[0].isdigit()]
    return lines[:n]


def run(port: int, run_dir: Path, label: str, *, start: bool) -> dict[str, Any]:
    """Apply, measure, forget; with ``start``, on a LocalStack started (and stopped) here for it, with
    the hooks on (``label`` hooks_on) or off."""
    endpoint = f"http://localhost:{port}"
    if start:
        launcher("up", port, **localstack_env(label, port))
    try:
        outputs = apply(endpoint, run_dir / f"bench-{label}.tfvars.json")
        return measure_deployed(endpoint, outputs, port)
    finally:
        if start:
            launcher("down", port)
        forget()


def localstack_env(label: str, port: int) -> dict[str, str]:
    return {
        "TOLLGATE_SFN_SPEEDUPS": "1" if label == "hooks_on" else "0",
        "TOLLGATE_SFN_PROFILE": str(profile_dir(port)),
    }
