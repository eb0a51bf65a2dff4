"""P3: dollars per 1 million requests, model cost excluded, from P2's counted calls.

List prices, us-east-1, looked up on 2026-11-30 (aws.amazon.com/step-functions/pricing,
aws.amazon.com/lambda/pricing, aws.amazon.com/dynamodb/pricing (on-demand, after the November 2024
cut), aws.amazon.com/cloudwatch/pricing). Free tiers are left out: at a million requests a month
they are small and they are shared with everything else in the account.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRICES_DATE = "2026-11-30"
PRICES_USD = {
    "sfn_standard_per_transition": 0.025 / 1_000,
    "sfn_express_per_request": 1.00 / 1_000_000,
    "sfn_express_per_gb_second": 0.00001667,  # billed per 100 ms, in 64 MB chunks
    "lambda_per_request": 0.20 / 1_000_000,
    "lambda_per_gb_second": 0.0000166667,  # x86; arm64 is 0.0000133334
    "dynamodb_per_write_unit": 0.625 / 1_000_000,  # on-demand write request unit
    "dynamodb_per_read_unit": 0.125 / 1_000_000,  # on-demand read request unit
    "cloudwatch_put_metric_data_per_request": 0.01 / 1_000,
    "cloudwatch_get_metric_data_per_metric": 0.01 / 1_000,  # per metric requested
    "logs_ingestion_per_gb": 0.50,
}

# What a request costs besides what P2 counts: assumptions, stated once.
LAMBDA_MEMORY_GB = 256 / 1024  # the module's lambda_memory_size default
EXPRESS_MEMORY_GB = 64 / 1024  # one 64 MB chunk: the state (the request and its context) is small
LAMBDA_TASK_MS = 30  # one warm task in the region (a DynamoDB transaction is single-digit ms)

# The article's design (part 2 on part 1): an Express workflow whose Lambda checks the limit by
# reading the AWS/Bedrock token metrics (InputTokenCount and OutputTokenCount of the model) with
# GetMetricData on every request, calls the model, and records its own metrics with PutMetricData.
ARTICLE_DESIGN = {
    "transitions": 8,  # validate, check, choice, invoke, put metrics, success or the denial path
    "lambda_invocations": 2,  # validate-and-tag, rate-limit check (the model call is a service task)
    "get_metric_data_metrics": 2,
    "put_metric_data_calls": 1,
    "dynamodb_write_units": 0.0,
    "dynamodb_read_units": 0.0,
    "log_bytes": 1_000,
}


@dataclass(frozen=True)
class Usage:
    """What one request uses, from P2 (or the article design's constants)."""

    transitions: int
    lambda_invocations: int
    dynamodb_write_units: float
    dynamodb_read_units: float
    put_metric_data_calls: int
    get_metric_data_metrics: int
    log_bytes: int

    @classmethod
    def from_p2(cls, outcome: Mapping[str, Any]) -> Usage:
        calls = outcome["calls"]
        return cls(
            transitions=outcome["transitions"],
            lambda_invocations=outcome["lambda_invocations"],
            # the larger of what DynamoDB reported and DynamoDB's rules (cancelled transactions
            # report nothing)
            dynamodb_write_units=max(outcome["write_units"], outcome["modeled_write_units"]),
            dynamodb_read_units=outcome["read_units"],
            put_metric_data_calls=calls.get("cloudwatch:PutMetricData", 0),
            get_metric_data_metrics=calls.get("cloudwatch:GetMetricData", 0),
            log_bytes=outcome["log_bytes"],
        )


def express_duration_seconds(lambda_invocations: int, task_ms: float = LAMBDA_TASK_MS) -> float:
    """Express bills duration rounded up to the next 100 ms."""
    return math.ceil(lambda_invocations * task_ms / 100) / 10


def per_million(usage: Usage, *, workflow: str, task_ms: float = LAMBDA_TASK_MS) -> dict[str, float]:
    """Dollars per 1 million requests, by service."""
    p = PRICES_USD
    if workflow == "STANDARD":
        sfn = usage.transitions * p["sfn_standard_per_transition"]
    elif workflow == "EXPRESS":
        seconds = express_duration_seconds(usage.lambda_invocations, task_ms)
        sfn = p["sfn_express_per_request"] + seconds * EXPRESS_MEMORY_GB * p["sfn_express_per_gb_second"]
    else:
        raise ValueError(f"workflow is {workflow!r}; it must be EXPRESS or STANDARD.")
    parts = {
        "step_functions": sfn,
        "lambda": usage.lambda_invocations
        * (p["lambda_per_request"] + task_ms / 1000 * LAMBDA_MEMORY_GB * p["lambda_per_gb_second"]),
        "dynamodb": usage.dynamodb_write_units * p["dynamodb_per_write_unit"]
        + usage.dynamodb_read_units * p["dynamodb_per_read_unit"],
        "cloudwatch": usage.put_metric_data_calls * p["cloudwatch_put_metric_data_per_request"]
        + usage.get_metric_data_metrics * p["cloudwatch_get_metric_data_per_metric"],
        "logs": usage.log_bytes / 1024**3 * p["logs_ingestion_per_gb"],
    }
    million = {k: round(v * 1_000_000, 2) for k, v in parts.items()}
    million["total"] = round(sum(parts.values()) * 1_000_000, 2)
    return million


def per_second_of_model_latency(workflow: str) -> float:
    """What each second spent waiting for the model adds per million requests: the invoke function
    runs meanwhile, and an Express execution's duration grows with it."""
    p = PRICES_USD
    lam = LAMBDA_MEMORY_GB * p["lambda_per_gb_second"]
    sfn = EXPRESS_MEMORY_GB * p["sfn_express_per_gb_second"] if workflow == "EXPRESS" else 0.0
    return round((lam + sfn) * 1_000_000, 2)


def table(p2: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, float]]:
    """P3 from P2's runs: ``p2[variant][outcome]`` where variant is emf_cached, put_metric_data_cached
    or emf_uncached. Each row is a succeeded request (the common case)."""
    default = Usage.from_p2(p2["emf_cached"]["succeeded"])
    rows = {
        "express_emf": per_million(default, workflow="EXPRESS"),
        "standard_emf": per_million(default, workflow="STANDARD"),
        "express_put_metric_data": per_million(
            Usage.from_p2(p2["put_metric_data_cached"]["succeeded"]), workflow="EXPRESS"
        ),
        "express_emf_config_cache_off": per_million(
            Usage.from_p2(p2["emf_uncached"]["succeeded"]), workflow="EXPRESS"
        ),
        "article_design": per_million(Usage(**ARTICLE_DESIGN), workflow="EXPRESS"),
    }
    for name, row in rows.items():
        row["per_second_of_model_latency"] = per_second_of_model_latency(
            "STANDARD" if name.startswith("standard") else "EXPRESS"
        )
    return rows
