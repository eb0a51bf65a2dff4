"""Validation of a request and the context that every later step works from.

``validate_request`` checks the whole request and reports every problem at once as ``{field,
message}`` (``field`` is a dotted path such as ``prompt.messages[1].role``). A valid request comes
back as the context: the resolved route, tags, metric dimensions, the Converse arguments, the prices
and the reservation estimate.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tollgate.applications import Application, registry_problems
from tollgate.catalogue import Catalogue, exclusive_parameter_problems, strip_geo_prefix
from tollgate.converse import build_converse_request
from tollgate.payload import DEFAULT_REQUEST_BYTES, json_bytes
from tollgate.pricing import Prices
from tollgate.routing import (
    KIND_APPLICATION_PROFILE,
    KIND_MODEL,
    ResolvedRoute,
    Route,
    find_route,
    model_metric,
    resolve,
)
from tollgate.tokens import (
    COUNT_TOKENS,
    COUNT_TOKENS_FAMILIES,
    HEURISTIC,
    UTF8_BYTES,
    estimate_input_tokens,
    utf8_bytes_input_tokens,
)

REQUEST_FIELDS = ("model", "prompt", "tags", "requestId")
PROMPT_FIELDS = ("messages", "parameters")
MESSAGE_FIELDS = ("role", "content")
PARAMETER_FIELDS = ("max_tokens", "temperature", "top_p", "top_k")
TAG_FIELDS = ("applicationId", "costCenter", "environment")
ROLES = ("system", "user", "assistant")

UNSPECIFIED = "unspecified"
INVALID = "invalid"

TAG_VALUE_MAX = 256
MAX_REPORTED_ERRORS = 25
# A value or key of the request quoted in an error message is cut to this many characters, so that
# an invalid request cannot make the error list (which the state carries) larger than itself.
SHOWN_MAX = 64
# AWS tag value characters, limited to ASCII because tag values become CloudWatch dimension values.
_TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]+$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


@dataclass(frozen=True)
class ValidationOptions:
    allowed_environments: tuple[str, ...]
    max_prompt_chars: int
    allow_direct_model_ids: bool
    max_request_bytes: int = DEFAULT_REQUEST_BYTES
    # The application registry (applicationId -> what it may use); empty: tags are self-asserted.
    applications: Mapping[str, Application] = field(default_factory=dict)
    input_token_estimate: str = HEURISTIC


@dataclass
class Validation:
    context: dict[str, Any]
    dropped_parameters: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.context["valid"])


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.fields: set[str] = set()

    def add(self, path: str, message: str) -> None:
        self.items.append({"field": path, "message": message})
        self.fields.add(path)

    def reported(self) -> list[dict[str, str]]:
        """The errors to report: the first MAX_REPORTED_ERRORS and a line saying how many more (the
        list ends up in the Fail state's cause, which Step Functions caps at 32,768 characters)."""
        if len(self.items) <= MAX_REPORTED_ERRORS:
            return self.items
        more = len(self.items) - MAX_REPORTED_ERRORS
        return [
            *self.items[:MAX_REPORTED_ERRORS],
            {"field": "request", "message": f"... and {more} more problems of the same kinds."},
        ]


def validate_request(
    request: Any,
    *,
    routes: Mapping[str, Route],
    catalogue: Catalogue,
    options: ValidationOptions,
    now: datetime | None = None,
    new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    count_tokens: Callable[[str, dict[str, Any]], int | None] | None = None,
) -> Validation:
    """``count_tokens(foundation_model_id, {messages, system?})``: the exact input tokens from
    Bedrock's CountTokens, or None when it cannot tell (used with ``input_token_estimate =
    count_tokens``)."""
    now = now or datetime.now(UTC)
    errors = _Errors()
    if not isinstance(request, Mapping):
        errors.add("request", "The request must be a JSON object with model, prompt and tags.")
        request = {}

    for name in request:
        if name not in REQUEST_FIELDS:
            errors.add(
                _shown(name), f"Unknown field '{_shown(name)}': a request has only {_listed(REQUEST_FIELDS)}."
            )
    _check_size(request, options, errors)

    request_id = _check_request_id(request, errors) or new_request_id()
    route = _check_model(request, routes, catalogue, options, errors)
    messages, parameters = _check_prompt(request, route, options, errors)
    tags = _check_tags(request, options, errors)
    if options.applications:
        for path, message in registry_problems(options.applications, tags, route.name if route else None):
            errors.add(path, message)
        if route is not None and not errors.items:
            route = _attributed(route, options.applications, tags, errors)
    dimensions = dimensions_for(route, request.get("tags"), errors.fields, options.allowed_environments)
    timestamp = now.isoformat().replace("+00:00", "Z")

    if errors.items:
        context = {
            "valid": False,
            "requestId": request_id,
            "timestamp": timestamp,
            "errors": errors.reported(),
            "dimensions": dimensions,
        }
        return Validation(context=context)
    assert route is not None

    max_tokens = parameters.get("max_tokens") or route.default_max_tokens
    converse = build_converse_request(
        messages,
        parameters,
        max_tokens=max_tokens,
        top_k_path=catalogue.top_k_path(route.family),
        request_metadata={"requestId": request_id, **tags},
    )
    prices = Prices(
        route.input_usd_per_1k,
        route.output_usd_per_1k,
        route.cache_read_usd_per_1k,
        route.cache_write_usd_per_1k,
    )
    input_tokens = _input_estimate(
        options.input_token_estimate, route, messages, converse.arguments, count_tokens
    )
    context = {
        "valid": True,
        "requestId": request_id,
        "timestamp": timestamp,
        "model": request["model"],
        "route": route.name,
        "kind": route.kind,
        "modelId": route.model_id,
        "modelMetric": route.model_metric,
        "baseModelId": route.base_model_id,
        "family": route.family,
        "tags": tags,
        "dimensions": dimensions,
        "converse": converse.arguments,
        "prices": prices.to_payload(),
        "estimate": {
            "inputTokens": input_tokens,
            "outputTokens": max_tokens,
            "totalTokens": input_tokens + max_tokens,
            "costUsd": float(prices.cost_usd(input_tokens, max_tokens)),
        },
    }
    if route.base_route:
        context["baseRoute"] = route.base_route
    return Validation(context=context, dropped_parameters=converse.dropped)


def _attributed(
    route: ResolvedRoute, applications: Mapping[str, Application], tags: Mapping[str, Any], errors: _Errors
) -> ResolvedRoute:
    """A model route's call, sent through the application inference profile tagged with the
    request's application, cost center and environment, so that Bedrock bills it under them.
    Cost-center routes already go through their own profile; an application without a profile map
    (attribution off) calls the model as before."""
    application = applications.get(tags.get("applicationId", ""))
    if route.kind != KIND_MODEL or application is None or application.profiles is None:
        return route
    profile_arn = application.profiles.get(application.profile_key(route.base_model_id, tags))
    if profile_arn is None:
        shown = ", ".join(f"{k} '{tags[k]}'" for k in TAG_FIELDS if k in tags)
        errors.add(
            "tags",
            f"No application inference profile bills model '{route.name}' for {shown}: the call would "
            "reach the bill untagged. Ask the platform team to add the combination to the registry "
            "(`applications`).",
        )
        return route
    return replace(
        route,
        kind=KIND_APPLICATION_PROFILE,
        model_id=profile_arn,
        model_metric=model_metric(KIND_APPLICATION_PROFILE, profile_arn),
    )


def dimensions_for(
    route: ResolvedRoute | None,
    tags: Any,
    invalid_fields: set[str],
    allowed_environments: Sequence[str],
) -> dict[str, str]:
    """The five metric dimensions: an absent optional tag is ``unspecified`` and anything that failed
    validation is ``invalid``, so bad input cannot create unbounded dimension values."""
    tags = tags if isinstance(tags, Mapping) else {}

    def tag(name: str, required: bool) -> str:
        value = tags.get(name)
        if value is None:
            return INVALID if required else UNSPECIFIED
        if f"tags.{name}" in invalid_fields or "tags" in invalid_fields or _tag_problem(value):
            return INVALID
        if name == "environment" and value not in allowed_environments:
            return INVALID
        return value

    return {
        "Model": route.name if route else INVALID,
        "ModelId": route.model_metric if route else INVALID,
        "CostCenter": tag("costCenter", required=False),
        "Application": tag("applicationId", required=True),
        "Environment": tag("environment", required=False),
    }


def valid_route_names(routes: Mapping[str, Route]) -> str:
    return ", ".join(sorted(routes))


def _check_request_id(request: Mapping, errors: _Errors) -> str | None:
    value = request.get("requestId")
    if value is None:
        return None
    if not isinstance(value, str) or not _REQUEST_ID.match(value):
        errors.add(
            "requestId",
            "requestId must be 1 to 128 characters of letters, digits and _ . : - "
            "(leave it out and Tollgate generates a UUID).",
        )
        return None
    return value


def _check_model(
    request: Mapping,
    routes: Mapping[str, Route],
    catalogue: Catalogue,
    options: ValidationOptions,
    errors: _Errors,
) -> ResolvedRoute | None:
    model = request.get("model")
    valid = valid_route_names(routes)
    if model is None:
        errors.add("model", f"model is required: name one of the routes {valid}.")
        return None
    if not isinstance(model, str) or not model.strip():
        errors.add("model", f"model must be a non-empty string naming one of the routes {valid}.")
        return None
    found = find_route(model, routes, allow_direct_model_ids=options.allow_direct_model_ids)
    if found is None:
        also = (
            " (or the model ID or profile ARN behind one of them)" if options.allow_direct_model_ids else ""
        )
        errors.add("model", f"Unknown model '{_shown(model)}'. Valid models are: {valid}{also}.")
        return None
    route = resolve(found, catalogue)
    if not route.priced:
        errors.add(
            "model",
            f"Model '{_shown(model)}' has no price: '{route.base_model_id}' is not in the model catalogue "
            "and its route sets no inputUsdPer1k/outputUsdPer1k, so its cost cannot be limited. Ask the "
            "platform team to set the route's prices.",
        )
        return None
    return route


def _check_prompt(
    request: Mapping,
    route: ResolvedRoute | None,
    options: ValidationOptions,
    errors: _Errors,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    prompt = request.get("prompt")
    if prompt is None:
        errors.add("prompt", "prompt is required: an object with messages and optional parameters.")
        return [], {}
    if not isinstance(prompt, Mapping):
        errors.add("prompt", "prompt must be an object with messages and optional parameters.")
        return [], {}
    for name in prompt:
        if name not in PROMPT_FIELDS:
            errors.add(
                f"prompt.{_shown(name)}",
                f"Unknown field '{_shown(name)}': a prompt has only {_listed(PROMPT_FIELDS)}.",
            )
    messages = _check_messages(prompt.get("messages"), options, errors)
    parameters = _check_parameters(prompt.get("parameters"), route, errors)
    if route is not None:  # the model's own parameter rules (catalogue.py), so Bedrock never answers 400
        for path, message in exclusive_parameter_problems(
            parameters, route.exclusive_parameters, route.name, route.base_model_id
        ):
            errors.add(path, message)
    return messages, parameters


def _check_messages(value: Any, options: ValidationOptions, errors: _Errors) -> list[dict[str, str]]:
    if value is None:
        errors.add("prompt.messages", "prompt.messages is required: a list of {role, content} messages.")
        return []
    if not isinstance(value, list) or not value:
        errors.add("prompt.messages", "prompt.messages must be a non-empty list of {role, content} messages.")
        return []
    messages: list[dict[str, str]] = []
    for index, message in enumerate(value):
        path = f"prompt.messages[{index}]"
        if not isinstance(message, Mapping):
            errors.add(path, f"{path} must be an object with role and content.")
            continue
        for name in message:
            if name not in MESSAGE_FIELDS:
                errors.add(
                    f"{path}.{_shown(name)}",
                    f"Unknown field '{_shown(name)}': a message has only role and content.",
                )
        role, content = message.get("role"), message.get("content")
        if role is None:
            errors.add(f"{path}.role", f"{path}.role is required: one of {_listed(ROLES, 'or')}.")
        elif not isinstance(role, str):
            errors.add(f"{path}.role", f"{path}.role must be a string: {_listed(ROLES, 'or')}.")
        elif role not in ROLES:
            errors.add(f"{path}.role", f"Unknown role '{_shown(role)}': a role is {_listed(ROLES, 'or')}.")
        if content is None:
            errors.add(f"{path}.content", f"{path}.content is required: the text of the message.")
        elif not isinstance(content, str):
            errors.add(f"{path}.content", f"{path}.content must be a string (the text of the message).")
        elif not content.strip():
            errors.add(f"{path}.content", f"{path}.content is empty: a message needs some text.")
        if role in ROLES and isinstance(content, str) and content.strip():
            messages.append({"role": role, "content": content})
    if len(messages) != len(value):
        return messages

    turns = [(i, m) for i, m in enumerate(messages) if m["role"] != "system"]
    if not turns:
        errors.add("prompt.messages", "prompt.messages has only system messages: it needs a user message.")
    elif turns[0][1]["role"] != "user":
        index = turns[0][0]
        errors.add(
            f"prompt.messages[{index}].role",
            "The first message after any system messages must have role user: a conversation starts "
            "with the user.",
        )
    total = sum(len(m["content"]) for m in messages)
    if total > options.max_prompt_chars:
        errors.add(
            "prompt.messages",
            f"The messages hold {total} characters in all; the limit is {options.max_prompt_chars}.",
        )
    return messages


def _check_parameters(value: Any, route: ResolvedRoute | None, errors: _Errors) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.add("prompt.parameters", "prompt.parameters must be an object.")
        return {}
    for name in value:
        if name not in PARAMETER_FIELDS:
            errors.add(
                f"prompt.parameters.{_shown(name)}",
                f"Unknown parameter '{_shown(name)}': the parameters are {_listed(PARAMETER_FIELDS)}.",
            )
    parameters: dict[str, Any] = {}
    max_tokens = value.get("max_tokens")
    if max_tokens is not None:
        ceiling = route.max_tokens if route else None
        if not _is_int(max_tokens) or max_tokens < 1 or (ceiling is not None and max_tokens > ceiling):
            limit = f"between 1 and {ceiling} for model '{route.name}'" if route else "1 or more"
            errors.add("prompt.parameters.max_tokens", f"max_tokens must be a whole number {limit}.")
        else:
            parameters["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        number = value.get(name)
        if number is None:
            continue
        if not _is_number(number) or not 0 <= number <= 1:
            errors.add(f"prompt.parameters.{name}", f"{name} must be a number between 0 and 1.")
        else:
            parameters[name] = number
    top_k = value.get("top_k")
    if top_k is not None:
        if not _is_int(top_k) or top_k < 0:
            errors.add("prompt.parameters.top_k", "top_k must be a whole number, 0 or more.")
        else:
            parameters["top_k"] = top_k
    return parameters


def _check_tags(request: Mapping, options: ValidationOptions, errors: _Errors) -> dict[str, str]:
    tags = request.get("tags")
    if tags is None:
        errors.add(
            "tags", "tags is required: an object with applicationId and optional costCenter and environment."
        )
        return {}
    if not isinstance(tags, Mapping):
        errors.add(
            "tags", "tags must be an object with applicationId and optional costCenter and environment."
        )
        return {}
    for name in tags:
        if name not in TAG_FIELDS:
            errors.add(
                f"tags.{_shown(name)}", f"Unknown tag '{_shown(name)}': the tags are {_listed(TAG_FIELDS)}."
            )
    checked: dict[str, str] = {}
    for name in TAG_FIELDS:
        value = tags.get(name)
        path = f"tags.{name}"
        if value is None:
            if name == "applicationId":
                errors.add(path, "tags.applicationId is required: it names the application making the call.")
            continue
        problem = _tag_problem(value)
        if problem:
            errors.add(path, f"{path} {problem}")
        elif name == "environment" and value not in options.allowed_environments:
            errors.add(
                path,
                f"Environment '{_shown(value)}' is not allowed: "
                f"use {_listed(options.allowed_environments, 'or')}.",
            )
        else:
            checked[name] = value
    return checked


def _tag_problem(value: Any) -> str | None:
    """What breaks the AWS tag value rules in ``value`` (as the end of a sentence), if anything."""
    if not isinstance(value, str):
        return "must be a string."
    if not value.strip():
        return "must not be empty."
    if len(value) > TAG_VALUE_MAX:
        return f"is {len(value)} characters long; a tag value has at most {TAG_VALUE_MAX}."
    if not _TAG_VALUE.match(value):
        return "may contain only letters, digits, spaces and _ . : / = + - @ (AWS tag rules)."
    return None


def _input_estimate(
    method: str,
    route: ResolvedRoute,
    messages: Sequence[Mapping[str, str]],
    converse: Mapping[str, Any],
    count_tokens: Callable[[str, dict[str, Any]], int | None] | None,
) -> int:
    contents = [m["content"] for m in messages]
    if method == COUNT_TOKENS and count_tokens is not None and route.family in COUNT_TOKENS_FAMILIES:
        body = {k: converse[k] for k in ("messages", "system") if k in converse}
        counted = count_tokens(strip_geo_prefix(route.base_model_id), body)
        if counted is not None:
            return counted
    if method in (UTF8_BYTES, COUNT_TOKENS):
        return utf8_bytes_input_tokens(contents)
    return estimate_input_tokens(contents)


def _check_size(request: Mapping, options: ValidationOptions, errors: _Errors) -> None:
    size = json_bytes(request)
    if size > options.max_request_bytes:
        errors.add(
            "request",
            f"The request is {size} bytes as UTF-8 JSON; the limit is {options.max_request_bytes} bytes "
            "(max_request_bytes), so that the request and its response fit in Step Functions' 256 KiB "
            "state. Shorten the messages.",
        )


def _shown(value: Any) -> str:
    """``value`` as text short enough to quote in an error message."""
    text = str(value)
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _listed(names: Sequence[str], last: str = "and") -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"
