"""Two `llmops eval` processes on one store at once: no corruption, no request called twice."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import write_project

from llmops_cli._standin import StandinServer


def many_cases(n: int) -> str:
    return "".join(json.dumps({"id": f"c{i:02d}", "vars": {"product": "Acme", "ticket": f"It crashes, case {i}"},
                               "assert": [{"type": "json_field", "path": "category", "equals": "bug"}]}) + "\n"
                   for i in range(n))


def test_two_processes_share_the_store_without_double_calls(tmp_path: Path, server: StandinServer) -> None:
    server.configure(latency_ms=300)
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(24))
    env = {**os.environ}
    command = [sys.executable, "-m", "llmops_cli", "eval", "--no-baseline", "--concurrency", "4"]
    first = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=180) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    # 24 distinct requests: whichever process claimed a request called it; the other waited for its answer
    assert server.request_count == 24
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    runs = db.execute("SELECT id FROM runs WHERE status = 'complete'").fetchall()
    assert len(runs) == 2
    for (run_id,) in runs:
        rows = db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM results WHERE run_id = ?", (run_id,)).fetchone()
        assert rows == (24, 24)
    assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0
