"""Sizes of what the state machine carries, so that no state outgrows Step Functions' payload quota.

Step Functions ends an execution with ``States.DataLimitExceeded`` (which ``States.ALL`` does not
catch) when a state's input or output is over 256 KiB of UTF-8 JSON. Tollgate's largest state holds
the request's prompt and the model's response at once (the Invoke task's output), so:

- the request is limited to ``max_request_bytes`` of UTF-8 JSON (validation);
- the response text the invoke function returns is limited to what is left of the quota after the
  request and the rest of the state (``STATE_OVERHEAD_BYTES``); a longer text is cut at a character
  boundary and marked ``truncated`` (a safety net: at the default sizes the largest catalogue route,
  8,192 tokens, would need more than 15 bytes a token to reach it);
- the success output is stored for replays only up to ``REPLAY_MAX_BYTES``; a larger one is marked
  ``replayable: false``, still returned and settled at its real usage.

docs/requests.md explains the figures; tests/unit/test_state_size.py checks every state.
"""

from __future__ import annotations

import json
from typing import Any

STATE_LIMIT_BYTES = 262_144
# The state besides the prompt and the response: the context's other fields, the reservation (its
# counters), the settlement's deltas, Record's result besides the output, errors. Measured at about
# 8 KiB with 20 matching limits (tests/unit/test_state_size.py); 32 KiB leaves room for more.
STATE_OVERHEAD_BYTES = 32_768
REQUEST_BYTES_MIN = 1_024
REQUEST_BYTES_MAX = 131_072
DEFAULT_REQUEST_BYTES = 98_304
REPLAY_MAX_BYTES = 65_536


def json_bytes(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON (how Step Functions and Lambda carry it)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", errors="surrogatepass"))


def response_budget_bytes(max_request_bytes: int) -> int:
    """The largest response text (as JSON) that still fits in every state next to the largest
    request."""
    return STATE_LIMIT_BYTES - max_request_bytes - STATE_OVERHEAD_BYTES


def truncate_json_text(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose JSON string form (without quotes) is at most ``limit``
    bytes; it never splits a character."""
    if json_bytes(text) - 2 <= limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the largest prefix length that fits
        middle = (low + high + 1) // 2
        if json_bytes(text[:middle]) - 2 <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]
