"""The data flow of asl/tollgate.asl.json, run with the real handlers, measuring every state.

A small interpreter of the parts of Amazon States Language the definition uses: Task (Parameters,
ResultSelector, ResultPath, OutputPath, Catch; Retry changes no data), Pass (Result or Parameters,
ResultPath), Choice (And, IsPresent, IsString, IsBoolean, StringEquals, BooleanEquals), Succeed
(OutputPath) and Fail. A comparison on a path that does not exist raises, as Step Functions'
States.Runtime does. Every payload crosses the Lambda boundary as JSON, as in AWS.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollgate.payload import json_bytes

DEFINITION = Path(__file__).resolve().parents[2] / "asl" / "tollgate.asl.json"
_MISSING = object()


class StatesRuntime(Exception):
    """What Step Functions raises as States.Runtime (not caught by States.ALL)."""


@dataclass
class Run:
    end: str
    output: Any
    path: list[str] = field(default_factory=list)
    # state name -> the largest of its input, effective input, task result and output, in bytes
    sizes: dict[str, int] = field(default_factory=dict)
    measured: list[tuple[str, str, int]] = field(default_factory=list)

    def largest(self) -> tuple[str, str, int]:
        return max(self.measured, key=lambda m: m[2])


def load_definition() -> dict[str, Any]:
    text = DEFINITION.read_text(encoding="utf-8")
    return json.loads(re.sub(r"\$\{(\w+)\}", r"\1", text))


def _get(document: Any, path: str) -> Any:
    if path == "$":
        return document
    node = document
    for part in path[2:].split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _select(document: Any, path: str, what: str) -> Any:
    value = _get(document, path)
    if value is _MISSING:
        raise StatesRuntime(f"{what}: the path {path} does not exist")
    return value


def _parameters(template: Any, document: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(template, Mapping):
        result = {}
        for key, value in template.items():
            if key.endswith(".$"):
                source = context if value.startswith("$$") else document
                path = value[1:] if value.startswith("$$") else value
                result[key[:-2]] = copy.deepcopy(_select(source, path, f"Parameters {key}"))
            else:
                result[key] = _parameters(value, document, context)
        return result
    return copy.deepcopy(template)


def _result_path(document: Any, path: str | None, result: Any) -> Any:
    if path is None:
        return document
    if path == "$":
        return result
    merged = copy.deepcopy(document)
    node = merged
    *parents, leaf = path[2:].split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = result
    return merged


def _rule(rule: Mapping[str, Any], document: Any) -> bool:
    if "And" in rule:
        return all(_rule(r, document) for r in rule["And"])
    value = _get(document, rule["Variable"])
    if "IsPresent" in rule:
        return (value is not _MISSING) == rule["IsPresent"]
    if value is _MISSING:
        raise StatesRuntime(f"Choice: the path {rule['Variable']} does not exist")
    if "IsString" in rule:
        return isinstance(value, str) == rule["IsString"]
    if "IsBoolean" in rule:
        return isinstance(value, bool) == rule["IsBoolean"]
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    if "BooleanEquals" in rule:
        return value == rule["BooleanEquals"]
    raise NotImplementedError(rule)


def execute(
    request: Any,
    handlers: Mapping[str, Callable[[Any], Any]],
    execution_id: str,
    definition: dict[str, Any] | None = None,
) -> Run:
    """Run one execution. ``handlers`` maps the Resource placeholder (``validate_function_arn``...)
    to a function of the task's input; an exception it raises is caught by the state's Catch."""
    definition = definition or load_definition()
    context = {"Execution": {"Id": execution_id}}
    document = json.loads(json.dumps(request))
    name = definition["StartAt"]
    run = Run(end="", output=None)

    def measure(what: str, value: Any) -> None:
        size = json_bytes(value)
        run.measured.append((name, what, size))
        run.sizes[name] = max(run.sizes.get(name, 0), size)

    for _ in range(100):
        state = definition["States"][name]
        run.path.append(name)
        measure("input", document)
        kind = state["Type"]
        if kind == "Task":
            task_input = (
                _parameters(state["Parameters"], document, context) if "Parameters" in state else document
            )
            measure("effective input", task_input)
            try:
                result = json.loads(
                    json.dumps(handlers[state["Resource"]](json.loads(json.dumps(task_input))))
                )
            except StatesRuntime:
                raise
            except Exception as error:
                error_name = getattr(error, "error_name", type(error).__name__)
                catch = next(
                    c
                    for c in state["Catch"]
                    if "States.ALL" in c["ErrorEquals"] or error_name in c["ErrorEquals"]
                )
                cause = {"errorMessage": str(error), "errorType": error_name, "stackTrace": []}
                document = _result_path(
                    document, catch["ResultPath"], {"Error": error_name, "Cause": json.dumps(cause)}
                )
                measure("output", document)
                name = catch["Next"]
                continue
            measure("result", result)
            if "ResultSelector" in state:
                result = _parameters(state["ResultSelector"], result, context)
            document = _result_path(document, state.get("ResultPath", "$"), result)
            if "OutputPath" in state:
                document = _select(document, state["OutputPath"], "OutputPath")
            measure("output", document)
            name = state["Next"]
        elif kind == "Pass":
            if "Result" in state:
                result = copy.deepcopy(state["Result"])
            elif "Parameters" in state:
                result = _parameters(state["Parameters"], document, context)
            else:
                result = document
            document = _result_path(document, state.get("ResultPath", "$"), result)
            measure("output", document)
            name = state["Next"]
        elif kind == "Choice":
            name = next((c["Next"] for c in state["Choices"] if _rule(c, document)), state.get("Default"))
            if name is None:
                raise StatesRuntime("Choice: no rule matched and there is no Default")
        elif kind == "Succeed":
            run.output = (
                _select(document, state["OutputPath"], "OutputPath") if "OutputPath" in state else document
            )
            measure("output", run.output)
            run.end = name
            return run
        elif kind == "Fail":
            cause = (
                _select(document, state["CausePath"], "CausePath") if "CausePath" in state else state["Cause"]
            )
            run.output = {"Error": state["Error"], "Cause": cause}
            run.end = name
            return run
        else:
            raise NotImplementedError(kind)
    raise AssertionError("the execution did not end within 100 states")
