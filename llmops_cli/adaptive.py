"""Adaptive repeats (`repeat: auto`): spend extra calls only on the cases where base and head disagree.

On a noisy model most cases answer alike at both refs, and a paired test learns nothing from them;
its power comes from the cases whose outcomes differ. So the run goes in two stages:

1. every case runs once at the base and once at the head (an ordinary `repeat: 1` comparison);
2. the paired cases whose first runs disagree on any paired metric (or score a fraction) run again,
   at *both* refs, up to `limits.max_repeat` runs a side. Nothing else is sampled again.

The gate then compares per-case mean scores with the paired sign-flip test (stats.py), exactly as
for `repeat: k`. That test stays exact under this design, because the design is symmetric: under
"no change" a case's base and head runs are exchangeable, and whether a case is sampled again
(its two first runs differ) and how often (always up to max_repeat) do not change when its base
and head labels are swapped; swapping them only flips the sign of its mean difference. So every
sign pattern of the differences stays equally likely, which is what the sign-flip p-value counts.
The run does not stop early when an interim test looks significant: that peeking is what inflates
false alarms (bench/power.py measures it), and it is why "until the decision is clear" here means
only "no extra call where the first runs already agree".

The extra samples are ordinary planned calls with repeat index 1..max_repeat-1 (cached, recorded as
they finish, resumed like any call). Which cases were sampled again is read back from the stored
first runs, so a resumed run plans the same extra calls, and a report is a function of the store.

Levels (correctness, schema_validity, ...) are read from the first runs only: the second stage
samples only disagreeing cases, so a mean over every run would lean towards those cases' rates.

The simulation helpers at the end drive the same decision functions without HTTP: the calibration
test and bench/power.py use them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from llmops_cli.document import Adaptive, AdaptiveGroup
from llmops_cli.gate import compare_values
from llmops_cli.metrics import PAIRED, REGISTRY, MetricContext
from llmops_cli.stats import Comparison, is_significant_drop, sign_flip_p_value
from llmops_cli.store import CallId, CallRecord, group_records

if TYPE_CHECKING:
    from llmops_cli.config import Suite
    from llmops_cli.plan import Selection

GroupKey = tuple[str, str, str]  # suite, prompt, model alias
EVERY = MetricContext(has_schema=True)  # stage-2 rule: a prompt without a schema reads invalid at both refs alike
MAX_CALLS_FACTOR = 3  # an adaptive comparison never costs more than 3x the calls of one run a case
LEVEL_METRICS = ("correctness", "schema_validity", "refusal_rate", "unsafe_compliance")
REASON = ("cases whose first runs disagreed between base and head (or scored a fraction) were run again at both "
          "refs, up to max_repeat runs a side and at most 3x the calls of one run a case")


def is_adaptive(suite: Suite, selection: Selection) -> bool:
    """`--repeat auto`, or the suite's `repeat: auto` when the command line does not set a number."""
    return selection.auto_repeat or (suite.adaptive and selection.repeat is None)


def needs_more(base: float, head: float) -> bool:
    """The stage-2 rule for one case and metric. Symmetric in base and head: that is what keeps the test exact."""
    return base != head or base not in (0.0, 1.0) or head not in (0.0, 1.0)


def first_runs(records: Iterable[CallRecord]) -> list[CallRecord]:
    """Each case's first run (repeat 0), the part of an adaptive run that does not depend on the outcomes."""
    return [r for r in records if r.repeat == 0]


def disagreeing_cases(base: Sequence[CallRecord], head: Sequence[CallRecord], same_cases: set[str]) -> list[str]:
    """Paired cases whose first runs differ on any paired metric, or score a fraction, in case-id order."""
    b_first, h_first = first_runs(base), first_runs(head)
    chosen: set[str] = set()
    for metric in PAIRED:
        b, h = REGISTRY[metric].per_case(b_first, EVERY), REGISTRY[metric].per_case(h_first, EVERY)
        chosen |= {case for case in same_cases & b.keys() & h.keys() if needs_more(b[case], h[case])}
    return sorted(chosen)


@dataclass(frozen=True)
class Resample:
    """One group's second stage: the cases to run again, and how many runs a side they get in all."""

    cases: list[str]
    runs: int


def runs_for(paired: int, resampled: int, max_repeat: int) -> int:
    """Runs a side for a group's re-sampled cases: max_repeat, or fewer when that would pass MAX_CALLS_FACTOR
    times the calls of one run a case. It depends only on how many cases disagree, which swapping any case's
    base and head does not change, so the test stays exact."""
    if resampled <= 0:
        return 1
    return max(1, min(max_repeat, 1 + (MAX_CALLS_FACTOR - 1) * paired // resampled))


def resample_plan(records: Iterable[CallRecord], same_cases: Mapping[str, set[str]], suites: Iterable[str],
                  max_repeat: int) -> dict[GroupKey, Resample]:
    """Per suite x prompt x model of the adaptive `suites`: the cases to run again (groups with none left out)."""
    wanted = set(suites)
    sides = group_records(r for r in records if r.suite in wanted)
    plan: dict[GroupKey, Resample] = {}
    for (side, suite, prompt, model), head in sorted(sides.items()):
        key = (suite, prompt, model)
        base = sides.get(("base", suite, prompt, model))
        if side != "head" or base is None:
            continue
        same = same_cases.get(key[0], set())
        cases = disagreeing_cases(base, head, same)
        paired = len(same & {r.case_id for r in base} & {r.case_id for r in head})
        if cases:
            plan[key] = Resample(cases, runs_for(paired, len(cases), max_repeat))
    return plan


def compare(base: list[float], head: list[float], alpha: float) -> Comparison:
    """The paired comparison of an adaptive group: McNemar when every case ran once a side (or agreed in every
    run), else the sign-flip test with each case's mean difference d weighted by its own size (d * |d|).

    The weighting keeps the test exact (any statistic of the per-case differences is, under sign flips) and
    puts the weight where the design put the runs: a case that broke (1.0 -> 0.0 over five runs) counts
    25 times a case whose runs wobbled by 0.2. On a model wrong 20% of the time it is what lets 200 cases
    see a 5-point drop (bench/power.py). The p-value is 1 when the weighted sum and the mean difference point
    different ways (a few big changes one way, many small ones the other): no direction to call significant."""
    c = compare_values(base, head, alpha)
    if c.discordant is not None or c.diff is None:
        return c
    diffs = [h - b for b, h in zip(base, head, strict=True)]
    weighted = [d * abs(d) for d in diffs]
    agree = sum(weighted) * c.diff > 0
    return replace(c, p_value=sign_flip_p_value(weighted) if agree else 1.0, method="sign-flip-weighted")


def level_metrics(metrics: Mapping[str, Any], first: Mapping[str, Any]) -> dict[str, Any]:
    """A group's metrics with the levels taken from its first runs (calls, cost and latency count every run)."""
    return {**metrics, **{k: first[k] for k in LEVEL_METRICS if k in first}}


def summary(config: Mapping[str, Any], calls: Iterable[CallId]) -> Adaptive | None:
    """What the adaptive stage added, for results.json: per group, the cases run again and the calls added.
    `calls` are the run's calls of the model under test (no grader call): their ids say all it needs."""
    adaptive = config.get("adaptive")
    if not adaptive:
        return None
    added: dict[GroupKey, dict[str, Any]] = {}
    first_calls = 0
    for r in calls:
        if r.suite not in adaptive["suites"]:
            continue
        if r.repeat == 0:
            first_calls += 1
            continue
        if adaptive.get("note"):  # nothing was sampled again; a saved baseline keeps whatever repeats it had
            continue
        entry = added.setdefault((r.suite, r.prompt, r.model), {"cases": set(), "calls": 0, "runs": 1})
        entry["cases"].add(r.case_id)
        entry["calls"] += 1
        entry["runs"] = max(entry["runs"], r.repeat + 1)
    groups = tuple(AdaptiveGroup(suite=s, prompt=p, model=m, cases_resampled=len(e["cases"]), runs=e["runs"],
                                 calls_added=e["calls"]) for (s, p, m), e in sorted(added.items()))
    return Adaptive(max_repeat=adaptive["max_repeat"], suites=tuple(adaptive["suites"]), first_calls=first_calls,
                    calls_added=sum(g.calls_added for g in groups), groups=groups, reason=REASON,
                    note=adaptive.get("note"))


def describe(info: Adaptive) -> str:
    """One line for the terminal and report.md."""
    if info.note:
        return f"repeat auto: {info.note}"
    cases = sum(g.cases_resampled for g in info.groups)
    if not cases:
        return (f"repeat auto: every case's first runs agreed at base and head; no calls added "
                f"({info.first_calls} calls)")
    share = info.calls_added / info.first_calls if info.first_calls else 0.0
    runs = max(g.runs for g in info.groups)
    return (f"repeat auto: {info.calls_added} calls added (+{share:.0%} on {info.first_calls}) to run {cases} "
            f"case{'s' if cases != 1 else ''} again whose first runs disagreed between base and head, "
            f"{runs} runs a side (max_repeat {info.max_repeat})")


# Simulation: the same decision functions on simulated pass/fail runs (tests and bench/power.py) --------------


@dataclass(frozen=True)
class Trial:
    failed: bool  # the correctness max_drop gate failed
    calls: int  # model calls at both refs
    p_value: float | None
    diff: float | None


def gate_fails(base: list[float], head: list[float], alpha: float, max_drop: float, require_significance: bool,
               adaptive: bool = True) -> tuple[bool, float | None, float | None]:
    """The gate's rule for a higher-is-better paired metric: worse by more than max_drop (and, if required,
    a significant drop). Returns (failed, p-value, difference)."""
    c = compare(base, head, alpha) if adaptive else compare_values(base, head, alpha)
    if c.diff is None:
        return False, None, None
    failed = -c.diff > max_drop + 1e-12
    if failed and require_significance and c.p_value is not None:
        failed = is_significant_drop(c, True, alpha)
    return failed, c.p_value, c.diff


def simulate(base_p: Sequence[float], head_p: Sequence[float], rng: random.Random, *, adaptive: bool = True,
             max_repeat: int = 5, repeat: int = 1, alpha: float = 0.05, max_drop: float = 0.0,
             require_significance: bool = True) -> Trial:
    """One comparison: case i passes each run with probability base_p[i] at base, head_p[i] at head.

    `adaptive` runs each case once a side, then max_repeat runs a side for the disagreeing cases;
    otherwise every case runs `repeat` times a side."""
    def runs(p: float, k: int) -> list[float]:
        return [1.0 if rng.random() < p else 0.0 for _ in range(k)]

    first = 1 if adaptive else repeat
    base_runs = [runs(p, first) for p in base_p]
    head_runs = [runs(p, first) for p in head_p]
    calls = 2 * first * len(base_p)
    if adaptive:
        chosen = [i for i, (b, h) in enumerate(zip(base_runs, head_runs, strict=True)) if needs_more(b[0], h[0])]
        more = runs_for(len(base_p), len(chosen), max_repeat) - 1
        for i in chosen:
            base_runs[i] += runs(base_p[i], more)
            head_runs[i] += runs(head_p[i], more)
        calls += 2 * more * len(chosen)
    bv = [sum(r) / len(r) for r in base_runs]
    hv = [sum(r) / len(r) for r in head_runs]
    failed, p, diff = gate_fails(bv, hv, alpha, max_drop, require_significance, adaptive)
    return Trial(failed, calls, p, diff)


def drop_cases(n: int, noise: float, drop: float, spread: int | None = None) -> tuple[list[float], list[float]]:
    """Per-case pass probabilities for a true `drop` (a share) on n cases answered wrongly `noise` of the time.

    The drop falls on `spread` cases, each losing drop * n / spread of its pass rate; by default on as few
    cases as can carry it (a change that breaks some cases outright); spread = n spreads it over all."""
    base = [1.0 - noise] * n
    if not drop:
        return base, list(base)
    spread = spread or min(n, math.ceil(drop * n / (1.0 - noise) - 1e-9))
    loss = drop * n / spread
    if loss > 1.0 - noise + 1e-9:
        raise ValueError(f"a drop of {drop} cannot fall on {spread} of {n} cases passing {1 - noise:.0%} of the time")
    return base, [max(0.0, p - loss) for p in base[:spread]] + base[spread:]
