"""What a paired comparison can see: the smallest drop it detects, and how often noise alone fails a gate.

A gate that cannot see a real drop gives false comfort, and one that fails no-op changes gets
switched off; both follow from the number of paired cases and how often the two sides disagree
on a case (the discordance), which the comparison has just measured. So every compared metric
can carry two figures a reviewer can act on:

- the minimum detectable drop at 80% power and the gate's alpha ("this suite can see drops of
  9 points or more"), and
- the share of no-op changes that a plain `max_drop` (no significance) would fail, when the
  disagreement that went both ways is taken as noise ("about 40% of no-op changes would fail this
  gate"; gate.py passes twice the smaller discordant count, so a one-sided change is not noise).

Pass/fail metrics use the discordant pairs (Connor 1987's sample size for McNemar's test, solved
for the difference, with the exact test's own floor: with c = 0 the exact p-value is 2 * 0.5**b,
so fewer than log2(2 / alpha) discordant pairs can never be significant). Means use the standard
deviation of the per-case differences (normal approximation), with the sign-flip test's floor on
the number of non-zero differences. Pure standard-library functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

POWER = 0.8
NOISE_WARNING = 0.05  # a gate failing more than 1 no-op change in 20 on noise gets switched off
_Z = NormalDist()


@dataclass(frozen=True)
class Sensitivity:
    """What one paired comparison can detect; drops are positive numbers in the metric's own unit."""

    n: int
    min_detectable_drop: float | None  # None: no drop of any size can be significant with this n
    noise_fail_rate: float | None  # share of no-op changes failing `max_drop` (None: no max_drop given)


def exact_floor(alpha: float) -> int:
    """Fewest one-sided discordant pairs (or non-zero differences) whose exact two-sided p can reach alpha."""
    return math.ceil(math.log2(2 / alpha))


def binary_sensitivity(n: int, discordant: int, alpha: float, max_drop: float | None = None,
                       power: float = POWER) -> Sensitivity:
    """Pass/fail pairs: `discordant` of `n` cases changed outcome between base and head."""
    if n <= 0:
        return Sensitivity(0, None, None)
    floor = exact_floor(alpha)
    if floor > n:
        mdd = None
    else:
        d = max(discordant, floor) / n  # without observed noise a drop still needs `floor` flips
        mdd = max(_connor_drop(n, d, alpha, power), floor / n)
    rate = None if max_drop is None else _binary_noise_fail_rate(n, discordant, max_drop)
    return Sensitivity(n, mdd, rate)


def mean_sensitivity(diffs: Sequence[float], alpha: float, max_drop: float | None = None,
                     power: float = POWER) -> Sensitivity:
    """Per-case mean differences (head - base, repeat > 1 or fractional scores)."""
    n = len(diffs)
    if n == 0:
        return Sensitivity(0, None, None)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1)) if n > 1 else 0.0
    nonzero_possible = n >= exact_floor(alpha)
    z = _Z.inv_cdf(1 - alpha / 2) + _Z.inv_cdf(power)
    mdd = max(z * sd / math.sqrt(n), exact_floor(alpha) / n) if nonzero_possible else None
    rate = None
    if max_drop is not None:
        rate = 0.5 if sd == 0 and max_drop <= 0 else 0.0 if sd == 0 else 1 - _Z.cdf(max_drop * math.sqrt(n) / sd)
    return Sensitivity(n, mdd, rate)


def _connor_drop(n: int, d: float, alpha: float, power: float) -> float:
    """The difference delta with n = (z_a sqrt(d) + z_b sqrt(d - delta^2))^2 / delta^2, by bisection."""
    za, zb = _Z.inv_cdf(1 - alpha / 2), _Z.inv_cdf(power)

    def needed(delta: float) -> float:
        return (za * math.sqrt(d) + zb * math.sqrt(max(d - delta * delta, 0.0))) ** 2 / (delta * delta)

    low, high = 1e-9, min(d, 1.0)
    if needed(high) > n:
        return high
    for _ in range(60):  # needed() falls as delta grows
        mid = (low + high) / 2
        low, high = (mid, high) if needed(mid) > n else (low, mid)
    return high


def _binary_noise_fail_rate(n: int, discordant: int, max_drop: float) -> float:
    """P(observed drop > max_drop) when each discordant pair flips either way with probability 1/2."""
    k = discordant
    if k == 0:
        return 0.0
    # drop = (down - up) / n with down ~ Binomial(k, 1/2); fails when down - up > max_drop * n
    threshold = (k + max_drop * n) / 2
    first = math.floor(threshold) + 1
    tail = sum(math.comb(k, j) for j in range(max(first, 0), k + 1))
    return tail / (1 << k)  # exact big-int division: 2 ** k overflows a float past k = 1023


def warns(s: Sensitivity) -> bool:
    """A reviewer must act: no drop can be significant, or noise alone often breaks `max_drop`."""
    return s.min_detectable_drop is None or (s.noise_fail_rate is not None and s.noise_fail_rate >= NOISE_WARNING)


def describe(s: Sensitivity, percent: bool) -> str:
    """One sentence for a report; `percent` shows shares as points."""
    def amount(x: float) -> str:
        return f"{x * 100:.1f} points" if percent else f"{x:.3g}"

    if s.min_detectable_drop is None:
        text = f"with {s.n} paired cases no drop can be significant"
    else:
        text = f"this comparison can see drops of {amount(s.min_detectable_drop)} or more (80% power)"
    if s.noise_fail_rate is not None and s.noise_fail_rate >= NOISE_WARNING:
        text += (f"; about {s.noise_fail_rate:.0%} of no-op changes would fail this max_drop on noise alone: use "
                 "--require-significance or more repeats")
    return text


def repeat_drop(n: int, disagreement: float, repeat: int, alpha: float, power: float = POWER) -> float | None:
    """The drop `repeat` runs a case (a side) would detect on n paired cases whose runs disagree between base and
    head at rate `disagreement` (the noise): each case's mean difference then has variance disagreement / repeat."""
    if n < exact_floor(alpha) or repeat < 1:
        return None
    z = _Z.inv_cdf(1 - alpha / 2) + _Z.inv_cdf(power)
    return max(z * math.sqrt(disagreement / (repeat * n)), exact_floor(alpha) / n)


def repeats_needed(n: int, disagreement: float, drop: float, alpha: float, power: float = POWER,
                   limit: int = 1000) -> int | None:
    """Fewest runs a case (a side) that see `drop` at `power`; None when no number up to `limit` does (too few
    cases: a drop smaller than the test's floor of flips can never be significant, however many runs)."""
    if drop <= 0 or n < exact_floor(alpha) or drop < exact_floor(alpha) / n:
        return None
    z = _Z.inv_cdf(1 - alpha / 2) + _Z.inv_cdf(power)
    k = max(1, math.ceil(z * z * disagreement / (n * drop * drop) - 1e-9))
    return k if k <= limit else None
