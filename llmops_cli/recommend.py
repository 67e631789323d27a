"""Which prompt x model to ship, for a suite with more than one candidate.

A suite with several candidates (models, or prompt variants with `prompts: [a, b]`) gets a
`recommendation`: the prompt x model pairs that pass every gate, cheapest first (list-price cost
per 1,000 cases, then p95 latency), and the ones that fail with why. It is advice for the
reader; the gate decision does not depend on it.
"""

from __future__ import annotations

from llmops_cli.document import Candidate, Choice, Group, Recommendation
from llmops_cli.gate import GateSettings
from llmops_cli.report.prose import group_failures


def recommend(groups: list[Group], settings: GateSettings) -> Recommendation | None:
    """Which prompt x model to ship, for a suite with more than one candidate (None otherwise)."""
    if len(groups) < 2:
        return None
    rows = []
    for g in groups:
        m = g.metrics
        cost, cases = m.get("cost_usd"), m.count("cases")
        per_1k = cost / cases * 1000 if cost is not None and cases else None
        rows.append(Candidate(prompt=g.prompt, model=g.model, model_id=g.model_id, passed=g.passed, cases=cases,
                              correctness=m.get("correctness"), cost_usd=cost, cost_per_1k_cases_usd=per_1k,
                              latency_p95_s=m.get("latency_p95_s"),
                              why=() if g.passed else tuple(group_failures(g, settings.max_error_rate) or ["failed"])))
    passing = sorted((r for r in rows if r.passed), key=lambda r: (
        r.cost_per_1k_cases_usd is None, r.cost_per_1k_cases_usd or 0.0,
        r.latency_p95_s is None, r.latency_p95_s or 0.0, r.prompt, r.model))
    prompts, models = {r.prompt for r in rows}, {r.model for r in rows}
    compares = ("prompts x models" if len(prompts) > 1 and len(models) > 1 else "prompts" if len(prompts) > 1
                else "models")
    best = passing[0] if passing else None
    return Recommendation(compares=compares, order="cost per 1k cases, then p95 latency",
                          choice=Choice(best.prompt, best.model) if best else None,
                          passing=tuple(passing), failing=tuple(r for r in rows if not r.passed))
