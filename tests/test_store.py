"""The SQLite store: migrations, WAL, round trips, resumable runs, concurrent writers."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from llmops_cli._standin import StandinServer
from llmops_cli.store import MIGRATIONS, CachedAnswer, CallRecord, GraderRole, Store, record_dict

ANSWER = CachedAnswer(text='{"category": "refund"}', finish_reason="stop", tokens_in=12, tokens_out=5,
                      cost_usd=0.0001, latency_s=0.25)


def make_record(case_id: str, *, repeat: int = 0, key: str | None = None, error: str | None = None) -> CallRecord:
    return CallRecord(side="head", suite="support", prompt="support", model="default", model_id="openai/gpt-4o-mini",
                      case_id=case_id, repeat=repeat, key=key or f"key-{case_id}-{repeat}",
                      messages=[{"role": "user", "content": f"ticket {case_id}"}], output=None if error else "ok",
                      error=error, error_class="server_error" if error else None, attempts=3 if error else 1,
                      passed=not error, tags=["t"], assertions=[{"type": "equals", "passed": True, "message": ""}])


def open_db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".llmops" / "llmops.db")


def test_migrations_run_once_and_are_idempotent(tmp_path: Path) -> None:
    Store(tmp_path).close()
    first = open_db(tmp_path).execute("SELECT name, applied_at FROM _llmops_migrations ORDER BY name").fetchall()
    assert [name for name, _ in first] == sorted(m.__name__ for m in MIGRATIONS)
    store = Store(tmp_path)  # a second open must not re-run (ALTER TABLE ADD COLUMN would fail) or re-record
    store.close()
    second = open_db(tmp_path).execute("SELECT name, applied_at FROM _llmops_migrations ORDER BY name").fetchall()
    assert second == first
    columns = {row[1] for row in open_db(tmp_path).execute("PRAGMA table_info(results)")}
    assert {"error_class", "cached", "latency_s", "cost_usd", "model_id"} <= columns


def test_wal_mode_and_busy_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    finally:
        store.close()
    assert open_db(tmp_path).execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL persists in the file"


def test_record_and_cache_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        store.start_run("r1", "plan", {"suites": {}}, git_commit="abc123")
        store.record("r1", make_record("a"), ANSWER)
        store.record("r1", make_record("b", error="InternalServerError: 500"))
        assert store.cache_get_many(["key-a-0", "key-b-0", "nope"]) == {"key-a-0": ANSWER}, "errors are never cached"
        records = list(store.results("r1"))
        assert [(r.case_id, r.ok, r.passed) for r in records] == [("a", True, True), ("b", False, False)]
        assert records[1].error_class == "server_error" and records[1].attempts == 3
        assert records[0] == make_record("a")
        # recording the same call again replaces it (a resumed retry), never duplicates it
        store.record("r1", make_record("b"), ANSWER)
        assert [(r.case_id, r.ok) for r in store.results("r1")] == [("a", True), ("b", True)]
    finally:
        store.close()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_group_is_read_by_its_rows_with_equal_small_objects_shared(tmp_path: Path) -> None:
    """Judging reads a run one group at a time, by row ids from the key's index, grader rows left out; its
    records share one instance of each equal message or verdict (100k cases hold one, not 100k copies)."""
    with Store(tmp_path) as store:
        store.start_run("r1", "h", {})
        records = [make_record(c) for c in ("a", "b", "c")]
        records.insert(1, dataclasses.replace(make_record("a"), grader=GraderRole("judge", "default", 0)))
        records.append(dataclasses.replace(make_record("d"), model="other"))
        store.record_many("r1", records)
        groups = store.result_groups("r1")
        assert list(groups) == [("head", "support", "support", "default"), ("head", "support", "support", "other")]
        a, b, c = store.results_of(groups[("head", "support", "support", "default")])
        assert [r.case_id for r in (a, b, c)] == ["a", "b", "c"] and a.grader is None
        assert a.assertions[0] is b.assertions[0] is c.assertions[0] and a.assertions == records[0].assertions
        assert a.messages[0] is not b.messages[0], "unequal objects stay apart"
        x, y = [r for r in store.results("r1") if r.grader is None][:2]
        assert x.assertions[0] is not y.assertions[0], "a plain read gives records of their own, to change"


def test_resume_run_takes_over_only_unfinished_runs_whose_process_is_gone(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        assert store.resume_run("plan") is None
        store.start_run("r1", "plan", {})
        assert store.resume_run("plan") is None, "a live process's run is never taken over"
        store.db.execute("UPDATE runs SET pid = ? WHERE id = 'r1'", (dead_pid(),))
        assert store.resume_run("other-plan") is None
        assert store.resume_run("plan") == "r1", "its process died (kill -9): resume it"
        store.finish_run("r1", "incomplete", {})
        assert store.resume_run("plan") == "r1", "an incomplete run is resumed"
        store.finish_run("r1", "complete", {"gate": "passed"})
        assert store.resume_run("plan") is None
        run = store.get_run("r1")
        assert run is not None and run.status == "complete" and run.summary == {"gate": "passed"}
    finally:
        store.close()


def test_two_stores_writing_from_two_threads(tmp_path: Path) -> None:
    Store(tmp_path).close()
    errors: list[BaseException] = []

    def writer(run_id: str) -> None:
        store = Store(tmp_path)
        try:
            store.start_run(run_id, run_id, {})
            for i in range(150):
                store.record(run_id, make_record(f"c{i}", key=f"{run_id}-{i}"), ANSWER)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(f"run{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_consistent(tmp_path, {"run0": 150, "run1": 150}, cache_rows=300)


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_store import ANSWER, make_record
from llmops_cli.store import Store

run_id = sys.argv[1]
store = Store(Path({root!r}))
store.start_run(run_id, run_id, {{}})
for i in range(200):
    store.record(run_id, make_record(f"c{{i}}", key=f"shared-{{i}}"), ANSWER)
store.close()
"""


def test_two_processes_migrating_and_writing_at_once(tmp_path: Path) -> None:
    """Both processes open a fresh database (racing the migrations) and write the same cache keys."""
    script = WRITER.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-c", script, f"proc{n}"], stderr=subprocess.PIPE, text=True)
             for n in range(2)]
    outputs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert_consistent(tmp_path, {"proc0": 200, "proc1": 200}, cache_rows=200)
    names = [row[0] for row in open_db(tmp_path).execute("SELECT name FROM _llmops_migrations")]
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS), "each migration recorded exactly once"


def assert_consistent(root: Path, rows_per_run: dict[str, int], cache_rows: int) -> None:
    db = open_db(root)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(db.execute("SELECT run_id, count(*) FROM results GROUP BY run_id").fetchall())
    assert counts == rows_per_run
    assert db.execute("SELECT count(*) FROM cache").fetchone()[0] == cache_rows
    store = Store(root)
    try:
        for run_id, rows in rows_per_run.items():
            assert sorted(r.case_id for r in store.results(run_id)) == sorted(f"c{i}" for i in range(rows))
    finally:
        store.close()


def test_a_request_answered_meanwhile_is_not_claimed_again(tmp_path: Path) -> None:
    """The race of two processes: B sees a cache miss, A calls, stores the answer and drops its
    claim, then B claims. B must find the answer under the claim's lock, not call again."""
    a, b = Store(tmp_path), Store(tmp_path)
    try:
        a.start_run("ra", "plan", {"suites": {}})
        b.start_run("rb", "plan", {"suites": {}})
        assert b.cache_get_many(["key-x-0"]) == {}  # B's first look: a miss
        assert a.claim(["key-x-0"], "ra", 600) == {"key-x-0"}
        a.record("ra", make_record("x"), ANSWER)  # answered, cached, claim dropped
        assert b.claim(["key-x-0", "key-y-0"], "rb", 600) == {"key-y-0"}
        assert b.db.execute("SELECT key FROM inflight").fetchall() == [("key-y-0",)]
    finally:
        a.close()
        b.close()


def old_store(root: Path, rows: list[tuple[str, str, str, dict[str, object]]]) -> None:
    """A store as llmops wrote it before grader calls had typed columns (migrations 1-6), holding `rows`
    of (side, model, case_id, record fields)."""
    import json
    import time

    (root / ".llmops").mkdir(parents=True)
    db = sqlite3.connect(root / ".llmops" / "llmops.db", isolation_level=None)
    db.execute("CREATE TABLE _llmops_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for migration in MIGRATIONS[:6]:
        migration(db)
        db.execute("INSERT INTO _llmops_migrations VALUES (?, ?)", (migration.__name__, time.time()))
    db.execute("INSERT INTO runs (id, created_at, status, config) VALUES ('old', 1.0, 'complete', '{}')")
    db.execute("INSERT INTO cache VALUES ('old-key', 'openai/gpt-4o-mini', ?, 1.0)", (json.dumps(vars(ANSWER)),))
    for side, model, case_id, fields in rows:
        record = {**record_dict(make_record(case_id)), "side": side, "model": model, **fields}
        record.pop("graders")
        record.pop("grader")
        db.execute("INSERT INTO results (run_id, side, suite, prompt, model, case_id, repeat, key, created_at, record)"
                   " VALUES ('old', ?, 'support', 'support', ?, ?, 0, 'k', 1.0, ?)",
                   (side, model, case_id, json.dumps(record)))
    db.close()


def test_an_old_store_gets_typed_grader_calls(tmp_path: Path) -> None:
    """Grader rows were told apart by a side spelled `judge:head:default:0`; migration 7 moves that into
    typed columns, keeps every row in order, and old records' `aux` summaries read as `graders`."""
    summary = {"kind": "judge", "index": 0, "score": 1.0}
    old_store(tmp_path, [("head", "default", "a", {"aux": [summary]}), ("judge:head:default:0", "default", "a", {}),
                         ("similarity:base:my:model:1", "embed", "a", {}), ("base", "default", "a", {"aux": []})])
    with Store(tmp_path) as store:
        records = list(store.results("old"))
    assert [(r.side, r.model, r.grader) for r in records] == [
        ("head", "default", None), ("head", "default", GraderRole("judge", "default", 0)),
        ("base", "embed", GraderRole("similarity", "my:model", 1)), ("base", "default", None)]
    assert records[0].graders == [summary] and records[0].call_id == records[1].call_id
    assert [r.output for r in records] == ["ok"] * 4, "outputs stored inline before migration 8 still read"
    with Store(tmp_path) as store:
        assert store.cache_get_many(["old-key"]) == {"old-key": ANSWER}
    columns = open_db(tmp_path).execute("SELECT side, grader_kind, grader_for, grader_index FROM results").fetchall()
    assert ("head", "judge", "default", 0) in columns and ("head", "", "", -1) in columns


def test_a_failed_migration_leaves_the_old_store_as_it_was(tmp_path: Path) -> None:
    """Migration 7 rebuilds the results table; a row it cannot read stops it, and everything rolls back."""
    import pytest

    from llmops_cli.store import StoreError

    old_store(tmp_path, [("head", "default", "a", {}), ("judge:head:default:not-a-number", "default", "a", {})])
    with pytest.raises(StoreError):
        Store(tmp_path)
    db = open_db(tmp_path)
    assert [row[0] for row in db.execute("SELECT side FROM results ORDER BY rowid")] == [
        "head", "judge:head:default:not-a-number"]
    assert "grader_kind" not in {row[1] for row in db.execute("PRAGMA table_info(results)")}
    assert "_m007_grader_columns" not in {row[0] for row in db.execute("SELECT name FROM _llmops_migrations")}


def table_bytes(root: Path) -> int:
    """Bytes the store's tables and indexes take on their pages (the WAL included: dbstat reads through it)."""
    db = open_db(root)
    try:
        return int(db.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0])
    finally:
        db.close()


def test_an_answer_is_stored_once(tmp_path: Path, server: StandinServer) -> None:
    """A 1 MB answer is the cache's raw answer and the run's (redacted) output: one text when redaction
    changes nothing, so the store grows by about one copy, not two. Reports and a second run from the cache
    still carry the whole answer."""
    import json

    from conftest import write_project

    from llmops_cli.commands.eval import EvalOptions, evaluate

    case = {"id": "big", "vars": {"product": "Acme", "ticket": "hello [standin: fault=huge, size_mb=1]"}}
    root = write_project(tmp_path / "p", server.base_url, cases=json.dumps(case) + "\n", suite="prompt: support\n")
    Store(root).close()
    empty = table_bytes(root)
    first = evaluate(root, EvalOptions(no_baseline=True, formats=("json",)))
    grown = table_bytes(root) - empty
    assert 1_000_000 < grown < 1_400_000, f"the store grew by {grown} bytes for a 1 MiB answer"
    document = json.loads((first.report_dir / "results.json").read_text())  # type: ignore[union-attr]
    assert document["groups"][0]["cases"][0]["runs"][0]["output"] == "x" * 1024 * 1024
    second = evaluate(root, EvalOptions(no_baseline=True, formats=("json",)))
    again = json.loads((second.report_dir / "results.json").read_text())  # type: ignore[union-attr]
    (run,) = again["groups"][0]["cases"][0]["runs"]
    assert run["cached"] and run["output"] == "x" * 1024 * 1024
    assert table_bytes(root) - empty - grown < 100_000, "a cache hit stores the answer no more"
