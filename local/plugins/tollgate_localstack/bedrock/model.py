"""The emulator's deterministic model, and request checking as Bedrock does it per model family.

Tokens: a token is a run of word characters or one punctuation character (regex
`\\w+|[^\\w\\s]`). Input tokens = the tokens of every text block of every message and of the
system prompt, plus 3 per message. The reply: its natural length is N words when the last user
message asks for "N words" (1..4000), otherwise 12 + (a byte of the prompt's SHA-256) % 40;
its words come from a fixed vocabulary picked by the prompt's SHA-256, and it ends with ".".
Output tokens = the tokens of the reply text. If that is more than maxTokens, the reply is cut
to maxTokens words and stopReason is "max_tokens", else "end_turn". The same prompt always
gets the same reply and usage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re

from .catalog import FoundationModel
from .errors import validation

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
MESSAGE_OVERHEAD = 3
DEFAULT_MAX_TOKENS = 4096  # when a request sets none (capped at the model's ceiling)
ASKED_LENGTH_RE = re.compile(r"\b(\d{1,4})\s+words?\b", re.IGNORECASE)

VOCABULARY = (
    "amazon bedrock budget request token model answer limit window cost usage tenant team "
    "application center policy reserve settle release record metric alarm dashboard quota "
    "storage bucket object durable scalable secure available region replica object lifecycle "
    "versioning encryption access audit event latency throughput priority fair share steady "
    "simple clear reliable elastic managed service platform workload estimate ceiling counter"
).split()


@dataclasses.dataclass
class Prompt:
    messages: list[tuple[str, list[str]]]  # (role, text blocks)
    system: list[str]
    max_tokens: int


@dataclasses.dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # end_turn | max_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def count_tokens(text: str) -> int:
    return len(TOKEN_RE.findall(text))


def input_tokens_of(prompt: Prompt) -> int:
    """The input tokens a call with this prompt is billed (what CountTokens answers)."""
    tokens = sum(count_tokens(t) for _, texts in prompt.messages for t in texts)
    return tokens + sum(count_tokens(t) for t in prompt.system) + MESSAGE_OVERHEAD * len(prompt.messages)


def complete(prompt: Prompt) -> Completion:
    input_tokens = input_tokens_of(prompt)
    seed = hashlib.sha256(json.dumps([prompt.system, prompt.messages]).encode()).digest()
    last_user = " ".join(next((texts for role, texts in reversed(prompt.messages) if role == "user"), []))
    asked = ASKED_LENGTH_RE.search(last_user)
    n_words = min(max(int(asked.group(1)), 1), 4000) if asked else 12 + seed[0] % 40
    words = []
    block, counter = b"", 0
    while len(words) < n_words:
        if not block:
            block = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
            counter += 1
        words.append(VOCABULARY[block[0] % len(VOCABULARY)])
        block = block[1:]
    words[0] = words[0].capitalize()
    if n_words + 1 <= prompt.max_tokens:  # the words and the final "."
        return Completion(" ".join(words) + ".", input_tokens, n_words + 1, "end_turn")
    cut = words[: prompt.max_tokens]
    return Completion(" ".join(cut), input_tokens, len(cut), "max_tokens")


# --- Converse ------------------------------------------------------------------------------------
def _check_conversation(messages: list[tuple[str, list[str]]], path: str = "messages") -> None:
    for i, (role, _) in enumerate(messages):
        if role not in ("user", "assistant"):
            raise validation(
                f"1 validation error detected: Value '{role}' at '{path}.{i + 1}.member.role' "
                "failed to satisfy "
                "constraint: Member must satisfy enum value set: [user, assistant]"
            )
    if not messages or messages[0][0] != "user":
        raise validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a "
            "user message."
        )
    for (a, _), (b, _) in itertools.pairwise(messages):
        if a == b:
            raise validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )


def _check_max_tokens(value: object, model: FoundationModel, path: str) -> int:
    if value is None:
        return min(DEFAULT_MAX_TOKENS, model.max_tokens)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )
    if value > model.max_tokens:
        raise validation(
            f"The maximum tokens you requested exceeds the model limit of {model.max_tokens}. Try again with "
            f"a maximum tokens value that is lower than {model.max_tokens}."
        )
    return value


def _check_unit_interval(value: object, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: "
            "Member must have value less than or equal to 1 and greater than or equal to 0"
        )


ONE_SAMPLING_PARAMETER = (
    "The model returned the following errors: `temperature` and `top_p` cannot both be specified for "
    "this model. Please use only one."
)


def _check_one_sampling_parameter(model: FoundationModel, temperature: object, top_p: object) -> None:
    """Claude Haiku 4.5 and later Claude models take temperature or top_p, not both."""
    if model.one_sampling_parameter and temperature is not None and top_p is not None:
        raise validation(ONE_SAMPLING_PARAMETER)


def _check_int(value: object, low: int, high: int, message: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise validation(message)


def check_additional_fields(model: FoundationModel, fields: object) -> None:
    """additionalModelRequestFields as the model family accepts them (Anthropic: top_k; Nova:
    inferenceConfig.topK; Meta and Mistral: none)."""
    if fields is None:
        return
    if not isinstance(fields, dict):
        raise validation("The additionalModelRequestFields value must be a JSON object.")
    if model.family == "anthropic":
        for key, value in fields.items():
            if key != "top_k":
                raise validation(
                    f"The model returned the following errors: extraneous key [{key}] is not permitted"
                )
            _check_int(
                value,
                0,
                500,
                f"The model returned the following errors: top_k: {value!r} "
                "is not a valid integer in [0, 500]",
            )
        return
    for key, value in fields.items():
        if model.family == "nova" and key == "inferenceConfig" and isinstance(value, dict):
            for inner, topk in value.items():
                if inner != "topK":
                    raise validation(
                        f"Malformed input request: extraneous key [{inner}] is not permitted, "
                        "please reformat your "
                        "input and try again."
                    )
                _check_int(
                    topk,
                    0,
                    128,
                    f"Malformed input request: #/inferenceConfig/topK: {topk!r} is not a valid value",
                )
            continue
        raise validation(
            f"Malformed input request: extraneous key [{key}] is not permitted, "
            "please reformat your input and try again."
        )


def _texts(content: object, path: str) -> list[str]:
    if not isinstance(content, list) or not content:
        raise validation(
            f"The content field in the Message object at {path} is empty. "
            "Add a ContentBlock object to the content field and try again."
        )
    texts = []
    for j, block in enumerate(content):
        if isinstance(block, dict) and "text" in block:
            if not str(block["text"]).strip():
                raise validation(
                    f"The text field in the ContentBlock object at {path}.content.{j} is blank. "
                    "Add text to the "
                    "text field, and try again."
                )
            texts.append(str(block["text"]))
    return texts


def converse_prompt(model: FoundationModel, request: dict) -> Prompt:
    """Check a Converse request the way Bedrock does and turn it into a Prompt."""
    raw = request.get("messages") or []
    messages = [(m.get("role"), _texts(m.get("content"), f"messages.{i}")) for i, m in enumerate(raw)]
    _check_conversation(messages)
    system = [str(b["text"]) for b in request.get("system") or [] if isinstance(b, dict) and "text" in b]
    config = request.get("inferenceConfig") or {}
    max_tokens = _check_max_tokens(config.get("maxTokens"), model, "inferenceConfig.maxTokens")
    _check_unit_interval(config.get("temperature"), "inferenceConfig.temperature")
    _check_unit_interval(config.get("topP"), "inferenceConfig.topP")
    _check_one_sampling_parameter(model, config.get("temperature"), config.get("topP"))
    check_additional_fields(model, request.get("additionalModelRequestFields"))
    return Prompt(messages, system, max_tokens)


def converse_response(completion: Completion, latency_ms: int) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": completion.text}]}},
        "stopReason": completion.stop_reason,
        "usage": {
            "inputTokens": completion.input_tokens,
            "outputTokens": completion.output_tokens,
            "totalTokens": completion.total_tokens,
        },
        "metrics": {"latencyMs": latency_ms},
    }


# --- InvokeModel (native request bodies) -----------------------------------------------------------
def _malformed(detail: str) -> Exception:
    return validation(f"Malformed input request: {detail}, please reformat your input and try again.")


ANTHROPIC_KEYS = {
    "anthropic_version", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "anthropic_beta", "tools", "tool_choice", "metadata",
}  # fmt: skip
NOVA_KEYS = {"schemaVersion", "messages", "system", "inferenceConfig", "toolConfig"}
NOVA_CONFIG_KEYS = {
    "maxTokens",
    "max_new_tokens",
    "temperature",
    "topP",
    "top_p",
    "topK",
    "top_k",
    "stopSequences",
}


def _anthropic_blocks(content: object, path: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise _malformed(f"#/{path}/content: expected type: String or JSONArray")
    return [str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"]


def invoke_prompt(model: FoundationModel, body: bytes) -> tuple[Prompt, str]:
    """Parse an InvokeModel body: the Anthropic messages API or Amazon Nova's messages-v1."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise _malformed("expected a JSON object") from None
    if not isinstance(data, dict):
        raise _malformed("#: expected type: JSONObject")
    if model.family == "anthropic":
        for key in ("anthropic_version", "max_tokens", "messages"):
            if key not in data:
                raise _malformed(f"#: required key [{key}] not found")
        for key in data:
            if key not in ANTHROPIC_KEYS:
                raise _malformed(f"#: extraneous key [{key}] is not permitted")
        if data["anthropic_version"] != "bedrock-2023-05-31":
            raise validation("Invalid API version, must be 'bedrock-2023-05-31'")
        messages = [
            (m.get("role"), _anthropic_blocks(m.get("content"), f"messages/{i}"))
            for i, m in enumerate(data["messages"])
        ]
        _check_conversation(messages)
        max_tokens = data["max_tokens"]
        short = model.model_id.split(".", 1)[1].rsplit("-v", 1)[0]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _malformed("#/max_tokens: expected minimum: 1")
        if max_tokens > model.max_tokens:
            raise validation(
                f"max_tokens: {max_tokens} > {model.max_tokens}, "
                "which is the maximum allowed number of output "
                f"tokens for {short}"
            )
        _check_unit_interval(data.get("temperature"), "temperature")
        _check_unit_interval(data.get("top_p"), "top_p")
        _check_one_sampling_parameter(model, data.get("temperature"), data.get("top_p"))
        if "top_k" in data:
            _check_int(
                data["top_k"], 0, 500, "Malformed input request: #/top_k: expected an integer in [0, 500]"
            )
        system = data.get("system") or []
        system = [system] if isinstance(system, str) else _anthropic_blocks(system, "system")
        return Prompt(messages, system, max_tokens), "anthropic"
    if model.family == "nova":
        for key in data:
            if key not in NOVA_KEYS:
                raise _malformed(f"extraneous key [{key}] is not permitted")
        if data.get("schemaVersion", "messages-v1") != "messages-v1":
            raise _malformed(f"#/schemaVersion: {data['schemaVersion']} is not a valid enum value")
        messages = [
            (m.get("role"), _texts(m.get("content"), f"messages.{i}"))
            for i, m in enumerate(data.get("messages") or [])
        ]
        _check_conversation(messages)
        config = data.get("inferenceConfig") or {}
        for key in config:
            if key not in NOVA_CONFIG_KEYS:
                raise _malformed(f"extraneous key [{key}] is not permitted")
        max_tokens = _check_max_tokens(
            config.get("maxTokens", config.get("max_new_tokens")), model, "inferenceConfig.maxTokens"
        )
        _check_unit_interval(config.get("temperature"), "inferenceConfig.temperature")
        _check_unit_interval(config.get("topP", config.get("top_p")), "inferenceConfig.topP")
        system = [str(b["text"]) for b in data.get("system") or [] if isinstance(b, dict) and "text" in b]
        return Prompt(messages, system, max_tokens), "nova"
    raise validation(
        f"The local Bedrock emulator takes InvokeModel bodies for Anthropic and Amazon Nova models only, not "
        f"{model.model_id}; use Converse for it."
    )


def invoke_response(model: FoundationModel, kind: str, completion: Completion, request_id: str) -> dict:
    if kind == "anthropic":
        return {
            "id": f"msg_bdrk_{request_id.replace('-', '')[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model.model_id.split(".", 1)[1].rsplit("-v", 1)[0],
            "content": [{"type": "text", "text": completion.text}],
            "stop_reason": completion.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
        }
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": completion.text}]}},
        "stopReason": completion.stop_reason,
        "usage": {
            "inputTokens": completion.input_tokens,
            "outputTokens": completion.output_tokens,
            "totalTokens": completion.total_tokens,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    }
