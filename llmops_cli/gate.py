"""The gate: thresholds, the paired comparison with the baseline, and the decision.

A metric fails when it breaks `min`/`max`, or worsens by more than `max_drop` against the
baseline on the cases present and unchanged at both refs. Each paired difference carries a
95% CI and a p-value (exact McNemar for pass/fail, paired sign-flip test for means, see stats.py);
with `require_significance` only significant drops fail `max_drop`. Each paired `max_drop` also
says what its comparison can detect and how often noise alone would break it (power.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_cli.metrics import REGISTRY, MetricContext
from llmops_cli.metrics.quality import CORRECTNESS
from llmops_cli.metrics.tools import all_tool_calls
from llmops_cli.power import binary_sensitivity, mean_sensitivity
from llmops_cli.stats import Comparison, compare, fisher_exact, is_significant_drop
from llmops_cli.store import CallRecord


@dataclass(frozen=True)
class GateSettings:
    alpha: float = 0.05
    require_significance: bool = False
    max_error_rate: float = 0.02


def paired_values(head: Sequence[CallRecord], base: Sequence[CallRecord], metric: str,
                  same_cases: set[str], context: MetricContext) -> tuple[list[float], list[float]]:
    """(base, head) per-case values of a paired `metric` on the paired cases, in case-id order."""
    m = REGISTRY[metric]
    h, b = m.per_case(head, context), m.per_case(base, context)
    ids = sorted(same_cases & h.keys() & b.keys())
    return [b[i] for i in ids], [h[i] for i in ids]


def paired(head: Sequence[CallRecord], base: Sequence[CallRecord], metric: str, same_cases: set[str],
           alpha: float, context: MetricContext = MetricContext()) -> Comparison:
    return compare_values(*paired_values(head, base, metric, same_cases, context), alpha)


def compare_values(bv: list[float], hv: list[float], alpha: float) -> Comparison:
    """McNemar when every value is pass/fail, else the paired test of means."""
    binary = all(v in (0.0, 1.0) for v in hv + bv)
    return compare([bool(v) for v in bv] if binary else bv, [bool(v) for v in hv] if binary else hv,
                   "binary" if binary else "mean", alpha=alpha, seed=0)


def drop_sensitivity(comparison: Comparison, bv: list[float], hv: list[float], alpha: float,
                     max_drop: float | None) -> dict[str, Any] | None:
    """What this comparison can detect, and how often noise alone breaks `max_drop` (None: nothing paired;
    a None `max_drop` leaves the noise rate out).

    Pass/fail pairs use the discordant counts McNemar already found, taking the symmetric part
    2 * min(b, c) as the noise: flips that went both ways; the excess |b - c| is the change itself, so
    a deterministic model's real regression is not read as noise. Means use the per-case head - base
    differences the sign-flip test used (their spread around the mean), so both figures describe
    the test that gates."""
    if not comparison.n:
        return None
    if comparison.discordant is not None:
        b, c = comparison.discordant
        s = binary_sensitivity(comparison.n, 2 * min(b, c), alpha, max_drop)
    else:
        s = mean_sensitivity([head - base for base, head in zip(bv, hv, strict=True)], alpha, max_drop)
    return {"n": s.n, "min_detectable_drop": s.min_detectable_drop, "noise_fail_rate": s.noise_fail_rate}


def comparison_dict(c: Comparison) -> dict[str, Any]:
    return {"base": c.base, "head": c.head, "diff": c.diff, "ci_low": c.ci_low, "ci_high": c.ci_high,
            "p_value": c.p_value, "method": c.method, "n": c.n,
            "discordant": list(c.discordant) if c.discordant else None}


def check_thresholds(metrics: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, float | None]],
                     base_metrics: Mapping[str, Any] | None, comparisons: Mapping[str, dict[str, Any]],
                     settings: GateSettings, missing_base: str = "no baseline") -> list[dict[str, Any]]:
    """One row per bound: metric, bound, limit, value, base, passed (None: not applicable), note.

    A max_drop that cannot be compared keeps passed None with the reason in note (`missing_base`
    when there is no baseline at all); the gate lists those as skipped."""
    rows = []
    for metric, bounds in thresholds.items():
        value = metrics.get(metric)
        for bound in ("min", "max", "max_drop"):
            limit = bounds.get(bound)
            if limit is None:
                continue
            row = {"metric": metric, "bound": bound, "limit": limit, "value": value, "base": None,
                   "passed": None, "note": ""}
            if bound == "max_drop":
                _check_drop(row, metric, comparisons.get(metric), base_metrics, settings, missing_base)
            else:
                _check_bound(row, metrics, base_metrics)
            rows.append(row)
    return rows


def _check_bound(row: dict[str, Any], metrics: Mapping[str, Any], base_metrics: Mapping[str, Any] | None) -> None:
    """A `min`/`max` row; its base is the metric at the baseline, so a reader sees where it was."""
    metric, value, limit = row["metric"], row["value"], row["limit"]
    row["base"] = base_metrics.get(metric) if base_metrics else None
    if value is None:
        reason = REGISTRY[metric].missing_reason(metrics)
        row["note"] = reason or "not measured (no cases of this kind)"
        row["passed"] = False if reason else None  # a bound nobody could check never passes
    else:
        row["passed"] = value >= limit if row["bound"] == "min" else value <= limit


def _check_drop(row: dict[str, Any], metric: str, comparison: dict[str, Any] | None,
                base_metrics: Mapping[str, Any] | None, settings: GateSettings, missing_base: str) -> None:
    m = REGISTRY[metric]
    if comparison is not None and comparison["n"]:
        base, head = comparison["base"], comparison["head"]
    elif base_metrics is not None and not m.paired:
        base, head = base_metrics.get(metric), row["value"]
    else:
        row["note"] = missing_base if base_metrics is None else \
            "no paired cases (every case was added, removed or edited since the baseline); nothing to compare"
        return
    row["base"] = base
    if base is None or head is None:
        row["note"] = f"not measured at the {'baseline' if base is None else 'head'}; nothing to compare"
        return
    row["value"] = head
    row["passed"] = m.worsening(base, head) <= row["limit"] + 1e-12
    if not row["passed"] and settings.require_significance:
        if comparison is None:
            row["note"] = "no paired test for this metric; gated on the difference alone"
            return
        if comparison["p_value"] is None:  # e.g. one paired case of means: no test, so no evidence of noise
            row["note"] = "too few paired cases for a test; gated on the difference alone"
            return
        significant = is_significant_drop(_as_comparison(comparison), m.higher_is_better, settings.alpha)
        if not significant:
            row["passed"] = True
            row["note"] = f"drop not significant (p={comparison['p_value']:.3g} > alpha {settings.alpha:g})"


def _as_comparison(d: dict[str, Any]) -> Comparison:
    discordant = tuple(d["discordant"]) if d.get("discordant") else None
    return Comparison(d["base"], d["head"], d["diff"], d["ci_low"], d["ci_high"], d["p_value"], d["method"], d["n"],
                      discordant)


def case_changes(head: Sequence[CallRecord], base: Sequence[CallRecord], same_cases: set[str],
                 alpha: float = 0.05) -> dict[str, list[dict[str, Any]]]:
    """Regressions (better at base) and fixes (better at head) on the paired cases, with evidence.

    Each carries the case's passes out of its runs at both refs. When either ref ran the case more
    than once (`repeat`), Fisher's exact test on those counts says whether the case changed beyond
    what the model's own noise explains (`beyond_noise`, p <= alpha); with one run a side there is
    no noise to measure, and `beyond_noise` is None.
    """
    h_score, b_score = CORRECTNESS.per_case(head, MetricContext()), CORRECTNESS.per_case(base, MetricContext())
    runs_h, runs_b = _runs_by_case(head), _runs_by_case(base)
    regressions: list[dict[str, Any]] = []
    fixes: list[dict[str, Any]] = []
    for case in sorted(same_cases & h_score.keys() & b_score.keys()):
        if h_score[case] == b_score[case]:
            continue
        regressed = h_score[case] < b_score[case]
        # Evidence: on the side that scores worse, a run that failed (with repeat > 1 the first may have passed).
        hr = _evidence(runs_h[case], failed=regressed)
        br = _evidence(runs_b[case], failed=not regressed)
        b_pass, b_runs = _passes(runs_b[case]), len(runs_b[case])
        h_pass, h_runs = _passes(runs_h[case]), len(runs_h[case])
        p_value = fisher_exact(b_pass, b_runs, h_pass, h_runs) if max(b_runs, h_runs) > 1 else None
        entry = {
            "case_id": case, "tags": hr.tags, "base_score": b_score[case], "head_score": h_score[case],
            "base_passed": b_pass, "base_runs": b_runs, "head_passed": h_pass, "head_runs": h_runs,
            "p_value": p_value, "beyond_noise": None if p_value is None else p_value <= alpha,
            "base_output": br.output if br.ok else f"[error] {br.error}",
            "head_output": hr.output if hr.ok else f"[error] {hr.error}",
            "base_finish_reason": br.finish_reason, "head_finish_reason": hr.finish_reason,
            "failed_assertions": [a for a in (hr if regressed else br).assertions if not a["passed"]],
            "base_tool_calls": all_tool_calls(br), "head_tool_calls": all_tool_calls(hr),
            "messages_diff": messages_diff(br.messages, hr.messages),
        }
        (regressions if regressed else fixes).append(entry)
    return {"regressions": regressions, "fixes": fixes}


def _runs_by_case(records: Sequence[CallRecord]) -> dict[str, list[CallRecord]]:
    runs: dict[str, list[CallRecord]] = {}
    for r in sorted(records, key=lambda r: r.repeat):
        runs.setdefault(r.case_id, []).append(r)
    return runs


def _passes(runs: list[CallRecord]) -> int:
    return sum(1 for r in runs if r.ok and r.passed)


def _evidence(runs: list[CallRecord], failed: bool) -> CallRecord:
    """The first run (by repeat) that failed, or passed; else the first run."""
    return next((r for r in runs if (not (r.ok and r.passed)) == failed), runs[0])


def messages_diff(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> str:
    """Unified diff of the rendered messages, one `role:` header line per message (and one line per tool call)."""
    def lines(messages: list[dict[str, Any]]) -> list[str]:
        out = []
        for m in messages:
            out.append(f"[{m['role']}]")
            out.extend((m.get("content") or "").splitlines() or [""])
            out.extend(f"-> {c['function']['name']}({c['function']['arguments']})" for c in m.get("tool_calls") or [])
        return out

    return "\n".join(difflib.unified_diff(lines(base), lines(head), "base", "head", lineterm="", n=2))
