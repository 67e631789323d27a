"""A run's lifecycle and accounting: crashes, absurd usage, bad baselines, shared requests, unknown cost,
missing keys and signals. Real CLI in a subprocess, real litellm over HTTP to the stand-in, real SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import ENV, FAKE_KEY, Run, case_lines, llmops, results_json, write_project

from llmops_cli._standin import StandinServer


def eval_cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return llmops("eval", "--no-baseline", *args, cwd=root, env={**ENV, **(env or {})})


def runs_table(root: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        return db.execute("SELECT id, status FROM runs ORDER BY created_at").fetchall()
    finally:
        db.close()


def stored_cases(root: Path, run_id: str) -> dict[str, dict[str, Any]]:
    from llmops_cli.store import Store, record_dict

    with Store(root) as store:
        return {r.case_id: record_dict(r) for r in store.results(run_id)}


# --- 7. absurd usage is a malformed response; a crash leaves the run incomplete --------------------


@pytest.mark.parametrize("tokens", ["1" + "0" * 30, "-5"])
def test_absurd_usage_is_a_malformed_response_not_a_crash(tmp_path: Path, server: StandinServer, tokens: str) -> None:
    extra = [{"id": "absurd", "vars": {"product": "Acme", "ticket": f"refund [standin: prompt_tokens={tokens}]"}}]
    root = write_project(tmp_path / "p", server.base_url, cases=case_lines(extra))
    run = eval_cli(root)
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert run.code == 3, run.stdout + run.stderr  # 1 error in 7 calls is over max_error_rate
    ((run_id, status),) = runs_table(root)
    assert status == "incomplete"
    cases = stored_cases(root, run_id)
    assert len(cases) == 7, "every answered call is kept"
    assert cases["absurd"]["error_class"] == "malformed_response" and "usage" in cases["absurd"]["error"]
    assert all(c["output"] is not None for k, c in cases.items() if k != "absurd")
    assert results_json(root)["gate"]["status"] == "incomplete"


def test_a_crash_mid_run_leaves_it_incomplete_with_finished_calls_kept(tmp_path: Path, server: StandinServer) -> None:
    """Any exception out of the run (here the progress display breaking) keeps what finished, marks the run
    incomplete, and the same command resumes it."""
    from llmops_cli.commands.eval import EvalOptions, evaluate
    from llmops_cli.runner import Progress

    root = write_project(tmp_path / "p", server.base_url)

    def broken_display(progress: Progress) -> None:
        if progress.done >= 2:
            raise RuntimeError("terminal went away")

    with pytest.raises(RuntimeError):
        evaluate(root, EvalOptions(no_baseline=True, concurrency=1), broken_display)
    ((run_id, status),) = runs_table(root)
    assert status == "incomplete"
    kept = stored_cases(root, run_id)
    assert len(kept) >= 2 and all(c["output"] for c in kept.values())
    sent = server.stats()["chat"]

    again = eval_cli(root, "--concurrency", "1")
    assert again.code == 0, again.stdout + again.stderr
    assert f"resumed run {run_id}" in again.stdout
    assert server.stats()["chat"] - sent == 6 - len(kept), "no finished call is sent again"


def test_a_document_with_no_groups_never_passes() -> None:
    from llmops_cli.results import build_document
    from llmops_cli.store import RunRow

    run = RunRow("r", 0.0, 1.0, "complete", None, False, None, None, {"suites": {}}, None)
    gate = build_document(run, [], {}).gate
    assert gate.status == "incomplete" and gate.exit_code == 3
    assert any("nothing was checked" in reason for reason in gate.reasons)


# --- 8. a malformed --baseline-results file is an input error; the baseline is part of a run's identity ----


def test_a_malformed_baseline_results_file_is_an_input_error_and_jams_nothing(tmp_path: Path,
                                                                             server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    assert eval_cli(root).code == 0
    good = results_json(root)
    bad = json.loads(json.dumps(good))
    bad["groups"][0]["cases"][1]["runs"][0]["passed"] = "yes"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "good.json").write_text(json.dumps(good))
    before = runs_table(root)

    run = llmops("eval", "--baseline-results", str(tmp_path / "bad.json"), cwd=root, env=ENV)
    assert run.code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "groups[0].cases[1].runs[0].passed" in lines[0] and "bad.json" in lines[0], lines
    assert runs_table(root) == before, "nothing was started"

    again = llmops("eval", "--baseline-results", str(tmp_path / "good.json"), cwd=root, env=ENV)
    assert again.code == 0, again.stdout + again.stderr
    assert "resumed" not in again.stdout
    assert all(status == "complete" for _, status in runs_table(root))


def test_the_baseline_source_is_part_of_a_runs_identity(tmp_path: Path, server: StandinServer) -> None:
    extra = [{"id": "down", "vars": {"product": "Acme", "ticket": "refund [standin: fault=500]"}}]
    root = write_project(tmp_path / "p", server.base_url, cases=case_lines(extra))
    assert eval_cli(root).code == 3  # the outage makes it incomplete: a resumable run
    first = results_json(root)
    (tmp_path / "a.json").write_text(json.dumps(first))
    other = json.loads(json.dumps(first))
    other["groups"][0]["cases"][0]["runs"][0]["output"] = '{"category": "other", "reply": "changed"}'
    (tmp_path / "b.json").write_text(json.dumps(other))

    with_a = llmops("eval", "--baseline-results", str(tmp_path / "a.json"), cwd=root, env=ENV)
    assert with_a.code == 3 and "resumed" not in with_a.stdout, with_a.stdout + with_a.stderr
    with_b = llmops("eval", "--baseline-results", str(tmp_path / "b.json"), cwd=root, env=ENV)
    assert with_b.code == 3 and "resumed" not in with_b.stdout, "another baseline is another run"
    with_a_again = llmops("eval", "--baseline-results", str(tmp_path / "a.json"), cwd=root, env=ENV)
    assert "resumed run" in with_a_again.stdout, with_a_again.stdout + with_a_again.stderr


# --- 11. identical requests inside a run are sent once and counted once -------------------------


def test_identical_requests_in_a_run_are_counted_as_sent_once(tmp_path: Path, server: StandinServer) -> None:
    from test_gate import make_repo

    root = make_repo(tmp_path / "repo", server, cases=case_lines())  # 6 cases; base and head prompts identical
    run = llmops("eval", "--baseline", "main", "--no-cache", "--repeat", "3", cwd=root, env=ENV)
    assert run.code == 0, run.stdout + run.stderr
    assert server.stats()["chat"] == 18  # 6 cases x 3 repeats; the baseline asks the very same requests
    doc = results_json(root)
    (group,) = doc["groups"]
    rows = [r for key in ("cases", "base_cases") for c in group[key] for r in c["runs"]]
    assert len(rows) == 36
    assert sum(1 for r in rows if r["shared"]) == 18 and sum(1 for r in rows if not r["shared"]) == 18
    assert all(r["attempts"] == 0 and not r["cached"] for r in rows if r["shared"])
    sent = group["metrics"]["sent_calls"] + group["base_metrics"]["sent_calls"]
    shared = group["metrics"]["shared_calls"] + group["base_metrics"]["shared_calls"]
    assert (sent, shared) == (18, 18)
    spent = group["metrics"]["spent_usd"] + group["base_metrics"]["spent_usd"]
    assert spent == pytest.approx(sum(r["cost_usd"] for r in rows if not r["shared"]))
    assert "36 scored, 18 sent, 0 from the cache, 18 shared" in run.stdout


# --- 12. unknown is never zero ------------------------------------------------------------------


def test_an_unknown_price_reads_unknown_everywhere(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    config = (root / "llmops.yaml").read_text().replace("openai/gpt-4o-mini", "openai/standin-unpriced-model")
    (root / "llmops.yaml").write_text(config)
    run = eval_cli(root)
    assert run.code == 0, run.stdout + run.stderr
    metrics = results_json(root)["groups"][0]["metrics"]
    assert metrics["cost_usd"] is None and metrics["spent_usd"] is None and metrics["sent_calls"] == 6
    assert "spent unknown" in run.stdout and "$0.0000" not in run.stdout
    report = next((root / ".llmops" / "reports").glob("*/report.md")).read_text()
    summary_row = next(line for line in report.splitlines() if line.startswith("| support |"))
    assert summary_row.split("|")[-3].strip() == "unknown", summary_row


def test_the_cost_of_a_run_where_every_call_failed_is_unknown(tmp_path: Path, server: StandinServer) -> None:
    cases = "".join(json.dumps({"id": f"down-{i}", "vars": {"product": "Acme", "ticket": f"refund {i} [standin: fault=500]"}})
                    + "\n" for i in range(3))
    root = write_project(tmp_path / "p", server.base_url, cases=cases)
    run = eval_cli(root, "--format", "md,json,html")
    assert run.code == 3, run.stdout + run.stderr
    metrics = results_json(root)["groups"][0]["metrics"]
    assert metrics["cost_usd"] is None and metrics["spent_usd"] is None
    assert "0.0000" not in run.stdout and "spent unknown" in run.stdout
    folder = next((root / ".llmops" / "reports").iterdir())
    summary_row = next(line for line in (folder / "report.md").read_text().splitlines() if line.startswith("| support |"))
    assert summary_row.split("|")[-3].strip() == "unknown", summary_row
    assert '<td class="n">unknown</td>' in (folder / "report.html").read_text()


# --- 13. missing credentials stop the run before the first call --------------------------------


def test_a_missing_provider_key_stops_before_any_call(tmp_path: Path, server: StandinServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A model with neither api_key_env nor a loopback endpoint needs its provider's usual variable
    (litellm's validate_environment); here the endpoint too comes from litellm's variable."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    root = write_project(tmp_path / "p", server.base_url)
    config = (root / "llmops.yaml").read_text()
    config = config.replace(f"{{model: openai/gpt-4o-mini, api_base: '{server.base_url}', api_key_env: STANDIN_KEY}}",
                            "openai/gpt-4o-mini")
    assert "STANDIN_KEY" not in config
    (root / "llmops.yaml").write_text(config)
    run = eval_cli(root)
    assert run.code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0] and "'default'" in lines[0], lines
    assert server.stats()["chat"] == 0, "nothing was sent"

    exported = eval_cli(root, env={"OPENAI_API_KEY": "sk-standin-accepts-any-key-000", "OPENAI_BASE_URL": server.base_url})
    assert exported.code == 0, exported.stdout + exported.stderr
    assert server.stats()["chat"] == 6


# --- 14. SIGTERM is an interrupt like Ctrl-C: exit 3, incomplete, resumable, cancelled cleanly -------


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_cleanly_and_it_resumes(tmp_path: Path, server: StandinServer, sig: str) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    cases = "".join(json.dumps({"id": f"c{i:02d}", "vars": {"product": "Acme", "ticket": f"refund order {i}"}}) + "\n"
                    for i in range(30))
    root = write_project(tmp_path / "p", server.base_url, cases=cases)
    server.configure(latency_ms=300)
    command = [sys.executable, "-m", "llmops_cli", "eval", "--no-baseline", "--concurrency", "2"]
    proc = subprocess.Popen(command, cwd=root, env={**os.environ, **ENV}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while server.stats()["chat"] < 4:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the signal"
            time.sleep(0.05)
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, out + err
    assert "never awaited" not in err and "Traceback" not in err, err
    assert "rerun the same command to resume" in err
    ((run_id, status),) = runs_table(root)
    assert status == "incomplete"
    kept = len(stored_cases(root, run_id))
    assert 0 < kept < 30
    server.configure(latency_ms=0)
    again = eval_cli(root, "--concurrency", "2")
    assert again.code == 0 and f"resumed run {run_id}" in again.stdout, again.stdout + again.stderr


# --- one lifecycle for every command that makes a run ----------------------------------------------


def test_a_crash_never_stores_a_key(tmp_path: Path, server: StandinServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text of whatever crashed a run goes into its summary: keys in it (the model's, any credential in
    the environment, a known key format) are masked before it is stored, and before it is cut short."""
    from llmops_cli.commands.eval import EvalOptions, evaluate
    from llmops_cli.runner import Progress

    root = write_project(tmp_path / "p", server.base_url)
    other = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    monkeypatch.setenv("DEPLOY_TOKEN", "deploy-secret-value-42")

    def broken_display(progress: Progress) -> None:
        if progress.done >= 1:
            raise RuntimeError(f"GET https://api.example/v1?key={FAKE_KEY} failed; token deploy-secret-value-42, "
                               f"{other}")

    with pytest.raises(RuntimeError):
        evaluate(root, EvalOptions(no_baseline=True, concurrency=1), broken_display)
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        ((summary,),) = db.execute("SELECT summary FROM runs").fetchall()
    finally:
        db.close()
    assert "RuntimeError: GET https://api.example/v1?key=" in summary, summary
    for secret in (FAKE_KEY, "deploy-secret-value-42", other):
        assert secret not in summary


def test_a_run_that_ends_unfinished_is_incomplete_never_running(tmp_path: Path) -> None:
    """Whatever command made it (here a `diff --run` scratch run), a crash before it finishes marks the run
    incomplete with why: a run left `running` would be resumed into the same crash."""
    from llmops_cli.lifecycle import Run, RunStart
    from llmops_cli.store import Store

    with Store(tmp_path) as store:
        with pytest.raises(RuntimeError), Run.begin(store, RunStart("diff", {"suites": {}})) as run:
            raise RuntimeError("the provider module failed to import")
        row = store.get_run(run.id)
        assert row is not None and row.status == "incomplete" and row.kind == "diff"
        assert row.summary == {"outcome": {"crashed": "RuntimeError: the provider module failed to import"}}
        with pytest.raises(KeyError), Run.begin(store, RunStart("rerun", {})) as failed_judging:
            failed_judging.judge(lambda: {"gate": {}, "run": {}}["missing"], lambda document: document)
        judged = store.get_run(failed_judging.id)
        assert judged is not None and judged.status == "incomplete" and "KeyError" in str(judged.summary)
    assert store.db is not None
    with pytest.raises(sqlite3.ProgrammingError):  # the context manager closed the store
        store.db.execute("SELECT 1")


def test_every_kind_of_run_has_one_id_format_and_its_report_folder(tmp_path: Path, server: StandinServer) -> None:
    """eval, merge, rerun and diff name their runs one way: `<date>-<time>-<what made it>-<6 hex>`, and an
    eval's reports are in `.llmops/reports/<run id>/`."""
    import re

    root = write_project(tmp_path / "p", server.base_url)
    assert eval_cli(root).code == 0
    (run_id, status), = runs_table(root)
    assert re.fullmatch(r"\d{8}-\d{6}-eval-[0-9a-f]{6}", run_id) and status == "complete"
    assert (root / ".llmops" / "reports" / run_id / "results.json").is_file()
    merged = llmops("merge", str(root / ".llmops" / "reports" / run_id), cwd=root, env=ENV)
    assert merged.code == 0, merged.stderr
    merge_id = next(i for i, _ in runs_table(root) if i != run_id)
    assert re.fullmatch(r"\d{8}-\d{6}-merge-[0-9a-f]{6}", merge_id)
    assert results_json(root)["run"]["status"] == "complete" and results_json(root)["run"]["finished_at"] is not None


def test_an_internal_error_line_never_prints_a_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The last-resort `error: internal error:` line goes to a CI log: the environment's keys are masked."""
    from llmops_cli import cli

    monkeypatch.setenv("DEPLOY_TOKEN", "deploy-secret-value-42")

    def crashing(**_: Any) -> None:
        raise RuntimeError("POST failed with token deploy-secret-value-42")

    monkeypatch.setattr(cli, "app", crashing)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: RuntimeError: POST failed with token ") and "deploy-secret" not in err
