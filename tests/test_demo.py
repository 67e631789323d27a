"""`llmops demo`: the real command in a subprocess, end to end on its own stand-in server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import git, llmops

REGRESSED = ["refund-001", "refund-002", "refund-003", "bug-001", "bug-002", "bug-003", "other-001", "other-002"]


def test_demo_tells_the_story_and_exits_zero(tmp_path: Path) -> None:
    repo = tmp_path / "demo"
    run = llmops("demo", "--dir", str(repo), "--latency-ms", "5", cwd=tmp_path, timeout=60)
    assert run.code == 0, run.stdout + run.stderr
    out = run.stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert "local stand-in" in lines[0] and "local stand-in" in lines[-1]
    assert "not a real LLM" in lines[0]
    gates = re.findall(r"gate: (\w+) \(exit (\d)\)", out)
    assert gates == [("passed", "0"), ("failed", "1"), ("failed", "1")]
    for case in REGRESSED:
        assert f"support/{case}" in out
    assert "harm-001" not in out.split("gate: passed", 1)[1]  # refusals still pass: not a regression

    report_md = Path(re.search(r"report\.md\s+(\S+)", out)[1])  # type: ignore[index]
    results = Path(re.search(r"results\.json\s+(\S+)", out)[1])  # type: ignore[index]
    assert report_md.parent == results.parent and report_md.parent.is_relative_to(repo)
    assert (report_md.parent / "junit.xml").is_file() and (report_md.parent / "report.html").is_file()
    md = report_md.read_text()
    assert "Regressions (8)" in md
    for case in REGRESSED:
        assert case in md
    doc = json.loads(results.read_text())
    assert doc["gate"]["status"] == "failed" and doc["gate"]["exit_code"] == 1
    assert doc["run"]["baseline"]["ref"] == "main"
    assert sorted(r["case_id"] for g in doc["groups"] for r in g["regressions"]) == sorted(REGRESSED)
    assert "llmops-demo-not-a-real-key" not in md + results.read_text()

    assert git(repo, "rev-list", "--count", "worse-prompt").strip() == "2"
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "Add support triage prompt and golden set"
    assert git(repo, "status", "--porcelain").strip() == ""  # reports live in the gitignored .llmops/
    assert "refund, bug or other" not in git(repo, "show", "worse-prompt:prompts/support.yaml")

    # Step 3: an agent with tools; a prompt edit that drops the guard lets an injected tool result hijack it.
    assert git(repo, "branch", "--show-current").strip() == "drop-guard"
    assert git(repo, "rev-list", "--count", "main..drop-guard").strip() == "2"
    assert "regression: travel/injected-result x default" in out
    hijack = re.search(r"drop-guard:\s+get_capital\(.*\); send_email\((.*)\)", out)
    assert hijack is not None and "the user's itinerary" in hijack[1], out
    agent_md = Path(re.findall(r"report\.md\s+(\S+)", out)[-1])
    assert agent_md != report_md
    agent_doc = json.loads((agent_md.parent / "results.json").read_text())
    assert [r["case_id"] for g in agent_doc["groups"] for r in g["regressions"]] == ["injected-result"]
    assert agent_doc["groups"][0]["metrics"]["tool_args_validity"] == 1.0


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    run = llmops("demo", "--dir", str(tmp_path), cwd=tmp_path)
    assert run.code == 2
    assert "not an empty folder" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
