"""ConverseStream: the completion as Bedrock streams it, in the AWS event-stream encoding
(application/vnd.amazon.eventstream) that botocore parses.

Event order, as Bedrock sends it: messageStart, contentBlockDelta... (the text a few words at a
time), contentBlockStop, messageStop (stopReason), metadata (usage and latency, the same numbers
Converse answers for the same request). A fault armed with phase "stream" (faults.py) paces the
deltas (delayMs between two of them) and, with an error, breaks the stream after its first delta
with Bedrock's in-stream exception (the answer was generated and billed).
"""

from __future__ import annotations

import binascii
import json
import struct
import time
from collections.abc import Iterator

from .model import Completion

WORDS_PER_DELTA = 3
# The in-stream exception names of ConverseStreamOutput, by the error code a fault names.
STREAM_EXCEPTIONS = {
    "ModelStreamErrorException": "modelStreamErrorException",
    "InternalServerException": "internalServerException",
    "ServiceUnavailableException": "serviceUnavailableException",
    "ThrottlingException": "throttlingException",
    "ValidationException": "validationException",
}


def _header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(encoded_name))
        + encoded_name
        + struct.pack("!BH", 7, len(encoded_value))  # 7: string
        + encoded_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and header lengths, CRC), headers, payload, CRC."""
    header_bytes = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total, len(header_bytes))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + header_bytes + payload
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: dict) -> bytes:
    return frame(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body, separators=(",", ":")).encode(),
    )


def exception(error: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": STREAM_EXCEPTIONS.get(error, "modelStreamErrorException"),
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


def deltas(text: str) -> list[str]:
    """The text in pieces of a few words; joined, they are the text exactly."""
    words = text.split(" ")
    return [
        ("" if i == 0 else " ") + " ".join(words[i : i + WORDS_PER_DELTA])
        for i in range(0, len(words), WORDS_PER_DELTA)
    ]


def events(completion: Completion, latency_ms: int, fault: dict | None = None) -> Iterator[bytes]:
    """The stream for a completion (its usage is Converse's for the same request)."""
    started = time.monotonic()
    pace = (fault or {}).get("delayMs", 0) / 1000
    yield event("messageStart", {"role": "assistant"})
    for i, piece in enumerate(deltas(completion.text)):
        if i and pace:
            time.sleep(pace)
        yield event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
        if fault and fault.get("error"):
            yield exception(fault["error"], fault.get("message") or "The model stream failed.")
            return
    yield event("contentBlockStop", {"contentBlockIndex": 0})
    yield event("messageStop", {"stopReason": completion.stop_reason})
    streamed_ms = round((time.monotonic() - started) * 1000)
    yield event(
        "metadata",
        {
            "usage": {
                "inputTokens": completion.input_tokens,
                "outputTokens": completion.output_tokens,
                "totalTokens": completion.total_tokens,
            },
            "metrics": {"latencyMs": latency_ms + streamed_ms},
        },
    )
