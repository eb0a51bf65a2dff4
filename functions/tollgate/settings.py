"""The functions' environment, parsed once per container into a typed object.

Every variable is read and checked up front; a value that cannot be parsed, or a required variable
that is missing, raises ``SettingsError`` with a sentence that names the variable.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tollgate.payload import DEFAULT_REQUEST_BYTES, REQUEST_BYTES_MAX, REQUEST_BYTES_MIN
from tollgate.tokens import ESTIMATES as INPUT_TOKEN_ESTIMATES

METRICS_SINKS = ("emf", "cloudwatch_api")

_PURPOSE = {
    "TOLLGATE_TABLE_NAME": "the DynamoDB table that holds routes, limits, counters and reservations",
    "POWERTOOLS_METRICS_NAMESPACE": "the CloudWatch namespace the metrics are written to "
    "(GenAIRateLimiting by default in Terraform)",
}


class SettingsError(Exception):
    """An environment variable is missing or has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    table_name_value: str | None
    config_cache_seconds: int
    allowed_environments: tuple[str, ...]
    max_prompt_chars: int
    max_request_bytes: int
    input_token_estimate: str
    allow_direct_model_ids: bool
    fail_open: bool
    idempotency_seconds: int
    bedrock_read_timeout_seconds: int | None
    lease_seconds: int
    log_prompts: bool
    metrics_sink: str
    metrics_namespace_value: str | None
    # The SNS topic of threshold alerts (tollgate.alerts); None: alerts off.
    alert_topic_arn: str | None = None

    @property
    def table_name(self) -> str:
        return _required("TOLLGATE_TABLE_NAME", self.table_name_value)

    @property
    def metrics_namespace(self) -> str:
        return _required("POWERTOOLS_METRICS_NAMESPACE", self.metrics_namespace_value)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        sink = _text(env, "TOLLGATE_METRICS_SINK", "emf").lower()
        if sink not in METRICS_SINKS:
            raise SettingsError(
                f"TOLLGATE_METRICS_SINK is {sink!r}; it must be one of {', '.join(METRICS_SINKS)}."
            )
        environments = tuple(
            e.strip()
            for e in _text(env, "TOLLGATE_ALLOWED_ENVIRONMENTS", "dev,staging,prod,production").split(",")
            if e.strip()
        )
        if not environments:
            raise SettingsError(
                "TOLLGATE_ALLOWED_ENVIRONMENTS is empty; it must list the allowed values of "
                "tags.environment, separated by commas."
            )
        estimate = _text(env, "TOLLGATE_INPUT_TOKEN_ESTIMATE", "heuristic").lower()
        if estimate not in INPUT_TOKEN_ESTIMATES:
            raise SettingsError(
                f"TOLLGATE_INPUT_TOKEN_ESTIMATE is {estimate!r}; it must be one of "
                f"{', '.join(INPUT_TOKEN_ESTIMATES)}."
            )
        idempotency = _integer(env, "TOLLGATE_IDEMPOTENCY_SECONDS", 86_400, minimum=1)
        lease = _integer(env, "TOLLGATE_LEASE_SECONDS", 600, minimum=1)
        if idempotency < lease:
            # A retry after the record expired but inside the lease would reserve twice.
            raise SettingsError(
                f"TOLLGATE_IDEMPOTENCY_SECONDS is {idempotency}; it must be at least "
                f"TOLLGATE_LEASE_SECONDS ({lease}), or a retry could be charged twice."
            )
        return cls(
            table_name_value=_text(env, "TOLLGATE_TABLE_NAME", "") or None,
            config_cache_seconds=_integer(env, "TOLLGATE_CONFIG_CACHE_SECONDS", 60, minimum=0),
            allowed_environments=environments,
            max_prompt_chars=_integer(env, "TOLLGATE_MAX_PROMPT_CHARS", 100_000, minimum=1),
            max_request_bytes=_integer(
                env,
                "TOLLGATE_MAX_REQUEST_BYTES",
                DEFAULT_REQUEST_BYTES,
                minimum=REQUEST_BYTES_MIN,
                maximum=REQUEST_BYTES_MAX,
            ),
            input_token_estimate=estimate,
            allow_direct_model_ids=_boolean(env, "TOLLGATE_ALLOW_DIRECT_MODEL_IDS", False),
            fail_open=_boolean(env, "TOLLGATE_FAIL_OPEN", False),
            idempotency_seconds=idempotency,
            # Empty: sized from each request's max_tokens (tollgate.bedrock.read_timeout_seconds).
            bedrock_read_timeout_seconds=(
                _integer(env, "TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS", 60, minimum=1)
                if _text(env, "TOLLGATE_BEDROCK_READ_TIMEOUT_SECONDS", "")
                else None
            ),
            lease_seconds=lease,
            log_prompts=_boolean(env, "TOLLGATE_LOG_PROMPTS", False),
            metrics_sink=sink,
            metrics_namespace_value=_text(env, "POWERTOOLS_METRICS_NAMESPACE", "") or None,
            alert_topic_arn=_topic_arn(env, "TOLLGATE_ALERT_TOPIC_ARN"),
        )


@functools.cache
def get_settings() -> Settings:
    """The settings of this container (parsed on first use)."""
    return Settings.from_env(os.environ)


def _required(name: str, value: str | None) -> str:
    if not value:
        raise SettingsError(f"{name} is not set: it names {_PURPOSE[name]}.")
    return value


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip()


def _integer(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = _text(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} is {raw!r}; it must be a whole number.") from None
    if value < minimum:
        raise SettingsError(f"{name} is {value}; it must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} is {value}; it must be at most {maximum}.")
    return value


def _topic_arn(env: Mapping[str, str], name: str) -> str | None:
    raw = _text(env, name, "")
    if not raw:
        return None
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}", raw):
        raise SettingsError(
            f"{name} is {raw!r}; it must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)."
        )
    return raw


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name, "true" if default else "false").lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"{name} is {raw!r}; it must be true or false.")
