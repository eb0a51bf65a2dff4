"""A Lambda context for calling the handlers directly (Powertools' inject_lambda_context reads it),
and the logger's JSON lines."""

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "tollgate-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:tollgate-unit"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


LAMBDA_CONTEXT = FakeLambdaContext()


@contextlib.contextmanager
def json_log_lines() -> Iterator[list[dict]]:
    """The JSON lines Powertools' logger writes while the block runs (parsed when it ends)."""
    from tollgate.observability import logger

    handler = logger.handlers[0]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{"))
