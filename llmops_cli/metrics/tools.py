"""Metrics of tool calls and agent loops: tool_args_validity, tool_calls and steps.

tool_args_validity is a share over sub-items of a call: each tool call (of every step of an agent
loop) contributes 1 when its arguments parse as JSON and validate against the offered tool's
`parameters`, else 0; a call that made no tool call contributes nothing, so a suite without tool
calls reads "n/a" rather than a perfect score. tool_calls and steps are means per answered call
(a case without a loop is one step). An errored call has no answer to judge: it counts in
error_rate, not here. An agent loop's tokens, cost and latency are already summed over its steps
in its record, so the cost metrics need nothing from this module.
"""

from __future__ import annotations

from typing import Any

from llmops_cli.metrics.base import Metric, MetricContext, one
from llmops_cli.store import CallRecord


def all_tool_calls(record: CallRecord) -> list[dict[str, Any]]:
    """Every tool call of a record: each step's in an agent loop, else its answer's."""
    return [c for s in record.steps for c in s["tool_calls"]] if record.steps else list(record.tool_calls)


def _valid_args(r: CallRecord, context: MetricContext) -> tuple[float, ...]:
    return tuple(float(bool(c.get("valid"))) for c in all_tool_calls(r)) if r.ok else ()


def _tool_calls(r: CallRecord, context: MetricContext) -> tuple[float, ...]:
    return one(len(all_tool_calls(r))) if r.ok else ()


def _steps(r: CallRecord, context: MetricContext) -> tuple[float, ...]:
    return one(len(r.steps) or 1) if r.ok else ()


TOOL_ARGS_VALIDITY = Metric(
    name="tool_args_validity", higher_is_better=True, share=True, observe=_valid_args,
    definition="mean over cases that called tools of the share of their tool calls (every step) whose arguments "
               "parse as JSON and validate against the tool's parameters")

TOOL_CALLS = Metric(
    name="tool_calls", higher_is_better=False, share=False, observe=_tool_calls,
    definition="mean over cases of the tool calls an answered run made (every step of an agent loop)")

STEPS = Metric(
    name="steps", higher_is_better=False, share=False, observe=_steps,
    definition="mean over cases of the model calls an answered run made (an agent loop's steps; otherwise 1)")
