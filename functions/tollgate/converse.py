"""Mapping between Tollgate's request and the Bedrock Converse API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConverseRequest:
    """The Converse arguments (without modelId) and any parameter that had to be dropped."""

    arguments: dict[str, Any]
    dropped: list[str] = field(default_factory=list)


def build_converse_request(
    messages: Sequence[Mapping[str, str]],
    parameters: Mapping[str, Any],
    *,
    max_tokens: int,
    top_k_path: str | None,
    request_metadata: Mapping[str, str] | None = None,
) -> ConverseRequest:
    """``system`` messages go to ``system``; consecutive messages of one role are joined into one
    Converse message (Converse wants user and assistant turns to alternate). ``maxTokens`` is always
    sent: it is the reserved output, so the model can never produce more than was reserved."""
    system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1]["content"].append({"text": message["content"]})
        else:
            turns.append({"role": message["role"], "content": [{"text": message["content"]}]})

    inference_config: dict[str, Any] = {"maxTokens": max_tokens}
    if parameters.get("temperature") is not None:
        inference_config["temperature"] = parameters["temperature"]
    if parameters.get("top_p") is not None:
        inference_config["topP"] = parameters["top_p"]

    arguments: dict[str, Any] = {"messages": turns, "inferenceConfig": inference_config}
    if system:
        arguments["system"] = system
    dropped = []
    if parameters.get("top_k") is not None:
        if top_k_path:
            arguments["additionalModelRequestFields"] = _nested(top_k_path, parameters["top_k"])
        else:
            dropped.append("top_k")
    if request_metadata:
        arguments["requestMetadata"] = dict(request_metadata)
    return ConverseRequest(arguments=arguments, dropped=dropped)


def _nested(path: str, value: Any) -> dict[str, Any]:
    """``"inferenceConfig.topK", 50`` -> ``{"inferenceConfig": {"topK": 50}}``."""
    result: dict[str, Any] = {}
    node = result
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return result


def parse_converse_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """The text, stop reason and usage of a Converse response."""
    content = ((response.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(block["text"] for block in content if "text" in block)
    reported = response.get("usage") or {}
    input_tokens = _count(reported.get("inputTokens", 0))
    output_tokens = _count(reported.get("outputTokens", 0))
    both = isinstance(input_tokens, int) and isinstance(output_tokens, int)
    usage = {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": _count(reported.get("totalTokens", input_tokens + output_tokens if both else None)),
    }
    for cache_field in ("cacheReadInputTokens", "cacheWriteInputTokens"):
        if cache_field in reported:
            usage[cache_field] = _count(reported[cache_field])
    return {"text": text, "stopReason": response.get("stopReason"), "usage": usage}


def _count(value: Any) -> Any:
    """A token count as reported: a whole number as an int, anything else unchanged, so that the
    success output sees it and charges the estimate instead (outcome.success_output)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
