"""A Python client for applications: Bedrock Converse's own arguments and response shape, in front
of Tollgate's state machine.

    from tollgate.client import Tollgate, RateLimitExceeded

    tollgate = Tollgate.from_terraform_outputs("infra/")
    answer = tollgate.converse(
        modelId="claude-3-5-haiku",
        messages=[{"role": "user", "content": [{"text": "Explain S3 in 100 words."}]}],
        inferenceConfig={"maxTokens": 400},
        tags={"applicationId": "docs-helper", "costCenter": "support"},
    )
    print(answer["output"]["message"]["content"][0]["text"], answer["tollgate"]["costUsd"])

What it promises (docs/requests.md, section 0, and its streaming part):

- The request is translated to Tollgate's contract (DESIGN.md): ``modelId`` is the route,
  ``messages``/``system`` become ``prompt.messages``, ``inferenceConfig`` becomes
  ``prompt.parameters`` and a ``top_k``/``topK`` in ``additionalModelRequestFields`` becomes
  ``top_k``. An argument the contract cannot carry is refused here, naming it.
- Every call carries a ``requestId`` (the caller's, or one generated once per call), so that any
  retry, by botocore or by this client, is a replay of the same request: never a second paid
  execution. The read timeout is above the longest an EXPRESS execution can run, so a slow answer
  is waited for, not given up on and sent again.
- The outcomes are typed: :class:`RateLimitExceeded`, :class:`ValidationError`,
  :class:`InvocationFailed` (and :class:`ExecutionFailed` for an execution that ended outside the
  contract), all :class:`TollgateError`, each with the Fail state's JSON cause parsed.
- ``converse_stream`` admits through the module's stream-admit state machine, streams
  ConverseStream from the routed model itself, and settles the stream's usage through the
  stream-settle state machine (which records the metrics once).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# An EXPRESS execution ends within 5 minutes whatever happens (tools/workflow_bound.py): a read
# timeout above that never gives up on an execution that is still running.
READ_TIMEOUT_SECONDS = 330
CONNECT_TIMEOUT_SECONDS = 10
# botocore retries (throttling, 5xx, dropped connections) are safe: the input carries the requestId,
# so a second attempt of StartSyncExecution is answered from the first one's settled result.
RETRIES = {"mode": "standard", "total_max_attempts": 3}
# How long to wait for an earlier attempt of the same requestId that is still running (denied as
# duplicate_in_flight): a little more than the EXPRESS bound.
IN_FLIGHT_WAIT_SECONDS = 330.0
POLL_SECONDS = 0.5
POLL_MAX_SECONDS = 2.0
# ConverseStream: a stream gets no answer for minutes only if something is wrong.
STREAM_READ_TIMEOUT_SECONDS = 120

ROLES = ("user", "assistant")
INFERENCE_CONFIG = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}
DUPLICATE_IN_FLIGHT = "duplicate_in_flight"
_EXECUTION_NAME = re.compile(r"[^A-Za-z0-9_-]")


# --- errors -------------------------------------------------------------------------------------


class TollgateError(Exception):
    """Every error of this client. ``cause`` is the Fail state's parsed JSON cause (or what the
    client knew); ``request_id`` is the ID to retry with (a retry with it is a replay)."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        cause: Mapping[str, Any] | None = None,
        execution_arn: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.cause: dict[str, Any] = dict(cause or {})
        self.execution_arn = execution_arn


class RateLimitExceeded(TollgateError):
    """Denied before the model was called. ``retry_after_seconds`` is None when the request can
    never fit the limit; ``limit`` is the limit that denied it (id, scope, window, unit, limit,
    used, requested)."""

    @property
    def retry_after_seconds(self) -> int | None:
        value = self.cause.get("retryAfterSeconds")
        return int(value) if isinstance(value, int | float) else None

    @property
    def limit(self) -> dict[str, Any] | None:
        limit = self.cause.get("limit")
        return dict(limit) if isinstance(limit, Mapping) else None

    @property
    def reason(self) -> str | None:
        reason = self.cause.get("reason")
        return reason if isinstance(reason, str) else None


class ValidationError(TollgateError):
    """The request is invalid: ``errors`` lists ``{field, message}``; ``field`` is the first."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [dict(e) for e in self.cause.get("errors") or [] if isinstance(e, Mapping)]

    @property
    def fields(self) -> list[str]:
        return [str(e.get("field")) for e in self.errors]

    @property
    def field(self) -> str | None:
        return self.fields[0] if self.fields else None


class InvocationFailed(TollgateError):
    """Admitted, then the model call failed. ``model_error`` is ``{code, message}``;
    ``charged_at_estimate`` is set when the model may have run (the usage was charged at the
    estimate, and a retry with the same requestId is charged again)."""

    @property
    def model_error(self) -> dict[str, Any]:
        error = self.cause.get("modelError")
        return dict(error) if isinstance(error, Mapping) else {}

    @property
    def stage(self) -> str | None:
        stage = self.cause.get("stage")
        return stage if isinstance(stage, str) else None

    @property
    def charged_at_estimate(self) -> dict[str, Any] | None:
        charged = self.cause.get("chargedAtEstimate")
        return dict(charged) if isinstance(charged, Mapping) else None


class ExecutionFailed(TollgateError):
    """The execution ended outside the contract (timed out, aborted, or an unexpected error), or
    Step Functions could not be reached. ``error`` is the execution's error name."""

    def __init__(self, message: str, *, error: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error = error


ERRORS: dict[str, type[TollgateError]] = {
    "RateLimitExceeded": RateLimitExceeded,
    "ValidationError": ValidationError,
    "InvocationFailed": InvocationFailed,
}


def _argument_error(field: str, message: str) -> ValidationError:
    """A client-side argument error, in the shape of the state machine's (one field error)."""
    return ValidationError(
        f"{field}: {message}",
        cause={"error": "ValidationError", "errors": [{"field": field, "message": message}]},
    )


# --- the request: Converse's arguments to Tollgate's contract ------------------------------------


def build_request(
    *,
    modelId: Any,
    messages: Any,
    system: Any = None,
    inferenceConfig: Any = None,
    tags: Any = None,
    requestId: Any = None,
    additionalModelRequestFields: Any = None,
) -> dict[str, Any]:
    """Tollgate's request (DESIGN.md) for Converse's arguments, or a ValidationError naming the
    argument. The value checks (ranges, tag rules, routes) stay the state machine's."""
    if not isinstance(modelId, str) or not modelId.strip():
        raise _argument_error("modelId", "modelId must be a non-empty string: a route or model ID.")
    if not isinstance(messages, list | tuple) or not messages:
        raise _argument_error("messages", "messages must be a non-empty list of {role, content}.")
    prompt_messages = [{"role": "system", "content": text} for text in _system_texts(system)]
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise _argument_error(path, f"{path} must be a dict with role and content.")
        role = message.get("role")
        if role not in ROLES:
            hint = " (pass system prompts as system=...)" if role == "system" else ""
            raise _argument_error(f"{path}.role", f"{path}.role must be 'user' or 'assistant'{hint}.")
        prompt_messages.append({"role": role, "content": _text(message.get("content"), f"{path}.content")})
    parameters = _parameters(inferenceConfig, additionalModelRequestFields)
    if not isinstance(tags, Mapping) or not tags:
        raise _argument_error("tags", "tags is required: a dict with at least applicationId.")
    if "applicationId" not in tags:
        raise _argument_error("tags.applicationId", "tags.applicationId is required.")
    prompt: dict[str, Any] = {"messages": prompt_messages}
    if parameters:
        prompt["parameters"] = parameters
    request: dict[str, Any] = {"model": modelId, "prompt": prompt, "tags": dict(tags)}
    if requestId is not None:
        if not isinstance(requestId, str) or not requestId.strip():
            raise _argument_error("requestId", "requestId must be a non-empty string (or None).")
        request["requestId"] = requestId
    return request


def _call_request(**arguments: Any) -> dict[str, Any]:
    """The request of one ``converse``/``converse_stream`` call: ``build_request``, with a requestId
    generated once per call when the caller gave none, so that every retry of it is a replay."""
    request = build_request(**arguments)
    request.setdefault("requestId", str(uuid.uuid4()))
    return request


def _text(content: Any, path: str) -> str:
    """A message's text: a string, or Converse content blocks that are all ``{"text": ...}``."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list | tuple) or not content:
        raise _argument_error(path, f"{path} must be a string or a non-empty list of {{'text': ...}} blocks.")
    texts = []
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or set(block) != {"text"} or not isinstance(block["text"], str):
            raise _argument_error(
                f"{path}[{j}]",
                f"{path}[{j}] must be a {{'text': str}} block: Tollgate carries text content only.",
            )
        texts.append(block["text"])
    return "\n".join(texts)


def _system_texts(system: Any) -> list[str]:
    if system is None:
        return []
    if isinstance(system, str):
        return [system]
    if not isinstance(system, list | tuple):
        raise _argument_error("system", "system must be a string or a list of {'text': ...} blocks.")
    texts = []
    for i, block in enumerate(system):
        if not isinstance(block, Mapping) or set(block) != {"text"} or not isinstance(block["text"], str):
            raise _argument_error(f"system[{i}]", f"system[{i}] must be a {{'text': str}} block.")
        texts.append(block["text"])
    return texts


def _parameters(inference_config: Any, additional: Any) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if inference_config is not None:
        if not isinstance(inference_config, Mapping):
            raise _argument_error("inferenceConfig", "inferenceConfig must be a dict.")
        for name, value in inference_config.items():
            if name not in INFERENCE_CONFIG:
                raise _argument_error(
                    f"inferenceConfig.{name}",
                    f"inferenceConfig.{name} is not supported by Tollgate: use "
                    f"{', '.join(INFERENCE_CONFIG)}.",
                )
            if value is not None:
                parameters[INFERENCE_CONFIG[name]] = value
    if additional is not None:
        if not isinstance(additional, Mapping):
            raise _argument_error(
                "additionalModelRequestFields", "additionalModelRequestFields must be a dict."
            )
        for name, value in additional.items():
            if name in ("top_k", "topK"):
                parameters["top_k"] = value
            elif name == "inferenceConfig" and isinstance(value, Mapping) and set(value) == {"topK"}:
                parameters["top_k"] = value["topK"]  # Nova's form
            else:
                raise _argument_error(
                    f"additionalModelRequestFields.{name}",
                    f"additionalModelRequestFields.{name} is not supported by Tollgate: only top_k "
                    "(Tollgate writes it in the form the routed model family wants).",
                )
    return parameters


# --- the response: Tollgate's success output to Converse's shape ---------------------------------


def converse_response(output: Mapping[str, Any], execution_arn: str | None = None) -> dict[str, Any]:
    """Converse's response shape for a Tollgate success output, plus the ``tollgate`` key."""
    response = output.get("response") or {}
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": response.get("text") or ""}]}},
        "stopReason": response.get("stopReason"),
        "usage": dict(output.get("usage") or {}),
        "metrics": {"latencyMs": output.get("latencyMs")},
        "tollgate": tollgate_key(output, execution_arn),
    }


def tollgate_key(output: Mapping[str, Any], execution_arn: str | None) -> dict[str, Any]:
    replayed = bool(output.get("replayed"))
    key: dict[str, Any] = {
        "requestId": output.get("requestId"),
        "costUsd": output.get("costUsd"),
        "route": output.get("model"),
        "modelId": output.get("modelId"),
        "modelMetric": output.get("modelMetric"),
        "decision": "replay" if replayed else "approved",
        "replayed": replayed,
        "tags": dict(output.get("tags") or {}),
        "executionArn": execution_arn,
    }
    if (output.get("response") or {}).get("truncated"):
        key["truncated"] = True
    return key


def parse_cause(cause: str | None) -> dict[str, Any]:
    """The Fail state's cause as a dict (a non-JSON cause becomes ``{"message": cause}``)."""
    if not cause:
        return {}
    try:
        parsed = json.loads(cause)
    except ValueError:
        return {"message": cause}
    return parsed if isinstance(parsed, dict) else {"message": cause}


def error_for(
    name: str, cause: Mapping[str, Any], request_id: str | None, execution_arn: str | None
) -> TollgateError:
    """The typed error for an execution that ended in ``name`` with ``cause``."""
    message = str(cause.get("message") or name)
    request_id = cause.get("requestId") or request_id
    kind = ERRORS.get(name)
    if kind is None:
        return ExecutionFailed(
            f"The execution ended with {name}: {message}",
            error=name,
            request_id=request_id,
            cause=cause,
            execution_arn=execution_arn,
        )
    return kind(message, request_id=request_id, cause=cause, execution_arn=execution_arn)


# --- the client ---------------------------------------------------------------------------------


class Tollgate:
    """Sends requests through a deployed Tollgate.

    ``stepfunctions``: a boto3 Step Functions client to use as is (you own its timeouts and
    retries); otherwise one is made from ``session`` (or a default ``boto3.Session``) with
    ``client_kwargs`` (``region_name``, ``endpoint_url``, ``config`` ...), with the read timeout
    and retry mode above. ``workflow_type`` (``EXPRESS``/``STANDARD``) is asked of Step Functions
    once when not given. Streaming needs the two stream state machine ARNs
    (``from_terraform_outputs`` reads them).
    """

    def __init__(
        self,
        state_machine_arn: str,
        *,
        stepfunctions: Any = None,
        session: Any = None,
        workflow_type: str | None = None,
        stream_admit_state_machine_arn: str | None = None,
        stream_settle_state_machine_arn: str | None = None,
        bedrock_runtime: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        **client_kwargs: Any,
    ) -> None:
        if not isinstance(state_machine_arn, str) or not state_machine_arn.startswith("arn:"):
            raise _argument_error("state_machine_arn", "state_machine_arn must be a state machine ARN.")
        if workflow_type not in (None, "EXPRESS", "STANDARD"):
            raise _argument_error("workflow_type", "workflow_type must be 'EXPRESS' or 'STANDARD'.")
        self.state_machine_arn = state_machine_arn
        self.stream_admit_state_machine_arn = stream_admit_state_machine_arn
        self.stream_settle_state_machine_arn = stream_settle_state_machine_arn
        self._workflow_type = workflow_type
        self._session = session
        self._client_kwargs = client_kwargs
        self._sleep = sleep
        self.stepfunctions = stepfunctions or self._make_client(
            "stepfunctions", READ_TIMEOUT_SECONDS, RETRIES
        )
        self._bedrock_runtime = bedrock_runtime

    @classmethod
    def from_terraform_outputs(cls, directory: str, **kwargs: Any) -> Tollgate:
        """A client for the module applied in ``directory`` (``terraform output -json``; the
        module's outputs, or an example's that passes them through)."""
        from tollgate.cli import CliError, terraform_outputs

        try:
            outputs = terraform_outputs(directory)
        except CliError as error:
            raise TollgateError(str(error)) from None
        arn = outputs.get("state_machine_arn")
        if not arn:
            raise _argument_error(
                "directory", f"{directory} has no state_machine_arn output: run terraform apply there."
            )
        policy = outputs.get("caller_policy_json")
        if "workflow_type" not in kwargs and isinstance(policy, str):
            kwargs["workflow_type"] = "EXPRESS" if "states:StartSyncExecution" in policy else "STANDARD"
        kwargs.setdefault("stream_admit_state_machine_arn", outputs.get("stream_admit_state_machine_arn"))
        kwargs.setdefault("stream_settle_state_machine_arn", outputs.get("stream_settle_state_machine_arn"))
        return cls(str(arn), **kwargs)

    # --- clients ---

    def _make_client(self, service: str, read_timeout: int, retries: dict[str, Any]) -> Any:
        kwargs = dict(self._client_kwargs)
        custom_endpoint = kwargs.get("endpoint_url") or any(
            k.startswith("AWS_ENDPOINT_URL") for k in os.environ
        )
        ours = Config(
            read_timeout=read_timeout,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retries=retries,
            # StartSyncExecution goes to a "sync-" host on AWS; a custom endpoint has none.
            inject_host_prefix=not custom_endpoint,
        )
        theirs = kwargs.pop("config", None)
        config = theirs.merge(ours) if isinstance(theirs, Config) else ours
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session.client(service, config=config, **kwargs)

    @property
    def bedrock_runtime(self) -> Any:
        if self._bedrock_runtime is None:
            # One attempt: a ConverseStream retried after its first byte would be a second paid call.
            self._bedrock_runtime = self._make_client(
                "bedrock-runtime", STREAM_READ_TIMEOUT_SECONDS, {"mode": "standard", "total_max_attempts": 1}
            )
        return self._bedrock_runtime

    @property
    def workflow_type(self) -> str:
        if self._workflow_type is None:
            try:
                described = self.stepfunctions.describe_state_machine(stateMachineArn=self.state_machine_arn)
                self._workflow_type = str(described.get("type") or "EXPRESS")
            except (BotoCoreError, ClientError):  # no states:DescribeStateMachine: the default type
                self._workflow_type = "EXPRESS"
        return self._workflow_type

    # --- converse ---

    def converse(
        self,
        *,
        modelId: str,
        messages: list[Mapping[str, Any]],
        system: str | list[Mapping[str, str]] | None = None,
        inferenceConfig: Mapping[str, Any] | None = None,
        tags: Mapping[str, str],
        requestId: str | None = None,
        additionalModelRequestFields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One request through the state machine; Converse's response shape plus ``tollgate``.
        Raises RateLimitExceeded, ValidationError, InvocationFailed or ExecutionFailed."""
        request = _call_request(
            modelId=modelId,
            messages=messages,
            system=system,
            inferenceConfig=inferenceConfig,
            tags=tags,
            requestId=requestId,
            additionalModelRequestFields=additionalModelRequestFields,
        )
        output, arn = self._run(self.state_machine_arn, request, express=self.workflow_type == "EXPRESS")
        return converse_response(output, arn)

    def execute(
        self, request: Mapping[str, Any], *, ensure_request_id: bool = True
    ) -> tuple[dict[str, Any], str]:
        """A request already in Tollgate's own contract (DESIGN.md): the success output
        (``requestId``, ``response``, ``usage``, ``costUsd`` ...) and the execution ARN, or the
        typed error. A request without a ``requestId`` gets one (unless ``ensure_request_id`` is
        False), so a retry replays it. ``tollgate invoke`` and the demo send their requests so."""
        if not isinstance(request, Mapping):
            raise _argument_error("request", "request must be a dict (Tollgate's request contract).")
        if ensure_request_id and not request.get("requestId"):
            request = {**request, "requestId": str(uuid.uuid4())}
        return self._run(self.state_machine_arn, request, express=self.workflow_type == "EXPRESS")

    def _run(self, arn: str, document: Mapping[str, Any], *, express: bool) -> tuple[dict[str, Any], str]:
        """Run one execution to its end and return its output, or raise its typed error. A denial
        because an earlier attempt of the same requestId is still running is waited out."""
        payload = json.dumps(document)
        request_id = document.get("requestId") or (document.get("context") or {}).get("requestId")
        deadline = time.monotonic() + IN_FLIGHT_WAIT_SECONDS
        while True:
            result = self._execute(arn, payload, request_id, express=express)
            execution_arn = str(result.get("executionArn") or "")
            if result["status"] == "SUCCEEDED":
                return json.loads(result.get("output") or "null") or {}, execution_arn
            name = result.get("error") or {"TIMED_OUT": "States.Timeout", "ABORTED": "Aborted"}.get(
                result["status"], result["status"]
            )
            error = error_for(name, parse_cause(result.get("cause")), request_id, execution_arn)
            if (
                isinstance(error, RateLimitExceeded)
                and error.reason == DUPLICATE_IN_FLIGHT
                and time.monotonic() < deadline
            ):
                self._sleep(float(error.retry_after_seconds or 1))
                continue
            raise error

    def _execute(self, arn: str, payload: str, request_id: Any, *, express: bool) -> dict[str, Any]:
        try:
            if express:
                return dict(self.stepfunctions.start_sync_execution(stateMachineArn=arn, input=payload))
            return self._run_standard(arn, payload, request_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise ExecutionFailed(
                f"Step Functions refused the execution: {code}: {error}. Retry with requestId "
                f"{request_id} (a replay, not a second request).",
                error=code,
                request_id=request_id,
            ) from error
        except BotoCoreError as error:
            raise ExecutionFailed(
                f"Step Functions could not be reached: {error}. Retry with requestId {request_id} "
                "(a replay, not a second request).",
                error=type(error).__name__,
                request_id=request_id,
            ) from error

    def _run_standard(self, arn: str, payload: str, request_id: Any) -> dict[str, Any]:
        """StartExecution named after the requestId (so a retried start finds the same execution,
        Step Functions' own idempotency), then DescribeExecution until it ends."""
        name = _EXECUTION_NAME.sub("-", f"tg-{request_id}")[:80] if isinstance(request_id, str) else None
        named = {"name": name} if name else {}
        try:
            execution_arn = self.stepfunctions.start_execution(stateMachineArn=arn, input=payload, **named)[
                "executionArn"
            ]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # Closed with the same name: that execution is this request's; read its result.
            execution_arn = arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
        delay = POLL_SECONDS
        while (result := self.stepfunctions.describe_execution(executionArn=execution_arn))["status"] in (
            "RUNNING",
            "PENDING_REDRIVE",
        ):
            self._sleep(delay)
            delay = min(POLL_MAX_SECONDS, delay * 1.5)
        return dict(result)

    # --- converse_stream ---

    def converse_stream(
        self,
        *,
        modelId: str,
        messages: list[Mapping[str, Any]],
        system: str | list[Mapping[str, str]] | None = None,
        inferenceConfig: Mapping[str, Any] | None = None,
        tags: Mapping[str, str],
        requestId: str | None = None,
        additionalModelRequestFields: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """ConverseStream's events (messageStart, contentBlockDelta, contentBlockStop, messageStop,
        metadata); the last, ``metadata``, carries the usage and the ``tollgate`` key. Errors are
        raised as in ``converse``; a failure after the stream began raises InvocationFailed after
        the events already yielded. Admission, the routed model and the settle: docs/requests.md."""
        if not self.stream_admit_state_machine_arn or not self.stream_settle_state_machine_arn:
            raise _argument_error(
                "stream_admit_state_machine_arn",
                "streaming needs stream_admit_state_machine_arn and stream_settle_state_machine_arn "
                "(the module's outputs; Tollgate.from_terraform_outputs reads them).",
            )
        request = _call_request(
            modelId=modelId,
            messages=messages,
            system=system,
            inferenceConfig=inferenceConfig,
            tags=tags,
            requestId=requestId,
            additionalModelRequestFields=additionalModelRequestFields,
        )
        return self._stream(request)

    def _stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        admission, admit_arn = self._run(str(self.stream_admit_state_machine_arn), request, express=True)
        if not admission.get("admitted"):
            # A replay of a settled requestId: the stored answer, as one stream.
            yield from replay_events(admission, admit_arn)
            return
        context, reservation = admission["context"], admission["reservation"]
        settle: dict[str, Any] = {
            # The prompt is not needed to settle (as DropPrompt does in the main workflow).
            "context": {**context, "converse": {}},
            "reservation": reservation,
            "executionId": admit_arn,  # the admit execution holds the reservation and its record mark
        }
        arguments = {"modelId": context["modelId"], **context["converse"]}
        started = time.monotonic()
        collected = StreamResult()
        settled = False
        try:
            try:
                events = self.bedrock_runtime.converse_stream(**arguments)["stream"]
            except ClientError as error:  # refused before generating: released
                settle.update(_stream_error(error, may_have_run=_may_have_run(error)))
                settled = True
                self._fail_stream(settle, error)
            try:
                for event in events:
                    if "metadata" in event:
                        collected.metadata = dict(event["metadata"])
                        continue
                    collected.see(event)
                    yield event
            except (ClientError, BotoCoreError) as error:  # after the request was sent: may have run
                settle.update(_stream_error(error, may_have_run=True))
                settled = True
                self._fail_stream(settle, error)
            settle["result"] = collected.result(int((time.monotonic() - started) * 1000))
            settled = True
            output, settle_arn = self._run(str(self.stream_settle_state_machine_arn), settle, express=True)
        finally:
            if not settled:
                # The consumer stopped reading (or this process is going): the model may have run, so
                # the reservation is charged at its estimate now rather than by the sweeper later.
                settle.update(
                    error={"Error": "StreamAbandoned", "Cause": "The caller stopped reading the stream."},
                    mayHaveRun=True,
                )
                try:
                    self._run(str(self.stream_settle_state_machine_arn), settle, express=True)
                except TollgateError:
                    pass  # expected: it ends InvocationFailed, and the consumer is gone
        yield metadata_event(output, collected.metadata, settle_arn)

    def _fail_stream(self, settle: dict[str, Any], error: Exception) -> None:
        """Close the reservation of a stream that failed (released if the model did not run,
        charged at the estimate if it may have) and raise the InvocationFailed that ends it."""
        self._run(str(self.stream_settle_state_machine_arn), settle, express=True)
        raise InvocationFailed(
            f"The model stream failed: {error}",
            request_id=settle["context"].get("requestId"),
            cause={"error": "InvocationFailed", "message": str(error)},
        ) from error


class StreamResult:
    """What the stream said: its text, stop reason and usage (the metadata event)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.stop_reason: str | None = None
        self.metadata: dict[str, Any] = {}

    def see(self, event: Mapping[str, Any]) -> None:
        delta = (event.get("contentBlockDelta") or {}).get("delta") or {}
        if isinstance(delta.get("text"), str):
            self.text.append(delta["text"])
        if "messageStop" in event:
            self.stop_reason = event["messageStop"].get("stopReason")

    def result(self, elapsed_ms: int) -> dict[str, Any]:
        usage = self.metadata.get("usage") or {}
        if "inputTokens" not in usage or "outputTokens" not in usage:
            raise TollgateError("The stream ended without its metadata event (usage): it cannot be settled.")
        return {
            "text": "".join(self.text),
            "stopReason": self.stop_reason,
            "usage": {k: int(v) for k, v in usage.items()},
            "latencyMs": int((self.metadata.get("metrics") or {}).get("latencyMs") or elapsed_ms),
        }


def _may_have_run(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    return code in ("ModelTimeoutException", "InternalServerException", "ModelStreamErrorException")


def _stream_error(error: Exception, *, may_have_run: bool) -> dict[str, Any]:
    code = (
        error.response.get("Error", {}).get("Code", "Unknown")
        if isinstance(error, ClientError)
        else type(error).__name__
    )
    message = (
        error.response.get("Error", {}).get("Message", str(error))
        if isinstance(error, ClientError)
        else str(error)
    )
    return {"error": {"Error": str(code), "Cause": str(message)[:1000]}, "mayHaveRun": may_have_run}


def metadata_event(
    output: Mapping[str, Any], metadata: Mapping[str, Any], execution_arn: str | None
) -> dict[str, Any]:
    """The stream's last event: its usage and metrics, and the settled ``tollgate`` key."""
    event = {
        "usage": dict(output.get("usage") or metadata.get("usage") or {}),
        "metrics": {"latencyMs": output.get("latencyMs", (metadata.get("metrics") or {}).get("latencyMs"))},
        "tollgate": tollgate_key(output, execution_arn),
    }
    return {"metadata": event}


def replay_events(output: Mapping[str, Any], execution_arn: str | None) -> Iterator[dict[str, Any]]:
    """A stored answer as ConverseStream's events."""
    response = output.get("response") or {}
    yield {"messageStart": {"role": "assistant"}}
    yield {"contentBlockDelta": {"delta": {"text": response.get("text") or ""}, "contentBlockIndex": 0}}
    yield {"contentBlockStop": {"contentBlockIndex": 0}}
    yield {"messageStop": {"stopReason": response.get("stopReason")}}
    yield metadata_event(output, {}, execution_arn)
