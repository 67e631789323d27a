"""A run's lifecycle and accounting: crashes, absurd usage, bad baselines, shared requests, unknown cost,
missing keys and signals. Real CLI in a subprocess, real litellm over HTTP to the stand-in, real SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import ENV, Run, case_lines, llmops, results_json, write_project
from llmops_cli.standin import StandinServer


def eval_cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return llmops("eval", "--no-baseline", *args, cwd=root, env={**ENV, **(env or {})})


def runs_table(root: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        return db.execute("SELECT id, status FROM runs ORDER BY created_at").fetchall()
    finally:
        db.close()


def stored_cases(root: Path, run_id: str) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        rows = db.execute("SELECT case_id, record FROM results WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        db.close()
    return {case_id: json.loads(record) for case_id, record in rows}


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
    document = build_document(run, [], {})
    assert document["gate"]["status"] == "incomplete" and document["gate"]["exit_code"] == 3
    assert any("nothing was checked" in reason for reason in document["gate"]["reasons"])


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
