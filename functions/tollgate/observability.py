"""The one place that creates the Powertools Logger, Tracer and Metrics objects.

Every handler is decorated, outermost first, with ``@logger.inject_lambda_context(clear_state=True)``
and ``@capture_lambda_handler``, and calls ``logger.append_keys`` with the request's ``requestId``
and the execution's ``executionId`` as soon as it knows them, so every line it logs (its own and
the domain modules') carries both without ``extra=``.

Tracing (docs/internals.md, "Logs and traces"): Terraform sets ``POWERTOOLS_TRACE_DISABLED`` to
the opposite of ``tracing_enabled``. Only when it is ``false`` is the Powertools Tracer created
(which imports the X-Ray SDK, about 0.2 s of a cold start); it then patches botocore alone (the
DynamoDB, Bedrock and CloudWatch clients) and traces each handler without its response, which
holds model output. Otherwise nothing of the X-Ray SDK is imported. Outside Lambda (unit tests,
the CLI) Powertools disables a Tracer by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME") or "tollgate"

logger = Logger(service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    return os.getenv("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() == "false"


if tracing_enabled():
    from aws_lambda_powertools import Tracer

    tracer: Tracer | None = Tracer(service=SERVICE, patch_modules=("botocore",))
else:
    tracer = None


def capture_lambda_handler(handler: Handler) -> Handler:
    """``Tracer.capture_lambda_handler`` (without the response) when tracing is on; else the handler."""
    if tracer is None:
        return handler
    return cast(Handler, tracer.capture_lambda_handler(handler, capture_response=False))


def emf_metrics(namespace: str) -> Metrics:
    """Powertools Metrics for ``namespace`` (instances share one metric set per process).

    ``service=""`` stops Powertools from adding a sixth ``service`` dimension: the metric contract
    has exactly five dimensions, and the dashboard and alarms query that exact set.
    """
    return Metrics(namespace=namespace, service="")
