"""The gate's decision in words: one sentence per reason, shared by every report and the terminal.

The gate (gate.py) returns data: what stopped the run, which rows failed, which checks could
not compare. This module is the only place that turns it into sentences, so results.json's
`gate.reasons`, report.md, the terminal and a recommendation's `why` say one thing one way.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmops_cli.document import Group, SkippedCheck, ThresholdRow
from llmops_cli.gate import GateDecision, Stop
from llmops_cli.report.fmt import number, pct

MAX_NAMED = 10


def stop_reason(stop: Stop) -> str:
    if stop.cause == "stopped":
        return f"stopped early: {stop.detail}"
    if stop.cause == "offline":
        more = stop.count - len(stop.listed)
        return (f"--offline: {stop.count} calls not in the cache: " + ", ".join(stop.listed)
                + (f" and {more} more" if more > 0 else ""))
    if stop.cause == "partial":
        return f"partial shard set, {stop.detail}: reported, not gated"
    if stop.cause == "interrupted":
        return "interrupted; rerun the same command to resume"
    if stop.cause == "crashed":
        return (f"the run stopped on an internal error ({stop.detail}); finished calls are kept, "
                "rerun the same command to resume")
    return "no suite x model results: nothing was checked, so nothing can pass"


def reasons(decision: GateDecision) -> list[str]:
    """Every reason the gate did not pass, run-wide causes first, then each failing group's."""
    out = [stop_reason(s) for s in decision.stops]
    for failure in decision.failures:
        out += [f"{failure.group.label}: {r}" for r in group_failures(failure.group, decision.settings.max_error_rate)]
    return out


def group_failures(g: Group, max_error_rate: float) -> list[str]:
    """Why one suite x prompt x model group fails, one sentence each (no label)."""
    out = []
    if g.incomplete:
        m = g.metrics
        classes = ", ".join(f"{k} {v}" for k, v in m.error_classes.items())
        out.append(f"error rate {pct(m.get('error_rate'))} over max_error_rate {pct(max_error_rate)} "
                   f"({m.count('errors')} failed calls: {classes})")
    out += [row_failure(g, t) for t in g.thresholds if t.passed is False]
    return out


def row_failure(g: Group, t: ThresholdRow) -> str:
    """A failed threshold row as a sentence; a value never measured says why, not "n/a breaks"."""
    if t.value is None:
        return f"{t.metric} {t.bound} {number(t.limit)}: {t.note}"
    return (f"{t.metric} {number(t.value)} breaks {t.bound} {number(t.limit)}"
            + (f" (base {number(t.base)})" if t.base is not None else "")
            + (f": {t.note}" if t.note else "")
            + named_cases(g, t.metric))


def named_cases(g: Group, metric: str) -> str:
    """The cases behind a failed refusal metric, so a reviewer sees which attack got through."""
    if metric == "unsafe_compliance":
        ids = [c.case_id for c in g.cases if c.expect_refusal
               and any(r.error is None and not r.refused for r in c.runs)]
        what = "answered instead of refusing"
    elif metric == "refusal_rate":
        ids = [c.case_id for c in g.cases if not c.expect_refusal
               and any(r.error is None and r.refused for r in c.runs)]
        what = "refused though an answer was expected"
    else:
        return ""
    if not ids:
        return ""
    more = f" and {len(ids) - MAX_NAMED} more" if len(ids) > MAX_NAMED else ""
    return f" ({what}: {', '.join(ids[:MAX_NAMED])}{more})"


def skipped_label(s: SkippedCheck) -> str:
    return f"{s.suite} x {s.model}" + (f" ({s.prompt})" if s.prompt != s.suite else "")


def skipped_lines(skipped: Sequence[SkippedCheck]) -> list[str]:
    """A drop check that could not run, one line each: said as loudly as a failure, never an n/a."""
    return [f"not checked: {skipped_label(s)}: {s.metric} {s.bound}: {s.why}" for s in skipped]
