"""The `judge` assertion end to end: the engine in process, real litellm over real HTTP to the stand-in
acting as the judge, a real SQLite store.

The model under test is `openai/gpt-4o-mini` and the judge `openai/standin-1` on the same stand-in, so the
stand-in's per-model counter tells judge requests apart from the model's. The stand-in grades
deterministically (see its module docstring): the share of the rubric's "quoted" phrases the answer
contains, or for faithfulness the share of answer words found in the context. A `[standin: ...]`
directive inside a rubric reaches only the judge's request, which is how a malformed verdict and a judge
outage are forced.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_reports import check_results_schema

from llmops_cli import providers
from llmops_cli._standin import StandinServer, answer, judge_answer
from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
from llmops_cli.errors import InputError
from llmops_cli.plan import grader_config_problems
from llmops_cli.project import load_project
from llmops_cli.scoring import judge
from llmops_cli.scoring.base import GraderError
from llmops_cli.scoring.graders import grader_key
from llmops_cli.source import WorkTree
from llmops_cli.store import GraderRole, Store

RUBRIC = 'The reply mentions "refund"'
PROMPT = """model: default
messages:
  - {role: system, content: "You are the support desk of Acme."}
  - {role: user, content: "{{ ticket }}"}
"""


def config(base_url: str, *, judge_model: str | None = "judge", extra: str = "",
           limits: str = "{concurrency: 4, timeout_s: 5, retries: 2}") -> str:
    endpoint = f"api_base: '{base_url}', api_key_env: STANDIN_KEY"
    return (f"version: 1\nmodels:\n"
            f"  default: {{model: openai/gpt-4o-mini, {endpoint}, "
            f"input_cost_per_token: 0.000001, output_cost_per_token: 0.000002}}\n"
            f"  judge: {{model: openai/standin-1, {endpoint}, input_cost_per_token: 0.00001, output_cost_per_token: 0.00003}}\n"
            + (f"judge_model: {judge_model}\n" if judge_model else "")
            + f"limits: {limits}\ngate: {{baseline: main}}\nredact: [email]\n{extra}")


def reply(text: str) -> str:
    """A ticket that makes the model under test answer `text` literally."""
    return f"[standin: reply={text}]"


def write(root: Path, base_url: str, suite: str, cases: list[dict[str, Any]], **config_args: Any) -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "support").mkdir(parents=True, exist_ok=True)
    (root / "llmops.yaml").write_text(config(base_url, **config_args))
    (root / "prompts" / "support.yaml").write_text(PROMPT)
    (root / "evals" / "support" / "suite.yaml").write_text(suite)
    (root / "evals" / "support" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return root


def run(root: Path, **options: Any) -> EvalResult:
    result = evaluate(root, EvalOptions(no_baseline=True, **options))
    assert isinstance(result, EvalResult)
    check_results_schema(result.document.to_json())
    return result


def cases_of(result: EvalResult) -> dict[str, dict[str, Any]]:
    (group,) = result.document.to_json()["groups"]
    return {c["case_id"]: c for c in group["cases"]}


def by_model(server: StandinServer) -> dict[str, int]:
    return dict(server.stats()["by_model"])


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    shutil.rmtree(dst / ".llmops" / "reports")
    return dst


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "BACKOFF_BASE_S", 0.01)


GRADED_SUITE = f"""prompt: support
models: [default]
assert: [{{type: judge, rubric: '{RUBRIC}', threshold: 0.7}}]
"""
GRADED_CASES = [
    {"id": "mentions-refund", "vars": {"ticket": reply("Your refund is on its way; we wrote to ada@example.com.")}},
    {"id": "no-refund", "vars": {"ticket": reply("Please restart the app and try again.")}},
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer, module_env: None
           ) -> tuple[Path, EvalResult, dict[str, int]]:
    standin.reset()
    standin.configure(latency_ms=0, noise=0.0)
    root = write(tmp_path_factory.mktemp("judge") / "proj", standin.base_url, GRADED_SUITE, GRADED_CASES)
    result = run(root)
    return root, result, by_model(standin)


# --- verdicts -----------------------------------------------------------------------------------


def test_a_passing_and_a_failing_verdict(graded: tuple[Path, EvalResult, dict[str, int]]) -> None:
    _, result, requests = graded
    assert requests == {"gpt-4o-mini": 2, "standin-1": 2}, "one answer and one judge call per case"
    cases = cases_of(result)
    good, bad = cases["mentions-refund"]["runs"][0], cases["no-refund"]["runs"][0]
    assert good["passed"] and good["error"] is None
    assert good["assertions"] == [{"type": "judge", "passed": True,
                                   "message": "judge-v2 score 1.00 >= 0.7: mentions every quoted phrase"}]
    assert not bad["passed"] and bad["error"] is None, "a low score is a failed check, not an error"
    assert bad["assertions"] == [{"type": "judge", "passed": False, "message": "judge-v2 score 0.00 < 0.7: missing refund"}]
    (grader,) = good["graders"]
    assert (grader["kind"], grader["version"], grader["model"], grader["score"]) == ("judge", "judge-v2", "judge", 1.0)


def test_judge_calls_are_counted_and_costed_apart(graded: tuple[Path, EvalResult, dict[str, int]]) -> None:
    _, result, _ = graded
    (group,) = result.document.to_json()["groups"]
    m = group["metrics"]
    runs = [c["runs"][0] for c in group["cases"]]
    graders = [g for r in runs for g in r["graders"]]
    assert (m["judge_calls"], m["judge_errors"], m["judge_cached"]) == (2, 0, 0)
    assert m["judge_cost_usd"] == pytest.approx(sum(g["cost_usd"] for g in graders)) and m["judge_cost_usd"] > 0
    assert m["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in runs)), "the model's cost holds no judge cost"
    assert m["tokens_in"] == sum(r["tokens_in"] for r in runs)
    assert m["tokens_in"] < sum(g["tokens_in"] for g in graders), "judge prompts are longer: they would show if mixed in"
    assert (m["error_rate"], m["errors"], m["correctness"]) == (0.0, 0, 0.5)


def test_judge_calls_are_traced_and_redacted(graded: tuple[Path, EvalResult, dict[str, int]]) -> None:
    root, result, _ = graded
    with Store(root) as store:
        rows = [r for r in store.results(result.document.run.id) if r.grader is not None]
    assert [(r.side, r.grader) for r in rows] == [("head", GraderRole("judge", "default", 0))] * 2
    assert {(r.model, r.model_id) for r in rows} == {("judge", "openai/standin-1")}
    trace = next(r for r in rows if r.case_id == "mentions-refund")
    system, user = trace.messages
    assert system["content"] == judge.SYSTEM and RUBRIC in user["content"]
    assert "Your refund is on its way" in user["content"]
    assert "ada@example.com" not in json.dumps(trace.messages), "the judge's prompt is redacted like any call"
    assert json.loads(trace.output or "") == {"score": 1.0, "reason": "mentions every quoted phrase"}
    assert trace.cost_usd and trace.attempts == 1 and not trace.cached


def test_rerun_serves_the_judge_from_the_cache(graded: tuple[Path, EvalResult, dict[str, int]], server: StandinServer,
                                               tmp_path: Path) -> None:
    root = copy_project(graded[0], tmp_path / "proj")
    again = run(root)
    assert server.stats()["requests"] == 0, "an unchanged rerun sends nothing, verdicts included"
    m = again.document.to_json()["groups"][0]["metrics"]
    assert (m["judge_calls"], m["judge_cached"], m["cached_calls"]) == (2, 2, 2)
    assert {k: c["passed"] for k, c in cases_of(again).items()} == {"mentions-refund": True, "no-refund": False}


def test_a_fully_cached_graded_run_never_imports_litellm(graded: tuple[Path, EvalResult, dict[str, int]],
                                                         server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(graded[0], tmp_path / "proj")
    code = ("import sys; from pathlib import Path; from llmops_cli.commands.eval import EvalOptions, evaluate; "
            "r = evaluate(Path('.'), EvalOptions(no_baseline=True)); print(r.exit_code, 'litellm' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["0", "False"], done.stdout + done.stderr
    assert server.stats()["requests"] == 0


def test_offline_a_missing_verdict_is_a_miss(graded: tuple[Path, EvalResult, dict[str, int]], server: StandinServer,
                                             tmp_path: Path) -> None:
    root = copy_project(graded[0], tmp_path / "proj")
    suite = root / "evals" / "support" / "suite.yaml"
    suite.write_text(suite.read_text().replace('mentions "refund"', 'mentions "refund" and "email"'))
    result = run(root, offline=True)
    assert server.stats()["requests"] == 0
    assert result.exit_code == 3 and result.document.to_json()["gate"]["status"] == "incomplete"
    assert any("--offline: 2 calls not in the cache" in r for r in result.document.to_json()["gate"]["reasons"])
    assert result.document.to_json()["groups"] == [], "an answer without its verdict is never scored"


# --- a judge error is an error, never a pass ------------------------------------------------------


def test_malformed_verdicts_make_the_case_an_error(tmp_path: Path, server: StandinServer) -> None:
    suite = "prompt: support\nmodels: [default]\nthresholds:\n  correctness: {min: 0.9}\n"
    answer = reply("Your refund is on its way.")  # the rubric is met: only the judge's reply is wrong
    cases = [
        {"id": "ok", "vars": {"ticket": answer}, "assert": [{"type": "judge", "rubric": RUBRIC}]},
        {"id": "not-json", "vars": {"ticket": answer},
         "assert": [{"type": "judge", "rubric": RUBRIC + " " + reply("Sure! I would give it a 1.")}]},
        {"id": "out-of-range", "vars": {"ticket": answer},
         "assert": [{"type": "judge", "rubric": RUBRIC + " " + reply('{"score": 7, "reason": "great"}')}]},
        {"id": "extra-keys", "vars": {"ticket": answer},
         "assert": [{"type": "judge", "rubric": RUBRIC + " " + reply('{"score": 1, "reason": "ok", "pass": true}')}]},
    ]
    root = write(tmp_path / "proj", server.base_url, suite, cases,
                 limits="{concurrency: 4, timeout_s: 5, retries: 2, max_error_rate: 0.9}")
    result = run(root)
    cases_by_id = cases_of(result)
    assert cases_by_id["ok"]["passed"]
    for case_id in ("not-json", "out-of-range", "extra-keys"):
        (r,) = cases_by_id[case_id]["runs"]
        assert not r["passed"] and not cases_by_id[case_id]["passed"], case_id
        assert r["error_class"] == "judge_malformed" and "judge (judge-v2, model judge) failed" in r["error"]
        assert r["output"] == "Your refund is on its way.", "the model's answer is kept"
        assert r["graders"][0]["error_class"] == "judge_malformed" and r["graders"][0]["score"] is None
    assert "did not answer JSON" in cases_by_id["not-json"]["runs"][0]["error"]
    assert "from 0 to 1" in cases_by_id["out-of-range"]["runs"][0]["error"]
    m = result.document.to_json()["groups"][0]["metrics"]
    assert (m["errors"], m["judge_errors"], m["error_classes"]) == (3, 3, {"judge_malformed": 3})
    assert m["correctness"] == 0.25 and m["error_rate"] == 0.75
    assert result.exit_code == 1 and result.document.to_json()["gate"]["status"] == "failed", "under the tolerance: a failed case"
    # An unreadable verdict is not cached: a rerun asks the judge again.
    before = by_model(server).get("standin-1", 0)
    run(root)
    assert by_model(server)["standin-1"] - before == 3


def test_a_judge_outage_is_an_error_and_makes_the_run_incomplete(tmp_path: Path, server: StandinServer) -> None:
    cases = [{"id": "ok", "vars": {"ticket": reply("Your refund is on its way.")}},
             {"id": "judge-down", "vars": {"ticket": reply("Your refund is on its way!")},
              "assert": [{"type": "judge", "rubric": "Polite [standin: fault=500]"}]}]
    root = write(tmp_path / "proj", server.base_url, "prompt: support\nmodels: [default]\n", cases)
    result = run(root)
    assert by_model(server) == {"gpt-4o-mini": 2, "standin-1": 3}, "the judge was retried (retries: 2)"
    (r,) = cases_of(result)["judge-down"]["runs"]
    assert not r["passed"] and r["error_class"] == "judge_server_error" and r["graders"][0]["attempts"] == 3
    doc = result.document.to_json()
    assert result.exit_code == 3 and doc["gate"]["status"] == "incomplete"
    assert any("error rate 50.0% over max_error_rate" in reason and "judge_server_error 1" in reason
               for reason in doc["gate"]["reasons"]), doc["gate"]["reasons"]
    md = (result.report_dir / "report.md").read_text()  # type: ignore[operator]
    assert "judge-down" in md and "judge_server_error" in md


# --- faithfulness --------------------------------------------------------------------------------


def test_faithfulness_variant(tmp_path: Path, server: StandinServer) -> None:
    context = "Our office is in Lisbon and opens at nine every weekday."
    spec = {"type": "judge", "variant": "faithfulness", "context_var": "context", "threshold": 0.7}
    cases = [{"id": "faithful", "vars": {"context": context, "ticket": reply("Our office in Lisbon opens at nine.")}},
             {"id": "made-up", "vars": {"context": context, "ticket": reply("Our office in Madrid opens at noon.")}}]
    suite = f"prompt: support\nmodels: [default]\nassert: [{json.dumps(spec)}]\n"
    root = write(tmp_path / "proj", server.base_url, suite, cases)
    result = run(root)
    by_id = cases_of(result)
    assert by_id["faithful"]["passed"]
    assert not by_id["made-up"]["passed"] and by_id["made-up"]["runs"][0]["error"] is None
    assert by_id["made-up"]["runs"][0]["assertions"][0]["message"].startswith("judge-v2 score 0.50 < 0.7: 2 of 4 answer words")
    with Store(root) as store:
        (trace,) = [r for r in store.results(result.document.run.id)
                    if r.grader is not None and r.grader.kind == "judge" and r.case_id == "made-up"]
    assert f"<context>\n{context}\n</context>" in trace.messages[1]["content"]


# --- validation: before anything is sent -----------------------------------------------------------


def test_a_judge_without_a_model_is_an_input_error(tmp_path: Path, server: StandinServer) -> None:
    root = write(tmp_path / "proj", server.base_url, GRADED_SUITE, GRADED_CASES, judge_model=None)
    with pytest.raises(InputError) as raised:
        run(root)
    (problem,) = raised.value.problems
    assert str(problem).startswith("evals/support/suite.yaml:3: judge assertion needs a model: set judge_model")
    assert server.stats()["requests"] == 0
    assert [str(p) for p in grader_config_problems(load_project(WorkTree(root))).items] == [str(problem)]
    # a per-assertion model is enough; an unknown one is named
    (root / "evals/support/suite.yaml").write_text(GRADED_SUITE.replace("threshold: 0.7", "threshold: 0.7, model: judge"))
    assert not grader_config_problems(load_project(WorkTree(root))).items
    (root / "evals/support/suite.yaml").write_text(GRADED_SUITE.replace("threshold: 0.7", "threshold: 0.7, model: jugde"))
    (problem,) = grader_config_problems(load_project(WorkTree(root))).items
    assert "unknown model alias 'jugde'" in str(problem)


def test_faithfulness_needs_the_context_variable(tmp_path: Path, server: StandinServer) -> None:
    spec = {"type": "judge", "variant": "faithfulness", "context_var": "context"}
    cases = [{"id": "no-context", "vars": {"ticket": "hi"}, "assert": [spec]}]
    root = write(tmp_path / "proj", server.base_url, "prompt: support\nmodels: [default]\n", cases)
    with pytest.raises(InputError) as raised:
        run(root)
    assert [str(p) for p in raised.value.problems] == [
        "evals/support/cases.jsonl:1: case 'no-context': judge assertion: context_var 'context' is not a variable of this case"]


@pytest.mark.parametrize(("spec", "problem"), [
    ({}, "missing required key 'rubric'"),
    ({"rubric": "x", "threshold": 2}, "'threshold' must be a number from 0 to 1"),
    ({"rubric": "x", "variant": "vibes"}, "'variant' must be one of faithfulness"),
    ({"variant": "faithfulness"}, "needs 'context_var'"),
    ({"rubric": "x", "rubrik": "y"}, "unknown key 'rubrik'"),
])
def test_judge_spec_validation(spec: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in judge.JUDGE.validate(spec)), judge.JUDGE.validate(spec)


# --- the grading prompt, its parser, and the stand-in's rule --------------------------------------


@pytest.mark.parametrize("text", ['{"score": 0.8}', '{"score": "high", "reason": "x"}', '{"score": true, "reason": "x"}',
                                  '{"score": -0.1, "reason": "x"}', "[0.8]", '```json\n{"score": 1, "reason": "x"}\n```',
                                  "", "score: 1"])
def test_the_verdict_parser_is_strict(text: str) -> None:
    with pytest.raises(GraderError):
        judge.parse(text)


def test_the_verdict_parser_reads_a_verdict() -> None:
    grade = judge.parse('{"score": 1, "reason": "fine"}')
    assert (grade.score, grade.reason) == (1.0, "fine")


def test_the_grading_prompt_is_versioned() -> None:
    call = judge.request("The answer.", {"rubric": "R"}, {})
    assert call.params["response_format"] == {"type": "json_object"} and call.params["temperature"] == 0
    from llmops_cli.config import ModelSpec

    spec = ModelSpec("judge", "openai/standin-1")
    assert grader_key(judge.GRADER_VERSION, "chat", spec, call.params, call.messages) != grader_key(
        "judge-v0", "chat", spec, call.params, call.messages), "a new grading prompt version never reuses old verdicts"


def test_the_grading_prompt_carries_nothing_for_the_standin() -> None:
    """The production prompt is what a real judge model reads: no marker that exists for the stand-in."""
    for spec, case_vars in [({"rubric": RUBRIC}, {}), ({"variant": "faithfulness", "context_var": "doc"}, {"doc": "D"})]:
        for message in judge.request("The answer.", spec, case_vars).messages:
            assert "llmops" not in message["content"].lower() and "standin" not in message["content"].lower(), message


def test_the_standin_knows_a_grading_request_by_the_prompts_shape() -> None:
    """Rubric and answer between tags, and a system text asking for a JSON score: that is a grading
    request; either half alone is an ordinary chat (a prompt may talk about rubrics, or ask for JSON)."""
    import random

    def reply(messages: list[dict[str, str]]) -> Any:
        return json.loads(answer(messages, True, False, random.Random(0)))

    graded = judge.request("Your refund is on its way.", {"rubric": RUBRIC}, {})
    assert reply(graded.messages) == {"score": 1.0, "reason": "mentions every quoted phrase"}
    faithful = judge.request("refunds take days", {"variant": "faithfulness", "context_var": "doc"}, {"doc": "refunds take days"})
    assert reply(faithful.messages)["score"] == 1.0
    tags_only = [{"role": "system", "content": "You are a tutor. Answer in JSON."}, graded.messages[1]]
    assert "score" not in reply(tags_only)
    score_only = [graded.messages[0], {"role": "user", "content": "How would you score this essay?"}]
    assert "score" not in reply(score_only)


def test_the_standin_judge_rule() -> None:
    def grade(user: str) -> dict[str, Any]:
        return dict(json.loads(judge_answer(user)))

    assert grade('<rubric>says "a" and "b"</rubric><answer>only A here</answer>')["score"] == 0.5
    assert grade("<rubric>be nice</rubric><answer></answer>")["score"] == 0.0
    assert grade("<context>cats sleep often</context><rubric>r</rubric><answer>cats sleep rarely</answer>")["score"] == 0.67
    assert grade("<rubric>r</rubric><answer>an answer quoting </answer> inside</answer>")["score"] == 1.0
