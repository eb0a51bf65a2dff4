"""Run asl/tollgate.asl.json over plain Python task functions: the path one execution takes.

A small interpreter of the parts of the Amazon States Language the definition uses (Task, Pass,
Choice, Succeed, Fail; Parameters, ResultSelector, ResultPath, OutputPath, InputPath, Catch; Choice
rules with And/Or/Not and the usual comparisons), so that P2 runs the real handlers in the order the
real definition orders them, and counts what each path costs: states entered (Standard bills a
transition per state entered), Lambda invocations and the calls the state machine makes itself
through service integrations (``arn:aws:states:::dynamodb:putItem``,
``arn:aws:states:::aws-sdk:cloudwatch:putMetricData``). A changed definition changes the counts.

A task's function is looked up by its resource: ``${validate_function_arn}`` by
``validate_function_arn``, ``arn:aws:states:::dynamodb:putItem`` by ``dynamodb:putItem``. The
definition's other template variables (``${table_name}``, ``${metrics_namespace}``) are rendered by
``load_definition(variables=...)`` as Terraform's templatefile() does, or left as they are.

Retry is not taken: every task runs once (the cost of the path without failures of the platform).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "asl" / "tollgate.asl.json"
PLACEHOLDER = re.compile(r"^\$\{(?P<name>[a-z0-9_]+)\}$")
INTEGRATION = re.compile(r"^arn:aws:states:::(?P<name>[A-Za-z0-9:.-]+)$")
MAX_STEPS = 200


class WalkError(Exception):
    """The definition uses something this walker does not interpret, or loops."""


class TaskFailed(Exception):
    """Raised by a task function to fail the task with a Step Functions error name."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error)
        self.error, self.cause = error, cause


@dataclass
class Walk:
    states: list[str] = field(default_factory=list)  # every state entered, in order
    tasks: list[str] = field(default_factory=list)  # the resource name of every task run
    end: str = ""  # the terminal state
    status: str = ""  # SUCCEEDED or FAILED
    error: str | None = None
    cause: str | None = None  # a Fail state's Cause or CausePath
    output: Any = None

    @property
    def transitions(self) -> int:
        """State transitions as Standard workflows bill them: one per state entered."""
        return len(self.states)

    @property
    def lambda_invocations(self) -> int:
        return sum(1 for name in self.tasks if is_lambda(name))

    @property
    def service_calls(self) -> list[str]:
        """The service integrations run (``dynamodb:putItem``, ...): AWS calls the state machine
        makes itself, one per task entered (Retry not taken)."""
        return [name for name in self.tasks if not is_lambda(name)]


def is_lambda(resource: str) -> bool:
    return resource.endswith("_function_arn") or ":lambda:" in resource


def load_definition(path: Path = ASL, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The definition, with ``${name}`` replaced for each of ``variables`` (as templatefile() does;
    the others are left for the task lookup)."""
    text = path.read_text(encoding="utf-8")
    for name, value in (variables or {}).items():
        text = text.replace("${" + name + "}", json.dumps(value)[1:-1])
    return json.loads(text)


def resource_name(resource: str) -> str:
    """``${validate_function_arn}`` -> ``validate_function_arn``; ``arn:aws:states:::dynamodb:putItem``
    -> ``dynamodb:putItem``; anything else unchanged."""
    match = PLACEHOLDER.match(resource) or INTEGRATION.match(resource)
    return match["name"] if match else resource


def walk(
    definition: Mapping[str, Any],
    tasks: Mapping[str, Callable[[Any], Any]],
    execution_input: Any,
    *,
    execution_id: str = "arn:aws:states:us-east-1:000000000000:execution:tollgate:bench",
) -> Walk:
    """Run the definition from StartAt; ``tasks`` maps a resource name to a function(input)->result
    that raises TaskFailed (or any exception, whose class name is the error) to fail the task."""
    started = datetime.now(UTC)
    context: dict[str, Any] = {
        "Execution": {"Id": execution_id, "Input": execution_input, "StartTime": _iso(started)}
    }
    result = Walk()
    name = definition["StartAt"]
    data = copy.deepcopy(execution_input)
    for _ in range(MAX_STEPS):
        state = definition["States"].get(name)
        if state is None:
            raise WalkError(f"state {name!r} is not defined")
        result.states.append(name)
        context["State"] = {"Name": name, "EnteredTime": _iso(datetime.now(UTC))}
        kind = state["Type"]
        if kind == "Succeed":
            result.end, result.status = name, "SUCCEEDED"
            result.output = _output(state, _input(state, data))
            return result
        if kind == "Fail":
            result.end, result.status, result.error = name, "FAILED", state.get("Error")
            if "CausePath" in state:
                result.cause = _must(get_path(data, state["CausePath"], context), state["CausePath"])
            else:
                result.cause = state.get("Cause")
            return result
        if kind == "Choice":
            name = _choose(state, _input(state, data))
            continue
        if kind == "Pass":
            effective = _input(state, data)
            value = state["Result"] if "Result" in state else _parameters(state, effective, context)
            data = _output(state, _apply_result_path(state, data, value))
        elif kind == "Task":
            resource = resource_name(state["Resource"])
            function = tasks.get(resource)
            if function is None:
                raise WalkError(f"state {name!r}: no task function for resource {resource!r}")
            result.tasks.append(resource)
            effective = _parameters(state, _input(state, data), context)
            try:
                value = function(copy.deepcopy(effective))
            except Exception as error:  # noqa: BLE001 - any task error is routed through Catch
                error_name = error.error if isinstance(error, TaskFailed) else type(error).__name__
                cause = error.cause if isinstance(error, TaskFailed) else str(error)
                catcher = _catcher(state, error_name)
                if catcher is None:
                    result.end, result.status, result.error = name, "FAILED", error_name
                    return result
                data = _set_path(data, catcher.get("ResultPath", "$"), {"Error": error_name, "Cause": cause})
                name = catcher["Next"]
                continue
            if "ResultSelector" in state:
                value = _template(state["ResultSelector"], value, context)
            data = _output(state, _apply_result_path(state, data, value))
        else:
            raise WalkError(f"state {name!r}: type {kind} is not interpreted by the bench")
        if state.get("End"):
            result.end, result.status, result.output = name, "SUCCEEDED", data
            return result
        name = state["Next"]
    raise WalkError(f"more than {MAX_STEPS} states entered: the definition loops")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- paths --------------------------------------------------------------------------------------------


def _tokens(path: str) -> list[str | int]:
    if path == "$":
        return []
    if not path.startswith("$."):
        raise WalkError(f"path {path!r} is not interpreted by the bench (only $.a.b[0])")
    tokens: list[str | int] = []
    for part in path[2:].split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", part)
        if not match:
            raise WalkError(f"path {path!r} is not interpreted by the bench")
        tokens.append(match[1])
        tokens.extend(int(i) for i in re.findall(r"\[(\d+)\]", match[2]))
    return tokens


_MISSING = object()


def get_path(data: Any, path: str, context: Mapping[str, Any] | None = None) -> Any:
    """The value at a path, or a private sentinel when absent. ``$$.`` reads the context object."""
    if path.startswith("$$."):
        data, path = context or {}, path[1:]
    for token in _tokens(path):
        if isinstance(token, int):
            if not isinstance(data, list) or token >= len(data):
                return _MISSING
            data = data[token]
        else:
            if not isinstance(data, Mapping) or token not in data:
                return _MISSING
            data = data[token]
    return data


def _set_path(data: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return data  # ResultPath null: discard the result
    tokens = _tokens(path)
    if not tokens:
        return value
    data = copy.deepcopy(data) if isinstance(data, dict) else {}
    node = data
    for token in tokens[:-1]:
        if not isinstance(node.get(token), dict):
            node[token] = {}
        node = node[token]
    node[tokens[-1]] = value
    return data


def _input(state: Mapping[str, Any], data: Any) -> Any:
    path = state.get("InputPath", "$")
    return {} if path is None else _must(get_path(data, path), path)


def _output(state: Mapping[str, Any], data: Any) -> Any:
    path = state.get("OutputPath", "$")
    return {} if path is None else _must(get_path(data, path), path)


def _apply_result_path(state: Mapping[str, Any], data: Any, value: Any) -> Any:
    return _set_path(data, state.get("ResultPath", "$"), value)


def _parameters(state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> Any:
    return _template(state["Parameters"], data, context) if "Parameters" in state else data


def _template(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str) or value.startswith("States."):
                    raise WalkError(f"intrinsic or non-path value {value!r} is not interpreted by the bench")
                out[key[:-2]] = _must(get_path(data, value, context), value)
            else:
                out[key] = _template(value, data, context)
        return out
    if isinstance(template, list):
        return [_template(v, data, context) for v in template]
    return template


def _must(value: Any, path: str) -> Any:
    if value is _MISSING:
        raise WalkError(f"path {path!r} matched nothing (States.Runtime on AWS)")
    return value


def _catcher(state: Mapping[str, Any], error: str) -> Mapping[str, Any] | None:
    for catcher in state.get("Catch", []):
        names = catcher["ErrorEquals"]
        if error in names or ("States.ALL" in names and not error.startswith("States.Runtime")):
            return catcher
    return None


# --- Choice -------------------------------------------------------------------------------------------

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsNumeric": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "IsNull": lambda v: v is None,
}


def _choose(state: Mapping[str, Any], data: Any) -> str:
    for rule in state.get("Choices", []):
        if matches(rule, data):
            return rule["Next"]
    if "Default" not in state:
        raise WalkError("no Choice rule matched and there is no Default (States.NoChoiceMatched)")
    return state["Default"]


def matches(rule: Mapping[str, Any], data: Any) -> bool:
    """Whether one Choice rule (with And/Or/Not) holds for ``data``."""
    if "And" in rule:
        return all(matches(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data)
    value = get_path(data, rule["Variable"])
    for key, expected in rule.items():
        if key in ("Variable", "Next"):
            continue
        if key == "IsPresent":
            return (value is not _MISSING) == expected
        if value is _MISSING:
            return False
        if key in _TYPE_TESTS:
            return _TYPE_TESTS[key](value) == expected
        if key == "StringEquals":
            return isinstance(value, str) and value == expected
        if key == "BooleanEquals":
            return isinstance(value, bool) and value == expected
        if key == "NumericEquals":
            return _TYPE_TESTS["IsNumeric"](value) and value == expected
        raise WalkError(f"Choice operator {key} is not interpreted by the bench")
    raise WalkError(f"Choice rule without an operator: {rule}")
