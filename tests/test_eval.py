"""`llmops eval --no-baseline` end to end: the real CLI in a subprocess, real litellm over real HTTP to
the stand-in, a real SQLite store. The stand-in's request counter is the ground truth for what was sent.
(An error under the tolerance, scored as a fail, is in test_reports.py's mixed run.)

Each CLI run that makes model calls pays for importing litellm (seconds), so runs that several tests
read are module fixtures, and tests that change a project work on a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ENV, FAKE_KEY, SUPPORT_PROMPT, TICKETS, Run, case_lines, git, kill_when, llmops, results_json, write_project
from test_reports import check_results_schema

from llmops_cli._standin import StandinServer


def config(base_url: str, limits: str = "{concurrency: 8, timeout_s: 5, retries: 2}", extra: str = "") -> str:
    return (f"version: 1\nmodels:\n  default: {{model: openai/gpt-4o-mini, api_base: '{base_url}', "
            f"api_key_env: STANDIN_KEY}}\nlimits: {limits}\ngate: {{baseline: main}}\n{extra}")


def ticket(case_id: str, text: str, label: str = "refund") -> dict[str, Any]:
    return {"id": case_id, "vars": {"product": "Acme", "ticket": text},
            "assert": [{"type": "json_field", "path": "category", "equals": label}]}


def eval_cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return llmops("eval", "--no-baseline", *args, cwd=root, env={**ENV, **(env or {})})


def chat_requests(server: StandinServer) -> int:
    return int(server.stats()["chat"])


def report_dir(root: Path) -> Path:
    return sorted((root / ".llmops" / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)[-1].parent


def cases_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (group,) = doc["groups"]
    return {c["case_id"]: c for c in group["cases"]}


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    shutil.rmtree(dst / ".llmops" / "reports")
    return dst


@dataclass
class Done:
    root: Path
    run: Run
    requests: int
    doc: dict[str, Any]


# --- 1. a passing suite, and what a second run costs -------------------------------------------


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer, module_env: None) -> Done:
    standin.configure(latency_ms=0, noise=0.0)
    root = write_project(tmp_path_factory.mktemp("passing") / "proj", standin.base_url)
    before = chat_requests(standin)
    run = eval_cli(root)
    return Done(root, run, chat_requests(standin) - before, results_json(root))


def test_passing_suite(passing: Done) -> None:
    assert passing.run.code == 0, passing.run.stdout + passing.run.stderr
    assert passing.requests == 6
    doc = passing.doc
    assert doc["gate"] == {"status": "passed", "exit_code": 0, "reasons": [], "skipped": [  # not a git repo: no baseline
        {"suite": "support", "prompt": "support", "model": "default", "metric": "correctness", "bound": "max_drop",
         "why": "run without a baseline"}]}
    assert "not checked: support x default: correctness max_drop: run without a baseline" in passing.run.stdout
    (group,) = doc["groups"]
    m = group["metrics"]
    assert (m["correctness"], m["schema_validity"], m["refusal_rate"], m["errors"], m["cases"]) == (1.0, 1.0, 0.0, 0, 6)
    assert m["tokens_in"] > 0 and m["tokens_out"] > 0 and m["latency_p95_s"] is not None
    assert all(t["passed"] is not False for t in group["thresholds"])
    cases = cases_of(doc)
    assert sorted(cases) == ["bug-2", "bug-3", "other-4", "other-5", "refund-0", "refund-1"]
    for case_id, case in cases.items():
        (run,) = case["runs"]
        assert case["passed"] and run["passed"] and run["error"] is None and run["attempts"] == 1
        assert json.loads(run["output"])["category"] == case_id.split("-")[0]
        assert [a["type"] for a in run["assertions"]] == ["schema", "json_field"]
        assert case["messages"][1] == {"role": "user", "content": TICKETS[int(case_id.split("-")[1])][1]}
        assert case["messages"][0]["content"].startswith("You are the support desk of Acme.")
    assert "gate: passed (exit 0)" in passing.run.stdout


def test_rerun_is_served_from_the_cache(passing: Done, server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(passing.root, tmp_path / "proj")
    run = eval_cli(root)
    assert run.code == 0, run.stdout + run.stderr
    assert chat_requests(server) == 0, "an unchanged rerun sends nothing"
    doc = results_json(root)
    assert doc["groups"][0]["metrics"]["cached_calls"] == 6
    assert all(r["cached"] and r["attempts"] == 0 for c in cases_of(doc).values() for r in c["runs"])
    assert doc["groups"][0]["metrics"]["correctness"] == 1.0

    run = eval_cli(root, "--no-cache")
    assert run.code == 0, run.stdout + run.stderr
    assert chat_requests(server) == 6, "--no-cache calls every case again"
    assert not any(r["cached"] for c in cases_of(results_json(root)).values() for r in c["runs"])


def test_offline_after_a_full_run(passing: Done, server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(passing.root, tmp_path / "proj")
    run = eval_cli(root, "--offline")
    assert run.code == passing.run.code == 0, run.stdout + run.stderr
    assert chat_requests(server) == 0
    assert results_json(root)["groups"][0]["metrics"]["correctness"] == 1.0


def add_uncached_case(root: Path) -> None:
    with open(root / "evals" / "support" / "cases.jsonl", "a") as handle:
        handle.write(json.dumps(ticket("brand-new-case", "Please refund my subscription")) + "\n")


def test_offline_cache_miss_is_incomplete(passing: Done, server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(passing.root, tmp_path / "proj")
    add_uncached_case(root)
    run = eval_cli(root, "--offline")
    assert run.code == 3, run.stdout + run.stderr
    assert chat_requests(server) == 0
    doc = results_json(root)
    assert doc["gate"]["status"] == "incomplete"
    assert any("--offline" in r and "1 call" in r for r in doc["gate"]["reasons"]), doc["gate"]["reasons"]
    assert "brand-new-case" not in cases_of(doc), "a miss is never scored"


def test_offline_cache_miss_names_the_case(passing: Done, server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(passing.root, tmp_path / "proj")
    add_uncached_case(root)
    run = eval_cli(root, "--offline")
    assert run.code == 3
    assert "brand-new-case" in run.stdout + run.stderr
    assert "brand-new-case" in (report_dir(root) / "report.md").read_text()


def test_step_summary_is_appended(passing: Done, server: StandinServer, tmp_path: Path) -> None:
    root = copy_project(passing.root, tmp_path / "proj")
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    run = eval_cli(root, "--offline", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.code == 0, run.stdout + run.stderr
    text = summary.read_text()
    assert text.startswith("# earlier step\n"), "appended, never overwritten"
    assert "llmops eval" in text and "passed" in text and "| support | support | default | 6 |" in text
    run = eval_cli(root, "--offline", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text().count("## llmops eval") == 2


def test_results_json_and_junit_xml(passing: Done) -> None:
    folder = report_dir(passing.root)
    assert {p.name for p in folder.iterdir()} >= {"report.md", "results.json", "junit.xml"}
    check_results_schema(json.loads((folder / "results.json").read_text()))
    root = ET.parse(folder / "junit.xml").getroot()
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert sorted(c.get("name") for c in cases) == sorted(cases_of(passing.doc))
    assert {c.get("classname") for c in cases} == {"support.default"}
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "0")
    assert not suite.findall(".//failure") and not suite.findall(".//error")


# --- 2. a threshold failure --------------------------------------------------------------------

UNLABELLED_PROMPT = SUPPORT_PROMPT.replace("Classify the ticket as refund, bug or other. ", "Classify the ticket. ")


def test_threshold_failure(tmp_path: Path, server: StandinServer) -> None:
    """Without the label list the stand-in answers with its own labels (billing/technical/general)."""
    assert "refund" not in UNLABELLED_PROMPT.split("messages:")[1].split("user")[0]
    root = write_project(tmp_path / "proj", server.base_url, prompt=UNLABELLED_PROMPT)
    run = eval_cli(root)
    assert run.code == 1, run.stdout + run.stderr
    doc = results_json(root)
    assert doc["gate"]["status"] == "failed"
    m = doc["groups"][0]["metrics"]
    assert m["correctness"] == 0.0 and m["schema_validity"] == 0.0 and m["errors"] == 0
    failed = {(t["metric"], t["bound"]) for t in doc["groups"][0]["thresholds"] if t["passed"] is False}
    assert failed == {("correctness", "min"), ("schema_validity", "min")}
    assert any("correctness 0 breaks min 0.8" in r for r in doc["gate"]["reasons"]), doc["gate"]["reasons"]
    report = (report_dir(root) / "report.md").read_text()
    assert "❌ failed" in report and "correctness 0 breaks min 0.8" in report
    assert "#### Failing cases (6)" in report
    for case_id, expected, got in [("refund-0", "refund", "billing"), ("bug-2", "bug", "technical"),
                                   ("other-5", "other", "general")]:
        line = next(line for line in report.splitlines() if line.startswith(f"- **{case_id}**"))
        assert f"json_field: category: expected '{expected}', got '{got}'" in line, line
        assert "schema: category" in line, line
    assert "FAIL" in run.stdout and "gate: failed (exit 1)" in run.stdout

    # offline, the same answers give the same verdict, and nothing is sent
    before = chat_requests(server)
    again = eval_cli(root, "--offline")
    assert again.code == 1 and chat_requests(server) == before


# --- 3 and 4. provider faults ------------------------------------------------------------------

FAULT_CASES = {
    # id: (directive, attempts, error_class or None, passed)
    "rate-limited": ("fault=429, times=2, retry_after=0.1", 3, None, True),
    "flaky-500": ("fault=500, times=1", 2, None, True),
    "slow-once": ("fault=timeout, sleep_s=3, times=1", 2, None, True),
    "down": ("fault=500", 3, "server_error", False),
    "garbled": ("fault=malformed", 3, "malformed_response", False),
    "cut-off": ("fault=reset", 3, "connection", False),
    "no-choices": ("fault=empty_choices", 3, "empty_choices", False),
    "blocked": ("fault=content_filter", 1, None, False),
}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer, module_env: None) -> Done:
    standin.configure(latency_ms=0, noise=0.0)
    extra = [ticket(case_id, f"I want my money back [standin: {d}]") for case_id, (d, *_) in FAULT_CASES.items()]
    root = write_project(tmp_path_factory.mktemp("faulty") / "proj", standin.base_url, cases=case_lines(extra))
    (root / "llmops.yaml").write_text(config(standin.base_url, "{concurrency: 8, timeout_s: 1, retries: 2}"))
    before = chat_requests(standin)
    run = eval_cli(root)
    return Done(root, run, chat_requests(standin) - before, results_json(root))


def test_faults_are_retried_and_counted(faulty: Done) -> None:
    cases = cases_of(faulty.doc)
    assert len(cases) == 6 + len(FAULT_CASES)
    for case_id, (_, attempts, error_class, passed) in FAULT_CASES.items():
        (run,) = cases[case_id]["runs"]
        assert (run["attempts"], run["error_class"], cases[case_id]["passed"]) == (attempts, error_class, passed), case_id
        assert run["passed"] is passed
    assert all(cases[f"{label}-{i}"]["runs"][0]["attempts"] == 1 for i, label in enumerate(
        ["refund", "refund", "bug", "bug", "other", "other"]))
    total = sum(r["attempts"] for c in cases.values() for r in c["runs"])
    assert faulty.requests == total == 6 + 3 + 2 + 2 + 3 + 3 + 3 + 3 + 1, "attempts are exactly the requests sent"


def test_errors_are_never_passes(faulty: Done) -> None:
    cases = cases_of(faulty.doc)
    m = faulty.doc["groups"][0]["metrics"]
    errored = [c for c in cases.values() if c["runs"][0]["error"]]
    assert {c["case_id"] for c in errored} == {"down", "garbled", "cut-off", "no-choices"}
    for case in errored:
        run = case["runs"][0]
        assert not case["passed"] and case["score"] == 0.0 and not run["passed"] and run["output"] is None
        assert run["schema_valid"] is not True
    assert m["errors"] == 4 and m["error_classes"] == {"server_error": 1, "malformed_response": 1, "connection": 1,
                                                       "empty_choices": 1}
    assert m["correctness"] == pytest.approx(9 / 14), "6 plain + 3 recovered pass; errors and the filtered reply fail"
    blocked = cases["blocked"]["runs"][0]
    assert blocked["refused"] and blocked["error"] is None and blocked["finish_reason"] == "content_filter"
    assert m["refusal_rate"] == pytest.approx(1 / 10)


def test_errors_over_tolerance_make_the_run_incomplete(faulty: Done) -> None:
    assert faulty.run.code == 3, faulty.run.stdout + faulty.run.stderr
    gate = faulty.doc["gate"]
    assert gate["status"] == "incomplete" and gate["exit_code"] == 3
    reason = next(r for r in gate["reasons"] if "error rate" in r)
    for name in ("server_error 1", "malformed_response 1", "connection 1", "empty_choices 1", "max_error_rate"):
        assert name in reason, reason
    assert faulty.doc["groups"][0]["incomplete"] is True
    assert "incomplete" in faulty.run.stdout and "server_error" in faulty.run.stdout
    report = (report_dir(faulty.root) / "report.md").read_text()
    assert "⚠️ incomplete" in report and "error (server_error, 3 attempts)" in report


def test_no_key_is_written_anywhere(faulty: Done) -> None:
    assert os.environ["STANDIN_KEY"] == FAKE_KEY
    written = [p for p in (faulty.root / ".llmops").rglob("*") if p.is_file()]
    assert any(p.name == "llmops.db" for p in written) and any(p.name == "report.md" for p in written)
    for path in written:
        assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert FAKE_KEY not in faulty.run.stdout + faulty.run.stderr


# --- 7. resume after kill -9 -------------------------------------------------------------------


def result_rows(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT count(*) FROM results").fetchone()[0])
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created or not migrated yet
        return 0


def settled_requests(server: StandinServer) -> int:
    """The request count once bytes the killed client already wrote have all reached the server."""
    count = chat_requests(server)
    while True:
        time.sleep(0.3)
        if (now := chat_requests(server)) == count:
            return count
        count = now


def test_resume_after_kill(tmp_path: Path, server: StandinServer) -> None:
    cases = [ticket(f"case-{i:02d}", f"Please refund order number {i}") for i in range(30)]
    root = write_project(tmp_path / "proj", server.base_url, cases="".join(json.dumps(c) + "\n" for c in cases))
    db_path = root / ".llmops" / "llmops.db"
    command = [sys.executable, "-m", "llmops_cli", "eval", "--no-baseline", "--concurrency", "2"]
    server.configure(latency_ms=200)
    kill_when(command, root, lambda: result_rows(db_path) >= 6, env=ENV, within_s=60)
    completed = result_rows(db_path)
    sent_before = settled_requests(server)
    assert 6 <= completed < 30
    assert completed <= sent_before <= completed + 2, "at most `concurrency` calls were in flight"

    server.configure(latency_ms=0)
    run = llmops(*command[3:], cwd=root, env=ENV)
    assert run.code == 0, run.stdout + run.stderr
    assert "resumed run" in run.stdout
    assert chat_requests(server) - sent_before == 30 - completed, "no completed call was sent again"

    doc = results_json(root)
    ids = [c["case_id"] for c in doc["groups"][0]["cases"]]
    assert sorted(ids) == [c["id"] for c in cases], "every case exactly once"
    assert doc["groups"][0]["metrics"]["correctness"] == 1.0
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1, "the killed run was resumed, not restarted"
        assert db.execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone() == (30, 30)
        (status,) = db.execute("SELECT status FROM runs").fetchone()
        assert status == "complete"
    finally:
        db.close()


def test_model_accepts_an_adhoc_litellm_string_with_a_note(project: Path, server: StandinServer) -> None:
    env = {"OPENAI_API_BASE": server.base_url, "OPENAI_API_KEY": "sk-adhoc-test-0000000000"}  # litellm's own variables
    run = llmops("eval", "--no-baseline", "--model", "openai/gpt-4o-mini", cwd=project, env=env)
    assert run.code == 0, run.stdout + run.stderr
    doc = results_json(project)
    assert [g["model"] for g in doc["groups"]] == ["openai/gpt-4o-mini"]
    report = (project / ".llmops" / "reports" / doc["run"]["id"] / "report.md").read_text()
    assert "ad-hoc litellm model string" in report
    typo = llmops("eval", "--no-baseline", "--model", "defualt", cwd=project)
    assert typo.code == 2 and "did you mean 'default'" in typo.stderr


# --- a pull request cannot choose where keys go -------------------------------------------------


@pytest.fixture(scope="module")
def elsewhere() -> Any:
    """A second server on another port: another origin, standing for a host a pull request chooses."""
    with StandinServer(latency_ms=0) as other:
        yield other


def pr_repo(root: Path, base_url: str, head_config: str) -> Path:
    """A repository whose main uses the stand-in, and a checked-out branch with another llmops.yaml."""
    write_project(root, base_url)
    git(root, "init", "-q", "-b", "main")
    assert llmops("lock", cwd=root).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main")
    git(root, "checkout", "-q", "-b", "pr")
    (root / "llmops.yaml").write_text(head_config)
    git(root, "commit", "-qam", "change the endpoint")
    return root


PR_ENV = {"GITHUB_EVENT_NAME": "pull_request"}


def gate_cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return llmops("eval", *args, cwd=root, env={**ENV, **(env or {})})


@pytest.mark.parametrize("change", ["api_base", "api_key_env"])
def test_a_pull_request_cannot_send_a_key_to_an_endpoint_it_chose(tmp_path: Path, server: StandinServer,
                                                                  elsewhere: StandinServer, change: str) -> None:
    elsewhere.reset()
    head = (config(elsewhere.base_url) if change == "api_base"
            else config(server.base_url).replace("api_key_env: STANDIN_KEY", "api_key_env: GITHUB_TOKEN"))
    root = pr_repo(tmp_path / "p", server.base_url, head)
    env = {**PR_ENV, "GITHUB_TOKEN": "ghs_" + "x" * 36}
    sent = server.stats()["chat"]
    for args in (("--baseline", "main"), ()):  # without --baseline the PR's own gate.baseline is not trusted
        run = gate_cli(root, *args, env=env)
        assert run.code == 2, run.stdout + run.stderr
        assert "error: llmops.yaml:3: model 'default' would send" in run.stderr, run.stderr
        assert "--allow-new-endpoints" in run.stderr and "Traceback" not in run.stderr
    assert elsewhere.stats()["requests"] == 0 and server.stats()["chat"] == sent, "nothing may be sent"
    allowed = gate_cli(root, "--baseline", "main", "--no-cache", env={**env, "LLMOPS_ALLOW_NEW_ENDPOINTS": "true"})
    assert allowed.code in (0, 1), allowed.stdout + allowed.stderr  # the workflow opted in: it runs
    if change == "api_base":
        assert elsewhere.stats()["chat"] > 0


@pytest.mark.parametrize("command", ["diff --run", "rerun"])
def test_diff_run_and_rerun_on_a_pull_request_send_no_key_to_an_endpoint_it_chose(
        tmp_path: Path, server: StandinServer, elsewhere: StandinServer, command: str) -> None:
    """Every command that calls a model keeps eval's rule: on a pull request a model whose endpoint the
    trusted llmops.yaml does not use gets no key. `diff --run` trusts a BASE ref named on the command line;
    rerun has no baseline, so only the workflow's opt-in lets such a model run."""
    elsewhere.reset()
    root = pr_repo(tmp_path / "p", server.base_url, config(elsewhere.base_url))
    prompt = root / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace("Classify", "Please classify"))
    git(root, "commit", "-qam", "reword the prompt")
    (tmp_path / "t.jsonl").write_text(json.dumps({"id": "t1", "vars": {"product": "Acme", "ticket": "Refund please"},
                                                  "output": "{}"}) + "\n")
    runs = ([("diff", "support", "main", "--run"), ("diff", "support", "--run")] if command == "diff --run"
            else [("rerun", str(tmp_path / "t.jsonl"), "--prompt", "support", "--model", "default")])
    env = {**ENV, **PR_ENV}
    sent = server.stats()["chat"]
    for args in runs:
        run = llmops(*args, cwd=root, env=env)
        assert run.code == 2, run.stdout + run.stderr
        assert "error: llmops.yaml:3: model 'default' would send $STANDIN_KEY to http://127.0.0.1:" in run.stderr
        assert "--allow-new-endpoints" in run.stderr and "Traceback" not in run.stderr
    assert elsewhere.stats()["requests"] == 0 and server.stats()["chat"] == sent, "nothing may be sent"
    allowed = llmops(*runs[0], cwd=root, env={**env, "LLMOPS_ALLOW_NEW_ENDPOINTS": "true"})
    assert allowed.code in (0, 1), allowed.stdout + allowed.stderr  # the workflow opted in: it runs
    assert elsewhere.stats()["chat"] > 0


def test_outside_a_pull_request_and_for_known_endpoints_nothing_is_refused(tmp_path: Path, server: StandinServer,
                                                                          elsewhere: StandinServer) -> None:
    # The branch adds a model on the endpoint main already uses, and one on litellm's own: allowed.
    head = config(server.base_url).replace("limits:", f"  other: {{model: openai/gpt-4o-mini, api_base: '{server.base_url}/', "
                                           "api_key_env: STANDIN_KEY}\n  plain: openai/gpt-4o-mini\nlimits:")
    root = pr_repo(tmp_path / "p", server.base_url, head)
    assert gate_cli(root, "--baseline", "main", env=PR_ENV).code == 0
    # Not a pull request (a push to main, a developer's machine): the config is the repository's own.
    (root / "llmops.yaml").write_text(config(elsewhere.base_url))
    git(root, "commit", "-qam", "move to another host")
    assert gate_cli(root, "--baseline", "main", env={"GITHUB_EVENT_NAME": "push"}).code == 0


def test_a_key_used_only_at_the_baseline_is_scrubbed_too(tmp_path: Path, server: StandinServer) -> None:
    """The baseline's model reads its key from a variable the head does not use (and whose name
    says nothing of keys); a model echoing it must not put it in the store."""
    staging = "Zeta0Staging1Value2For3Base"
    root = write_project(tmp_path / "p", server.base_url,
                         cases=case_lines([{"id": "echo", "vars": {"product": "Acme", "ticket": f"echo {staging}"}}]))
    (root / "llmops.yaml").write_text(config(server.base_url).replace("STANDIN_KEY", "STAGING"))
    git(root, "init", "-q", "-b", "main")
    assert llmops("lock", cwd=root).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main")
    git(root, "checkout", "-q", "-b", "head")
    (root / "llmops.yaml").write_text(config(server.base_url))
    git(root, "commit", "-qam", "head uses another key variable")
    run = gate_cli(root, "--baseline", "main", env={"STAGING": staging})
    assert run.code in (0, 1), run.stdout + run.stderr
    assert server.stats()["by_model"], "the baseline ran"
    for path in (root / ".llmops").rglob("*"):
        if path.is_file():
            assert staging.encode() not in path.read_bytes(), path


def test_which_endpoints_a_pull_request_may_use() -> None:
    from llmops_cli.config import ModelSpec
    from llmops_cli.trust import new_endpoints, on_pull_request

    def spec(alias: str, **kw: Any) -> ModelSpec:
        return ModelSpec(alias=alias, model="openai/gpt-4o-mini", **kw)

    base = [spec("staging", api_base="https://staging.example/v1", api_key_env="STAGING_KEY"),
            spec("local", api_base_env="LLMOPS_STANDIN_URL")]
    allowed = [spec("staging", api_base="https://staging.example/v1/", api_key_env="STAGING_KEY"),
               spec("copy", api_base="https://staging.example/v1", api_key_env="STAGING_KEY"),
               spec("plain"), spec("loopback", api_base="http://127.0.0.1:9/v1"),
               spec("local", api_base_env="LLMOPS_STANDIN_URL", api_base="http://127.0.0.1:5/v1")]
    refused = [spec("staging", api_base="https://evil.example/v1", api_key_env="STAGING_KEY"),
               spec("other-key", api_base="https://staging.example/v1", api_key_env="GITHUB_TOKEN"),
               spec("default-key", api_base="https://evil.example/v1"),  # litellm would send OPENAI_API_KEY
               spec("env-key", api_key_env="AWS_SECRET_ACCESS_KEY"),
               spec("loopback-key", api_base="http://127.0.0.1:9/v1", api_key_env="OPENAI_API_KEY"),
               spec("other-var", api_base_env="SOME_URL", api_key_env="STAGING_KEY")]
    assert new_endpoints(allowed, base) == []
    assert [s.alias for s in new_endpoints(refused, base)] == [s.alias for s in refused]
    assert on_pull_request({"GITHUB_EVENT_NAME": "pull_request_target"}) and on_pull_request({"LLMOPS_PULL_REQUEST": "true"})
    assert not on_pull_request({"GITHUB_EVENT_NAME": "push"}) and not on_pull_request({})
