"""Sensitivity figures checked by simulation: a drop of the stated size is caught about 80% of the time,
and the stated share of no-op changes fails a plain max_drop."""

from __future__ import annotations

import random

from llmops_cli.power import binary_sensitivity, describe, exact_floor, mean_sensitivity
from llmops_cli.stats import mcnemar_exact


def _simulate_binary(n: int, d: float, drop: float, rng: random.Random) -> tuple[int, int]:
    """(down, up): cases that pass at base and fail at head, and the reverse."""
    down = up = 0
    for _ in range(n):
        x = rng.random()
        if x < (d + drop) / 2:
            down += 1
        elif x < d:
            up += 1
    return down, up


def test_a_drop_of_the_stated_size_is_caught_about_80_percent_of_the_time() -> None:
    rng = random.Random(7)
    for n, d in ((200, 0.2), (500, 0.1), (60, 0.3)):
        mdd = binary_sensitivity(n, round(n * d), alpha=0.05).min_detectable_drop
        assert mdd is not None and 0 < mdd < d
        trials = 400
        caught = sum(mcnemar_exact(*_simulate_binary(n, d, mdd, rng)) <= 0.05 for _ in range(trials))
        assert 0.68 <= caught / trials <= 0.92, (n, d, mdd, caught / trials)
        half = sum(mcnemar_exact(*_simulate_binary(n, d, mdd / 2, rng)) <= 0.05 for _ in range(trials))
        assert half / trials < 0.5  # half that drop is mostly missed: the figure is not loose


def test_the_noise_fail_rate_matches_simulated_no_op_changes() -> None:
    rng = random.Random(11)
    n, d = 200, 0.2
    for max_drop in (0.0, 0.02, 0.05):
        stated = binary_sensitivity(n, round(n * d), alpha=0.05, max_drop=max_drop).noise_fail_rate
        assert stated is not None
        trials = 2000
        failed = 0
        for _ in range(trials):
            down, up = _simulate_binary(n, d, 0.0, rng)
            failed += (down - up) / n > max_drop
        assert abs(failed / trials - stated) < 0.05, (max_drop, stated, failed / trials)
    assert binary_sensitivity(n, 40, alpha=0.05, max_drop=0.0).noise_fail_rate > 0.4  # the field's 42%


def test_too_few_cases_can_detect_nothing_and_say_so() -> None:
    assert exact_floor(0.05) == 6
    small = binary_sensitivity(5, 2, alpha=0.05)
    assert small.min_detectable_drop is None
    assert "no drop can be significant" in describe(small, percent=True)
    quiet = binary_sensitivity(100, 0, alpha=0.05)  # no noise seen: still needs 6 flips
    assert quiet.min_detectable_drop is not None and quiet.min_detectable_drop >= 0.06


def test_means_use_the_spread_of_per_case_differences() -> None:
    rng = random.Random(3)
    diffs = [rng.choice((-1 / 3, 0.0, 0.0, 1 / 3)) for _ in range(200)]
    s = mean_sensitivity(diffs, alpha=0.05, max_drop=0.0)
    assert s.min_detectable_drop is not None and 0.02 < s.min_detectable_drop < 0.1
    assert s.noise_fail_rate is not None and 0.4 < s.noise_fail_rate <= 0.5
    text = describe(s, percent=True)
    assert "points or more" in text and "--require-significance" in text
    assert mean_sensitivity([0.1, -0.1, 0.0], alpha=0.05).min_detectable_drop is None
