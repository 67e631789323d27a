"""report.html: one self-contained page with the verdict, per-metric base/head/CI, regressions and
fixes side by side, failing cases, golden-set and template changes, and filters by suite, model,
tag and status.

The page is templates/report.html (layout, with its parts in templates/macros.html) rendered with
autoescape on (report/page.py): every value from the results document is escaped on output and
none is marked safe. This module only gathers what the template shows; figures read through
report/fmt.py. The page fetches nothing: the styles are inline, and the one inline script (the filters) carries a per-render nonce
under a strict Content-Security-Policy, so even a missed escape could not run injected script.
The script never builds HTML: it toggles `hidden` and writes one count with `textContent`.
Passing cases are one compact row each so a 10k-case run stays readable; failing and changed
cases are shown in full. Long texts are trimmed here; results.json keeps them whole.
A suite with several prompt x model candidates also gets a side-by-side matrix (cases as rows,
candidates as columns). Red-team groups have their own summary table and a `kind` column; grader calls (LLM judge,
embeddings) are shown apart from the model's cost; a suite with several candidates ends with
its recommendation (passing prompt x model pairs, cheapest first, and why the others fail).
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from jinja2 import Template

from llmops_cli.adaptive import describe as describe_adaptive
from llmops_cli.document import CaseChange, CaseResult, Document, Group, Metrics, RunInfo, StepResult
from llmops_cli.metrics import REGISTRY
from llmops_cli.report import fmt
from llmops_cli.report.diffview import trim_diff
from llmops_cli.report.markdown import (
    change_label,
    change_reason,
    graders_line,
    redteam_counts,
    sensitivity_lines,
    split_noise,
    truncated_line,
)
from llmops_cli.report.page import environment

TRIM = 4000
MATRIX_TRIM = 1000
PREVIEW = 140
STATUSES = ("pass", "fail", "error", "regression", "fix")
SUMMARY_METRICS = ("cases", "correctness", "schema_validity", "refusal_rate", "unsafe_compliance", "errors",
                   "latency_p95_s", "cost_usd")
WRITE_PIECES = 4096  # template pieces gathered per write
VERDICT = {"passed": "Gate passed", "failed": "Gate FAILED", "incomplete": "Run INCOMPLETE"}


def csp(nonce: str | None) -> str:
    """The page's Content-Security-Policy: nothing fetched, inline styles, and script only with the nonce (none without)."""
    script = f" script-src 'nonce-{nonce}';" if nonce else ""
    return f"default-src 'none'; style-src 'unsafe-inline';{script} base-uri 'none'; form-action 'none'"


def render(doc: Document, nonce: str | None = None) -> str:
    """The page for one results document; `nonce` is fresh per render unless given."""
    return "".join(_template().generate(**_context(doc, nonce)))


def write(doc: Document, handle: TextIO, nonce: str | None = None) -> None:
    """The page written as the template yields it: a 100k-case page never exists as one string."""
    pieces: list[str] = []
    for piece in _template().generate(**_context(doc, nonce)):
        pieces.append(piece)
        if len(pieces) >= WRITE_PIECES:
            handle.write("".join(pieces))
            pieces.clear()
    handle.write("".join(pieces))


def _context(doc: Document, nonce: str | None) -> dict[str, Any]:
    nonce = nonce or secrets.token_urlsafe(18)
    run, groups = doc.run, doc.groups
    baseline = run.baseline
    order = sorted(range(len(groups)), key=lambda i: groups[i].kind == "redteam")  # quality first
    return dict(
        run=run, gate=doc.gate, groups=groups, nonce=nonce, csp=csp(nonce), verdicts=VERDICT,
        commit=(run.git_commit or "no commit")[:10], dirty=run.git_dirty, baseline=baseline,
        base_commit=((baseline.commit if baseline else None) or "")[:10],
        regressions=sum(len(g.regressions) for g in groups), fixes=sum(len(g.fixes) for g in groups),
        has_redteam=any(kind_of(g) == "redteam" for g in groups), matrices=matrices(groups),
        filters=filters(groups), ordered=[(i, groups[i]) for i in order], suite_changes=suite_changes(doc),
        recommendations=[(name, s.recommendation) for name, s in doc.suites.items() if s.recommendation],
        notes=notes(run), adaptive=describe_adaptive(doc.adaptive) if doc.adaptive else None)


def kind_of(g: Group) -> str:
    """A group's kind: "quality" unless the suite is a red-team one."""
    return g.kind


def matrices(groups: Sequence[Group]) -> list[dict[str, Any]]:
    """Side by side, like `promptfoo view`: per suite with several prompt x model candidates, cases as rows and
    candidates as columns; a cell shows the status and expands to the output. Static: no script builds it."""
    out = []
    for suite in dict.fromkeys(g.suite for g in groups):
        columns = [g for g in groups if g.suite == suite]
        if len(columns) < 2:
            continue
        cells = [{c.case_id: c for c in g.cases} for g in columns]
        ids = list(dict.fromkeys(cid for column in cells for cid in column))
        out.append({"suite": suite, "columns": columns, "rows": [(cid, [column.get(cid) for column in cells]) for cid in ids]})
    return out


def cell_of(case: CaseResult) -> tuple[str, str]:
    """(status, text shown) of one matrix cell: the first output, else the first error."""
    runs = case.runs
    status = "pass" if case.passed else "error" if any(r.error for r in runs) else "fail"
    output = next((r.output for r in runs if r.output is not None), None)
    shown = output if output is not None else next((r.error for r in runs if r.error), None) or "[no output]"
    return status, shown


def filters(groups: Sequence[Group]) -> list[tuple[str, list[str]]]:
    return [("suite", sorted({g.suite for g in groups})), ("model", sorted({g.model for g in groups})),
            ("tag", sorted({str(t) for g in groups for c in g.cases for t in c.tags})),
            ("status", list(STATUSES))]


def tags_json(tags: Iterable[str] | None) -> str:
    """The tags as the filter script reads them (JSON in a data attribute; escaped like any value)."""
    return json.dumps([str(t) for t in tags or []])


def diff_lines(text: str) -> list[tuple[str, str]]:
    """(class, line) of a unified diff trimmed for the page: added, deleted, hunk header or context."""
    cls = {"+": "add", "-": "del", "@": "hunk"}
    return [("" if line.startswith(("+++", "---")) else cls.get(line[:1], ""), line)
            for line in trim_diff(text, width=300, budget=TRIM).split("\n")]


def error_classes(m: Metrics) -> str:
    return ", ".join(f"{k} {v}" for k, v in m.error_classes.items())


def metric_rows(g: Group) -> list[dict[str, Any]]:
    """Base, head and paired comparison of each metric measured on either side."""
    rows = []
    for k in REGISTRY:
        head, c = g.metrics.get(k), g.comparisons.get(k)
        before = g.base_metrics.get(k) if g.base_metrics else None
        if head is None and before is None:
            continue
        diff = c.diff if c else head - before if head is not None and before is not None else None
        rows.append({"name": k, "base": before, "head": head, "diff": diff, "comparison": c})
    return rows


def change_boxes(g: Group) -> list[dict[str, Any]]:
    """The regressions box and the fixes box: a title and the entries, beyond noise first when cases ran repeatedly."""
    out = []
    for key, changes, titles, cls in (
            ("regressions", g.regressions, ("passed at base, fail now", "pass less often than at base"), "regression"),
            ("fixes", g.fixes, ("failed at base, pass now", "pass more often than at base"), "fix")):
        if changes:
            split = split_noise(changes)
            title = titles[0] if split is None else (f"{titles[1]} ({len(split[0])} beyond noise, "
                                                      f"{len(split[1])} noise-level)")
            entries: Sequence[CaseChange] = changes if split is None else split[0] + split[1]
            out.append({"title": f"{key.capitalize()} ({len(changes)}): {title}", "entries": entries, "cls": cls})
    return out


def case_row(case: CaseResult, regressed: list[str], fixed: list[str]) -> dict[str, Any]:
    """What the cases table shows of one case: its filter statuses, label, p50 latency, whether an answer was cut."""
    runs = case.runs
    error = any(r.error for r in runs)
    statuses = ["pass"] if case.passed else ["fail", "error"] if error else ["fail"]
    statuses += ["regression"] if case.case_id in regressed else ["fix"] if case.case_id in fixed else []
    latencies = sorted(r.latency_s for r in runs if r.latency_s is not None)
    preview = fmt.trim(" ".join((runs[0].output or "").split()), PREVIEW) if case.passed else ""
    return {"statuses": statuses, "label": statuses[-1], "latency": latencies[len(latencies) // 2] if latencies else None,
            "cut": any(r.finish_reason == "length" for r in runs), "preview": preview}


def failure(case: CaseResult) -> dict[str, Any]:
    """Why a failing case failed (its first failed run), with the rendered prompt and that run's output."""
    runs = case.runs
    run = next((r for r in runs if not r.passed), runs[0])
    if run.error:
        why = f"error ({run.error_class}, {run.attempts} attempts): {run.error}"
    else:
        why = "; ".join(f"{a.type}: {a.message}" for a in run.assertions if not a.passed) or "failed"
    return {"why": why, "runs": len(runs), "passed": sum(1 for r in runs if r.passed), "repeat": run.repeat,
            "prompt": "\n".join(fmt.turn_text(m) for m in case.messages),
            "output": run.output if run.output is not None else "[no output]", "trajectory": trajectory(run.steps)}


def trajectory(steps: Sequence[StepResult]) -> list[dict[str, Any]]:
    """An agent loop's rows: one per tool call (step, call, arguments, the result sent back), and a
    step that answered in text as its own row, so a reader sees where the agent went astray."""
    rows: list[dict[str, Any]] = []
    for number, step in enumerate(steps, 1):
        for index, call in enumerate(step.tool_calls):
            result = step.tool_results[index] if index < len(step.tool_results) else None
            rows.append({"step": number, "call": call.name, "arguments": call.arguments, "valid": call.valid,
                         "result": result})
        if not step.tool_calls:
            rows.append({"step": number, "call": None, "arguments": None, "valid": True, "result": step.text})
    return rows


def suite_changes(doc: Document) -> list[tuple[str, dict[str, Any]]]:
    """Golden-set changes, template diffs and one-sided suites, for the suites that have any."""
    out = []
    for name, suite in doc.suites.items():
        diffs = suite.template_diffs or {}
        tools = suite.tool_diffs or {}
        if not (suite.golden_changes or diffs or tools or suite.only_in):
            continue
        golden = [(kind, ids) for kind, ids in suite.golden_changes.listed() if ids] if suite.golden_changes else []
        out.append((name, {"golden": golden, "diffs": list(diffs.items()),
                           "tool_diffs": list(tools.items()), "only_in": suite.only_in}))
    return out


def notes(run: RunInfo) -> list[str]:
    out = list(run.notes)
    out.append("redaction on: " + ", ".join(run.redaction) if run.redaction else "redaction off")
    if run.python_assertions:
        out.append("python assertions enabled (allow_python: true): repository code ran during scoring")
    return out


@functools.cache
def _template() -> Template:
    """Compiled on first use: a run that writes no HTML does not pay for it."""
    return environment(
        TRIM=TRIM, MATRIX_TRIM=MATRIX_TRIM, SUMMARY_METRICS=SUMMARY_METRICS, CUT=fmt.CUT, PCT_METRICS=fmt.PCT_METRICS,
        kind_of=kind_of, cell_of=cell_of, tags_json=tags_json, diff_lines=diff_lines, error_classes=error_classes,
        metric_rows=metric_rows, change_boxes=change_boxes, case_row=case_row, failure=failure, redteam_counts=redteam_counts,
        graders_line=graders_line, truncated_line=truncated_line, sensitivity_lines=sensitivity_lines,
        change_label=change_label, change_reason=change_reason, calls_text=fmt.calls_text, limit_text=fmt.limit_text,
        ci_text=fmt.ci_text,
    ).get_template("report.html")
