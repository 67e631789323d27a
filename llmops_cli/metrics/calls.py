"""Metrics of a group's calls as a whole: errors, latency, tokens and cost.

They are compared with the baseline on the group's value, not case by case. Latency and tokens
read answered calls; cost is unknown (None, never a silent 0) when any answer had no known
price or no call was answered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmops_cli.metrics.base import Metric, MetricContext
from llmops_cli.store import CallRecord


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _error_rate(records: Sequence[CallRecord], context: MetricContext) -> float | None:
    return sum(1 for r in records if not r.ok) / len(records) if records else None


def _latency(q: float | None) -> Callable[[Sequence[CallRecord], MetricContext], float | None]:
    """Over answered calls: the q-th percentile, or the maximum (q None)."""
    def aggregate(records: Sequence[CallRecord], context: MetricContext) -> float | None:
        latencies = [r.latency_s for r in records if r.ok and r.latency_s is not None]
        if q is None:
            return max(latencies) if latencies else None
        return percentile(latencies, q)
    return aggregate


def _tokens_in(records: Sequence[CallRecord], context: MetricContext) -> float | None:
    return sum(r.tokens_in for r in records if r.ok)


def _tokens_out(records: Sequence[CallRecord], context: MetricContext) -> float | None:
    return sum(r.tokens_out for r in records if r.ok)


def _cost(records: Sequence[CallRecord], context: MetricContext) -> float | None:
    costs = [r.cost_usd for r in records if r.ok]
    if not costs or any(c is None for c in costs):
        return None
    return math.fsum(c for c in costs if c is not None)


def _cost_unknown(metrics: Mapping[str, Any]) -> str | None:
    if metrics.get("cost_unknown_calls"):
        return "cost unknown: litellm has no price for this model; set input/output_cost_per_token"
    return None


ERROR_RATE = Metric(
    name="error_rate", higher_is_better=False, share=True, aggregate=_error_rate,
    definition="calls that failed after retries; above limits.max_error_rate the run is incomplete (exit 3)")
LATENCY_P50_S = Metric(name="latency_p50_s", higher_is_better=False, share=False, aggregate=_latency(0.5),
                       definition="median latency_s over answered calls")
LATENCY_P95_S = Metric(name="latency_p95_s", higher_is_better=False, share=False, aggregate=_latency(0.95),
                       definition="95th percentile of latency_s over answered calls")
LATENCY_MAX_S = Metric(name="latency_max_s", higher_is_better=False, share=False, aggregate=_latency(None),
                       definition="largest latency_s of an answered call")
TOKENS_IN = Metric(name="tokens_in", higher_is_better=False, share=False, aggregate=_tokens_in,
                   definition="prompt tokens of answered calls, summed")
TOKENS_OUT = Metric(name="tokens_out", higher_is_better=False, share=False, aggregate=_tokens_out,
                    definition="completion tokens of answered calls, summed")
COST_USD = Metric(
    name="cost_usd", higher_is_better=False, share=False, aggregate=_cost, unknown="unknown",
    explain_unknown=_cost_unknown,
    definition="list-price cost of answered calls; unknown, not 0, when a model has no price or nothing was answered")
