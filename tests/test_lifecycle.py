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
