"""The agent loop: a model that calls tools gets recorded results back, never executed ones.

A case with `tool_results` runs as a loop: send the conversation; when the answer calls tools,
append the assistant turn and one `tool` message per call (the first recorded result whose name
and argument subset match; else a message saying none was recorded) and send again, until the
model answers without a tool call or the suite's `max_steps` calls were made. Every step's
request is a pure function of the case and the answers before it, so each step has its own cache
key: a run killed mid-loop and resumed takes the finished steps from the cache and repeats none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops_cli.store import CachedAnswer, ToolCall

MAX_RESULT_CHARS = 64 * 1024  # one recorded tool result as sent to the model
MAX_RULES = 1000
UNRECORDED = ("no recorded result for tool {name!r} with these arguments; llmops never runs tools, "
              "record one in the case's tool_results")
MAX_STEPS_REACHED = "max_steps reached"


@dataclass(frozen=True)
class ToolRule:
    """One recorded result: for a call of `name` whose arguments include `args` (all when None)."""

    name: str
    args: Mapping[str, Any] | None
    result: str


def parse_tool_results(raw: Any) -> tuple[tuple[ToolRule, ...], str | None]:
    """The rules of a case's `tool_results`, or a problem: `{tool: result}` or `[{name, args, result}]`.
    A result that is not text is sent as its JSON."""
    if isinstance(raw, dict):
        items = [{"name": name, "result": result} for name, result in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        return (), "'tool_results' must be an object {tool: result} or a list of {name, args, result}"
    if len(items) > MAX_RULES:
        return (), f"'tool_results' has {len(items)} entries (at most {MAX_RULES})"
    rules = []
    for index, item in enumerate(items):
        where = f"tool_results[{index}]" if isinstance(raw, list) else f"tool_results.{item.get('name')}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "result" not in item:
            return (), f"{where} must be an object with 'name' (a tool) and 'result', and optionally 'args'"
        unknown = [k for k in item if k not in ("name", "args", "result")]
        if unknown:
            return (), f"{where}: unknown key {unknown[0]!r}; allowed: name, args, result"
        args = item.get("args")
        if args is not None and not isinstance(args, dict):
            return (), f"{where}: 'args' must be an object (the arguments a call must include)"
        result = item["result"]
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, sort_keys=True)
        if len(text) > MAX_RESULT_CHARS:
            return (), f"{where}: the result is longer than {MAX_RESULT_CHARS:,} characters"
        rules.append(ToolRule(item["name"], args, text))
    return tuple(rules), None


def includes(actual: Any, expected: Any) -> bool:
    """`expected` is a subset of `actual`: every key of an expected object is present with an included
    value; lists and scalars compare as JSON (`true` is not `1`)."""
    from llmops_cli.scoring.structured import same_json

    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and includes(actual[k], v) for k, v in expected.items())
    return same_json(actual, expected)


def parsed_arguments(call: ToolCall) -> Any:
    """A call's arguments as JSON; raises ValueError when the model wrote something else."""
    try:
        return json.loads(call.arguments) if call.arguments.strip() else {}
    except (json.JSONDecodeError, RecursionError):
        raise ValueError(f"arguments of {call.name} are not JSON: {call.arguments[:80]!r}") from None


def recorded_result(rules: tuple[ToolRule, ...], call: ToolCall) -> str | None:
    try:
        args = parsed_arguments(call)
    except ValueError:
        args = None
    for rule in rules:
        if rule.name == call.name and (rule.args is None or includes(args, rule.args)):
            return rule.result
    return None


@dataclass(frozen=True)
class AgentSpec:
    """What a case's loop needs beyond its first request."""

    rules: tuple[ToolRule, ...]
    max_steps: int


@dataclass
class Step:
    """One model call of the loop and the tool results it got back."""

    key: str
    answer: CachedAnswer
    cached: bool
    results: list[str] = field(default_factory=list)  # one per tool call, sent back as `tool` messages

    def summary(self) -> dict[str, Any]:
        a = self.answer
        return {"key": self.key, "text": a.text, "finish_reason": a.finish_reason,
                "tool_calls": [call_dict(c) for c in a.tool_calls], "tool_results": list(self.results),
                "cached": self.cached, "tokens_in": a.tokens_in, "tokens_out": a.tokens_out,
                "cost_usd": a.cost_usd, "latency_s": a.latency_s}


def call_dict(call: ToolCall) -> dict[str, str]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def call_id(call: ToolCall, step: int, index: int) -> str:
    """The model's id for a call, or a stable one when it gave none (a tool message must name one)."""
    return call.id or f"call_{step}_{index}"


def assistant_turn(answer: CachedAnswer, step: int) -> dict[str, Any]:
    return {"role": "assistant", "content": answer.text or None,
            "tool_calls": [{"id": call_id(c, step, i), "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments}}
                           for i, c in enumerate(answer.tool_calls)]}


class Loop:
    """The conversation of one case as it grows; `request()` is the next step's messages."""

    def __init__(self, messages: list[dict[str, Any]], spec: AgentSpec) -> None:
        self.messages = list(messages)
        self.spec = spec
        self.steps: list[Step] = []

    @property
    def done(self) -> bool:
        last = self.steps[-1].answer if self.steps else None
        return last is not None and (not last.tool_calls or len(self.steps) >= self.spec.max_steps)

    @property
    def exhausted(self) -> bool:
        """The last step still called tools when max_steps ran out: the case fails."""
        return bool(self.steps) and bool(self.steps[-1].answer.tool_calls) and len(self.steps) >= self.spec.max_steps

    def take(self, key: str, answer: CachedAnswer, cached: bool) -> None:
        """Record a step's answer; when it calls tools (and steps remain), append the turns the next step sends."""
        step = Step(key, answer, cached)
        self.steps.append(step)
        if self.done:
            return
        self.messages.append(assistant_turn(answer, len(self.steps) - 1))
        for index, call in enumerate(answer.tool_calls):
            result = recorded_result(self.spec.rules, call)
            step.results.append(result if result is not None else UNRECORDED.format(name=call.name))
            self.messages.append({"role": "tool", "tool_call_id": call_id(call, len(self.steps) - 1, index),
                                  "content": step.results[-1]})

    def final(self) -> CachedAnswer:
        """The case's answer: the last step's text and calls, with tokens, cost and latency summed over
        the steps (cost unknown when any step's is)."""
        last = self.steps[-1].answer
        costs = [s.answer.cost_usd for s in self.steps]
        return CachedAnswer(
            text=last.text, finish_reason=last.finish_reason,
            tokens_in=sum(s.answer.tokens_in for s in self.steps), tokens_out=sum(s.answer.tokens_out for s in self.steps),
            cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
            latency_s=sum(s.answer.latency_s for s in self.steps), tool_calls=last.tool_calls)

    def all_calls(self) -> list[ToolCall]:
        return [c for s in self.steps for c in s.answer.tool_calls]
