"""Paired statistics for the regression gate: is a drop real, or noise?

LLM outputs are noisy, so a PR whose pass rate moves from 82% to 79% has not
necessarily regressed.  The gate runs the *same* golden cases at the base ref
and at the head ref, so every comparison here is paired, case by case: pairing
cancels the per-case difficulty that dominates the variance, and gives much
tighter intervals than treating base and head as independent samples.

- Pass/fail per case: exact McNemar test on the discordant pairs, and Newcombe's
  hybrid score interval (Newcombe 1998, method 10) for the difference of rates.
- Per-case scores (means, e.g. with `repeat: k`): the paired sign-flip permutation test. Under
  "no change" each case's difference d_i = head_i - base_i is as likely to be +d_i as -d_i, so
  the p-value is the share of the 2^m sign patterns of the m non-zero differences whose |sum| is
  at least the observed |sum|: enumerated exactly up to m = 16, else 10,000 seeded Monte Carlo
  draws with p = (count + 1) / (draws + 1). On 0/1 scores it *is* exact McNemar, so the two
  tests agree; at small n it never claims more than the data can show (2 cases: p >= 0.5),
  where a bootstrap, resampling two identical differences, claimed p = 1e-4.
  CI: for up to 16 cases the shifts the exact test does not reject (test inversion; unbounded,
  so None, when no shift can be rejected); above that the paired bootstrap percentile interval.

Pure functions; numpy is imported lazily so importing this module is cheap.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

_CHUNK_ELEMENTS = 1 << 20  # resampled indices held in memory at once (8 MB)
EXACT_MAX_CASES = 16  # 2^16 sign patterns enumerated; beyond, Monte Carlo
SIGN_FLIP_DRAWS = 10_000


@dataclass(frozen=True)
class Comparison:
    base: float | None  # metric at base
    head: float | None  # metric at head
    diff: float | None  # head - base
    ci_low: float | None  # (1 - alpha) CI of diff
    ci_high: float | None
    p_value: float | None
    method: str  # "mcnemar-exact" | "sign-flip-exact" | "sign-flip-monte-carlo" | "paired-bootstrap" | "none"
    n: int  # number of paired cases
    discordant: tuple[int, int] | None  # (base pass & head fail, base fail & head pass)


EMPTY = Comparison(None, None, None, None, None, None, "none", 0, None)


def _check_paired(base: Sequence[object], head: Sequence[object]) -> None:
    if len(base) != len(head):
        raise ValueError(f"paired comparison needs equal lengths, got base={len(base)} head={len(head)}")


def _finite_pairs(base: Sequence[float], head: Sequence[float], who: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Both sides as float arrays (None when there are no pairs); a NaN or inf score is a bug upstream."""
    import numpy as np

    _check_paired(base, head)
    if len(base) == 0:
        return None
    b, h = np.asarray(base, dtype=float), np.asarray(head, dtype=float)
    if not (np.isfinite(b).all() and np.isfinite(h).all()):
        raise ValueError(f"{who} needs finite scores")
    return b, h


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2).

    Computed with exact integer arithmetic (one correctly rounded division at the end),
    so it stays exact for any number of discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n, k = b + c, min(b, c)
    if n == 0 or 2 * k >= n:
        return 1.0
    term, tail = 1, 1  # comb(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, (2 * tail) / (1 << n))


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for x successes out of n."""
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_paired_ci(
    both: int, head_only: int, base_only: int, neither: int, alpha: float
) -> tuple[float, float]:
    """Newcombe (1998) method 10 CI for head rate - base rate from a paired 2x2 table.

    Wilson intervals of both marginals, combined with the phi correlation whose numerator
    ad - bc is continuity-corrected as in the paper: ad-bc-n/2 if ad-bc > n/2, 0 if
    0 <= ad-bc <= n/2, ad-bc if negative; phi = 0 when any marginal total is 0.
    """
    n = both + head_only + base_only + neither
    z = NormalDist().inv_cdf(1 - alpha / 2)
    h_pass, b_pass = both + head_only, both + base_only
    p1, p2 = h_pass / n, b_pass / n
    l1, u1 = wilson(h_pass, n, z)
    l2, u2 = wilson(b_pass, n, z)
    margins = h_pass * (n - h_pass) * b_pass * (n - b_pass)
    cross = both * neither - head_only * base_only
    num = cross - n / 2 if cross > n / 2 else (0.0 if cross >= 0 else cross)
    phi = num / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, d - lower), min(1.0, d + upper)


def paired_binary(base: Sequence[float], head: Sequence[float], alpha: float = 0.05) -> Comparison:
    """Pass/fail per case (bools, or 0/1 scores read by their truth): diff of pass rates, Newcombe
    method-10 CI, exact McNemar p-value."""
    _check_paired(base, head)
    n = len(base)
    if n == 0:
        return EMPTY
    both = head_only = base_only = 0
    for b, h in zip(base, head, strict=True):
        b, h = bool(b), bool(h)
        both += b and h
        head_only += h and not b
        base_only += b and not h
    neither = n - both - head_only - base_only
    low, high = newcombe_paired_ci(both, head_only, base_only, neither, alpha)
    base_rate, head_rate = (both + base_only) / n, (both + head_only) / n
    return Comparison(
        base=base_rate, head=head_rate, diff=(head_only - base_only) / n, ci_low=low, ci_high=high,
        p_value=mcnemar_exact(base_only, head_only), method="mcnemar-exact", n=n,
        discordant=(base_only, head_only),
    )


def bootstrap_mean_diffs(d: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means of d over n_resamples resamples of its indices (with replacement), in chunks."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    n = d.shape[0]
    out = np.empty(n_resamples)
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, rows):
        r = min(rows, n_resamples - start)
        idx = rng.integers(0, n, size=(r, n))
        out[start : start + r] = d[idx].mean(axis=1)
    return out


def paired_bootstrap(
    base: Sequence[float],
    head: Sequence[float],
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Mean of per-case scores: paired bootstrap of the mean difference d_i = head_i - base_i.

    CI: percentile interval [q(alpha/2), q(1 - alpha/2)] of the resampled mean differences.
    p-value (two-sided, centred bootstrap): p = (#{|D* - D| >= |D|} + 1) / (n_resamples + 1),
    D the observed mean difference, D* the resampled ones. Fewer than 2 cases: no CI, no p.
    """
    import numpy as np

    arrays = _finite_pairs(base, head, "paired_bootstrap")
    if arrays is None:
        return EMPTY
    b, h = arrays
    n = len(b)
    d = h - b
    observed = float(d.mean())
    low: float | None = None
    high: float | None = None
    p: float | None = None
    if n >= 2:
        diffs = bootstrap_mean_diffs(d, n_resamples, seed)
        low, high = (float(q) for q in np.quantile(diffs, [alpha / 2, 1 - alpha / 2]))
        extreme = int(np.count_nonzero(np.abs(diffs - observed) >= abs(observed)))
        p = (extreme + 1) / (n_resamples + 1)
    return Comparison(
        base=float(b.mean()), head=float(h.mean()), diff=observed, ci_low=low, ci_high=high,
        p_value=p, method="paired-bootstrap", n=n, discordant=None,
    )


@functools.lru_cache(maxsize=EXACT_MAX_CASES + 1)
def _all_signs(m: int) -> np.ndarray:
    """Every sign pattern of m items as rows of 0 (keep) / 1 (flip), 2^m x m (read-only, cached)."""
    import numpy as np

    flips = ((np.arange(1 << m)[:, None] >> np.arange(m)) & 1).astype(np.float64)
    flips.setflags(write=False)
    return flips


def _tolerance(d: np.ndarray) -> float:
    """Equal sums must count as ties although float addition order differs."""
    import numpy as np

    return 1e-9 * max(1.0, float(np.abs(d).sum()))


def sign_flip_p_value(diffs: Sequence[float], draws: int = SIGN_FLIP_DRAWS, seed: int = 0) -> float:
    """Two-sided paired sign-flip p-value of mean(diffs) = 0 (see the module docstring).

    Zero differences carry no sign and are left out; none left gives 1.0.
    """
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    if not np.isfinite(d).all():
        raise ValueError("sign_flip_p_value needs finite differences")
    d = d[d != 0.0]
    m = len(d)
    if m == 0:
        return 1.0
    observed, tol = abs(float(d.sum())), _tolerance(d)
    total = float(d.sum())
    if m <= EXACT_MAX_CASES:
        sums = total - 2.0 * (_all_signs(m) @ d)  # flipping item i subtracts 2 d_i
        return float(np.count_nonzero(np.abs(sums) >= observed - tol)) / (1 << m)
    rng = np.random.Generator(np.random.PCG64(seed))
    count, rows = 0, max(1, _CHUNK_ELEMENTS // m)
    for start in range(0, draws, rows):
        r = min(rows, draws - start)
        flips = np.unpackbits(rng.integers(0, 256, size=(r, (m + 7) // 8), dtype=np.uint8), axis=1)[:, :m]
        sums = total - 2.0 * (flips.astype(np.float64) @ d)
        count += int(np.count_nonzero(np.abs(sums) >= observed - tol))
    return (count + 1) / (draws + 1)


def _inverted_ci(d: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """The mean shifts delta the exact sign-flip test of d - delta does not reject at alpha.

    p(delta) falls as delta leaves the observed mean; bisection finds each crossing. When even
    a shift beyond every difference is not rejected (n <= 5 at alpha 0.05) that side is None.
    """
    import numpy as np

    n = len(d)
    flips = _all_signs(n)
    signed = 1.0 - 2.0 * flips  # +1 keep, -1 flip
    sums_d, sums_one = signed @ d, signed.sum(axis=1)
    mean = float(d.mean())

    def rejects(delta: float) -> bool:
        shifted = d - delta
        observed, tol = abs(float(shifted.sum())), _tolerance(shifted)
        sums = sums_d - delta * sums_one
        return float(np.count_nonzero(np.abs(sums) >= observed - tol)) / (1 << n) <= alpha

    spread = float(d.max() - d.min()) + 1.0
    bounds: list[float | None] = []
    for far in (float(d.min()) - spread, float(d.max()) + spread):
        if not rejects(far):
            bounds.append(None)
            continue
        inside, outside = mean, far
        for _ in range(50):
            middle = (inside + outside) / 2
            inside, outside = (inside, middle) if rejects(middle) else (middle, outside)
        bounds.append(inside)
    return bounds[0], bounds[1]


def paired_sign_flip(
    base: Sequence[float],
    head: Sequence[float],
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Mean of per-case scores: sign-flip p-value; CI by inversion (n <= 16) or paired bootstrap."""
    import numpy as np

    arrays = _finite_pairs(base, head, "paired_sign_flip")
    if arrays is None:
        return EMPTY
    b, h = arrays
    n = len(b)
    d = h - b
    p = sign_flip_p_value(d.tolist(), seed=seed)
    if n <= EXACT_MAX_CASES:
        low, high = _inverted_ci(d, alpha)
    else:
        boot = paired_bootstrap(base, head, alpha, seed=seed)
        low, high = boot.ci_low, boot.ci_high
    exact = int(np.count_nonzero(d)) <= EXACT_MAX_CASES
    return Comparison(
        base=float(b.mean()), head=float(h.mean()), diff=float(d.mean()), ci_low=low, ci_high=high,
        p_value=p, method="sign-flip-exact" if exact else "sign-flip-monte-carlo", n=n, discordant=None,
    )


def compare(
    base: Sequence[float] | Sequence[bool],
    head: Sequence[float] | Sequence[bool],
    kind: Literal["binary", "mean"],
    alpha: float = 0.05,
    seed: int = 0,
) -> Comparison:
    """Dispatch on the metric kind; empty inputs give method "none" with no numbers."""
    _check_paired(base, head)
    if kind not in ("binary", "mean"):
        raise ValueError(f"unknown comparison kind {kind!r}")
    if len(base) == 0:
        return EMPTY
    if kind == "binary":
        return paired_binary(base, head, alpha)
    return paired_sign_flip(base, head, alpha, seed=seed)


def is_significant_drop(c: Comparison, higher_is_better: bool, alpha: float) -> bool:
    """True when head is worse than base (by the metric's direction) and p_value <= alpha."""
    if c.diff is None or c.p_value is None:
        return False
    worse = c.diff < 0 if higher_is_better else c.diff > 0
    return worse and c.p_value <= alpha


def fisher_exact(passed_a: int, runs_a: int, passed_b: int, runs_b: int) -> float:
    """Two-sided Fisher's exact p-value for one case's pass counts at two refs (k of n runs each).

    With `repeat: n` a case that passed 4 of 5 times at base and 2 of 5 at head may just be a
    noisy model; this asks how likely so lopsided a split of its passes is when both refs share
    one pass rate. Tables as likely as the observed one or less are summed (the usual two-sided
    rule), with exact integers and one division at the end.
    """
    if not (0 <= passed_a <= runs_a and 0 <= passed_b <= runs_b):
        raise ValueError("pass counts must lie between 0 and the number of runs")
    total, passes = runs_a + runs_b, passed_a + passed_b
    low, high = max(0, passes - runs_b), min(passes, runs_a)
    weights = {x: math.comb(runs_a, x) * math.comb(runs_b, passes - x) for x in range(low, high + 1)}
    observed = weights[passed_a]
    return min(1.0, sum(w for w in weights.values() if w <= observed) / math.comb(total, passes))
