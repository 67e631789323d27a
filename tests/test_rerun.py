"""`llmops rerun`: production traces (our JSONL, OTLP GenAI and OpenInference spans) replayed on a
prompt/model through the stand-in, skipped when unusable, gated on agreement, reported and redacted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import SUPPORT_PROMPT, llmops, write_project
from otlp_samples import export, genai_chat

from llmops_cli._standin import REPLIES, StandinServer, classify

BUG_REPLY = '{"category": "bug", "reply": "Thanks for the report; our engineers are looking into the problem."}'
SYSTEM = ("You are the support desk of Acme. Classify the ticket as refund, bug or other. "
          "Answer in JSON with keys category and reply.")
TICKETS = ["I want my money back", "The app crashes on start", "Where is your office?", "Export is broken",
           "Please refund my order", "Do you have a dark mode?", "Is your office open on Sunday?", "Login error",
           "My card was charged twice", "How do I change my avatar?", "The page is broken", "Refund for order 7",
           "Can I visit your office?", "The button does not work", "Do you ship abroad?", "I got an error 500",
           "Money back please", "What are your hours?", "It crashes when I save", "Do you have gift cards?"]
OFFICE = {f"span-{i:02d}" for i, t in enumerate(TICKETS) if "office" in t}
BROKEN = "span-07"
# The new prompt sends office questions down the refund path: it changes those answers, and only those.
CHANGED_PROMPT = SUPPORT_PROMPT.replace('content: "{{ ticket }}"',
                                        "content: \"{{ ticket }}{% if 'office' in ticket %} Also, I want a refund.{% endif %}\"")


def logged_answer(ticket: str) -> str:
    label = classify(ticket)
    return json.dumps({"category": label, "reply": REPLIES[label]})


def write_export(path: Path, broken: str | None = BROKEN) -> Path:
    spans = [genai_chat(f"span-{i:02d}", SYSTEM, ticket, None if f"span-{i:02d}" == broken else logged_answer(ticket),
                        extra={"app.prompt.vars": {"product": "Acme", "ticket": ticket}})
             for i, ticket in enumerate(TICKETS)]
    path.write_text(json.dumps(export(spans), indent=2))
    return path


def rerun(root: Path, traces: Path, *args: str) -> object:
    return llmops("rerun", str(traces), "--prompt", "support", "--model", "default", *args, cwd=root)


def test_otlp_export_changed_prompt_fails_the_agreement_gate(tmp_path: Path, server: StandinServer) -> None:
    traces = write_export(tmp_path / "export.json")
    changed = write_project(tmp_path / "changed", server.base_url, prompt=CHANGED_PROMPT)
    run = rerun(changed, traces, "--vars-attribute", "app.prompt.vars", "--min-agreement", "0.9",
                "--format", "md,json,junit,html", "--out", str(tmp_path / "out"))
    assert run.code == 1, run.stdout + run.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["kind"] == "rerun" and doc["gate"]["status"] == "failed"
    assert doc["ingest"] == {"selected": 20, "usable": 19, "skipped": 1, "ignored_spans": 0, "sources": {"genai": 19}}
    [skip] = doc["skipped"]
    assert skip["id"] == BROKEN and "no output captured" in skip["reason"]
    assert skip["position"] == "export.json: resourceSpans[0].scopeSpans[0].spans[7]"
    m = doc["metrics"]
    assert m["replayed"] == 19 and m["rendered"] == 19 and m["agreed"] == 19 - len(OFFICE)
    assert m["agreement"] == pytest.approx(16 / 19)
    low, high = m["agreement_ci"]
    assert low < 16 / 19 < high and high < 1  # Wilson 95%
    changed_ids = {row["id"] for row in doc["traces"] if not row["agreed"]}
    assert changed_ids == OFFICE
    row = next(r for r in doc["traces"] if r["id"] == "span-02")
    assert json.loads(row["logged_output"])["category"] == "other" and json.loads(row["new_output"])["category"] == "refund"
    assert any("min_agreement" in reason for reason in doc["gate"]["reasons"])
    for trace_id in OFFICE:
        assert f"changed: {trace_id}" in run.stdout
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Skipped traces (1)" in report and "Changed answers (3)" in report and "spans[7]" in report
    junit = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    suite = junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "4" and suite.get("skipped") == "1"  # 3 changed + the gate
    assert "Changed answers (3)" in (tmp_path / "out" / "report.html").read_text()

    same = write_project(tmp_path / "same", server.base_url)
    run = rerun(same, traces, "--vars-attribute", "app.prompt.vars", "--min-agreement", "0.9", "--out", str(tmp_path / "o2"))
    assert run.code == 0, run.stdout + run.stderr
    doc = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert doc["metrics"]["agreement"] == 1.0 and doc["ingest"]["skipped"] == 1 and doc["gate"]["status"] == "passed"


def test_strict_and_mostly_unusable_exports_exit_2_before_any_call(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    traces = write_export(tmp_path / "export.json")
    run = rerun(root, traces, "--vars-attribute", "app.prompt.vars", "--strict")
    assert run.code == 2 and server.request_count == 0
    assert "export.json: resourceSpans[0].scopeSpans[0].spans[7]: genai span: no output captured" in run.stderr
    assert "--strict: 1 of 20" in run.stderr and "Traceback" not in run.stderr

    mostly = export([genai_chat(f"s{i}", None, "hi", None if i else "hello") for i in range(3)])
    (tmp_path / "mostly.json").write_text(json.dumps(mostly))
    run = rerun(root, tmp_path / "mostly.json")
    assert run.code == 2 and server.request_count == 0
    assert "2 of 3 selected traces cannot be replayed (more than half)" in run.stderr


def test_a_trace_whose_variables_do_not_render_is_skipped_without_talking_of_cases(tmp_path: Path,
                                                                                      server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    lines = [{"id": f"t{i}", "vars": {"product": "Acme", "ticket": "The app crashes"}, "output": BUG_REPLY} for i in range(3)]
    lines.append({"id": "no-ticket", "vars": {"product": "Acme"}, "output": BUG_REPLY})
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = rerun(root, tmp_path / "t.jsonl", "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    [skip] = doc["skipped"]
    assert skip["position"] == "t.jsonl:4" and "prompts/support.yaml:" in skip["reason"] and "ticket" in skip["reason"]
    assert "case" not in skip["reason"]
    run = rerun(root, tmp_path / "t.jsonl", "--strict")
    assert run.code == 2 and "t.jsonl:4:" in run.stderr and "case" not in run.stderr


def test_rerun_section_of_llmops_yaml_gates_and_options_override_it(tmp_path: Path, server: StandinServer) -> None:
    traces = write_export(tmp_path / "export.json", broken=None)
    root = write_project(tmp_path / "p", server.base_url, prompt=CHANGED_PROMPT,
                         config_extra="rerun: {min_agreement: 0.95, max_refusal_rate: 0.0}\n")
    run = rerun(root, traces, "--vars-attribute", "app.prompt.vars")
    assert run.code == 1 and "min_agreement" in run.stdout
    run = rerun(root, traces, "--vars-attribute", "app.prompt.vars", "--min-agreement", "0.5")
    assert run.code == 0, run.stdout
    bad = write_project(tmp_path / "bad", server.base_url, config_extra="rerun:\n  min_agrement: 0.9\n  max_refusal_rate: 2\n")
    run = rerun(bad, traces)
    assert run.code == 2
    assert "llmops.yaml:7: unknown key 'min_agrement' in rerun (did you mean 'min_agreement'?)" in run.stderr
    assert "llmops.yaml:8: 'max_refusal_rate' in rerun must be between 0 and 1, got 2" in run.stderr


def test_schema_validity_counts_only_rendered_traces_and_similarity_has_3_decimals(tmp_path: Path,
                                                                                   server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    close = BUG_REPLY.replace("problem.", "problem")  # one character apart: similarity 0.995, not "1.00"
    lines = [{"id": "rendered", "vars": {"product": "Acme", "ticket": "The app crashes"}, "output": close},
             {"id": "as-logged", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "output": "5"}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = rerun(root, tmp_path / "t.jsonl", "--min-schema-validity", "1.0", "--format", "md,json,html",
                "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stdout + run.stderr  # "5" is not JSON, yet it was never meant to be
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    m = doc["metrics"]
    assert m["schema_traces"] == 1 and m["schema_validity"] == 1.0 and m["rendered"] == 1 and m["as_logged"] == 1
    row = next(r for r in doc["traces"] if r["id"] == "rendered")
    assert not row["agreed"] and 0.99 < row["similarity"] < 1.0 and row["field_agreement"] == 0.5
    assert f"{row['similarity']:.3f}" == "0.995"
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"similarity {row['similarity']:.3f}" in report and "similarity 1.00" not in report
    assert "Rendered with the prompt (1): `rendered`" in report and "Replayed as logged (no variables) (1): `as-logged`" in report
    assert f"{(row['similarity'] + 1) / 2:.3f}" in report  # the mean, to 3 decimals too
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Replayed as logged (no variables) (1): <code>as-logged</code>" in page and f"{row['similarity']:.3f}" in page


def test_an_email_in_a_logged_message_never_reaches_the_store_or_the_reports(tmp_path: Path,
                                                                            server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)  # no `redact:` in llmops.yaml: rerun redacts anyway
    email = "jane.doe@example.com"
    lines = [{"id": "echo", "messages": [{"role": "user", "content": f"Please write to {email} today"}],
              "output": f"Stand-in answer: Please write to {email} tomorrow"},
             {"id": f"ticket:{email}", "vars": {"product": "Acme", "ticket": f"Refund to {email}"},
              "output": json.dumps({"category": "refund", "reply": f"Refund sent to {email}"})}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    run = rerun(root, tmp_path / "t.jsonl", "--format", "md,json,junit,html", "--out", str(out))
    assert run.code == 0, run.stdout + run.stderr
    assert server.request_count == 2
    doc = json.loads((out / "results.json").read_text())
    assert {r["id"] for r in doc["traces"]} == {"echo", "ticket:[email]"}
    echo = next(r for r in doc["traces"] if r["id"] == "echo")
    assert "[email]" in echo["new_output"] and "[email]" in echo["logged_output"]
    for path in out.iterdir():
        assert email not in path.read_text(), path
    assert email not in run.stdout + run.stderr
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert "[email]" in dump and email not in dump
    for path in (root / ".llmops").glob("llmops.db*"):
        assert email.encode() not in path.read_bytes(), path


def test_baseline_run_compares_with_an_earlier_replay(tmp_path: Path, server: StandinServer) -> None:
    traces = write_export(tmp_path / "export.json")
    root = write_project(tmp_path / "p", server.base_url)
    first = rerun(root, traces, "--vars-attribute", "app.prompt.vars", "--out", str(tmp_path / "a"))
    assert first.code == 0, first.stderr
    earlier = json.loads((tmp_path / "a" / "results.json").read_text())["run"]["id"]
    (root / "prompts" / "support.yaml").write_text(CHANGED_PROMPT)
    run = rerun(root, traces, "--vars-attribute", "app.prompt.vars", "--baseline-run", earlier, "--out", str(tmp_path / "b"))
    assert run.code == 0, run.stderr  # no threshold: it reports the drop, the weekly job decides
    baseline = json.loads((tmp_path / "b" / "results.json").read_text())["baseline"]
    assert baseline["run"] == earlier and baseline["paired"] == 19
    assert baseline["agreement_before"] == 1.0 and baseline["agreement_now"] == pytest.approx(16 / 19)
    assert set(baseline["stopped_agreeing"]) == OFFICE and baseline["started_agreeing"] == []
    assert f"Compared with run `{earlier}`" in (tmp_path / "b" / "report.md").read_text()
    missing = rerun(root, traces, "--baseline-run", "nope")
    assert missing.code == 2 and "--baseline-run 'nope'" in missing.stderr


def write_traces(path: Path, n: int = 40) -> None:
    lines = []
    for i in range(n):
        shape = i % 3
        if shape == 0:  # flat, with vars: rendered with the new prompt
            lines.append({"id": f"t{i}", "vars": {"product": "Acme", "ticket": "The app crashes"}, "output": BUG_REPLY})
        elif shape == 1:  # LiteLLM logging payload, replayed as logged
            lines.append({"id": f"t{i}", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
                          "response": {"choices": [{"message": {"content": "6"}}]}})
        else:  # OpenInference span JSON with its template variables
            lines.append({"context": {"span_id": f"s{i}"}, "attributes": {
                "openinference.span.kind": "LLM",
                "llm.prompt_template.variables": json.dumps({"product": "Acme", "ticket": "I want my money back"}),
                "output.value": '{"category": "refund", "reply": "old reply"}'}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_rerun_reports_agreement_and_changes(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    write_traces(tmp_path / "traces.jsonl")
    run = rerun(root, tmp_path / "traces.jsonl", "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stderr
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    m = report["metrics"]
    assert m["replayed"] == 40 and m["errors"] == 0
    changed = {row["id"] for row in report["traces"] if not row["agreed"]}
    # flat traces reproduce exactly; "2 + 3" was logged as 6 and is now 5; spans keep the category only
    assert not any(t in changed for t in ("t0", "t3"))
    assert {"t1", "t4", "s2", "s5"} <= changed
    assert m["exact_agreement"] == 14 / 40 and m["agreement"] == 14 / 40
    span = next(row for row in report["traces"] if row["id"] == "s2")
    assert span["field_agreement"] == 0.5 and span["source"] == "openinference"  # category agrees, reply does not
    assert server.request_count == 3  # 40 traces, 3 distinct requests: each is sent once
    again = rerun(root, tmp_path / "traces.jsonl")
    assert again.code == 0 and server.request_count == 3  # served from the cache


def test_same_json_in_another_layout_agrees(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    reordered = json.dumps({"reply": json.loads(BUG_REPLY)["reply"], "category": "bug"}, indent=1)
    (tmp_path / "t.jsonl").write_text(json.dumps({"id": "a", "vars": {"product": "Acme", "ticket": "The app crashes"},
                                                  "output": reordered}) + "\n")
    run = rerun(root, tmp_path / "t.jsonl", "--min-agreement", "1", "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stdout
    [row] = json.loads((tmp_path / "out" / "results.json").read_text())["traces"]
    assert row["agreed"] and not row["exact"] and row["same_json"]


def test_a_failed_call_never_agrees_and_too_many_make_the_run_incomplete(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    lines = [{"id": "ok", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "output": "5"},
             {"id": "down", "messages": [{"role": "user", "content": "What is 2 + 2? [standin: fault=500]"}], "output": "4"}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = rerun(root, tmp_path / "t.jsonl", "--out", str(tmp_path / "out"))
    assert run.code == 3, run.stdout + run.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["gate"]["status"] == "incomplete" and "max_error_rate" in doc["gate"]["reasons"][0]
    assert doc["metrics"]["errors"] == 1 and doc["metrics"]["agreement"] == 0.5
    down = next(r for r in doc["traces"] if r["id"] == "down")
    assert down["agreed"] is False and down["error_class"] == "server_error"
    assert "Errors (1)" in (tmp_path / "out" / "report.md").read_text()


def test_reports_escape_what_production_logged(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    hostile = "<img src=x onerror=alert(1)> ``` </pre>"
    (tmp_path / "t.jsonl").write_text(json.dumps({"id": "<b>x</b>", "messages": [{"role": "user", "content": "What is 2 + 3?"}],
                                                  "output": hostile}) + "\n")
    run = rerun(root, tmp_path / "t.jsonl", "--format", "md,json,junit,html", "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stderr
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Content-Security-Policy" in page and "script-src" not in page and "<script" not in page
    report = (tmp_path / "out" / "report.md").read_text()
    assert "````\n" + hostile + "\n````" in report  # a fence longer than the answer's own backticks
    ET.parse(tmp_path / "out" / "junit.xml")
