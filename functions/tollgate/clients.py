"""boto3 client factories, one client per kind per container.

boto3 itself honours ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), so LocalStack and
tests need nothing special here; tests call ``reset()`` to drop cached clients.
"""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config

# One attempt per call: the state machine's Retry on ModelThrottled/ModelUnavailable/ModelTimeout
# does the retrying, with backoff and jitter and a visible history. SDK retries underneath it would
# multiply the attempts (3 x 3) and could hold a synchronous Express execution for minutes.
BEDROCK_RETRIES = {"mode": "standard", "total_max_attempts": 1}
BEDROCK_CONNECT_TIMEOUT_SECONDS = 5

# DynamoDB sits on the admission path: a few quick SDK retries absorb a blip before Tollgate decides
# the ledger is unavailable (and fails closed or open).
DYNAMODB_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5
)
# PutMetricData is not idempotent: an SDK retry after a lost answer stores the data twice (seen under
# load on LocalStack: one execution counted twice). One attempt; metrics.py resends only what never
# left. The read timeout stays below record_metrics' 8 s.
CLOUDWATCH_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5
)


@functools.cache
def dynamodb():
    return boto3.client("dynamodb", config=DYNAMODB_CONFIG)


@functools.cache
def bedrock_runtime(read_timeout_seconds: int | None):  # None: botocore's own (60 s)
    config = Config(
        retries=BEDROCK_RETRIES,
        connect_timeout=BEDROCK_CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout_seconds,
    )
    return boto3.client("bedrock-runtime", config=config)


@functools.cache
def cloudwatch():
    return boto3.client("cloudwatch", config=CLOUDWATCH_CONFIG)


# Alerts are published after the ledger decided: a slow SNS must not hold the request for long.
SNS_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=3)


@functools.cache
def sns():
    return boto3.client("sns", config=SNS_CONFIG)


def reset() -> None:
    for factory in (dynamodb, bedrock_runtime, cloudwatch, sns):
        factory.cache_clear()
