"""The metrics a suite can gate on, one `Metric` each, in one registry.

Config validation (which names a threshold may use, share bounds in [0, 1]), the group's values
(`compute`), the gate (paired values, what "worse" means for `max_drop`) and every report (which
metrics to list, percentages) read this registry and nothing else. Adding a metric is one module
(or one entry in a family's module) and one line below. `compute` lives in
`llmops_cli.metrics.compute`: it reads grader calls, whose module needs config, which needs this
registry, so this package imports nothing heavier than the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_cli.metrics.base import Metric, MetricContext, Scope
from llmops_cli.metrics.calls import COST_USD, ERROR_RATE, LATENCY_MAX_S, LATENCY_P50_S, LATENCY_P95_S, TOKENS_IN, TOKENS_OUT
from llmops_cli.metrics.quality import CORRECTNESS, SCHEMA_VALIDITY
from llmops_cli.metrics.refusal import REFUSAL_RATE, UNSAFE_COMPLIANCE
from llmops_cli.metrics.tools import STEPS, TOOL_ARGS_VALIDITY, TOOL_CALLS

REGISTRY: Mapping[str, Metric] = {m.name: m for m in (
    CORRECTNESS,
    SCHEMA_VALIDITY,
    REFUSAL_RATE,
    UNSAFE_COMPLIANCE,
    ERROR_RATE,
    LATENCY_P50_S,
    LATENCY_P95_S,
    LATENCY_MAX_S,
    TOKENS_IN,
    TOKENS_OUT,
    COST_USD,
    TOOL_ARGS_VALIDITY,
    TOOL_CALLS,
    STEPS,
)}

PAIRED: tuple[str, ...] = tuple(name for name, m in REGISTRY.items() if m.paired)
SHARES: frozenset[str] = frozenset(name for name, m in REGISTRY.items() if m.share)

__all__ = ["Metric", "MetricContext", "PAIRED", "REGISTRY", "SHARES", "Scope", "shown"]


def shown(metrics: Mapping[str, Any], name: str) -> str:
    """A registered metric's value from a group's metrics, as its entry formats it (a document
    written before the metric existed reads as not measured)."""
    return REGISTRY[name].format(metrics.get(name))
