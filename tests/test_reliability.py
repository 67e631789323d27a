"""Crash safety and redaction: kill -9 at random points loses and repeats nothing; PII never lands in traces or reports."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import FAKE_KEY, llmops, results_json, write_project

from llmops_cli.standin import StandinServer

N = 40


def cases(n: int) -> str:
    return "".join(json.dumps({"id": f"c{i:02d}", "vars": {"product": "Acme", "ticket": f"Refund order {i}"},
                               "assert": [{"type": "json_field", "path": "category", "equals": "refund"}]}) + "\n"
                   for i in range(n))


def count(db_path: Path, sql: str) -> int:
    if not db_path.exists():
        return 0
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_kill_at_random_points_then_resume(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases=cases(N))
    db_path = root / ".llmops" / "llmops.db"
    command = [sys.executable, "-m", "llmops_cli", "eval", "--no-baseline", "--concurrency", "3"]
    server.configure(latency_ms=120)
    rng = random.Random(20261124)
    for _ in range(3):
        cached_before = count(db_path, "SELECT COUNT(*) FROM cache")
        sent_before = server.request_count
        proc = subprocess.Popen(command, cwd=root, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = cached_before + rng.randint(2, 8)
        deadline = time.monotonic() + 90
        while count(db_path, "SELECT COUNT(*) FROM cache") < target and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(rng.uniform(0.0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        cached_after = count(db_path, "SELECT COUNT(*) FROM cache")
        # every request the server answered before the kill was either recorded or still in flight
        assert cached_after - cached_before <= server.request_count - sent_before
    completed = count(db_path, "SELECT COUNT(*) FROM cache")
    assert 0 < completed < N
    server.configure(latency_ms=0)
    sent = server.request_count
    run = llmops("eval", "--no-baseline", "--concurrency", "3", cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    assert server.request_count - sent == N - completed, "no completed call was sent again"
    doc = results_json(root)
    assert sorted(c["case_id"] for c in doc["groups"][0]["cases"]) == [f"c{i:02d}" for i in range(N)]
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (run_id,) = db.execute("SELECT id FROM runs WHERE status = 'complete'").fetchone()
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM results WHERE run_id = ?",
                          (run_id,)).fetchone() == (N, N)
        assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0
    finally:
        db.close()


PII = {
    "email": "jane.doe@example.com",
    "phone": "+1 415 555 0100",
    "card": "4111 1111 1111 1111",
    "secret": "sk-live-ABCDEFGHIJKLMNOPQRSTUVWX",
    "custom": "TCK-998877",
}

ECHO_PROMPT = """model: default
messages:
  - {role: user, content: "{{ ticket }}"}
"""


def test_redaction_runs_before_anything_is_written(tmp_path: Path, server: StandinServer) -> None:
    ticket = (f"{PII['email']} {PII['phone']} {PII['card']} {PII['secret']} {PII['custom']} and the key {FAKE_KEY}")
    case = {"id": "pii", "vars": {"ticket": ticket}, "assert": [{"type": "contains", "value": "Stand-in"}]}
    root = write_project(tmp_path / "p", server.base_url, prompt=ECHO_PROMPT, suite="prompt: support\n",
                         cases=json.dumps(case) + "\n",
                         config_extra='redact: [email, phone, card, secret, {name: ticket, pattern: "TCK-[0-9]+"}]\n')
    out = tmp_path / "reports"
    run = llmops("eval", "--no-baseline", "--format", "md,json,junit,html", "--out", str(out), cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    doc = json.loads((out / "results.json").read_text())
    output = doc["groups"][0]["cases"][0]["runs"][0]["output"]
    assert "[email]" in output and "[ticket]" in output, output  # the model echoed them; the trace holds the mask
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    traced = " ".join(row[0] for row in db.execute("SELECT record FROM results"))
    db.close()
    written = [traced] + [p.read_text() for p in out.iterdir()] + [run.stdout, run.stderr]
    for name, value in PII.items():
        for text in written:
            assert value not in text, f"{name} leaked"
    assert all(FAKE_KEY not in text for text in written)
    assert FAKE_KEY.encode() not in (root / ".llmops" / "llmops.db").read_bytes()
    assert "redaction on: email, phone, card, secret, ticket" in (out / "report.md").read_text()
