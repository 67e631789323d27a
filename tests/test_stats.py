"""Tests for llmops_cli.stats: known values, scipy cross-checks, and false-alarm rates."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps  # type: ignore[import-untyped]

from llmops_cli.stats import (
    EMPTY,
    Comparison,
    bootstrap_mean_diffs,
    compare,
    is_significant_drop,
    mcnemar_exact,
    newcombe_paired_ci,
    paired_binary,
    paired_bootstrap,
    sign_flip_p_value,
)


def table_to_pairs(both: int, head_only: int, base_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Paired pass/fail lists (base, head) realising a 2x2 table."""
    cells = [(True, True)] * both + [(False, True)] * head_only + [(True, False)] * base_only
    cells += [(False, False)] * neither
    return [b for b, _ in cells], [h for _, h in cells]


# --- McNemar exact -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 0, Fraction(1)),
        (0, 5, Fraction(2, 32)),  # both tails of Bin(5, 1/2) at the extremes: 2 / 2^5
        (1, 9, Fraction(2 * (1 + 10), 1024)),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 0.021484375
        (7, 7, Fraction(1)),
        (3, 4, Fraction(1)),
        (2, 10, Fraction(2 * (1 + 12 + 66), 4096)),
    ],
)
def test_mcnemar_exact_hand_computed(b: int, c: int, expected: Fraction) -> None:
    assert mcnemar_exact(b, c) == float(expected)
    assert mcnemar_exact(c, b) == float(expected)


@pytest.mark.parametrize("b", [0, 1, 2, 5, 10, 25, 60, 600])
@pytest.mark.parametrize("c", [0, 1, 3, 8, 17, 40, 540])
def test_mcnemar_exact_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else sps.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_exact_large_counts_stay_finite_and_exact() -> None:
    p = mcnemar_exact(600, 540)
    assert 0.05 < p < 0.1
    assert p == pytest.approx(sps.binomtest(540, 1140, 0.5).pvalue, rel=1e-12)
    assert 0.0 <= mcnemar_exact(5000, 4000) < 1e-20
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# --- Newcombe's interval -------------------------------------------------------------------------

# Newcombe (1998), Stat Med 17:2635-2650, worked examples, method 10, 95% limits to 4 dp.
# Table as (e, f, g, h): e both +, f first + only, g second + only, h both -; difference (f - g)/n.
NEWCOMBE_1998 = [
    ((36, 12, 2, 0), (0.0569, 0.3404)),
    ((18, 12, 2, 18), (0.0562, 0.3290)),
    ((53, 0, 0, 1), (-0.0729, 0.0729)),
    ((0, 30, 0, 0), (0.8395, 1.0000)),
]


@pytest.mark.parametrize(("table", "published"), NEWCOMBE_1998)
def test_newcombe_published_examples(
    table: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    e, f, g, h = table  # "first" classification = head, "second" = base
    base, head = table_to_pairs(e, f, g, h)
    c = paired_binary(base, head)
    assert c.diff == pytest.approx((f - g) / (e + f + g + h))
    assert c.ci_low == pytest.approx(published[0], abs=5e-5)
    assert c.ci_high == pytest.approx(published[1], abs=5e-5)
    assert c.discordant == (g, f)
    assert c.method == "mcnemar-exact" and c.n == e + f + g + h


def reference_newcombe(e: int, f: int, g: int, h: int, z: float) -> tuple[float, float]:
    """Independent transcription of method 10 (closed-form Wilson limits via the quadratic)."""
    n = e + f + g + h

    def wilson_limits(x: int) -> tuple[float, float]:
        a, bq = n + z * z, -(2 * x + z * z)
        cq = x * x / n
        disc = math.sqrt(bq * bq - 4 * a * cq)
        return (-bq - disc) / (2 * a), (-bq + disc) / (2 * a)

    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson_limits(e + f)
    l2, u2 = wilson_limits(e + g)
    denom = (e + f) * (g + h) * (e + g) * (f + h)
    big_b = e * h - f * g
    big_c = big_b - n / 2 if big_b > n / 2 else (0 if big_b >= 0 else big_b)
    phi = big_c / math.sqrt(denom) if denom else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return p1 - p2 - delta, p1 - p2 + eps


def test_newcombe_matches_independent_formula_and_sane_on_all_small_tables() -> None:
    z = sps.norm.ppf(0.975)
    for n in (1, 2, 5, 9):
        for e in range(n + 1):
            for f in range(n + 1 - e):
                for g in range(n + 1 - e - f):
                    h = n - e - f - g
                    low, high = newcombe_paired_ci(e, f, g, h, 0.05)
                    ref = reference_newcombe(e, f, g, h, z)
                    assert (low, high) == pytest.approx(ref, abs=1e-9)
                    d = (f - g) / n
                    assert -1.0 <= low <= d <= high <= 1.0


def test_newcombe_narrows_with_n_and_with_confidence() -> None:
    widths = []
    for k in (1, 4, 16, 64):
        low, high = newcombe_paired_ci(36 * k, 12 * k, 2 * k, 10 * k, 0.05)
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 4
    w95 = newcombe_paired_ci(36, 12, 2, 10, 0.05)
    w80 = newcombe_paired_ci(36, 12, 2, 10, 0.20)
    assert w95[0] < w80[0] < w80[1] < w95[1]


def test_paired_binary_rates_and_errors() -> None:
    base, head = table_to_pairs(60, 5, 15, 20)
    c = paired_binary(base, head)
    assert (c.base, c.head, c.diff) == pytest.approx((0.75, 0.65, -0.10))
    assert c.p_value == pytest.approx(sps.binomtest(5, 20, 0.5).pvalue)
    assert c.ci_low is not None and c.diff is not None and c.ci_high is not None
    assert c.ci_low < c.diff < c.ci_high
    with pytest.raises(ValueError):
        paired_binary([True, False], [True])
    assert paired_binary([], []) == EMPTY


# --- paired bootstrap ----------------------------------------------------------------------------


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(1.0, 1.0, 200)
    head = (base + rng.normal(0.05, 0.5, 200)).tolist()
    first = paired_bootstrap(base.tolist(), head, seed=3)
    assert first == paired_bootstrap(base.tolist(), head, seed=3)
    assert first != paired_bootstrap(base.tolist(), head, seed=4)
    assert first.method == "paired-bootstrap" and first.discordant is None and first.n == 200


def test_bootstrap_known_shift_is_detected() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(10.0, 3.0, 150)
    head = base + 0.8 + rng.normal(0.0, 1.0, 150)
    c = paired_bootstrap(base.tolist(), head.tolist())
    assert c.diff == pytest.approx(float(np.mean(head) - np.mean(base)))
    assert c.ci_low is not None and c.diff is not None and c.ci_high is not None and c.p_value is not None
    assert 0.0 < c.ci_low < c.diff < c.ci_high
    assert c.p_value < 0.01
    assert is_significant_drop(c, higher_is_better=False, alpha=0.05)  # e.g. latency went up
    assert not is_significant_drop(c, higher_is_better=True, alpha=0.05)


def test_bootstrap_identical_inputs() -> None:
    scores = [0.1, 0.5, 0.9, 1.0, 0.0, 0.3]
    c = paired_bootstrap(scores, scores)
    assert (c.diff, c.ci_low, c.ci_high, c.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_p_value_definition() -> None:
    rng = np.random.default_rng(5)
    base, head = rng.random(40), rng.random(40)
    c = paired_bootstrap(base.tolist(), head.tolist(), n_resamples=2000, seed=9)
    assert c.diff is not None
    diffs = bootstrap_mean_diffs(head - base, 2000, 9)
    count = np.count_nonzero(np.abs(diffs - c.diff) >= abs(c.diff))
    assert c.p_value == (count + 1) / 2001
    assert (c.ci_low, c.ci_high) == tuple(np.quantile(diffs, [0.025, 0.975]))


def test_bootstrap_edge_cases() -> None:
    single = paired_bootstrap([1.0], [2.0])
    assert single.diff == 1.0 and single.ci_low is None and single.p_value is None
    assert not is_significant_drop(single, higher_is_better=False, alpha=0.05)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, float("nan")], [1.0, 2.0])


def test_bootstrap_10k_by_10k_runs_in_bounded_memory() -> None:
    """10,000 cases x 10,000 resamples goes through in chunks (its speed is a bench/ figure, not a test)."""
    rng = np.random.default_rng(0)
    base, head = rng.random(10_000), rng.random(10_000)
    result = paired_bootstrap(base.tolist(), head.tolist(), n_resamples=10_000)
    assert result.n == 10_000 and result.ci_low is not None and result.ci_high is not None
    assert result.ci_low <= float((head - base).mean()) <= result.ci_high


# --- dispatch and decision -----------------------------------------------------------------------


def test_compare_dispatch() -> None:
    assert compare([], [], "binary") == EMPTY
    assert compare([], [], "mean").method == "none"
    assert compare([True, False], [True, True], "binary").method == "mcnemar-exact"
    assert compare([1.0, 2.0], [1.5, 2.5], "mean", seed=1).method == "sign-flip-exact"
    with pytest.raises(ValueError):
        compare([1.0], [], "mean")
    with pytest.raises(ValueError):
        compare([1.0], [1.0], "median")  # type: ignore[arg-type]


def test_is_significant_drop_direction_and_threshold() -> None:
    def comp(diff: float | None, p: float | None) -> Comparison:
        return Comparison(0.5, 0.5, diff, None, None, p, "mcnemar-exact", 10, (0, 0))

    assert is_significant_drop(comp(-0.1, 0.01), higher_is_better=True, alpha=0.05)
    assert not is_significant_drop(comp(-0.1, 0.2), higher_is_better=True, alpha=0.05)
    assert not is_significant_drop(comp(0.1, 0.01), higher_is_better=True, alpha=0.05)
    assert is_significant_drop(comp(0.1, 0.01), higher_is_better=False, alpha=0.05)
    assert not is_significant_drop(comp(0.0, 0.01), higher_is_better=True, alpha=0.05)
    assert not is_significant_drop(EMPTY, higher_is_better=True, alpha=0.05)


# --- false-alarm rate under no change ------------------------------------------------------------

SEEDS, CASES, ALPHA = 400, 100, 0.05
# Only drops count (one side of a two-sided test), so the nominal rate is alpha / 2.
MAX_RATE = ALPHA / 2 + 3 * math.sqrt((ALPHA / 2) * (1 - ALPHA / 2) / SEEDS)


def null_draws(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(CASES) < 0.8, rng.random(CASES) < 0.8


def test_binary_false_alarm_rate_under_null() -> None:
    fired = 0
    for seed in range(SEEDS):
        base, head = null_draws(seed)
        c = compare(base.tolist(), head.tolist(), "binary", alpha=ALPHA)
        fired += is_significant_drop(c, higher_is_better=True, alpha=ALPHA)
    assert fired / SEEDS <= MAX_RATE


def test_bootstrap_false_alarm_rate_under_null() -> None:
    fired = 0
    for seed in range(SEEDS):
        base, head = null_draws(seed)
        c = compare(base.astype(float).tolist(), head.astype(float).tolist(), "mean", alpha=ALPHA, seed=seed)
        fired += is_significant_drop(c, higher_is_better=True, alpha=ALPHA)
    assert fired / SEEDS <= MAX_RATE


# --- means at small n: the paired sign-flip permutation test -------------------------------------


def test_a_weaker_small_drop_is_never_more_significant_than_a_stronger_binary_one() -> None:
    """Two cases, repeat 2: 1.0 -> 0.5 is weaker evidence than McNemar's 1.0 -> 0.0 (p = 0.5)."""
    weaker = compare([1.0, 1.0], [0.5, 0.5], "mean", seed=0)
    stronger = compare([True, True], [False, False], "binary")
    assert stronger.p_value == 0.5
    assert weaker.p_value is not None and weaker.p_value >= stronger.p_value
    assert not is_significant_drop(weaker, higher_is_better=True, alpha=0.05)
    assert weaker.ci_low is None or weaker.ci_low <= -0.5 <= (weaker.ci_high or 0.0)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (2, 0), (3, 1), (5, 0), (6, 2), (9, 3), (4, 4), (12, 3)])
def test_sign_flip_on_pass_fail_scores_is_mcnemar(b: int, c: int) -> None:
    """On 0/1 scores the exact sign-flip test is the exact McNemar test: the two agree."""
    base, head = table_to_pairs(3, c, b, 2)
    assert sign_flip_p_value([float(h) - float(x) for x, h in zip(base, head, strict=True)]) == pytest.approx(mcnemar_exact(b, c))
    as_means = compare([float(x) for x in base], [float(x) for x in head], "mean")
    assert as_means.p_value == pytest.approx(mcnemar_exact(b, c)) and as_means.method == "sign-flip-exact"


def test_sign_flip_exact_value_by_enumeration() -> None:
    d = [-0.5, -1.0, 0.25, 0.0, -0.75]
    nonzero = [x for x in d if x]
    count = 0
    for mask in range(1 << len(nonzero)):
        flipped = sum(-x if mask >> i & 1 else x for i, x in enumerate(nonzero))
        count += abs(flipped) >= abs(sum(nonzero)) - 1e-12
    assert sign_flip_p_value(d) == count / (1 << len(nonzero))
    assert sign_flip_p_value([0.0, 0.0]) == 1.0


def test_sign_flip_monte_carlo_for_many_cases_is_seeded_and_close_to_the_normal_limit() -> None:
    rng = np.random.default_rng(3)
    d = (rng.normal(-0.12, 1.0, 400)).tolist()
    p = sign_flip_p_value(d, seed=1)
    assert p == sign_flip_p_value(d, seed=1)
    z = abs(sum(d)) / math.sqrt(sum(x * x for x in d))
    assert p == pytest.approx(2 * (1 - sps.norm.cdf(z)), abs=0.01)
    c = compare([0.0] * 400, d, "mean")
    assert c.method == "sign-flip-monte-carlo" and c.ci_low is not None and c.ci_high is not None


DRAWS = 2_000  # Monte Carlo p = (count + 1) / (draws + 1) stays valid for any number of draws


def _repeat_scores(rng: np.random.Generator, rates: np.ndarray, repeat: int) -> np.ndarray:
    return rng.binomial(repeat, rates) / repeat


@pytest.mark.parametrize("cases", [3, 5, 10, 20, 200])
def test_mean_test_is_calibrated_at_small_and_large_n(cases: int) -> None:
    """Noise alone (same per-case pass rates at base and head, repeat 3) fires no more than alpha/2
    one-sided; a real drop is still caught once there are enough cases."""
    seeds = 300
    fired = caught = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        rates = rng.uniform(0.3, 1.0, cases)
        base, head = _repeat_scores(rng, rates, 3), _repeat_scores(rng, rates, 3)
        p = sign_flip_p_value((head - base).tolist(), draws=DRAWS, seed=seed)
        fired += p <= ALPHA and float(np.mean(head - base)) < 0
        worse = _repeat_scores(rng, np.clip(rates - 0.3, 0.0, 1.0), 3)
        p_worse = sign_flip_p_value((worse - base).tolist(), draws=DRAWS, seed=seed)
        caught += p_worse <= ALPHA and float(np.mean(worse - base)) < 0
    bound = ALPHA / 2 + 3 * math.sqrt((ALPHA / 2) * (1 - ALPHA / 2) / seeds)
    assert fired / seeds <= bound, f"n={cases}: {fired}/{seeds} false alarms"
    if cases == 3:
        assert fired == 0  # no sign pattern of 3 cases reaches p <= 0.05 (the minimum is 2/8)
    if cases >= 20:
        assert caught / seeds >= 0.8, f"n={cases}: only {caught}/{seeds} real drops caught"


def test_importing_stats_does_not_import_numpy() -> None:
    code = (
        "import sys, llmops_cli; before = 'numpy' in sys.modules; import llmops_cli.stats; "
        "print(before or 'numpy' not in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
