"""LocalStack service providers for Bedrock: the control plane (`bedrock`) and the runtime
(`bedrock-runtime`), selected with PROVIDER_OVERRIDE_BEDROCK=tollgate and
PROVIDER_OVERRIDE_BEDROCK_RUNTIME=tollgate.

Control plane: foundation models (Get/List), system inference profiles (Get/List) and
application inference profiles (Create/Get/List/Delete, tags). Runtime: Converse and
InvokeModel against the deterministic model in model.py (and CountTokens, which answers the input
tokens they would bill), with Bedrock's validation, the fault
switch (faults.py) and the AWS/Bedrock metrics (metrics.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import secrets
import string
import threading
import time
from datetime import UTC, datetime

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.http import Response
from localstack.services.plugins import Service, aws_provider

from . import metrics
from .catalog import MODELS, ON_DEMAND, FoundationModel, system_profiles
from .errors import END_OF_LIFE, INVALID_MODEL, BedrockError, validation
from .faults import FAULTS, fault_key
from .model import (
    complete,
    converse_prompt,
    converse_response,
    input_tokens_of,
    invoke_prompt,
    invoke_response,
)
from .usage import USAGE, Served

LOG = logging.getLogger(__name__)

ARN_RE = re.compile(r"^arn:aws[\w-]*:bedrock:([a-z0-9-]*):(\d{12})?:([a-z-]+)/(.+)$")
PROFILE_NAME_RE = re.compile(r"^([0-9a-zA-Z][ _-]?)+$")
ID_ALPHABET = string.ascii_lowercase + string.digits
COUNT_TOKENS_FAMILIES = ("anthropic",)  # Bedrock's CountTokens supports Anthropic Claude models


def _error(e: BedrockError) -> CommonServiceException:
    return CommonServiceException(e.code, e.message, status_code=e.status, sender_fault=e.status < 500)


def _not_found(message: str) -> CommonServiceException:
    return CommonServiceException("ResourceNotFoundException", message, status_code=404, sender_fault=True)


def _invalid(message: str) -> CommonServiceException:
    return CommonServiceException("ValidationException", message, status_code=400, sender_fault=True)


# --- state ------------------------------------------------------------------------------------------
class ProfileStore:
    """Application inference profiles and their tags, per account and region (in memory)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.profiles: dict[tuple[str, str], dict[str, dict]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.tokens: dict[tuple[str, str, str], str] = {}

    def of(self, account: str, region: str) -> dict[str, dict]:
        return self.profiles.setdefault((account, region), {})


STORE = ProfileStore()


def _application_profile(account: str, region: str, identifier: str) -> dict | None:
    profile_id = identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier
    return STORE.of(account, region).get(profile_id)


# --- resolving a model identifier -----------------------------------------------------------------
@dataclasses.dataclass
class Target:
    model: FoundationModel
    metric_id: str  # what AWS/Bedrock reports the call under
    on_demand: bool  # served without a (system) inference profile
    profile_arn: str | None = None  # the application inference profile, whose tags bill the call

    @property
    def fault_keys(self) -> set[str]:
        return {self.metric_id, self.model.model_id}

    def check_servable(self) -> None:
        if self.model.end_of_life:
            raise BedrockError("ResourceNotFoundException", END_OF_LIFE)
        if self.on_demand and ON_DEMAND not in self.model.inference_types:
            raise validation(
                f"Invocation of model ID {self.model.model_id} with on-demand throughput isn't supported. "
                "Retry your request with the ID or ARN of an inference profile that contains this model."
            )


def resolve(account: str, region: str, identifier: str) -> Target:
    """A foundation model ID or ARN, a system profile ID or ARN, or an application profile ARN."""
    metric_id = fault_key(identifier)
    if identifier.startswith("arn:"):
        match = ARN_RE.match(identifier)
        kind, resource_id = (match.group(3), match.group(4)) if match else ("", "")
    else:
        kind, resource_id = ("foundation-model" if identifier in MODELS else "inference-profile"), identifier
    if kind == "foundation-model" and resource_id in MODELS:
        return Target(MODELS[resource_id], metric_id, on_demand=True)
    if kind == "inference-profile":
        profile = system_profiles(region).get(resource_id)
        if profile:
            return Target(profile.model, metric_id, on_demand=False)
    if kind == "application-inference-profile":
        profile = _application_profile(account, region, resource_id)
        if profile:
            # copied from a foundation-model ARN, it serves on demand in one region
            on_demand = profile["_sourceKind"] == "foundation-model"
            return Target(
                MODELS[profile["_modelId"]],
                metric_id,
                on_demand=on_demand,
                profile_arn=profile["inferenceProfileArn"],
            )
    raise _invalid(INVALID_MODEL)


# --- control plane ------------------------------------------------------------------------------------
def _page(items: list, max_results: int | None, token: str | None) -> tuple[list, str | None]:
    start = 0
    if token:
        try:
            start = int(base64.b64decode(token).decode())
        except ValueError:
            raise _invalid("The provided pagination token is invalid.") from None
    size = max_results or 1000
    if not 1 <= size <= 1000:
        raise _invalid(
            f"1 validation error detected: Value '{size}' at 'maxResults' "
            "failed to satisfy constraint: Member "
            "must have value less than or equal to 1000"
        )
    end = start + size
    next_token = base64.b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


def _public(profile: dict) -> dict:
    return {k: v for k, v in profile.items() if not k.startswith("_")}


def _check_tags(tags: list[dict]) -> None:
    for tag in tags:
        key, value = tag.get("key", ""), tag.get("value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256 or key.lower().startswith("aws:"):
            raise _invalid(
                f"The tag {key!r}={value!r} is not valid: keys are 1-128 characters, values up to 256."
            )


class BedrockProvider:
    service = "bedrock"

    @handler("GetFoundationModel", expand=False)
    def get_foundation_model(self, context: RequestContext, request: dict) -> dict:
        identifier = request["modelIdentifier"]
        model_id = identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier
        model = MODELS.get(model_id)
        if not model:
            raise _not_found(
                f"Could not resolve the foundation model from the provided model identifier: {identifier}"
            )
        return {"modelDetails": model.summary(context.region)}

    @handler("ListFoundationModels", expand=False)
    def list_foundation_models(self, context: RequestContext, request: dict) -> dict:
        models = list(MODELS.values())
        if request.get("byProvider"):
            models = [
                m for m in models if m.provider.lower().replace(" ", "") == request["byProvider"].lower()
            ]
        if request.get("byOutputModality") not in (None, "TEXT"):
            models = []  # they all write text
        if request.get("byInferenceType"):
            models = [m for m in models if request["byInferenceType"] in m.inference_types]
        if request.get("byCustomizationType"):
            models = []  # none of these models can be customised here
        return {"modelSummaries": [m.summary(context.region) for m in models]}

    @handler("CreateInferenceProfile", expand=False)
    def create_inference_profile(self, context: RequestContext, request: dict) -> dict:
        account, region = context.account_id, context.region
        name = request["inferenceProfileName"]
        description = request.get("description")
        if not 1 <= len(name) <= 64 or not PROFILE_NAME_RE.match(name):
            raise _invalid(
                f"1 validation error detected: Value '{name}' at 'inferenceProfileName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: ([0-9a-zA-Z][ _-]?)+"
            )
        if description is not None and not 1 <= len(description) <= 200:
            raise _invalid("The description must be 1 to 200 characters long.")
        tags = request.get("tags") or []
        _check_tags(tags)
        source = (request.get("modelSource") or {}).get("copyFrom") or ""
        match = ARN_RE.match(source)
        kind, source_id = (match.group(3), match.group(4)) if match else ("", "")
        system = system_profiles(region)
        if kind == "foundation-model" and source_id in MODELS:
            model = MODELS[source_id]
            models = [{"modelArn": model.arn(match.group(1) or region)}]
        elif kind == "inference-profile" and source_id in system:
            profile = system[source_id]
            model = profile.model
            models = [{"modelArn": arn} for arn in profile.model_arns()]
        else:
            raise _invalid(
                f"The model source {source!r} is not a foundation model ARN or a system inference "
                f"profile ARN that exists in {region}."
            )
        if model.end_of_life:
            raise _not_found(END_OF_LIFE)
        with STORE.lock:
            token = request.get("clientRequestToken")
            if token and (account, region, token) in STORE.tokens:
                existing = STORE.of(account, region).get(STORE.tokens[(account, region, token)])
                if existing:
                    return {
                        "inferenceProfileArn": existing["inferenceProfileArn"],
                        "status": existing["status"],
                    }
            if any(p["inferenceProfileName"] == name for p in STORE.of(account, region).values()):
                raise CommonServiceException(
                    "ConflictException",
                    f"An inference profile with the name {name} already exists.",
                    status_code=409,
                    sender_fault=True,
                )
            profile_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(12))
            arn = f"arn:aws:bedrock:{region}:{account}:application-inference-profile/{profile_id}"
            now = datetime.now(UTC)
            profile = {
                "inferenceProfileName": name,
                "createdAt": now,
                "updatedAt": now,
                "inferenceProfileArn": arn,
                "models": models,
                "inferenceProfileId": profile_id,
                "status": "ACTIVE",
                "type": "APPLICATION",
                "_modelId": model.model_id,
                "_sourceKind": kind,
            }
            if description is not None:
                profile["description"] = description
            STORE.of(account, region)[profile_id] = profile
            STORE.tags[arn] = {t["key"]: t["value"] for t in tags}
            if token:
                STORE.tokens[(account, region, token)] = profile_id
        return {"inferenceProfileArn": arn, "status": "ACTIVE"}

    def _find_profile(self, context: RequestContext, identifier: str) -> dict:
        account, region = context.account_id, context.region
        profile = _application_profile(account, region, identifier)
        if profile:
            return _public(profile)
        system = system_profiles(region).get(identifier.rsplit("/", 1)[-1])
        if system and (not identifier.startswith("arn:") or ":inference-profile/" in identifier):
            return system.describe(region, account)
        raise _not_found(f"Inference profile {identifier} not found.")

    @handler("GetInferenceProfile", expand=False)
    def get_inference_profile(self, context: RequestContext, request: dict) -> dict:
        return self._find_profile(context, request["inferenceProfileIdentifier"])

    @handler("ListInferenceProfiles", expand=False)
    def list_inference_profiles(self, context: RequestContext, request: dict) -> dict:
        # as on AWS, without typeEquals the list holds the system-defined profiles only
        kind = request.get("typeEquals") or "SYSTEM_DEFINED"
        if kind == "APPLICATION":
            with STORE.lock:
                items = [_public(p) for p in STORE.of(context.account_id, context.region).values()]
        else:
            items = [
                p.describe(context.region, context.account_id)
                for p in system_profiles(context.region).values()
            ]
        page, next_token = _page(items, request.get("maxResults"), request.get("nextToken"))
        response = {"inferenceProfileSummaries": page}
        if next_token:
            response["nextToken"] = next_token
        return response

    @handler("DeleteInferenceProfile", expand=False)
    def delete_inference_profile(self, context: RequestContext, request: dict) -> dict:
        identifier = request["inferenceProfileIdentifier"]
        with STORE.lock:
            profile = _application_profile(context.account_id, context.region, identifier)
            if not profile:
                if system_profiles(context.region).get(identifier.rsplit("/", 1)[-1]):
                    raise _invalid("System-defined inference profiles cannot be deleted.")
                raise _not_found(f"Inference profile {identifier} not found.")
            del STORE.of(context.account_id, context.region)[profile["inferenceProfileId"]]
            STORE.tags.pop(profile["inferenceProfileArn"], None)
        return {}

    def _tags_of(self, context: RequestContext, arn: str) -> dict[str, str]:
        profile = (
            _application_profile(context.account_id, context.region, arn) if arn.startswith("arn:") else None
        )
        if not profile or profile["inferenceProfileArn"] != arn:
            raise _not_found(f"The resource {arn} was not found.")
        return STORE.tags.setdefault(arn, {})

    @handler("TagResource", expand=False)
    def tag_resource(self, context: RequestContext, request: dict) -> dict:
        _check_tags(request["tags"])
        with STORE.lock:
            tags = self._tags_of(context, request["resourceARN"])
            new = {t["key"]: t["value"] for t in request["tags"]}
            if len({**tags, **new}) > 200:
                raise CommonServiceException(
                    "TooManyTagsException", "A resource can have at most 200 tags.", 400, True
                )
            tags.update(new)
        return {}

    @handler("UntagResource", expand=False)
    def untag_resource(self, context: RequestContext, request: dict) -> dict:
        with STORE.lock:
            tags = self._tags_of(context, request["resourceARN"])
            for key in request["tagKeys"]:
                tags.pop(key, None)
        return {}

    @handler("ListTagsForResource", expand=False)
    def list_tags_for_resource(self, context: RequestContext, request: dict) -> dict:
        with STORE.lock:
            tags = self._tags_of(context, request["resourceARN"])
            return {"tags": [{"key": k, "value": v} for k, v in tags.items()]}


# --- runtime ---------------------------------------------------------------------------------------------
def caller_identity(context: RequestContext) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The caller's IAM principal and its tags, as Bedrock records them for the bill (CUR 2.0
    line_item_iam_principal): an assumed role's session ARN (a Lambda function's credentials are
    its role's session) with the role's tags and the session's, or an IAM user's ARN with the
    user's tags, from LocalStack's own STS and IAM stores. Unknown keys (test credentials) are the
    account root, as GetCallerIdentity answers."""
    from localstack.services.iam.models import iam_stores
    from localstack.services.sts.models import sts_stores
    from localstack.utils.aws.request_context import extract_access_key_id_from_auth_header

    account = context.account_id
    try:
        key = extract_access_key_id_from_auth_header(context.request.headers) or ""
        iam = iam_stores[account]["us-east-1"]
        creds = sts_stores[account]["us-east-1"].credentials.get(key)
        if creds is not None:
            role_arn = re.sub(r":sts::(\d+):assumed-role/([^/]+)/.*$", r":iam::\1:role/\2", creds.arn)
            session = dict(_tag_pairs(creds.tags or {}))
            return creds.arn, _tag_pairs({**iam.TAGS.get_tags(role_arn), **session})
        user_name = iam.ACCESS_KEY_INDEX.get(key)
        if user_name and user_name in iam.USERS:
            arn = iam.USERS[user_name].user["Arn"]
            return arn, _tag_pairs(iam.TAGS.get_tags(arn))
    except Exception as e:  # noqa: BLE001 (the bill must not fail a model call)
        LOG.warning("caller identity unknown (%s): billed to the account root", e)
    return f"arn:aws:iam::{account}:root", ()


def _tag_pairs(tags: dict) -> tuple[tuple[str, str], ...]:
    """Tags as sorted pairs: plain {key: value}, or a session's {key: {"Key", "Value"}}."""
    pairs = ((v["Key"], v["Value"]) if isinstance(v, dict) else (k, v) for k, v in (tags or {}).items())
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def _strike(fault: dict) -> None:
    if fault["delayMs"]:
        time.sleep(fault["delayMs"] / 1000)
    if fault["error"]:
        raise BedrockError(fault["error"], fault["message"])


class BedrockRuntimeProvider:
    service = "bedrock-runtime"

    def _run(self, context: RequestContext, identifier: str, call):
        """Resolve, check, apply faults, run `call(model)`, and publish the AWS/Bedrock metrics."""
        started = time.monotonic()
        account, region = context.account_id, context.region
        target = resolve(account, region, identifier)
        try:
            target.check_servable()
            fault = FAULTS.take(target.fault_keys)
            if fault and fault.get("phase", "before") == "before":
                _strike(fault)
            completion, render = call(target.model)
        except BedrockError as e:
            metrics.failure(account, region, target.metric_id, e.status)
            raise _error(e) from None
        latency_ms = max(1, round((time.monotonic() - started) * 1000))
        USAGE.add(
            Served(
                datetime.now(UTC),
                account,
                region,
                target.model.model_id,
                target.profile_arn,
                completion.input_tokens,
                completion.output_tokens,
                tuple(sorted(STORE.tags.get(target.profile_arn, {}).items())) if target.profile_arn else (),
                *caller_identity(context),
            )
        )
        metrics.success(
            account, region, target.metric_id, latency_ms, completion.input_tokens, completion.output_tokens
        )
        if fault and fault.get("phase") == "after":
            # Generated and billed (the success metrics above); the answer is then delayed or lost.
            try:
                _strike(fault)
            except BedrockError as e:
                raise _error(e) from None
        return render(completion, latency_ms)

    @handler("Converse", expand=False)
    def converse(self, context: RequestContext, request: dict) -> dict:
        def call(model: FoundationModel):
            return complete(converse_prompt(model, request)), converse_response

        return self._run(context, request["modelId"], call)

    @handler("InvokeModel", expand=False)
    def invoke_model(self, context: RequestContext, request: dict) -> Response:
        body = request.get("body") or b""
        body = body.read() if hasattr(body, "read") else body  # the parser hands a stream

        def call(model: FoundationModel):
            prompt, kind = invoke_prompt(model, body)

            def render(completion, latency_ms):
                document = invoke_response(model, kind, completion, context.request_id)
                return Response(
                    json.dumps(document),
                    status=200,
                    headers={
                        "Content-Type": "application/json",
                        "x-amzn-RequestId": context.request_id,
                        "X-Amzn-Bedrock-Input-Token-Count": str(completion.input_tokens),
                        "X-Amzn-Bedrock-Output-Token-Count": str(completion.output_tokens),
                        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
                    },
                )

            return complete(prompt), render

        return self._run(context, request["modelId"], call)

    @handler("CountTokens", expand=False)
    def count_tokens(self, context: RequestContext, request: dict) -> dict:
        """Bedrock counts tokens for foundation models (an ID or ARN, not a profile) of the families
        that support it (Anthropic Claude here); anything else is a ValidationException."""
        identifier = request["modelId"]
        match = ARN_RE.match(identifier) if identifier.startswith("arn:") else None
        model_id = match.group(4) if match and match.group(3) == "foundation-model" else identifier
        model = MODELS.get(model_id)
        if model is None:
            raise _invalid(INVALID_MODEL)
        if model.family not in COUNT_TOKENS_FAMILIES:
            raise _invalid(f"The provided model {model_id} doesn't support counting tokens.")
        source = request.get("input") or {}
        try:
            if "converse" in source:
                prompt = converse_prompt(model, source["converse"])
            elif "invokeModel" in source:
                body = source["invokeModel"].get("body") or b""
                prompt, _ = invoke_prompt(model, body.encode() if isinstance(body, str) else body)
            else:
                raise validation("input must hold converse or invokeModel.")
        except BedrockError as e:
            raise _error(e) from None
        return {"inputTokens": input_tokens_of(prompt)}


@aws_provider(api="bedrock", name="tollgate")
def bedrock_tollgate() -> Service:
    return Service.for_provider(BedrockProvider())


@aws_provider(api="bedrock-runtime", name="tollgate")
def bedrock_runtime_tollgate() -> Service:
    return Service.for_provider(BedrockRuntimeProvider())
