"""The fault switch: make a model fail (or slow down) for its next N calls.

    POST   /_tollgate/bedrock/faults  {"modelId": "...", "error": "ThrottlingException", "count": 2,
                                       "message": "optional", "delayMs": 0, "phase": "before"}
    GET    /_tollgate/bedrock/faults  -> {"faults": [...]}  (what is still armed)
    DELETE /_tollgate/bedrock/faults[?modelId=...]  -> disarm all (or one model's)

modelId is a foundation model ID, a system profile ID, an application profile ID, any of their
ARNs, or "*" for every model. A fault on a foundation model ID also fires for calls that reach
that model through a profile; a fault on a profile fires only for calls naming that profile.
"error" may be omitted (with delayMs) to only delay calls. Faults are checked after the model
identifier is resolved and before the request is checked, and each firing uses up one count.

"phase" says when the fault strikes: "before" (default) the model runs, so nothing is generated
or billed; "after" the model generated the answer (its AWS/Bedrock Invocations and token counts
are published: it is billed), then the delay and the error apply. An "after" fault is how a
lost answer looks to the caller: a 5xx after generation, or a delay past its read timeout.
"stream" fires for ConverseStream only (other calls pass it by): the answer is generated and
billed, delayMs paces its deltas, and an error breaks the stream after the first delta with
Bedrock's in-stream exception (stream.py).
"""

from __future__ import annotations

import json
import threading

from localstack.http import Request, Response, route

from .errors import ERRORS

PATH = "/_tollgate/bedrock/faults"
PHASES = ("before", "after", "stream")


def fault_key(model_id: str) -> str:
    """ARN -> its last segment (the profile or model ID); an ID stays as it is."""
    return model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id


class FaultTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[dict] = []

    def arm(self, spec: dict) -> dict:
        model_id = spec.get("modelId")
        error = spec.get("error")
        count = spec.get("count", 1)
        delay_ms = spec.get("delayMs", 0)
        if not isinstance(model_id, str) or not model_id:
            raise ValueError("modelId is required: a model ID, profile ID, ARN or '*'.")
        if error is not None and error not in ERRORS:
            raise ValueError(f"error must be one of {', '.join(sorted(ERRORS))} (or omitted with delayMs).")
        if error is None and not delay_ms:
            raise ValueError("Give an error, a delayMs, or both.")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a whole number >= 1.")
        if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) or not 0 <= delay_ms <= 900_000:
            raise ValueError("delayMs must be a whole number of milliseconds between 0 and 900000.")
        phase = spec.get("phase", "before")
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}.")
        fault = {
            "modelId": model_id,
            "key": fault_key(model_id),
            "error": error,
            "status": ERRORS[error][0] if error else None,
            "message": spec.get("message") or (ERRORS[error][1] if error else None),
            "remaining": count,
            "delayMs": delay_ms,
            "phase": phase,
        }
        with self._lock:
            self._faults.append(fault)
        return dict(fault)

    def take(self, keys: set[str], *, streaming: bool = False) -> dict | None:
        """The first armed fault for any of these keys, used up by one ("stream" faults only for
        streaming calls)."""
        with self._lock:
            for fault in self._faults:
                if fault["phase"] == "stream" and not streaming:
                    continue
                if fault["key"] == "*" or fault["key"] in keys:
                    fault["remaining"] -= 1
                    if fault["remaining"] == 0:
                        self._faults.remove(fault)
                    return dict(fault)
        return None

    def list(self) -> list[dict]:
        with self._lock:
            return [dict(f) for f in self._faults]

    def clear(self, model_id: str | None = None) -> int:
        with self._lock:
            before = len(self._faults)
            if model_id:
                self._faults = [f for f in self._faults if f["key"] != fault_key(model_id)]
            else:
                self._faults = []
            return before - len(self._faults)


FAULTS = FaultTable()


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


class FaultRoutes:
    @route(PATH, methods=["GET"])
    def list_faults(self, request: Request) -> Response:
        return _json({"faults": FAULTS.list()})

    @route(PATH, methods=["POST"])
    def arm_fault(self, request: Request) -> Response:
        try:
            spec = json.loads(request.get_data() or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("The body must be a JSON object.")
            return _json({"fault": FAULTS.arm(spec)})
        except ValueError as e:
            return _json({"error": str(e)}, 400)

    @route(PATH, methods=["DELETE"])
    def clear_faults(self, request: Request) -> Response:
        return _json({"cleared": FAULTS.clear(request.args.get("modelId"))})
