"""`llmops eval --power DROP`: from the last stored comparisons, how many runs a case it takes to see a drop.

A suite's power depends on its number of paired cases and on how often base and head disagree on a
case by noise alone, which only a run can measure. So this reads the newest stored run that compared
each suite x prompt x model with a baseline, and estimates (power.py) what repeat 1 can see and what
`repeat: k` would take to see DROP at 80% power. No model is called.

The noise is the part of the disagreement that went both ways (twice the smaller of "worse at head"
and "better at head", over run pairs), as the gate's sensitivity figures count it: a real change in
that run is not mistaken for noise. Base and head that shared every answer (an unchanged prompt
sends one request for both) show no disagreement at all; that is said rather than read as "no noise".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmops_cli.metrics import REGISTRY, MetricContext
from llmops_cli.power import repeat_drop, repeats_needed
from llmops_cli.store import CallRecord, Store, group_records

RUNS_SEARCHED = 50


@dataclass(frozen=True)
class Estimate:
    suite: str
    prompt: str
    model: str
    run_id: str
    cases: int  # paired cases
    noise: float  # share of base/head run pairs that disagree, both ways (see the module docstring)
    shared: bool  # every paired answer was one request for both refs: the noise could not be seen
    drop_at_one: float | None  # what repeat 1 sees at 80% power (None: no drop can be significant)
    repeats: int | None  # runs a case for DROP (None: no number of runs will do)


def noise_rate(base: Sequence[CallRecord], head: Sequence[CallRecord], same: set[str]) -> tuple[int, float]:
    """(paired cases, two-way disagreement per run pair) from per-case pass rates at both refs."""
    correctness = REGISTRY["correctness"]
    b, h = correctness.per_case(base, MetricContext()), correctness.per_case(head, MetricContext())
    ids = same & b.keys() & h.keys()
    if not ids:
        return 0, 0.0
    worse = sum(b[i] * (1 - h[i]) for i in ids)
    better = sum(h[i] * (1 - b[i]) for i in ids)
    return len(ids), 2 * min(worse, better) / len(ids)


def estimates(store: Store, drop: float, alpha: float) -> list[Estimate]:
    """One estimate per suite x prompt x model, from the newest complete run that compared it with a baseline."""
    found: dict[tuple[str, str, str], Estimate] = {}
    for run in store.list_runs(limit=RUNS_SEARCHED, kinds=("eval",)):
        if run.status != "complete" or run.baseline_ref is None:
            continue
        sides = group_records(store.results(run.id))
        for (side, suite, prompt, model), head in sorted(sides.items()):
            base = sides.get(("base", suite, prompt, model))
            if side != "head" or base is None or (suite, prompt, model) in found:
                continue
            same = set(run.config.get("suites", {}).get(suite, {}).get("same_cases") or [])
            cases, noise = noise_rate(base, head, same)
            if not cases:
                continue
            shared_keys = {r.key for r in base} == {r.key for r in head}
            found[(suite, prompt, model)] = Estimate(
                suite, prompt, model, run.id, cases, noise, shared_keys and noise == 0.0,
                repeat_drop(cases, noise, 1, alpha), repeats_needed(cases, noise, drop, alpha))
    return [found[k] for k in sorted(found)]


def describe(e: Estimate, drop: float) -> str:
    """One line for the terminal."""
    head = f"{e.suite} x {e.model} (prompt {e.prompt}, run {e.run_id}, {e.cases} paired cases): "
    if e.shared:
        return head + ("base and head sent the same requests, so the noise could not be seen; compare a changed "
                       "prompt, or run with --repeat 2, then ask again")
    text = head + f"base and head disagree on {e.noise:.0%} of runs by noise; "
    text += ("repeat 1 can see no drop" if e.drop_at_one is None else
             f"repeat 1 sees drops of {e.drop_at_one * 100:.1f} points or more")
    if e.repeats is None:
        return text + f"; no number of runs sees {drop * 100:g} points with {e.cases} cases (add cases)"
    calls = 2 * e.repeats * e.cases
    return text + (f"; {drop * 100:g} points needs repeat: {e.repeats} ({calls:,} calls a comparison)"
                   + ("" if e.repeats == 1 else "; repeat: auto spends its extra runs on disagreeing cases only"))
