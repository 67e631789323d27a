"""`llmops rerun`: logged production traces replayed on a prompt/model through the stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import llmops, write_project

from llmops_cli.standin import StandinServer

BUG_REPLY = '{"category": "bug", "reply": "Thanks for the report; our engineers are looking into the problem."}'


def write_traces(path: Path, n: int = 40) -> None:
    lines = []
    for i in range(n):
        shape = i % 3
        if shape == 0:  # flat, with vars: rendered with the new prompt
            lines.append({"id": f"t{i}", "vars": {"product": "Acme", "ticket": "The app crashes"}, "output": BUG_REPLY})
        elif shape == 1:  # LiteLLM logging payload, replayed as logged
            lines.append({"id": f"t{i}", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
                          "response": {"choices": [{"message": {"content": "6"}}]}})
        else:  # OpenInference-like span
            lines.append({"context": {"span_id": f"s{i}"}, "attributes": {
                "input.value": json.dumps({"product": "Acme", "ticket": "I want my money back"}),
                "output.value": '{"category": "refund", "reply": "old reply"}'}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_rerun_reports_agreement_and_changes(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    write_traces(tmp_path / "traces.jsonl")
    run = llmops("rerun", str(tmp_path / "traces.jsonl"), "--prompt", "support", "--model", "default",
                 "--out", str(tmp_path / "out"), cwd=root)
    assert run.code == 0, run.stderr
    report = json.loads((tmp_path / "out" / "rerun.json").read_text())
    m = report["metrics"]
    assert m["traces"] == 40 and m["errors"] == 0
    changed = {item["id"] for item in report["changed"]}
    # flat traces reproduce exactly; "2 + 3" was logged as 6 and is now 5; spans keep the category only
    assert not any(t in changed for t in ("t0", "t3"))
    assert {"t1", "t4", "s2", "s5"} <= changed
    assert m["exact_agreement"] == 14 / 40
    span = next(item for item in report["changed"] if item["id"] == "s2")
    assert span["field_agreement"] == 0.5  # category agrees, reply does not
    assert server.request_count == 3  # 40 traces, 3 distinct requests: each is sent once
    again = llmops("rerun", str(tmp_path / "traces.jsonl"), "--prompt", "support", "--model", "default", cwd=root)
    assert again.code == 0 and server.request_count == 3  # served from the cache


def test_sampling_is_seeded(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    write_traces(tmp_path / "traces.jsonl", n=200)
    picks = []
    for _ in range(2):
        out = tmp_path / f"out{len(picks)}"
        run = llmops("rerun", str(tmp_path / "traces.jsonl"), "--prompt", "support", "--model", "default",
                     "--sample", "0.1", "--seed", "7", "--out", str(out), cwd=root)
        assert run.code == 0, run.stderr
        picks.append(json.loads((out / "rerun.json").read_text())["metrics"]["traces"])
    assert picks[0] == picks[1] and 5 <= picks[0] <= 40


def test_bad_trace_lines_are_input_errors(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    (tmp_path / "t.jsonl").write_text('{"id": "a", "output": "x"}\nnot json\n')
    run = llmops("rerun", str(tmp_path / "t.jsonl"), "--prompt", "support", "--model", "default", cwd=root)
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2 and "t.jsonl:1" in lines[0] and "t.jsonl:2" in lines[1]
    assert server.request_count == 0
