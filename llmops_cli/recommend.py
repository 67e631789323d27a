"""Which prompt x model to ship, for a suite with more than one candidate.

A suite with several candidates (models, or prompt variants with `prompts: [a, b]`) gets a
`recommendation`: the prompt x model pairs that pass every gate, cheapest first (list-price cost
per 1,000 cases, then p95 latency), and the ones that fail with why. It is advice for the
reader; the gate decision does not depend on it.
"""

from __future__ import annotations

from typing import Any

from llmops_cli.gate import GateSettings


def recommend(groups: list[dict[str, Any]], settings: GateSettings) -> dict[str, Any] | None:
    """Which prompt x model to ship, for a suite with more than one candidate (None otherwise)."""
    # A failing candidate's why is the gate's own sentences, written beside the document builder
    # that asks for this advice: imported here, as the builder imports this module.
    from llmops_cli.results import group_failures

    if len(groups) < 2:
        return None
    rows = []
    for g in groups:
        m = g["metrics"]
        per_1k = m["cost_usd"] / m["cases"] * 1000 if m["cost_usd"] is not None and m["cases"] else None
        rows.append({"prompt": g["prompt"], "model": g["model"], "model_id": g["model_id"], "passed": g["passed"],
                     "cases": m["cases"], "correctness": m["correctness"], "cost_usd": m["cost_usd"],
                     "cost_per_1k_cases_usd": per_1k, "latency_p95_s": m["latency_p95_s"],
                     "why": [] if g["passed"] else group_failures(g, settings) or ["failed"]})
    passing = sorted((r for r in rows if r["passed"]), key=lambda r: (
        r["cost_per_1k_cases_usd"] is None, r["cost_per_1k_cases_usd"] or 0.0,
        r["latency_p95_s"] is None, r["latency_p95_s"] or 0.0, r["prompt"], r["model"]))
    prompts, models = {r["prompt"] for r in rows}, {r["model"] for r in rows}
    compares = ("prompts x models" if len(prompts) > 1 and len(models) > 1 else "prompts" if len(prompts) > 1
                else "models")
    best = passing[0] if passing else None
    return {"compares": compares, "order": "cost per 1k cases, then p95 latency",
            "choice": {"prompt": best["prompt"], "model": best["model"]} if best else None,
            "passing": passing, "failing": [r for r in rows if not r["passed"]]}
