"""Assertions on the tools a model called: tool_call, no_tool_call, tool_sequence, tool_args_schema.

They read every model call of the case (one, or each step of an agent loop) in order; text
assertions keep reading the final answer. `step` counts model calls from 1. Arguments are the
model's raw text: a call whose arguments are not JSON never matches `args` and fails
`tool_args_schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_cli.agent import includes, parsed_arguments
from llmops_cli.scoring.base import Kind, Output, Verdict, keys_problems, shown
from llmops_cli.scoring.structured import lookup, same_json, schema_errors
from llmops_cli.store import ToolCall


def _calls(out: Output, step: int | None = None) -> list[ToolCall]:
    if step is not None:
        return list(out.tool_steps[step - 1]) if 0 < step <= len(out.tool_steps) else []
    return [call for calls in out.tool_steps for call in calls]


def _described(calls: list[ToolCall]) -> str:
    if not calls:
        return "no tool was called"
    return "called: " + ", ".join(f"{c.name}({shown(c.arguments, 60)})" for c in calls[:5]) + \
        (f" and {len(calls) - 5} more" if len(calls) > 5 else "")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _validate_tool_call(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("name",), ("args", "args_path", "equals", "step"))
    if "name" in spec and (not isinstance(spec["name"], str) or not spec["name"]):
        problems.append("'name' must be a tool name")
    if "args" in spec and not isinstance(spec["args"], dict):
        problems.append("'args' must be an object: the arguments the call must include")
    if ("args_path" in spec) != ("equals" in spec):
        problems.append("'args_path' and 'equals' go together (the argument at a path, and its value)")
    if "args_path" in spec and (not isinstance(spec["args_path"], str) or not spec["args_path"]):
        problems.append("'args_path' must be a path like country or items[0].id")
    if "step" in spec and not _is_count(spec["step"]):
        problems.append("'step' must be a model call number, 1 for the first")
    return problems


def _matches(call: ToolCall, spec: Mapping[str, Any]) -> bool:
    if call.name != spec["name"]:
        return False
    try:
        args = parsed_arguments(call)
    except ValueError:
        return False
    if "args" in spec and not includes(args, spec["args"]):
        return False
    if "args_path" in spec:
        try:
            return same_json(lookup(args, spec["args_path"]), spec["equals"])
        except KeyError:
            return False
    return True


def _tool_call(out: Output, spec: Mapping[str, Any]) -> Verdict:
    calls = _calls(out, spec.get("step"))
    if any(_matches(call, spec) for call in calls):
        return Verdict(True)
    want = spec["name"] + (f" with args including {shown(spec['args'], 60)}" if "args" in spec else "") + \
        (f" with {spec['args_path']} = {shown(spec['equals'], 40)}" if "args_path" in spec else "")
    at = f" at step {spec['step']}" if "step" in spec else ""
    return Verdict(False, f"expected a call of {want}{at}; {_described(calls)}")


def _validate_no_tool_call(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, (), ("name",))
    if "name" in spec and (not isinstance(spec["name"], str) or not spec["name"]):
        problems.append("'name' must be a tool name (omit it: no tool call at all)")
    return problems


def _no_tool_call(out: Output, spec: Mapping[str, Any]) -> Verdict:
    calls = [c for c in _calls(out) if "name" not in spec or c.name == spec["name"]]
    what = f"no call of {spec['name']}" if "name" in spec else "no tool call"
    return Verdict(not calls, "" if not calls else f"expected {what}; {_described(calls)}")


def _validate_tool_sequence(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("names",), ("exact",))
    names = spec.get("names")
    if "names" in spec and (not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)):
        problems.append("'names' must be a non-empty list of tool names, in the order they are called")
    if "exact" in spec and not isinstance(spec["exact"], bool):
        problems.append("'exact' must be true (exactly these calls) or false (these, in order, among others)")
    return problems


def _tool_sequence(out: Output, spec: Mapping[str, Any]) -> Verdict:
    called = [c.name for c in _calls(out)]
    wanted = list(spec["names"])
    if spec.get("exact", False):
        ok = called == wanted
    else:
        remaining = iter(called)
        ok = all(any(name == c for c in remaining) for name in wanted)
    how = "exactly" if spec.get("exact", False) else "in order"
    return Verdict(ok, "" if ok else f"expected {how} {' -> '.join(wanted)}; called {' -> '.join(called) or 'nothing'}")


def _validate_tool_args_schema(spec: Mapping[str, Any]) -> list[str]:
    return keys_problems(spec, (), ())


def args_problem(call: ToolCall, tools: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why a call's arguments are not valid for the tool it names (None when they are)."""
    if call.name not in tools:
        return f"{call.name} is not a tool this prompt offers"
    try:
        args = parsed_arguments(call)
    except ValueError as exc:
        return str(exc)
    error = schema_errors(args, tools[call.name])
    return f"{call.name}: {error}" if error else None


def _tool_args_schema(out: Output, spec: Mapping[str, Any]) -> Verdict:
    """Every call valid; no call at all passes (require one with tool_call), so it can apply suite-wide."""
    problems = [p for p in (args_problem(c, out.tools) for c in _calls(out)) if p]
    return Verdict(not problems, "; ".join(problems[:3]))


TOOL_CALL = Kind("tool_call", _validate_tool_call, _tool_call)
NO_TOOL_CALL = Kind("no_tool_call", _validate_no_tool_call, _no_tool_call)
TOOL_SEQUENCE = Kind("tool_sequence", _validate_tool_sequence, _tool_sequence)
TOOL_ARGS_SCHEMA = Kind("tool_args_schema", _validate_tool_args_schema, _tool_args_schema)
