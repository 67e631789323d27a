"""The `llmops` command's entry point: it leaves without the interpreter's teardown, and loses nothing by it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_project

from llmops_cli._standin import StandinServer

PROBE = """import atexit, sys
atexit.register(lambda: sys.stderr.write("exit handler ran\\n"))
sys.argv = ["llmops", *sys.argv[1:]]
from llmops_cli.cli import entry
entry()
"""


def _entry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("args", "code"), [(["check"], 0), (["check", "--project", "missing"], 2),
                                            (["eval", "--no-baseline", "--suite", "nope"], 2), (["--help"], 0)])
def test_the_command_keeps_its_exit_code_output_and_exit_handlers(args: list[str], code: int, tmp_path: Path,
                                                                   server: StandinServer) -> None:
    write_project(tmp_path, server.base_url)
    done = _entry(*args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert done.stderr.endswith("exit handler ran\n")
    if args == ["--help"]:
        assert "Usage" in done.stdout and "eval" in done.stdout  # buffered output is flushed before leaving


def test_a_gate_failure_still_exits_1_with_its_report_written(tmp_path: Path, server: StandinServer) -> None:
    """A run's reports are closed and its store committed before the process leaves."""
    write_project(tmp_path, server.base_url, cases='{"id": "c1", "vars": {"product": "Acme", "ticket": "Refund please"},'
                                                   ' "assert": [{"type": "contains", "value": "no such words"}]}\n')
    done = _entry("eval", "--no-baseline", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "gate: failed" in done.stdout
    assert (tmp_path / "out" / "results.json").read_text().endswith("\n")
    db = sqlite3.connect(tmp_path / ".llmops" / "llmops.db")
    try:
        assert db.execute("SELECT status FROM runs").fetchall() == [("complete",)]
        assert db.execute("SELECT COUNT(*) FROM results").fetchone() == (1,)
    finally:
        db.close()


def test_a_profiled_command_exits_the_usual_way(tmp_path: Path) -> None:
    """cProfile (and coverage) write their results at the interpreter's normal exit, which entry() keeps for them."""
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(tmp_path / "out.prof"), "-m", "llmops_cli",
                           "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.prof").stat().st_size > 0
