"""`llmops runs`, `llmops show RUN`, `llmops report RUN`: past runs, re-rendered from the store."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from conftest import git
from test_gate import REGRESSED, WORSE_PROMPT, cli, commit_all, latest_report_dir, make_repo, stdout_regressions

from llmops_cli._standin import StandinServer


def test_runs_show_and_report_rerender_a_past_run(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    main_sha = git(root, "rev-parse", "HEAD").strip()
    passed = cli(root, "eval", "--no-baseline")
    assert passed.code == 0
    passed_id = re.search(r"· run (\S+)", passed.stdout)[1]  # type: ignore[index]
    git(root, "checkout", "-q", "-b", "shorter-prompt")
    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    pr_sha = commit_all(root, "Drop the label list")
    failed = cli(root, "eval", "--baseline", "main")
    assert failed.code == 1
    failed_id = re.search(r"· run (\S+)", failed.stdout)[1]  # type: ignore[index]
    original_dir = latest_report_dir(root)
    assert original_dir.name == failed_id
    assert cli(root, "diff", "support", "main", "--run").code == 0  # leaves a scratch run in the store

    listed = cli(root, "runs")
    assert listed.code == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [row[0] for row in rows] == [failed_id, passed_id]  # newest first; no diff scratch run
    assert rows[0][3:5] == ["failed", pr_sha[:10]] and rows[1][3:5] == ["passed", main_sha[:10]]

    shown = cli(root, "show", failed_id[:-2])  # a prefix is enough
    assert shown.code == 0, shown.stderr
    assert stdout_regressions(shown) == REGRESSED
    assert f"gate: failed (exit 1) · run {failed_id}" in shown.stdout
    summary = lambda out: [line for line in out.splitlines() if not line.startswith(("reports:", "note:"))]  # noqa: E731
    assert summary(shown.stdout) == summary(failed.stdout)

    out = tmp_path / "rerendered"
    report = cli(root, "report", failed_id, "--format", "md,json,junit", "--out", str(out))
    assert report.code == 0, report.stderr
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.md", "results.json"]
    original = json.loads((original_dir / "results.json").read_text())
    again = json.loads((out / "results.json").read_text())
    assert again["gate"] == original["gate"] and again["gate"]["status"] == "failed"
    assert again["groups"] == original["groups"]
    assert again["suites"] == original["suites"]
    assert again == original  # nothing else differs either (run, suites, finished_at)
    assert (out / "report.md").read_text() == (original_dir / "report.md").read_text()
    assert (out / "junit.xml").read_text() == (original_dir / "junit.xml").read_text()


def test_unknown_and_scratch_runs_are_clear_errors(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    assert cli(root, "diff", "support", "main", "--run").code == 0
    assert cli(root, "runs").stdout == ""  # only scratch runs so far: nothing to list

    missing = cli(root, "show", "nosuch")
    assert missing.code == 2
    assert missing.stderr.strip().splitlines() == [
        "error: run 'nosuch' not found in .llmops/llmops.db; `llmops runs` lists them"]

    with sqlite3.connect(root / ".llmops" / "llmops.db") as db:
        (scratch_id,) = [row[0] for row in db.execute("SELECT id FROM runs WHERE kind = 'diff'")]
    assert re.fullmatch(r"\d{8}-\d{6}-diff-[0-9a-f]{6}", scratch_id), scratch_id
    scratch = cli(root, "show", scratch_id)
    assert scratch.code == 2, scratch.stdout + scratch.stderr
    lines = scratch.stderr.strip().splitlines()
    assert len(lines) == 1 and "llmops diff --run" in lines[0]
    assert cli(root, "report", scratch_id, "--out", str(tmp_path / "r")).code == 2


def test_rerun_runs_are_listed_and_shown_as_reruns(tmp_path: Path, server: StandinServer) -> None:
    from test_rerun import write_traces

    root = make_repo(tmp_path / "repo", server)
    assert cli(root, "eval", "--no-baseline").code == 0
    write_traces(tmp_path / "traces.jsonl", n=6)
    rerun = cli(root, "rerun", str(tmp_path / "traces.jsonl"), "--prompt", "support", "--model", "default")
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    rerun_id = next(p.name for p in (root / ".llmops" / "reports").iterdir() if "-rerun-" in p.name)
    assert re.fullmatch(r"\d{8}-\d{6}-rerun-[0-9a-f]{6}", rerun_id), rerun_id

    listed = cli(root, "runs")
    assert listed.code == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][0] == rerun_id and rows[1][3] == "passed"
    assert rows[0][3:5] == ["rerun", "complete"]  # a kind, its status: never "gate passed, 0 suites"
    assert "6 traces replayed" in listed.stdout.splitlines()[0] and "suite x model" not in listed.stdout.splitlines()[0]
    assert rows[1][3] == "passed" and "suite x model" in listed.stdout.splitlines()[1]

    shown = cli(root, "show", rerun_id)
    assert shown.code == 0, shown.stdout + shown.stderr
    assert f"rerun run {rerun_id}" in shown.stdout and "6 traces replayed" in shown.stdout

    report = cli(root, "report", rerun_id, "--out", str(tmp_path / "again"))
    assert report.code == 0, report.stdout + report.stderr
    assert (tmp_path / "again").is_dir() and any((tmp_path / "again").iterdir())


def test_runs_of_an_old_store_get_their_kind(tmp_path: Path) -> None:
    """Runs written before runs had a kind column are read by the kind their config names."""
    import sqlite3

    from llmops_cli.store import MIGRATIONS, Store

    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("CREATE TABLE _llmops_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for migration in MIGRATIONS[:4]:
        migration(db)
        db.execute("INSERT INTO _llmops_migrations VALUES (?, 0)", (migration.__name__,))
    for run_id, config in (("e", {"suites": {}}), ("r", {"kind": "rerun", "suites": {}}), ("d", {"kind": "diff"})):
        db.execute("INSERT INTO runs (id, created_at, status, config) VALUES (?, 0, 'complete', ?)",
                   (run_id, json.dumps(config)))
    db.commit()
    db.close()
    (tmp_path / ".llmops").mkdir()
    (tmp_path / "old.db").rename(tmp_path / ".llmops" / "llmops.db")
    store = Store(tmp_path)
    try:
        assert {r.id: r.kind for r in store.list_runs(10)} == {"e": "eval", "r": "rerun", "d": "diff"}
    finally:
        store.close()
