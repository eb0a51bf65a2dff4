"""The one place that creates the Powertools Logger and Metrics objects."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or "tollgate")


def emf_metrics(namespace: str) -> Metrics:
    """Powertools Metrics for ``namespace`` (instances share one metric set per process).

    ``service=""`` stops Powertools from adding a sixth ``service`` dimension: the metric contract
    has exactly five dimensions, and the dashboard and alarms query that exact set.
    """
    return Metrics(namespace=namespace, service="")
