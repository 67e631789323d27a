"""Everything a group (suite x prompt x model) reports about its calls: each registered metric,
and the counts around them (DESIGN section 2; the metrics themselves are defined in the registry,
`llmops_cli.metrics`).

truncated: answers the provider cut at max_tokens (finish_reason "length"), shown so a cut
answer is never mistaken for a wrong one. `expect_refusal_calls`/`_errors` let a reader tell "no
such cases" from "all of them errored". spent_usd: what the calls this run sent cost.

Grader calls (an LLM judge, embeddings for similarity) are counted apart, per kind:
`judge_calls`, `judge_errors`, `judge_cost_usd` (and `similarity_*`). They are never mixed into
the cost, tokens or latency of the model under test: grading is the exam's cost, not the
candidate's. A failed grader call makes its case an error, so it shows in error_rate too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from llmops_cli.metrics import REGISTRY, MetricContext
from llmops_cli.metrics.quality import CORRECTNESS
from llmops_cli.scoring.graders import grader_kinds
from llmops_cli.store import CallRecord


def case_scores(records: Iterable[CallRecord]) -> dict[str, float]:
    """Case id -> share of its runs that passed (the unit the gate pairs on)."""
    return CORRECTNESS.per_case(records, MetricContext())


def spent_usd(sent: Sequence[CallRecord]) -> float | None:
    """What the calls sent in this run cost. Unknown (None), never 0, when an answer has no price, or
    when calls were sent and none was answered (a provider may bill a failure we cannot see)."""
    paid = [r.cost_usd for r in sent if r.ok]
    if any(c is None for c in paid) or (sent and not paid):
        return None
    return math.fsum(c for c in paid if c is not None)


def compute(records: Sequence[CallRecord], context: MetricContext) -> dict[str, Any]:
    """The group's metrics dict (results.json `metrics`): every registered metric and the counts."""
    answered = [r for r in records if r.ok]
    sent = [r for r in records if not r.cached and not r.shared]
    values = {name: metric.value(records, context) for name, metric in REGISTRY.items()}
    return {
        "cases": len({r.case_id for r in records}),
        "calls": len(records),
        **values,
        "errors": len(records) - len(answered),
        "error_classes": _count(r.error_class for r in records if not r.ok),
        "empty_outputs": sum(1 for r in answered if r.empty),
        "truncated": sum(1 for r in answered if r.finish_reason == "length"),
        "expect_refusal_calls": sum(1 for r in records if r.expect_refusal),
        "expect_refusal_errors": sum(1 for r in records if r.expect_refusal and not r.ok),
        "cost_unknown_calls": sum(1 for r in answered if r.cost_usd is None),
        "cached_calls": sum(1 for r in records if r.cached),
        "shared_calls": sum(1 for r in records if r.shared),
        "sent_calls": len(sent),
        "spent_usd": spent_usd(sent),
        **grader_metrics(records),
    }


def grader_metrics(records: Sequence[CallRecord]) -> dict[str, Any]:
    """Per grader kind: calls, errors, and their list-price cost (None = unknown, never a silent 0)."""
    out: dict[str, Any] = {}
    for kind in grader_kinds():
        calls = [a for r in records for a in r.graders if a["kind"] == kind]
        costs = [a["cost_usd"] for a in calls if a["latency_s"] is not None]  # answered (a failed call costs nothing)
        out[f"{kind}_calls"] = len(calls)
        out[f"{kind}_cached"] = sum(1 for a in calls if a["cached"])
        out[f"{kind}_errors"] = sum(1 for a in calls if a["error_class"] is not None)
        out[f"{kind}_cost_usd"] = None if any(c is None for c in costs) else math.fsum(c for c in costs if c is not None)
    return out


def _count(values: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value or "unknown"] = counts.get(value or "unknown", 0) + 1
    return counts
