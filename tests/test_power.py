"""Sensitivity figures checked by simulation: a drop of the stated size is caught about 80% of the time,
and the stated share of no-op changes fails a plain max_drop."""

from __future__ import annotations

import random
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from conftest import git, results_json
from test_gate import SIM_SUITE, _numbered_cases, cli, commit_all, latest_report_dir, make_repo

from llmops_cli._standin import StandinServer
from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
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


# Through the CLI: every max_drop on a paired metric says what the comparison can see ----------

NOISY_CASES = 40


def _noisy_no_op(tmp_path: Path, server: StandinServer, cases: int, suite: str = SIM_SUITE) -> tuple[Path, Path]:
    """A project whose baseline is a saved run, on a stand-in that answers 20% of calls wrongly.

    Identical requests of one run are sent once, so a no-op change compared with `--baseline`
    shows no noise; the head is compared with a saved run of the same prompt instead (as CI
    compares with the main branch's artifact), each side drawing its own noise."""
    root = make_repo(tmp_path / "repo", server, suite=suite, cases=_numbered_cases(cases))
    server.configure(noise=0.2, seed=1)
    saved = tmp_path / "base"
    base = evaluate(root, EvalOptions(no_baseline=True, no_cache=True, out=saved, formats=("json",)))
    assert isinstance(base, EvalResult)
    return root, saved / "results.json"


def _drop_row(group: dict[str, Any], metric: str = "correctness") -> dict[str, Any]:
    return next(t for t in group["thresholds"] if t["metric"] == metric and t["bound"] == "max_drop")


def test_a_max_drop_below_the_noise_warns_in_every_report(tmp_path: Path, server: StandinServer) -> None:
    root, saved = _noisy_no_op(tmp_path, server, NOISY_CASES)
    run = cli(root, "eval", "--baseline-results", str(saved), "--no-cache", "--format", "md,json,html")
    assert run.code in (0, 1), run.stdout + run.stderr
    (group,) = results_json(root)["groups"]
    comparison = group["comparisons"]["correctness"]
    b, c = comparison["discordant"]
    assert comparison["n"] == NOISY_CASES and b + c >= 5  # the noise is real and independent at both sides
    sensitivity = _drop_row(group)["sensitivity"]
    assert sensitivity == {"n": NOISY_CASES, **{k: v for k, v in asdict(
        binary_sensitivity(NOISY_CASES, 2 * min(b, c), 0.05, 0.0)).items() if k != "n"}}
    assert sensitivity["noise_fail_rate"] > 0.2
    assert 0 < sensitivity["min_detectable_drop"] < 1

    share = f"about {sensitivity['noise_fail_rate']:.0%} of no-op changes would fail this max_drop"
    warning = [line for line in run.stdout.splitlines() if line.startswith("warning: support x default:")]
    assert len(warning) == 1 and share in warning[0] and "correctness max_drop" in warning[0], run.stdout
    report = latest_report_dir(root)
    md = (report / "report.md").read_text()
    (line,) = [line for line in md.splitlines() if "max_drop: this comparison can see drops of" in line]
    assert share in line and line.startswith("- ⚠️ correctness max_drop:")
    assert f"{sensitivity['min_detectable_drop'] * 100:.1f} points or more" in line  # a share, in points
    html = (report / "report.html").read_text()
    assert re.search(r'<p class="warn sensitivity">correctness max_drop: this comparison can see drops of [^<]*'
                     + re.escape(share), html)

    # With --require-significance the test decides, so a max_drop below the noise is no longer a warning.
    significant = cli(root, "eval", "--baseline-results", str(saved), "--require-significance")
    assert significant.code in (0, 1), significant.stdout + significant.stderr
    (group,) = results_json(root)["groups"]
    assert _drop_row(group)["sensitivity"] == {**sensitivity, "noise_fail_rate": None}
    assert not [line for line in significant.stdout.splitlines() if "max_drop" in line and "warning" in line]


def test_a_five_case_suite_says_no_drop_can_be_significant(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server, suite=SIM_SUITE, cases=_numbered_cases(5))
    git(root, "checkout", "-q", "-b", "no-op")
    (root / "README.md").write_text("unrelated\n")
    commit_all(root, "Unrelated change")
    run = cli(root, "eval", "--baseline", "main")
    assert run.code == 0, run.stdout + run.stderr
    (group,) = results_json(root)["groups"]
    assert _drop_row(group)["sensitivity"] == {"n": 5, "min_detectable_drop": None, "noise_fail_rate": 0.0}
    sentence = "with 5 paired cases no drop can be significant"
    assert f"warning: support x default: correctness max_drop: {sentence}" in run.stdout.splitlines()
    assert f"- ⚠️ correctness max_drop: {sentence}" in (latest_report_dir(root) / "report.md").read_text()


def test_a_quiet_large_suite_states_its_sensitivity_without_warning(tmp_path: Path, server: StandinServer) -> None:
    """No noise and a max_drop above what noise makes: the line is information, not a warning."""
    suite = SIM_SUITE.replace("max_drop: 0.0", "max_drop: 0.05")
    root = make_repo(tmp_path / "repo", server, suite=suite, cases=_numbered_cases(12))
    run = cli(root, "eval", "--baseline", "main")
    assert run.code == 0, run.stdout + run.stderr
    (group,) = results_json(root)["groups"]
    sensitivity = _drop_row(group)["sensitivity"]
    assert sensitivity["n"] == 12 and sensitivity["noise_fail_rate"] == 0.0
    assert sensitivity["min_detectable_drop"] == pytest.approx(exact_floor(0.05) / 12)
    assert "max_drop" not in "".join(line for line in run.stdout.splitlines() if line.startswith("warning:"))
    md = (latest_report_dir(root) / "report.md").read_text()
    assert "- correctness max_drop: this comparison can see drops of 50.0 points or more (80% power)" in md


def test_repeated_cases_use_the_per_case_differences(tmp_path: Path, server: StandinServer) -> None:
    """repeat > 1 gives per-case pass rates: the mean test's figures, from head - base per case."""
    suite = SIM_SUITE + "repeat: 2\n"
    root, saved = _noisy_no_op(tmp_path, server, 12, suite=suite)
    run = cli(root, "eval", "--baseline-results", str(saved), "--no-cache")
    assert run.code in (0, 1), run.stdout + run.stderr
    (group,) = results_json(root)["groups"]
    head = {c["case_id"]: c["score"] for c in group["cases"]}
    base = {c["case_id"]: c["score"] for c in group["base_cases"]}
    diffs = [head[i] - base[i] for i in sorted(head)]
    assert any(d not in (-1.0, 0.0, 1.0) for d in diffs)  # fractional: the mean test, not McNemar
    assert group["comparisons"]["correctness"]["discordant"] is None
    expected = mean_sensitivity(diffs, 0.05, 0.0)
    assert _drop_row(group)["sensitivity"] == {"n": 12, "min_detectable_drop": expected.min_detectable_drop,
                                               "noise_fail_rate": expected.noise_fail_rate}


def test_a_one_sided_change_is_not_read_as_noise() -> None:
    """Eight cases all regressed and none improved (a deterministic model): that is the change, not noise."""
    from llmops_cli.gate import drop_sensitivity
    from llmops_cli.stats import paired_binary

    base, head = [True] * 10, [False] * 8 + [True] * 2
    one_sided = drop_sensitivity(paired_binary(base, head), [1.0] * 10, [0.0] * 8 + [1.0] * 2, 0.05, 0.0)
    assert one_sided is not None and one_sided.noise_fail_rate == 0.0
    both = [True] * 5 + [False] * 5, [False] * 5 + [True] * 5  # five flips each way: pure noise
    noisy = drop_sensitivity(paired_binary(*both), [], [], 0.05, 0.0)
    assert noisy is not None and noisy.noise_fail_rate is not None and noisy.noise_fail_rate > 0.3
