"""Bring the local AWS (LocalStack on this machine, see local/launcher.py) up for a test session.

    endpoint, started = ensure_localstack()   # reuses a healthy instance on the port, else starts one
    ...
    if started:
        stop_localstack()                      # only stop what this session started

The port is $LOCALSTACK_PORT (4566); clients use $AWS_ENDPOINT_URL when it is set, otherwise
http://localhost:<port>.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "local" / "launcher.py"
REGION = "us-east-1"


def default_port() -> int:
    return int(os.environ.get("LOCALSTACK_PORT", "4566"))


def endpoint_url(port: int | None = None) -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or f"http://localhost:{port or default_port()}"


def is_healthy(port: int | None = None) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port or default_port()}/_localstack/health", timeout=3
        ) as r:
            return r.status == 200 and "services" in json.loads(r.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False


def _launcher(command: str, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOCALSTACK_PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(LAUNCHER), command], env=env, capture_output=True, text=True, timeout=1800
    )


def ensure_localstack(port: int | None = None) -> tuple[str, bool]:
    """(endpoint, started): reuse a healthy LocalStack on the port, or install and start one."""
    port = port or default_port()
    if is_healthy(port):
        return endpoint_url(port), False
    proc = _launcher("up", port)
    if proc.returncode != 0 or not is_healthy(port):
        raise RuntimeError(
            f"local/launcher.py up failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return endpoint_url(port), True


def stop_localstack(port: int | None = None) -> None:
    proc = _launcher("down", port or default_port())
    if proc.returncode != 0:
        raise RuntimeError(
            f"local/launcher.py down failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def client(service: str, endpoint: str | None = None, retries: int | None = None):
    """A boto3 client for the local AWS (test credentials, us-east-1). retries=1 disables retries."""
    # no "sync-" host prefix (StartSyncExecution): sync-localhost does not resolve
    config = Config(inject_host_prefix=False)
    if retries:
        config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": retries}))
    return boto3.client(
        service,
        endpoint_url=endpoint or endpoint_url(),
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


def faults(endpoint: str, method: str, body: dict | None = None, query: str = "") -> tuple[int, dict]:
    """The Bedrock emulator's fault switch (docs/local.md): (HTTP status, JSON body).

    faults(endpoint, "POST", {"modelId": ..., "error": "ThrottlingException", "count": 2});
    faults(endpoint, "GET"); faults(endpoint, "DELETE", query="?modelId=...")
    """
    request = urllib.request.Request(
        f"{endpoint}/_tollgate/bedrock/faults{query}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
