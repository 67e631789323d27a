"""Model recommendation and A/B prompt comparison: a suite with several candidates ends its reports with
the prompt x model pairs that pass every gate, cheapest first (cost per 1,000 cases, then p95 latency),
and the failing ones with why.

All models are the stand-in (real litellm, real HTTP) under their own model names; they differ in the
prices llmops.yaml gives them, and `jsony` in a model param (`response_format: json_object`) that makes the
stand-in wrap its answer in JSON, so it fails the exact-match exam while being the cheapest of all.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import FAKE_KEY
from test_reports import check_results_schema

from llmops_cli._standin import StandinServer
from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
from llmops_cli.document import Group, Metrics
from llmops_cli.gate import GateSettings
from llmops_cli.recommend import recommend

PRICES = {"cheap": 1e-7, "mid": 1e-6, "pricey": 1e-4, "jsony": 1e-9}
PROMPTS = {
    "short": 'model: mid\nmessages:\n  - {role: user, content: "What is {{ a }} + {{ b }}?"}\n',
    "long": ('model: mid\nmessages:\n  - {role: system, content: "You are a careful calculator. Think about the numbers, '
             'then give only the result, with no words around it."}\n  - {role: user, content: "What is {{ a }} + {{ b }}?"}\n'),
    "wordy": ('model: mid\nmessages:\n  - {role: system, content: "Answer in JSON."}\n'
              '  - {role: user, content: "What is {{ a }} + {{ b }}?"}\n'),
}


def config(base_url: str) -> str:
    lines = ["version: 1", "models:"]
    for alias, price in PRICES.items():
        params = ", params: {response_format: {type: json_object}}" if alias == "jsony" else ""
        lines.append(f"  {alias}: {{model: openai/standin-{alias}, api_base: '{base_url}', api_key_env: STANDIN_KEY, "
                     f"input_cost_per_token: {price:.10f}, output_cost_per_token: {price:.10f}{params}}}")
    lines += ["limits: {concurrency: 8, timeout_s: 5, retries: 1}", "gate: {baseline: main}", ""]
    return "\n".join(lines)


def project(root: Path, base_url: str, suite: str) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "evals" / "math").mkdir(parents=True)
    (root / "llmops.yaml").write_text(config(base_url))
    for name, text in PROMPTS.items():
        (root / "prompts" / f"{name}.yaml").write_text(text)
    (root / "evals" / "math" / "suite.yaml").write_text(suite)
    cases = [{"id": f"add-{a}-{b}", "vars": {"a": a, "b": b}, "assert": [{"type": "equals", "value": str(a + b)}]}
             for a, b in [(12, 30), (7, 5), (100, 23), (2, 2)]]
    (root / "evals" / "math" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return root


def run(root: Path) -> EvalResult:
    result = evaluate(root, EvalOptions(no_baseline=True, formats=("md", "json", "html")))
    assert isinstance(result, EvalResult)
    check_results_schema(result.document.to_json())
    return result


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_KEY", FAKE_KEY)


def test_recommendation_names_the_cheapest_passing_model(tmp_path: Path, server: StandinServer) -> None:
    suite = ("prompt: short\nmodels: [pricey, jsony, mid, cheap]\n"
             "thresholds:\n  correctness: {min: 0.9}\n")
    result = run(project(tmp_path / "proj", server.base_url, suite))
    assert result.exit_code == 1, "jsony fails its gate"
    advice = result.document.to_json()["suites"]["math"]["recommendation"]
    assert advice["compares"] == "models" and advice["choice"] == {"prompt": "short", "model": "cheap"}
    assert [r["model"] for r in advice["passing"]] == ["cheap", "mid", "pricey"], "by cost, not by suite order"
    costs = [r["cost_per_1k_cases_usd"] for r in advice["passing"]]
    assert costs == sorted(costs) and costs[0] > 0
    groups = {g["model"]: g for g in result.document.to_json()["groups"]}
    cheap = groups["cheap"]["metrics"]
    assert costs[0] == pytest.approx(cheap["cost_usd"] / cheap["cases"] * 1000)
    (failing,) = advice["failing"]
    assert failing["model"] == "jsony" and failing["why"] == ["correctness 0 breaks min 0.9"]
    assert failing["cost_per_1k_cases_usd"] < costs[0], "the cheapest model overall fails, so it is not recommended"

    md = (result.report_dir / "report.md").read_text()  # type: ignore[operator]
    section = md.split("### Recommendation: `math` (compares models)", 1)[1].split("\n---\n")[0]
    assert "**Cheapest passing: `cheap`** (ordered by cost per 1k cases, then p95 latency)." in section
    ranks = re.findall(r"^\| (\d) \| short \| (\w+) \|", section, re.MULTILINE)
    assert ranks == [("1", "cheap"), ("2", "mid"), ("3", "pricey")]
    assert "- `jsony` (prompt `short`): correctness 0 breaks min 0.9" in section
    page = (result.report_dir / "report.html").read_text()  # type: ignore[operator]
    assert '<b class="ok" id="choice-math">cheap</b>' in page


def test_ab_prompts_are_compared_prompt_by_model(tmp_path: Path, server: StandinServer) -> None:
    suite = "prompts: [long, wordy, short]\nmodels: [pricey, cheap]\nthresholds:\n  correctness: {min: 0.9}\n"
    result = run(project(tmp_path / "proj", server.base_url, suite))
    advice = result.document.to_json()["suites"]["math"]["recommendation"]
    assert advice["compares"] == "prompts x models"
    assert advice["choice"] == {"prompt": "short", "model": "cheap"}
    assert [(r["prompt"], r["model"]) for r in advice["passing"]] == [
        ("short", "cheap"), ("long", "cheap"), ("short", "pricey"), ("long", "pricey")], \
        "the longer prompt costs more on the same model; any prompt on the cheap model beats the pricey one"
    assert sorted((r["prompt"], r["model"]) for r in advice["failing"]) == [("wordy", "cheap"), ("wordy", "pricey")]
    assert all(r["why"] == ["correctness 0 breaks min 0.9"] for r in advice["failing"])
    md = (result.report_dir / "report.md").read_text()  # type: ignore[operator]
    assert "**Cheapest passing: `cheap` with prompt `short`**" in md


def test_one_candidate_gets_no_recommendation(tmp_path: Path, server: StandinServer) -> None:
    result = run(project(tmp_path / "proj", server.base_url, "prompt: short\nmodels: [cheap]\n"))
    assert "recommendation" not in result.document.to_json()["suites"]["math"]
    assert "Recommendation" not in (result.report_dir / "report.md").read_text()  # type: ignore[operator]


def _group(model: str, cost: float | None, p95: float | None, passed: bool = True) -> Group:
    metrics = Metrics({"cases": 10, "correctness": 1.0, "cost_usd": cost, "latency_p95_s": p95, "error_rate": 0.0,
                       "errors": 0})
    return Group(suite="s", prompt="p", model=model, model_id=model, passed=passed, incomplete=False,
                 metrics=metrics, thresholds=(), cases=())


def test_ties_break_on_p95_latency_and_unknown_cost_sorts_last() -> None:
    advice = recommend([_group("unpriced", None, 0.1), _group("slow", 0.02, 3.0), _group("fast", 0.02, 1.0),
                        _group("dear", 0.5, 0.1)], GateSettings())
    assert advice is not None
    assert [r.model for r in advice.passing] == ["fast", "slow", "dear", "unpriced"]
    assert advice.passing[0].cost_per_1k_cases_usd == pytest.approx(2.0)
    assert advice.passing[-1].cost_per_1k_cases_usd is None
    nobody = recommend([_group("a", 0.1, 1.0, passed=False), _group("b", 0.2, 1.0, passed=False)], GateSettings())
    assert nobody is not None and nobody.choice is None and [r.why for r in nobody.failing] == [("failed",)] * 2
