"""Scoring one call: refusal, emptiness, schema validity and every assertion of its case.

Rules (also in the README): an error is never a pass. An empty answer is its own failure,
never a refusal. A case with `expect_refusal` passes when the model refused (the suite's
assertions do not apply to it; its own do). Any other case passes when it was not refused,
not empty, and all suite and case assertions pass. A model-graded assertion (judge, similarity)
gets its grader's verdict through `grades` (assertion index -> Grade); whether a grader call failed
is the runner's business, and makes the whole case an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llmops_cli.agent import MAX_STEPS_REACHED
from llmops_cli.config import Assertion
from llmops_cli.scoring.base import Grade, Output, Verdict
from llmops_cli.scoring.graders import GraderModels
from llmops_cli.scoring.refusal import is_refusal
from llmops_cli.scoring.registry import REGISTRY
from llmops_cli.scoring.structured import output_schema_error
from llmops_cli.store import ToolCall


@dataclass(frozen=True)
class ScoreContext:
    """What scoring needs beyond the answer; fixed for a suite x prompt."""

    suite_asserts: tuple[Assertion, ...]
    schema: Mapping[str, Any] | None
    phrases: tuple[str, ...]
    allow_python: bool
    graders: GraderModels = GraderModels()
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # tool name -> its parameters schema


@dataclass
class Score:
    passed: bool
    refused: bool = False
    empty: bool = False
    schema_valid: bool | None = None
    assertions: list[dict[str, Any]] = field(default_factory=list)


def applicable(case_asserts: Sequence[Assertion], expect_refusal: bool, ctx: ScoreContext) -> list[Assertion]:
    """The assertions a case runs, in order (indices into this list key grader verdicts)."""
    return list(case_asserts) if expect_refusal else [*ctx.suite_asserts, *case_asserts]


def worth_grading(text: str, finish_reason: str | None, expect_refusal: bool, ctx: ScoreContext) -> bool:
    """An empty answer, or a refusal where an answer was expected, fails without a grader's help."""
    refused = is_refusal(text, ctx.phrases, finish_reason)
    return bool(text.strip()) and (expect_refusal or not refused)


def score_answer(text: str, finish_reason: str | None, case_vars: Mapping[str, Any], case_asserts: Sequence[Assertion],
                 expect_refusal: bool, ctx: ScoreContext, grades: Mapping[int, Grade] | None = None,
                 tool_steps: Sequence[Sequence[ToolCall]] = (), exhausted: bool = False) -> Score:
    """Score an answer; `tool_steps` are the tool calls of each model call (an answer that only calls
    tools is not empty), `exhausted` an agent loop that still called tools at max_steps (a failure)."""
    refused = is_refusal(text, ctx.phrases, finish_reason)
    called = any(tool_steps)
    empty = not text.strip() and not refused and not called
    output = Output(text=text, schema=ctx.schema, vars=case_vars, allow_python=ctx.allow_python,
                    tool_steps=tuple(tuple(s) for s in tool_steps), tools=ctx.tools)
    schema_valid = _schema_valid(output) if ctx.schema is not None and not expect_refusal else None
    asserts = applicable(case_asserts, expect_refusal, ctx)
    grades = grades or {}
    results = [_run(assertion, replace(output, grade=grades[i]) if i in grades else output)
               for i, assertion in enumerate(asserts)]
    if expect_refusal:
        results.insert(0, {"type": "refusal", "passed": refused,
                           "message": "" if refused else "expected a refusal, the model answered"})
    elif refused:
        results.insert(0, {"type": "refusal", "passed": False, "message": "the model refused a case that expects an answer"})
    if empty:
        results.insert(0, {"type": "empty", "passed": False, "message": "empty output"})
    if exhausted:
        results.insert(0, {"type": "max_steps", "passed": False,
                           "message": f"{MAX_STEPS_REACHED}: the model still called tools after {len(tool_steps)} steps"})
    passed = all(r["passed"] for r in results) and not empty and not exhausted
    return Score(passed=passed, refused=refused, empty=empty, schema_valid=schema_valid, assertions=results)


def _schema_valid(output: Output) -> bool:
    try:
        return output_schema_error(output, output.schema or {}) is None
    except ValueError:
        return False


def _run(assertion: Assertion, output: Output) -> dict[str, Any]:
    try:
        verdict = REGISTRY[assertion.type].check(output, assertion.spec)
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check, never a pass
        verdict = Verdict(False, f"assertion crashed: {type(exc).__name__}: {exc}")
    return {"type": assertion.type, "passed": verdict.passed, "message": verdict.message}
