"""The Lambda runtime loop that runs inside a function's own interpreter (started by executor.py).

Standard library only: it runs in the runtime's virtualenv (python3.12, python3.13), not in
LocalStack's. Protocol, one JSON object per line:
  executor -> worker (stdin):            {"nonce", "requestId", "payload", "deadlineMs", "functionArn"}
  worker -> executor (fd TOLLGATE_RESULT_FD): {"type": "ready"|"init_error"|"result"|"error", ...}
The function's stdout and stderr go to the worker's stdout, which the executor collects as the
invocation's log; after each invocation the worker writes the marker "\x1e<nonce>\n" there so the
executor knows the log of that invocation is complete.
"""

import importlib
import json
import logging
import os
import sys
import time
import traceback

_PROTOCOL_IN = os.fdopen(os.dup(0), "rb")
_PROTOCOL_OUT = int(os.environ.pop("TOLLGATE_RESULT_FD"))
# the function must not read the protocol from stdin
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.set_inheritable(_PROTOCOL_OUT, False)

_request_id = ""


def send(message: dict) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(_PROTOCOL_OUT, data) :]


def error_shape(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict:
    # the function's frames only, as AWS shows them (not this runtime loop)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc) if message is None else message,
        "errorType": error_type or type(exc).__name__,
        "requestId": _request_id,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(shape: dict) -> None:
    # as AWS's runtime does: one log record, "[ERROR] Type: message" and the traceback
    trace = "".join(shape["stackTrace"])
    sys.stdout.write(
        f"[ERROR] {shape['errorType']}: {shape['errorMessage']}\n"
        + (f"Traceback (most recent call last):\n{trace}" if trace else "")
    )


class LambdaContext:
    def __init__(self, request: dict):
        self.aws_request_id = request["requestId"]
        self.invoked_function_arn = request["functionArn"]
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = request["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def setup_logging() -> None:
    """The root logger the way AWS's Python runtime sets it up (level WARNING unless configured)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter())
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
    )
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    formatter.default_msec_format = None
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        logging.getLogger().setLevel(level.upper())


def load_handler():
    spec = os.environ.get("_HANDLER", "")
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        raise InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}", e) from None
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}", e
        ) from None
    except SyntaxError as e:
        raise InitError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}", e
        ) from None
    except Exception as e:  # noqa: BLE001 - any failure of the function's init is reported as AWS does
        raise InitError(None, None, e) from None
    handler = getattr(module, function_name, None)
    if handler is None:
        raise InitError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'", None
        )
    return handler


class InitError(Exception):
    def __init__(self, error_type: str | None, message: str | None, cause: BaseException | None):
        super().__init__(message)
        if cause is not None:
            self.shape = error_shape(cause, error_type, message)
        else:
            self.shape = {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}


def end_of_log(nonce: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"\x1e{nonce}\n".encode())


def main() -> None:
    setup_logging()
    try:
        handler = load_handler()
    except InitError as e:
        log_error(e.shape)
        end_of_log("init")
        send({"type": "init_error", "error": e.shape})
        return
    end_of_log("init")
    send({"type": "ready"})

    global _request_id
    for line in _PROTOCOL_IN:
        request = json.loads(line)
        _request_id = request["requestId"]
        os.environ["_X_AMZN_TRACE_ID"] = request.get("traceId") or ""
        try:
            event = json.loads(request["payload"]) if request["payload"] else {}
            result = handler(event, LambdaContext(request))
            try:
                message = {"type": "result", "payload": json.dumps(result)}
            except (TypeError, ValueError) as e:
                shape = error_shape(e, "Runtime.MarshalError", f"Unable to marshal response: {e}")
                shape["stackTrace"] = []
                message = {"type": "error", "error": shape}
                log_error(shape)
        except Exception as e:  # noqa: BLE001 - the function's error is the invocation's result
            shape = error_shape(e)
            log_error(shape)
            message = {"type": "error", "error": shape}
        end_of_log(request["nonce"])
        send(message)


if __name__ == "__main__":
    main()
