"""The longest time one execution of a state machine can take, from its definition alone.

Every path from StartAt to an end is walked (Next, Catch, Choices, Default), and each state is
charged its worst case: a Task runs ``1 + sum(MaxAttempts)`` times, each attempt up to its
``TimeoutSeconds`` (or the timeout of the function it calls, whichever is smaller), plus every
retry interval at its largest (``IntervalSeconds * BackoffRate**n``, capped by
``MaxDelaySeconds``; jitter only shortens it). A retrier that covers only errors raised before
the function runs (a throttled Invoke call) adds its intervals but no running time. A Wait adds
its ``Seconds``; a Parallel its longest branch. A state whose time has no bound (a Task without
a timeout, a Wait on a path or timestamp, a Map, a cycle) is an error, never a guess.

``model_seconds`` is what that bound leaves the model: how long the invoke function may read its
answer in one attempt of the Invoke state when the whole workflow, retries included, fits the
Express limit (``p6.express_model_seconds`` in ``make bench``).

    python tools/workflow_bound.py asl/tollgate.asl.json [--invoke-timeout 247]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXPRESS_LIMIT_SECONDS = 300
# Lambda answers these before the function starts: an attempt that ends in one runs no code.
NOT_RUN_ERRORS = frozenset({"Lambda.TooManyRequestsException"})
# The invoke function keeps this much of its time after the Converse read timeout to settle and
# report (tollgate.bedrock.READ_TIMEOUT_MARGIN_SECONDS), and spends up to this much before the call
# (its start and the invoking mark; the read timeout is whole seconds of the time left).
READ_MARGIN_SECONDS = 5
BEFORE_CALL_SECONDS = 1
INVOKE_STATE = "Invoke"
# ASL defaults of a retrier.
DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


class UnboundedWorkflow(ValueError):
    """Some path of the workflow has no upper bound on its duration."""


@dataclass(frozen=True)
class Bound:
    """The longest path: its seconds and the states on it, in order."""

    seconds: float
    path: tuple[str, ...]


def retry_delays(retrier: Mapping[str, Any]) -> float:
    """The longest total wait between the attempts one retrier allows."""
    interval = retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS)
    attempts = retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)
    rate = retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE)
    cap = retrier.get("MaxDelaySeconds", math.inf)
    return sum(min(interval * rate**n, cap) for n in range(attempts))


def attempt_seconds(name: str, state: Mapping[str, Any], task_timeouts: Mapping[str, float]) -> float:
    """How long one attempt of a Task may run."""
    limits = [state["TimeoutSeconds"]] if "TimeoutSeconds" in state else []
    resource = state.get("Resource")
    if resource in task_timeouts:
        limits.append(task_timeouts[resource])
    if not limits:
        raise UnboundedWorkflow(
            f"state {name}: a Task needs TimeoutSeconds (or a known function timeout), "
            "otherwise one attempt may run for as long as the execution"
        )
    return min(limits)


def retried_seconds(name: str, state: Mapping[str, Any], once: float) -> float:
    """``once`` (one attempt) times every attempt the state's Retry allows, plus the waits."""
    total = once
    for retrier in state.get("Retry", []):
        attempts = retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)
        runs = not set(retrier.get("ErrorEquals", [])) <= NOT_RUN_ERRORS
        total += (once * attempts if runs else 0) + retry_delays(retrier)
    return total


def state_seconds(name: str, state: Mapping[str, Any], task_timeouts: Mapping[str, float]) -> float:
    """The worst-case time spent in one state (retries included), not counting what follows."""
    kind = state.get("Type")
    if kind == "Task":
        return retried_seconds(name, state, attempt_seconds(name, state, task_timeouts))
    if kind == "Wait":
        if "Seconds" not in state:
            raise UnboundedWorkflow(f"state {name}: only a Wait with fixed Seconds has a bound")
        return float(state["Seconds"])
    if kind == "Parallel":
        branches = [longest_path(branch, task_timeouts).seconds for branch in state.get("Branches", [])]
        return retried_seconds(name, state, max(branches, default=0.0))
    if kind in ("Pass", "Choice", "Succeed", "Fail"):
        return 0.0
    raise UnboundedWorkflow(f"state {name}: a {kind} state has no bound on its duration")


def successors(state: Mapping[str, Any]) -> list[str]:
    """Every state that may run right after this one."""
    names = [state["Next"]] if "Next" in state else []
    names += [catcher["Next"] for catcher in state.get("Catch", [])]
    names += [choice["Next"] for choice in state.get("Choices", []) if "Next" in choice]
    if "Default" in state:
        names.append(state["Default"])
    return list(dict.fromkeys(names))


def longest_path(definition: Mapping[str, Any], task_timeouts: Mapping[str, float] | None = None) -> Bound:
    """The longest path through ``definition`` (a state machine, or a Parallel branch)."""
    states: Mapping[str, Any] = definition["States"]
    timeouts = task_timeouts or {}
    done: dict[str, Bound] = {}

    def walk(name: str, stack: tuple[str, ...]) -> Bound:
        if name in stack:
            loop = " -> ".join((*stack[stack.index(name) :], name))
            raise UnboundedWorkflow(f"the workflow loops ({loop}), so its duration has no bound")
        if name not in done:
            if name not in states:
                raise UnboundedWorkflow(f"state {stack[-1]} goes to {name}, which does not exist")
            state = states[name]
            after = [walk(n, (*stack, name)) for n in successors(state)]
            rest = max(after, key=lambda b: b.seconds, default=Bound(0.0, ()))
            own = state_seconds(name, state, timeouts)
            done[name] = Bound(own + rest.seconds, (name, *rest.path))
        return done[name]

    return walk(definition["StartAt"], ())


def model_seconds(
    definition: Mapping[str, Any],
    function_timeout: float | None = None,
    task_timeouts: Mapping[str, float] | None = None,
) -> float:
    """How long the model may read in one Invoke attempt: the invoke function's timeout (at most
    the state's TimeoutSeconds less 1 s, the longest a function may have there), less what the
    function spends before the call and keeps after it. 0 when the workflow does not fit the
    Express limit at all: then no reading time is safe."""
    if longest_path(definition, task_timeouts).seconds >= EXPRESS_LIMIT_SECONDS:
        return 0.0
    state = definition["States"][INVOKE_STATE]
    longest_function = attempt_seconds(INVOKE_STATE, state, task_timeouts or {}) - 1
    timeout = longest_function if function_timeout is None else min(function_timeout, longest_function)
    return max(0.0, timeout - BEFORE_CALL_SECONDS - READ_MARGIN_SECONDS)


def default_invoke_timeout(variables_tf: Path) -> int:
    """lambda_timeouts.invoke's default, as the module's variables.tf declares it."""
    text = variables_tf.read_text(encoding="utf-8")
    block = text[text.index('variable "lambda_timeouts"') :]
    found = re.search(r"invoke\s*=\s*optional\(number,\s*(\d+)\)", block)
    if found is None:
        raise ValueError(f"{variables_tf}: lambda_timeouts has no default for invoke")
    return int(found[1])


def breakdown(definition: Mapping[str, Any], bound: Bound, task_timeouts: Mapping[str, float]) -> str:
    lines = [f"{'state':<24} {'seconds':>8}"]
    for name in bound.path:
        seconds = state_seconds(name, definition["States"][name], task_timeouts)
        if seconds:
            lines.append(f"{name:<24} {seconds:>8.1f}")
    lines.append(f"{'longest path':<24} {bound.seconds:>8.1f}  (Express limit {EXPRESS_LIMIT_SECONDS})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("definition", type=Path, help="an ASL file (placeholders inside strings are fine)")
    parser.add_argument(
        "--invoke-timeout",
        type=float,
        default=None,
        help="the invoke function's timeout (lambda_timeouts.invoke)",
    )
    args = parser.parse_args(argv)
    definition = json.loads(args.definition.read_text(encoding="utf-8"))
    try:
        bound = longest_path(definition)
    except UnboundedWorkflow as err:
        print(f"unbounded: {err}", file=sys.stderr)
        return 1
    print(breakdown(definition, bound, {}))
    print(f"{'model may read':<24} {model_seconds(definition, args.invoke_timeout):>8.1f}")
    return 0 if bound.seconds < EXPRESS_LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
