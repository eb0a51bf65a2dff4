"""The input-token estimate that a reservation is made with.

No tokenizer is available before the call (each model family has its own), so Tollgate reserves a
deliberately high, deterministic estimate and settle corrects the counters to the real usage:

- ASCII characters: one token per 3 characters, rounded up per message. English prose averages about
  4 characters a token and code about 3, so 3 errs on the high side.
- Any other character: one token each (CJK, emoji and accented text often take one or more tokens
  per character in the Bedrock models' tokenizers).
- Each message: 4 tokens of overhead (role markers and separators); the prompt: 3 more.

The same text always gives the same estimate.

That is the ``heuristic`` method (``input_token_estimate``, the default). Two others:

- ``utf8_bytes``: one token per UTF-8 byte (plus the same overheads). A byte-level BPE tokenizer
  (and a SentencePiece one with byte fallback) never makes more tokens than bytes, so this is an
  upper bound: no request is under-reserved, at the price of reserving 3-4x the real input for
  English text (more false denials near a limit).
- ``count_tokens``: Bedrock's CountTokens API (free) gives the exact count where the model supports
  it (Anthropic Claude foundation models); anywhere else, or if the call fails, ``utf8_bytes``.

docs/requests.md compares them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

ASCII_CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 4
TOKENS_PER_PROMPT = 3
HEURISTIC, UTF8_BYTES, COUNT_TOKENS = "heuristic", "utf8_bytes", "count_tokens"
ESTIMATES = (HEURISTIC, UTF8_BYTES, COUNT_TOKENS)
# Model families whose foundation models answer CountTokens on bedrock-runtime.
COUNT_TOKENS_FAMILIES = frozenset({"anthropic"})


def estimate_text_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    other_chars = len(text) - ascii_chars
    return math.ceil(ascii_chars / ASCII_CHARS_PER_TOKEN) + other_chars


def estimate_input_tokens(contents: Iterable[str]) -> int:
    """The estimated input tokens of a prompt given the content of each of its messages."""
    return TOKENS_PER_PROMPT + sum(TOKENS_PER_MESSAGE + estimate_text_tokens(text) for text in contents)


def utf8_bytes_input_tokens(contents: Iterable[str]) -> int:
    """An upper bound for byte-level tokenizers: every UTF-8 byte a token, plus the overheads."""
    return TOKENS_PER_PROMPT + sum(
        TOKENS_PER_MESSAGE + len(text.encode("utf-8", errors="surrogatepass")) for text in contents
    )
