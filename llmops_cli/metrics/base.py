"""What a metric is: one value that config validation, the gate and every report read alike.

A `Metric` carries everything that used to be written in several places: its direction (is
higher better), its unit (a share in [0, 1], shown as a percentage, whose `max_drop` is in
points), which calls can measure it, how it is read from one call, how it sums up over a group
and how it pairs case by case with the baseline, and how a report shows it.

Paired metrics are defined by `observe`: what one call contributes, as zero or more numbers.
Nothing when the call does not count (an errored call for refusal_rate, a refusal case for
schema_validity); one number for a per-call metric; one per sub-item for a metric over parts of
a call (say one 0/1 per tool call for the validity of tool arguments); any number for a mean
(steps per call). A case's value is the mean of what its calls (all its `repeat` runs)
contributed, and the group's value is the mean over cases of those case values: the same numbers
the gate pairs, so the `min` row and the `max_drop` row of one report never disagree. Metrics
of the group as a whole (percentiles, sums, cost) give `aggregate` instead and are compared on
the group's value, not case by case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmops_cli.store import CallRecord


@dataclass(frozen=True)
class MetricContext:
    """What a metric may need to know about its group beyond the calls themselves."""

    has_schema: bool = False  # the prompt declares `output.schema`


Observe = Callable[[CallRecord, MetricContext], Sequence[float]]
Aggregate = Callable[[Sequence[CallRecord], MetricContext], float | None]
Explain = Callable[[Mapping[str, Any]], str | None]

# Which calls can measure a metric: every call, those of cases expecting an answer, or those of
# `expect_refusal` cases. When all of them errored, the metric says so instead of "no cases".
Scope = Literal["calls", "answer", "refusal"]
_SCOPE_WORDS = {"calls": "calls", "answer": "calls of cases expecting an answer",
                "refusal": "calls of expect_refusal cases"}


@dataclass(frozen=True)
class Metric:
    """One metric a suite can gate on (see the module docstring)."""

    name: str
    higher_is_better: bool
    share: bool  # in [0, 1]: bounds must lie there, reports show a percentage and differences in points
    definition: str  # one sentence, as the README's metrics table says it
    observe: Observe | None = None  # paired case by case; None: compared on the group's `aggregate`
    aggregate: Aggregate | None = None  # None: the mean over cases of the case values
    scope: Scope = "calls"
    unknown: str = "n/a"  # how a missing value reads ("unknown" for cost: unknown is never zero)
    explain_unknown: Explain | None = None  # why the value is missing, before "all N calls errored"

    def __post_init__(self) -> None:
        if (self.observe is None) == (self.aggregate is None):
            raise ValueError(f"metric {self.name!r}: give exactly one of observe (paired) or aggregate")

    @property
    def paired(self) -> bool:
        """Compared case by case with the baseline (McNemar or the sign-flip test), not on the group's value."""
        return self.observe is not None

    def per_case(self, records: Iterable[CallRecord], context: MetricContext) -> dict[str, float]:
        """Case id -> the case's value: the mean of what its calls contributed (cases with nothing left out)."""
        if self.observe is None:
            raise TypeError(f"metric {self.name!r} has no per-case value")
        values: dict[str, list[float]] = {}
        for r in records:
            observed = self.observe(r, context)
            if observed:
                values.setdefault(r.case_id, []).extend(observed)
        return {case: sum(v) / len(v) for case, v in values.items()}

    def value(self, records: Sequence[CallRecord], context: MetricContext) -> float | None:
        """The group's value (None: not measured, never a silent 0)."""
        if self.aggregate is not None:
            return self.aggregate(records, context)
        cases = self.per_case(records, context)
        return sum(cases.values()) / len(cases) if cases else None

    def worsening(self, base: float, head: float) -> float:
        """How much worse head is than base, in the metric's unit (negative: better)."""
        return base - head if self.higher_is_better else head - base

    def format(self, value: float | None) -> str:
        """The value as a report shows it: a share as a percentage, a missing value as `unknown`."""
        if value is None:
            return self.unknown
        if self.share:
            return f"{value:.1%}"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    def missing_reason(self, metrics: Mapping[str, Any]) -> str | None:
        """Why a group's value is missing when something failed (a bound on it then fails); None when
        there was simply nothing of this kind to measure. `metrics` is the group's computed metrics."""
        if self.explain_unknown is not None:
            reason = self.explain_unknown(metrics)
            if reason:
                return reason
        return all_errored(self.scope, metrics)


def all_errored(scope: Scope, metrics: Mapping[str, Any]) -> str | None:
    """When every call that could measure a metric errored, how many and how (else None), so
    "nothing to measure" and "everything failed" never read alike."""
    calls, errors = metrics.get("calls", 0), metrics.get("errors", 0)
    refusal_calls, refusal_errors = metrics.get("expect_refusal_calls", 0), metrics.get("expect_refusal_errors", 0)
    eligible, failed = {"calls": (calls, errors), "answer": (calls - refusal_calls, errors - refusal_errors),
                        "refusal": (refusal_calls, refusal_errors)}[scope]
    if not eligible or failed < eligible:
        return None
    classes = ", ".join(f"{k} {v}" for k, v in (metrics.get("error_classes") or {}).items())
    return (f"not measured: all {failed} {_SCOPE_WORDS[scope]} errored"
            + (f" ({classes})" if classes and failed == errors else ""))


def one(value: float | bool | None) -> tuple[float, ...]:
    """What a per-call metric's call contributes: its value, or nothing when it does not count."""
    return () if value is None else (float(value),)
