"""`llmops stats`: figures per prompt and model from the store, in every output format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import llmops

from llmops_cli._standin import StandinServer


def test_stats_counts_calls_cache_hits_and_errors(project: Path, server: StandinServer) -> None:
    assert llmops("eval", "--no-baseline", cwd=project).code == 0
    assert llmops("eval", "--no-baseline", cwd=project).code == 0  # all cached
    run = llmops("stats", "--format", "json", cwd=project)
    assert run.code == 0, run.stderr
    rows = json.loads(run.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert (row["prompt"], row["model"], row["calls"], row["cached"]) == ("support", "default", 12, 6)
    assert row["error_rate"] == 0 and row["tokens_in"] > 0 and row["spent_usd"] > 0
    assert row["latency_p95_s"] >= row["latency_p50_s"] > 0

    csv = llmops("stats", "--format", "csv", "--by", "model", cwd=project)
    assert csv.stdout.splitlines()[0].startswith("model,calls,cached")
    md = llmops("stats", "--format", "md", cwd=project)
    assert md.stdout.startswith("| prompt | model |")


def test_stats_rejects_bad_window_and_grouping(project: Path) -> None:
    for args in (["--since", "seven days"], ["--by", "colour"], ["--format", "xml"]):
        run = llmops("stats", *args, cwd=project)
        assert run.code == 2, args
        assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr


def test_unknown_figures_read_unknown_never_nan(tmp_path: Path, server: StandinServer) -> None:
    from conftest import write_project

    root = write_project(tmp_path / "p", server.base_url)
    config = root / "llmops.yaml"
    config.write_text(config.read_text().replace("openai/gpt-4o-mini", "openai/standin-1"))  # no price in litellm
    assert llmops("eval", "--no-baseline", cwd=root).code == 0
    for fmt in ("table", "md"):
        run = llmops("stats", "--format", fmt, cwd=root)
        assert run.code == 0, run.stderr
        assert "nan" not in run.stdout.lower() and "unknown" in run.stdout, run.stdout
    rows = json.loads(llmops("stats", "--format", "json", cwd=root).stdout)
    assert rows[0]["spent_usd"] is None and rows[0]["cost_unknown"] == 6
    csv = llmops("stats", "--format", "csv", cwd=root).stdout.splitlines()
    header, values = csv[0].split(","), csv[1].split(",")
    latency = values[header.index("latency_p95_s")]
    assert latency and len(latency.replace(".", "").lstrip("0")) <= 6  # rounded, not 0.0123456789012
    assert values[header.index("spent_usd")] == ""


def test_a_request_shared_within_a_run_is_spent_once(tmp_path: Path, server: StandinServer) -> None:
    """Identical requests of one run (here a baseline identical to the head, `--no-cache`) are sent once;
    the copies are counted as calls, never as money spent again, nor as latencies measured again."""
    from conftest import ENV, results_json
    from test_gate import make_repo

    root = make_repo(tmp_path / "repo", server)
    assert llmops("eval", "--baseline", "main", "--no-cache", cwd=root, env=ENV).code == 0
    (group,) = results_json(root)["groups"]
    rows = [r for key in ("cases", "base_cases") for c in group[key] for r in c["runs"]]
    assert sum(1 for r in rows if r["shared"]) == len(rows) // 2 > 0
    (stats,) = json.loads(llmops("stats", "--format", "json", cwd=root).stdout)
    assert stats["calls"] == len(rows) and stats["shared"] == len(rows) // 2
    assert stats["spent_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows if not r["shared"]))
