"""`repeat: auto`: extra runs only for the cases whose first runs disagree, at both refs, with a test that
stays calibrated. The simulation tests drive the real decision functions (no HTTP); the others run the
CLI against the stand-in."""

from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import git, results_json
from test_gate import SIM_SUITE, _numbered_cases, cli, commit_all, latest_report_dir, make_repo

from llmops_cli._standin import StandinServer
from llmops_cli.adaptive import drop_cases, needs_more, runs_for, simulate
from llmops_cli.power import repeat_drop, repeats_needed

NOISE, ALPHA = 0.2, 0.05


def _fail_rate(base: list[float], head: list[float], trials: int, seed: int, **kwargs: object) -> tuple[float, float]:
    rng = random.Random(seed)
    results = [simulate(base, head, rng, **kwargs) for _ in range(trials)]  # type: ignore[arg-type]
    return sum(r.failed for r in results) / trials, sum(r.calls for r in results) / trials


def test_the_stage_two_rule_is_symmetric_in_base_and_head() -> None:
    values = (0.0, 0.25, 0.5, 1.0)
    assert all(needs_more(b, h) == needs_more(h, b) for b in values for h in values)
    assert not needs_more(1.0, 1.0) and not needs_more(0.0, 0.0)
    assert needs_more(1.0, 0.0) and needs_more(0.5, 0.5)  # a fractional score is sampled again too


def test_extra_runs_never_pass_three_times_the_calls_of_one_run() -> None:
    assert runs_for(200, 64, 5) == 5  # 400 + 2 * 64 * 4 = 912 calls: within 3x 400
    assert runs_for(200, 120, 5) == 4  # 400 + 2 * 120 * 3 = 1,120 (5 runs would be 1,360)
    assert runs_for(10, 10, 20) == 3 and runs_for(10, 0, 5) == 1
    for paired in range(1, 60):
        for chosen in range(1, paired + 1):
            runs = runs_for(paired, chosen, 20)
            assert 1 <= runs <= 20 and 2 * paired + 2 * chosen * (runs - 1) <= 3 * 2 * paired
    _, calls = _fail_rate(*drop_cases(60, NOISE, 0.45), 20, seed=3, adaptive=True)
    assert calls <= 3 * 2 * 60


def test_no_op_changes_fail_at_most_alpha_with_adaptive_repeats() -> None:
    """No change on a model wrong 20% of the time: --repeat auto --require-significance fails <= 5% (+3 SE)."""
    base, head = drop_cases(60, NOISE, 0.0)
    trials = 400
    rate, calls = _fail_rate(base, head, trials, seed=5, adaptive=True, max_repeat=5)
    assert rate <= ALPHA + 3 * (ALPHA * (1 - ALPHA) / trials) ** 0.5, rate
    assert 2 * 60 < calls < 3 * 2 * 60  # extra calls were spent, within 3x of a repeat-1 comparison


def test_adaptive_repeats_catch_more_real_drops_than_one_run() -> None:
    base, head = drop_cases(60, NOISE, 0.15)  # 12 cases break: correctness 80% -> 65%
    assert abs(sum(base) - sum(head) - 0.15 * 60) < 1e-9
    trials = 150
    once, _ = _fail_rate(base, head, trials, seed=9, adaptive=False)
    auto, calls = _fail_rate(base, head, trials, seed=9, adaptive=True, max_repeat=5)
    assert auto >= once + 0.15, (once, auto)
    assert calls <= 3 * 2 * 60
    broken, _ = _fail_rate(*drop_cases(60, NOISE, 0.45), 20, seed=3, adaptive=True)
    assert broken == 1.0  # a 45-point drop always fails


# Through the CLI ------------------------------------------------------------------------------------------------

BROKEN = ("case-00", "case-01", "case-02")
BREAK_THREE = '{{ ticket }}{% if idx < 3 %} [standin: noise=1]{% endif %}'  # those three always answer wrongly


def _adaptive_repo(tmp_path: Path, server: StandinServer, max_repeat: int = 3) -> Path:
    root = make_repo(tmp_path / "repo", server, suite=SIM_SUITE + "repeat: 2\n", cases=_numbered_cases(12))
    config = root / "llmops.yaml"
    config.write_text(config.read_text().replace("retries: 2}", f"retries: 2, max_repeat: {max_repeat}}}"))
    commit_all(root, "max_repeat")
    git(root, "checkout", "-q", "-b", "change")
    (root / "evals" / "support" / "suite.yaml").write_text(SIM_SUITE + "repeat: auto\n")  # the base keeps repeat: 2
    prompt = root / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace('"{{ ticket }}"', f'"{BREAK_THREE}"'))
    commit_all(root, "Break three cases")
    return root


def test_only_disagreeing_cases_run_again_at_both_refs(tmp_path: Path, server: StandinServer) -> None:
    root = _adaptive_repo(tmp_path, server)
    run = cli(root, "eval", "--baseline", "main", "--format", "md,json,html")
    assert run.code == 1, run.stdout + run.stderr
    doc = results_json(root)
    (group,) = doc["groups"]
    for side in ("cases", "base_cases"):
        runs = {c["case_id"]: [r["repeat"] for r in c["runs"]] for c in group[side]}
        assert {case: r for case, r in runs.items() if len(r) > 1} == {case: [0, 1, 2] for case in BROKEN}, side
    assert doc["adaptive"]["calls_added"] == 2 * 2 * len(BROKEN)
    assert doc["adaptive"]["groups"] == [{"suite": "support", "prompt": "support", "model": "default",
                                          "cases_resampled": 3, "runs": 3, "calls_added": 12}]
    assert doc["adaptive"]["max_repeat"] == 3 and doc["adaptive"]["suites"] == ["support"]
    assert doc["run"]["options"]["max_repeat"] == 3  # part of the plan: another max_repeat is another run
    comparison = group["comparisons"]["correctness"]
    assert comparison["discordant"] == [3, 0]  # each broken case failed all three runs: 0/1 means, McNemar
    line = ("repeat auto: 12 calls added (+50% on 24) to run 3 cases again whose first runs disagreed between base "
            "and head, 3 runs a side (max_repeat 3)")
    assert any(out.startswith(line) for out in run.stdout.splitlines()), run.stdout
    assert f"- {line}" in (latest_report_dir(root) / "report.md").read_text()
    assert f'<p class="adaptive">{line}' in (latest_report_dir(root) / "report.html").read_text()
    assert group["metrics"]["correctness"] == 9 / 12  # levels from the first runs

    # The extra runs are ordinary cached calls: the same command again sends nothing.
    sent = server.request_count
    again = cli(root, "eval", "--baseline", "main")
    assert again.code == 1 and server.request_count == sent
    assert results_json(root)["adaptive"]["calls_added"] == 12

    # A number on the command line wins over the suite's auto.
    fixed = cli(root, "eval", "--baseline", "main", "--repeat", "2")
    assert fixed.code == 1 and "adaptive" not in results_json(root)
    assert "repeat auto" not in fixed.stdout


def test_a_no_op_change_adds_no_calls(tmp_path: Path, server: StandinServer) -> None:
    root = _adaptive_repo(tmp_path, server)
    git(root, "checkout", "-q", "main")
    dry = cli(root, "eval", "--baseline", "main", "--repeat", "auto", "--dry-run")
    assert dry.code == 0 and "dry run: 1 suites, 24 calls" in dry.stdout
    assert "note: repeat auto: these are the first runs; cases whose first runs disagree" in dry.stdout
    run = cli(root, "eval", "--baseline", "main", "--repeat", "auto")
    assert run.code == 0, run.stdout + run.stderr
    assert results_json(root)["adaptive"]["calls_added"] == 0
    assert "repeat auto: every case's first runs agreed at base and head; no calls added (24 calls)" in run.stdout


def test_a_saved_baseline_cannot_be_sampled_again_and_says_so(tmp_path: Path, server: StandinServer) -> None:
    root = _adaptive_repo(tmp_path, server)
    git(root, "checkout", "-q", "main")
    saved = tmp_path / "saved"
    assert cli(root, "eval", "--no-baseline", "--out", str(saved)).code == 0
    git(root, "checkout", "-q", "change")
    run = cli(root, "eval", "--baseline-results", str(saved / "results.json"))
    assert run.code == 1, run.stdout + run.stderr
    assert results_json(root)["adaptive"]["calls_added"] == 0
    assert "repeat auto: the baseline is a saved results.json, whose runs cannot be repeated" in run.stdout


def test_bad_repeat_settings_name_the_file_and_line(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server, suite=SIM_SUITE, cases=_numbered_cases(3))
    (root / "evals" / "support" / "suite.yaml").write_text(SIM_SUITE + "repeat: often\n")
    run = cli(root, "check")
    assert run.code == 2
    assert "evals/support/suite.yaml:5: 'repeat' in suite must be an integer between 1 and 1,000 or auto, got 'often'" \
        in run.stdout + run.stderr
    (root / "evals" / "support" / "suite.yaml").write_text(SIM_SUITE + "repeat: auto\n")
    config = root / "llmops.yaml"
    config.write_text(config.read_text().replace("retries: 2}", "retries: 2, max_repeat: 50}"))
    run = cli(root, "check")
    assert run.code == 2
    assert "llmops.yaml:4: 'max_repeat' in limits must be between 1 and 20, got 50" in run.stdout + run.stderr
    config.write_text(config.read_text().replace("max_repeat: 50", "max_repeat: 4"))
    assert cli(root, "check").code == 0
    for bad in ("0", "x", "1001"):
        run = cli(root, "eval", "--no-baseline", "--repeat", bad)
        assert run.code == 2 and f"--repeat '{bad}': use a number of runs per case from 1 to 1,000, or auto" \
            in run.stdout + run.stderr


def test_power_estimates_the_repeats_a_drop_needs_from_the_last_comparison(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server, suite=SIM_SUITE, cases=_numbered_cases(40))
    nothing = cli(root, "eval", "--power", "0.05")
    assert nothing.code == 2 and "--power: no stored run compared a suite with a baseline yet" in nothing.stderr
    git(root, "checkout", "-q", "-b", "reworded")
    prompt = root / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace("Answer in JSON", "Thank you. Answer in JSON"))  # new requests
    commit_all(root, "Reword")
    server.configure(noise=0.2, seed=4)
    assert cli(root, "eval", "--baseline", "main").code in (0, 1)
    (group,) = results_json(root)["groups"]
    b, c = group["comparisons"]["correctness"]["discordant"]
    assert min(b, c) > 0  # noise both ways
    sent = server.request_count
    run = cli(root, "eval", "--power", "0.2")
    assert run.code == 0, run.stdout + run.stderr
    assert server.request_count == sent  # nothing is called
    noise = 2 * min(b, c) / 40
    needed = repeats_needed(40, noise, 0.2, ALPHA)
    assert needed is not None
    (line,) = run.stdout.splitlines()
    assert line.startswith("power: support x default (prompt support, run ")
    assert f"40 paired cases): base and head disagree on {noise:.0%} of runs by noise" in line
    assert f"20 points needs repeat: {needed} ({2 * 40 * needed:,} calls a comparison)" in line
    # The fewest repeats whose detectable drop reaches 20 points; 5 points is below what 40 cases can ever show.
    at_needed = repeat_drop(40, noise, needed, ALPHA)
    assert at_needed is not None and at_needed <= 0.2
    assert needed == 1 or (repeat_drop(40, noise, needed - 1, ALPHA) or 1.0) > 0.2
    small = cli(root, "eval", "--power", "0.05")
    assert "no number of runs sees 5 points with 40 cases (add cases)" in small.stdout


def test_sharded_adaptive_runs_merge_into_the_whole_runs_verdict(tmp_path: Path, server: StandinServer) -> None:
    """Each shard samples its own disagreeing cases again; merged, the shards give the unsharded run's
    levels, comparison, gate and account of the calls added."""
    root = _adaptive_repo(tmp_path, server)
    assert cli(root, "eval", "--baseline", "main", "--out", str(tmp_path / "whole")).code == 1
    for i in (1, 2):
        assert cli(root, "eval", "--baseline", "main", "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")).code == 1
    merged = cli(root, "merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged"))
    assert merged.code == 1, merged.stdout + merged.stderr
    whole, doc = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("whole", "merged"))
    assert doc["adaptive"] is not None and doc["adaptive"]["calls_added"] == whole["adaptive"]["calls_added"] == 12
    assert doc["adaptive"]["groups"] == whole["adaptive"]["groups"]
    (group,), (whole_group,) = doc["groups"], whole["groups"]
    assert group["comparisons"] == whole_group["comparisons"]
    assert group["metrics"]["correctness"] == whole_group["metrics"]["correctness"]
    assert doc["gate"]["status"] == whole["gate"]["status"] == "failed"
    assert "repeat auto: 12 calls added" in merged.stdout
