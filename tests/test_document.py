"""The typed results document: one writer, one reader, and docs/results.md checked against them."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.document import SCHEMA_VERSION, Document, DocumentError, Metrics
from llmops_cli.metrics import MetricContext
from llmops_cli.metrics.compute import compute
from llmops_cli.report import write_json
from llmops_cli.results import build_document, stored_document
from llmops_cli.store import CallRecord, GraderRole, RunRow, Store

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results.md"


# --- docs/results.md names exactly the model's keys --------------------------------------------


def _model_keys(tp: Any, seen: set[Any]) -> set[str]:
    """Every JSON key the model can write, found by walking its classes."""
    origin = typing.get_origin(tp)
    if origin is not None:
        return set().union(*(_model_keys(arg, seen) for arg in typing.get_args(tp)))
    if tp in seen:
        return set()
    seen.add(tp)
    if tp is Metrics:
        return set(compute([], MetricContext(has_schema=True))) | {"error_classes"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        keys = {f.name for f in dataclasses.fields(tp)}
        return keys.union(*(_model_keys(hints[f.name], seen) for f in dataclasses.fields(tp)))
    return set()


def _without_parentheses(text: str) -> str:
    while True:
        stripped = re.sub(r"\([^()]*\)", "", text)
        if stripped == text:
            return text
        text = stripped


def _brace_keys(text: str) -> set[str]:
    """Keys listed in `{a, b{c}, <placeholder>: ...}` groups, at any depth."""
    keys: set[str] = set()
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                body, item_depth, item = text[start:i], 0, ""
                items = []
                for c in body:  # split at top-level commas
                    item_depth += c == "{"
                    item_depth -= c == "}"
                    if c == "," and item_depth == 0:
                        items.append(item)
                        item = ""
                    else:
                        item += c
                items.append(item)
                for entry in items:
                    name = re.match(r"\s*([a-z_][a-z0-9_]*)", entry)
                    if name:
                        keys.add(name.group(1))
                keys |= _brace_keys(body)
    return keys


def documented_keys(markdown: str) -> set[str]:
    """The keys the eval document's block in docs/results.md names: the key column (before the first
    run of two spaces) and every `{...}` list; placeholders like `<name>` are not keys."""
    block = markdown.split("```text\n", 1)[1].split("```", 1)[0]
    keys: set[str] = set()
    descriptions = []
    for line in block.splitlines():
        body = line.lstrip()
        indent = len(line) - len(body)
        if indent >= 20:  # a continuation line: all description
            descriptions.append(body)
            continue
        key, _, description = body.partition("  ")
        descriptions.append(description)
        for part in _without_parentheses(key).split(","):
            name = re.match(r"\s*([a-z_][a-z0-9_]*)", part)
            if name:
                keys.add(name.group(1))
            keys |= _brace_keys(part)
    return keys | _brace_keys(_without_parentheses(" ".join(descriptions)))


def test_docs_name_every_key_of_the_model_and_no_other() -> None:
    documented = documented_keys(DOCS.read_text(encoding="utf-8"))
    model = _model_keys(Document, set()) | {"schema_version"}
    assert sorted(model - documented) == [], "keys the model writes that docs/results.md does not name"
    assert sorted(documented - model) == [], "keys docs/results.md names that the model does not have"


def test_the_docs_check_sees_a_missing_key() -> None:
    text = DOCS.read_text(encoding="utf-8").replace("base_finish_reason, ", "")
    assert "base_finish_reason" not in documented_keys(text)


# --- one writer, one reader ---------------------------------------------------------------------


def _record(side: str, case: str, passed: bool, **extra: Any) -> CallRecord:
    return CallRecord(side=side, suite="s", prompt="p", model="m", model_id="openai/m", case_id=case, repeat=0,
                      key=f"{side}-{case}", messages=[{"role": "user", "content": f"ask {case}"}],
                      output=f"{side} answer", passed=passed, latency_s=0.5, tokens_in=3, tokens_out=4,
                      cost_usd=0.001, schema_valid=passed, case_hash=f"h-{case}", tags=["t"],
                      assertions=[{"type": "contains", "passed": passed, "message": "" if passed else "missing"}],
                      **extra)


GRADER = {"kind": "judge", "index": 0, "version": "v1", "model": "judge", "model_id": "openai/judge", "key": "k",
          "cached": False, "attempts": 1, "score": 1.0, "reason": "fine", "error": None, "error_class": None,
          "latency_s": 0.2, "tokens_in": 5, "tokens_out": 2, "cost_usd": None}


def _document() -> Document:
    config = {"suites": {"s": {"kind": "quality", "prompts": ["p"], "has_schema": {"p": True},
                               "same_cases": ["a", "b", "c"],
                               "golden_changes": {"added": ["d"], "removed": [], "edited": []},
                               "template_diffs": {"p": "-old\n+new\n"},
                               "thresholds": {"correctness": {"min": 0.9, "max_drop": 0.0},
                                              "cost_usd": {"max": 1.0}}}},
              "gate_settings": {"alpha": 0.05}, "notes": ["a note"], "redaction": ["secret"]}
    run = RunRow("r1", 1.0, 2.0, "complete", "abc", False, "main", "def", config, None)
    head = [_record("head", "a", False), _record("head", "b", True, graders=[GRADER]), _record("head", "c", True),
            _record("head", "d", True)]
    base = [_record("base", "a", True), _record("base", "b", True), _record("base", "c", True)]
    return build_document(run, head + base, {})


def test_the_reader_reads_back_what_the_writer_wrote() -> None:
    document = _document()
    data = json.loads(json.dumps(document.to_json()))
    assert data["schema_version"] == SCHEMA_VERSION and list(data) == ["schema_version", "run", "gate", "groups", "suites"]
    (group,) = data["groups"]
    assert group["regressions"][0]["case_id"] == "a" and group["thresholds"][1]["sensitivity"]["n"] == 3
    assert "sensitivity" not in group["thresholds"][0], "a key without a value is left out, not null"
    assert data["suites"]["s"] == {"kind": "quality", "golden_changes": {"added": ["d"], "removed": [], "edited": []},
                                   "template_diffs": {"p": "-old\n+new\n"}}
    assert Document.from_json(data) == document
    assert data["gate"]["status"] == "failed" and data["gate"]["reasons"] == [
        "s x m (p): correctness 0.75 breaks min 0.9 (base 1)", "s x m (p): correctness 0.6667 breaks max_drop 0 (base 1)"]


def test_a_stored_run_is_judged_one_group_at_a_time(tmp_path: Path) -> None:
    """A stored run's document reads its records group by group (a 100k-case run never holds every record
    beside the whole document), and is the document its records make in memory: grader rows, a model only
    at the baseline, and the adaptive summary (read from the call ids) included."""
    config = {"suites": {"s": {"kind": "quality", "prompts": ["p"], "same_cases": ["a", "b", "c"],
                               "thresholds": {"correctness": {"min": 0.5, "max_drop": 0.2}}}},
              "gate_settings": {"alpha": 0.05}, "adaptive": {"max_repeat": 3, "suites": ["s"], "note": None}}
    records = [dataclasses.replace(_record(side, case, passed), model=model, repeat=repeat)
               for model in ("m", "n") for side in ("head", "base") for case, passed in (("a", True), ("b", False))
               for repeat in (0, 1)]
    records += [_record("head", "c", True), dataclasses.replace(_record("base", "gone", True), model="old"),
                _record("head", "a", True, grader=GraderRole("judge", "m", 0))]
    reads: list[int] = []

    class Watched(Store):
        def results(self, run_id: str) -> Iterator[CallRecord]:
            raise AssertionError("a report must not read every record of a run at once")

        def results_of(self, rows: Sequence[int]) -> Iterator[CallRecord]:
            reads.append(len(rows))
            return super().results_of(rows)

    with Store(tmp_path) as store:
        store.start_run("r1", "", config, baseline_ref="main")
        store.record_many("r1", records)
        run = store.get_run("r1")
        assert run is not None
        in_memory = build_document(run, store.results("r1"), {})
    with Watched(tmp_path) as watched:
        streamed = stored_document(run, watched, {})
    assert streamed == in_memory
    assert [g.model for g in streamed.groups] == ["m", "n"] and streamed.adaptive is not None
    assert streamed.adaptive.calls_added == 8 and streamed.adaptive.first_calls == 10
    assert reads == [5, 4, 4, 4], "each head group and its base group, one read each (the grader row left out)"


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda d: d["gate"].update(reasons="no"), "gate.reasons: a string is not an array"),
    (lambda d: d["groups"][0]["thresholds"][0].update(passed="yes"), "groups[0].thresholds[0].passed: a string is not a boolean"),
    (lambda d: d["groups"][0]["metrics"].update(cases="ten"), "groups[0].metrics.cases: a string is not a number or null"),
    (lambda d: d["groups"][0]["cases"][0]["runs"][0].pop("output"), "groups[0].cases[0].runs[0]: 'output' is a required"),
    (lambda d: d.update(schema_version=2), "schema_version: 2 is not 1"),
])
def test_the_reader_names_each_problem_by_its_key_path(edit: Any, problem: str) -> None:
    data = json.loads(json.dumps(_document().to_json()))
    edit(data)
    with pytest.raises(DocumentError) as caught:
        Document.from_json(data)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_malformed_shard_file_is_refused_with_its_key_path(tmp_path: Path) -> None:
    """`llmops merge` reads a shard's results.json through the same reader as `--baseline-results`:
    a hand-edited file is exit 2 naming the key, never merged as it stands."""
    from llmops_cli.commands.merge import _load
    from llmops_cli.errors import InputError

    data = json.loads(json.dumps(_document().to_json()))
    data["groups"][0]["cases"][0]["runs"][0]["passed"] = "yes"
    shard = tmp_path / "shard.json"
    shard.write_text(json.dumps(data))
    with pytest.raises(InputError) as caught:
        _load(tmp_path, str(shard))
    assert caught.value.exit_code == 2
    assert any("shard.json: groups[0].cases[0].runs[0].passed" in str(p) for p in caught.value.problems)


# --- the rerun document ----------------------------------------------------------------------------


def _rerun_block() -> str:
    return DOCS.read_text(encoding="utf-8").split("## `llmops rerun`", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]


def test_docs_name_every_key_of_the_rerun_model_and_no_other() -> None:
    from llmops_cli.rerun_document import RerunDocument

    block = _rerun_block()
    model = _model_keys(RerunDocument, set()) | {"schema_version"}
    assert sorted(model - set(re.findall(r"[a-z_][a-z0-9_]*", block))) == [], "keys docs/results.md does not name"
    column = {line.split()[0].removesuffix("[]") for line in block.splitlines() if line.strip() and not line.startswith(" " * 20)}
    assert sorted(column - model) == [], "keys docs/results.md names that the rerun model does not have"


def _rerun_document() -> Any:
    from llmops_cli import agreement
    from llmops_cli.config import RerunThresholds
    from llmops_cli.rerun_document import IngestCounts, ReplayGate, ReplayInfo, RerunDocument, SkippedTrace

    logged = {f"t{i}": agreement.Logged(f"t{i}", f"x.jsonl:{i + 1}", "jsonl", i % 2 == 0, '{"a": 1}') for i in range(3)}
    records = [_record("head", f"t{i}", True) for i in range(3)]
    records[1] = dataclasses.replace(records[1], output=None, error="boom", error_class="server_error")
    rows = agreement.compare(records, logged, has_schema=True)
    metrics = agreement.metrics(rows)
    bounds = agreement.check(metrics, RerunThresholds(min_agreement=0.9), has_schema=True)
    return RerunDocument(
        run=ReplayInfo(id="r", created_at=1.0, git_commit=None, prompt="p", prompt_path="prompts/p.yaml", has_schema=True,
                       model="m", model_id="openai/m", traces_file="x.jsonl", sample=1.0, seed=0, vars_attribute=None,
                       redaction=("secret",)),
        gate=ReplayGate(status="failed", exit_code=1, reasons=tuple(agreement.reason(b) for b in bounds),
                        thresholds=tuple(bounds)),
        ingest=IngestCounts(selected=4, usable=3, skipped=1, ignored_spans=0, sources={"jsonl": 3}),
        metrics=metrics, skipped=(SkippedTrace("x.jsonl:4", None, "no output"),), traces=tuple(rows),
        baseline=agreement.paired_with("r0", rows, rows[:2]))


def test_the_rerun_document_reads_back_what_it_writes() -> None:
    from llmops_cli.rerun_document import RerunDocument

    document = _rerun_document()
    data = json.loads(json.dumps(document.to_json()))
    assert list(data)[:3] == ["schema_version", "kind", "run"] and data["kind"] == "rerun"
    assert RerunDocument.from_json(data) == document
    failed = data["traces"][1]
    assert failed["error_class"] == "server_error" and "new_output" not in failed and failed["logged_output"] == '{"a": 1}'
    buffer = io.StringIO()
    write_json(document, buffer)
    assert json.loads(buffer.getvalue()) == data


def test_a_malformed_stored_rerun_document_is_refused_with_its_key_path() -> None:
    from llmops_cli.rerun_document import RerunDocument

    data = _rerun_document().to_json()
    data["metrics"]["replayed"] = "three"
    data["traces"][0]["agreed"] = "yes"
    with pytest.raises(DocumentError) as raised:
        RerunDocument.from_json(data)
    assert raised.value.problems == ["metrics.replayed: a string is not an integer",
                                     "traces[0].agreed: a string is not a boolean"]
    with pytest.raises(DocumentError):
        RerunDocument.from_json({**data, "kind": "eval"})
