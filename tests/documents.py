"""Typed results-document parts for tests that render a report from a hand-made document: every field
has a plain default, so a test names only what it is about."""

from __future__ import annotations

from typing import Any

from llmops_cli.document import (
    AssertionResult,
    CallResult,
    CaseResult,
    Document,
    GateResult,
    Group,
    Metrics,
    RunInfo,
    ThresholdRow,
)


def call(**fields: Any) -> CallResult:
    defaults: dict[str, Any] = dict(repeat=0, output="", error=None, error_class=None, attempts=1, cached=False,
                                    finish_reason="stop", latency_s=0.1, tokens_in=1, tokens_out=1, cost_usd=None,
                                    passed=True, refused=False, empty=False, schema_valid=None, assertions=())
    fields["assertions"] = tuple(AssertionResult(**a) if isinstance(a, dict) else a
                                 for a in fields.get("assertions", ()))
    return CallResult(**(defaults | fields))


def case(**fields: Any) -> CaseResult:
    defaults: dict[str, Any] = dict(case_id="c", tags=(), expect_refusal=False, score=1.0, passed=True,
                                    messages=({"role": "user", "content": "q"},), runs=(call(),))
    return CaseResult(**(defaults | fields))


def group(**fields: Any) -> Group:
    defaults: dict[str, Any] = dict(suite="s", prompt="s", model="m", model_id="m", passed=True, cases=())
    if isinstance(fields.get("metrics"), dict):
        fields["metrics"] = Metrics(fields["metrics"])
    fields["thresholds"] = tuple(ThresholdRow(**t) if isinstance(t, dict) else t for t in fields.get("thresholds", ()))
    return Group(**(defaults | fields))


def document(*groups: Group, run_id: str = "r", status: str = "passed") -> Document:
    return Document(run=RunInfo(id=run_id), gate=GateResult(status=status, exit_code=0),  # type: ignore[arg-type]
                    groups=groups)
