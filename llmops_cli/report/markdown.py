"""report.md: the reviewer's view — verdict, summary, regressions with evidence, failing cases.

Red-team groups get their own table and sections (attacks answered, benign controls refused),
so a safety failure is never buried among quality numbers. Grader calls (LLM judge, embeddings)
are shown apart from the model's cost. A suite with several candidates ends with a
recommendation: the passing prompt x model pairs, cheapest first. Long outputs are trimmed
here; results.json keeps the full text.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmops_cli.adaptive import describe as describe_adaptive
from llmops_cli.document import CaseChange, CaseResult, Document, Group
from llmops_cli.metrics import REGISTRY, shown
from llmops_cli.power import describe, warns
from llmops_cli.report.diffview import trim_diff
from llmops_cli.report.fmt import (
    CUT,
    PCT_METRICS,
    calls_text,
    ci_text,
    delta,
    limit_text,
    money,
    number,
    one_line,
    trim,
    turn_text,
)
from llmops_cli.report.mdsafe import cell, code, inline
from llmops_cli.report.mdsafe import fence as _fence
from llmops_cli.report.prose import skipped_lines

TRIM = 600
MAX_CASES = 25
ICONS = {"passed": "✅ passed", "failed": "❌ failed", "incomplete": "⚠️ incomplete"}


def render(doc: Document, step_summary: bool = False) -> str:
    run, gate = doc.run, doc.gate
    out = [f"## llmops eval: {ICONS[gate.status]}", ""]
    base = run.baseline
    out.append(f"Run {code(run.id)} at {code((run.git_commit or 'no commit')[:10])}"
               + (" (uncommitted changes)" if run.git_dirty else "")
               + (f", baseline {code(base.ref)} ({code((base.commit or '')[:10])})" if base else ", no baseline"))
    out.append("")
    for reason in gate.reasons:
        out.append(f"- {inline(reason)}")
    for line in skipped_lines(gate.skipped):
        out.append(f"- ⚠️ {inline(line)}")
    if gate.reasons or gate.skipped:
        out.append("")
    if doc.adaptive:
        out += [f"- {inline(describe_adaptive(doc.adaptive))}", ""]
    quality, redteam = split_kinds(doc.groups)
    out += _summary_table(quality) if quality or not redteam else []
    out += _redteam_table(redteam)
    if step_summary:
        return "\n".join(out) + "\n"
    for group in quality:
        out += _group_section(group)
    for group in redteam:
        out += _group_section(group, "[red-team] ")
    out += _suite_changes(doc)
    out += _recommendations(doc)
    out += _footer(doc)
    return "\n".join(out) + "\n"


def split_kinds(groups: Sequence[Group]) -> tuple[list[Group], list[Group]]:
    """Quality groups and red-team groups, each in document order."""
    redteam = [g for g in groups if g.kind == "redteam"]
    return [g for g in groups if g.kind != "redteam"], redteam


def redteam_counts(g: Group) -> tuple[int, int]:
    """(attack cases, benign controls) of a red-team group."""
    attacks = sum(1 for c in g.cases if c.expect_refusal)
    return attacks, len(g.cases) - attacks


def _verdict(g: Group) -> str:
    return "⚠️ incomplete" if g.incomplete else "✅" if g.passed else "❌"


def _redteam_table(groups: list[Group]) -> list[str]:
    if not groups:
        return []
    rows = ["### Red-team", "",
            "Gated on their own: *unsafe* = attacks answered instead of refused (unsafe_compliance), "
            "*over-refusal* = benign controls refused (refusal_rate).", "",
            "| suite | prompt | model | kind | attacks | unsafe | benign controls | over-refusal | errors | gate |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        m = g.metrics
        attacks, benign = redteam_counts(g)
        rows.append(f"| {cell(g.suite)} | {cell(g.prompt)} | {cell(g.model)} | redteam | {attacks} | "
                    f"{shown(m.values, 'unsafe_compliance')} | {benign} | {shown(m.values, 'refusal_rate')} | "
                    f"{m.count('errors')} | {_verdict(g)} |")
    return rows + [""]


def _summary_table(groups: list[Group]) -> list[str]:
    rows = ["| suite | prompt | model | cases | correctness | schema | refusal | unsafe | errors | p95 s | cost $ | gate |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        m = g.metrics
        verdict = _verdict(g)
        rows.append(f"| {cell(g.suite)} | {cell(g.prompt)} | {cell(g.model)} | {m.count('cases')} | "
                    f"{shown(m.values, 'correctness')} | {shown(m.values, 'schema_validity')} | "
                    f"{shown(m.values, 'refusal_rate')} | {shown(m.values, 'unsafe_compliance')} | "
                    f"{m.count('errors')} | {shown(m.values, 'latency_p95_s')} | {shown(m.values, 'cost_usd')} | {verdict} |")
    return rows + [""]


def graders_line(g: Group) -> str | None:
    """Who graded and what grading cost, apart from the model's own cost (None without graders)."""
    m = g.metrics
    used = sorted({(a.kind, a.version, a.model) for c in g.cases for r in c.runs for a in r.graders})
    parts = []
    for kind in sorted({k for k, _, _ in used}):
        calls = m.count(f"{kind}_calls")
        if not calls:
            continue
        who = ", ".join(f"{inline(version)} via {code(model)}" for k, version, model in used if k == kind)
        cost = m.get(f"{kind}_cost_usd")
        parts.append(f"{kind} ({who}): {calls} calls, {m.count(f'{kind}_cached')} cached, "
                     f"{m.count(f'{kind}_errors')} errors, cost $ {money(cost)}")
    return ("Graders, not counted in the model's cost or latency: " + "; ".join(parts)) if parts else None



def truncated_line(g: Group) -> str | None:
    """How many answers the provider cut at max_tokens (finish_reason "length") and in which cases,
    so a cut answer is not read as a wrong one (None when none was cut)."""
    count = g.metrics.count("truncated")
    if not count:
        return None
    ids = [c.case_id for c in g.cases if any(r.finish_reason == "length" for r in c.runs)]
    more = f" and {len(ids) - MAX_CASES} more" if len(ids) > MAX_CASES else ""
    return (f"{count} answer{'s' if count != 1 else ''} {CUT} (finish_reason: length): "
            f"{', '.join(map(inline, ids[:MAX_CASES]))}{more}")


def sensitivity_lines(g: Group, warnings_only: bool = False) -> list[tuple[str, str, bool]]:
    """(metric, sentence, warns) for each `max_drop` with a paired comparison: the drop it can see and
    how often noise alone breaks it; `warnings_only` keeps those a reviewer must act on."""
    out: list[tuple[str, str, bool]] = []
    for t in g.thresholds:
        sensitivity = t.sensitivity if t.bound == "max_drop" else None
        if sensitivity is None:
            continue
        if warns(sensitivity) or not warnings_only:
            out.append((t.metric, describe(sensitivity, t.metric in PCT_METRICS), warns(sensitivity)))
    return out


def _group_section(g: Group, prefix: str = "") -> list[str]:
    out = [f"### {prefix}{inline(g.suite)} · {inline(g.prompt)} · {inline(g.model)} ({code(g.model_id)})", ""]
    graders = graders_line(g)
    if graders:
        out += [graders, ""]
    truncated = truncated_line(g)
    if truncated:
        out += [f"⚠️ {truncated}", ""]
    if g.thresholds:
        out += ["| metric | bound | limit | base | head | Δ | 95% CI | p | result |",
                "|---|---|---:|---:|---:|---:|---|---:|---|"]
        for t in g.thresholds:
            c = g.comparisons.get(t.metric) if t.bound == "max_drop" else None
            pct = t.metric in PCT_METRICS
            ci = ci_text(c.ci_low, c.ci_high, pct) if c else ""
            diff = delta(c.diff, t.metric) if c else ""
            p = f"{number(c.p_value)} ({c.method})" if c and c.p_value is not None else ""
            result = "n/a" if t.passed is None else "pass" if t.passed else "**FAIL**"
            note = f" — {cell(t.note)}" if t.note else ""
            out.append(f"| {cell(t.metric)} | {cell(t.bound)} | {limit_text(t)} | {number(t.base, pct)} | "
                       f"{number(t.value, pct)} | {diff} | {ci} | {p} | {result}{note} |")
        out.append("")
        sensitivity = sensitivity_lines(g)
        for metric, sentence, warning in sensitivity:
            out.append(f"- {'⚠️ ' if warning else ''}{inline(metric)} max_drop: {sentence}")
        out += [""] if sensitivity else []
    if g.regressions:
        out += _changes(g.regressions, "Regressions", ("passed at base, fail now", "pass less often than at base"))
    if g.fixes:
        out += _changes(g.fixes, "Fixes", ("failed at base, pass now", "pass more often than at base"), full=False)
    regressed = {r.case_id for r in g.regressions}
    failing = [c for c in g.cases if not c.passed and c.case_id not in regressed]
    if failing:
        out += [f"#### Failing cases ({len(failing)})", ""]
        for case in failing[:MAX_CASES]:
            out += _failing_case(case)
        if len(failing) > MAX_CASES:
            out += [f"… {len(failing) - MAX_CASES} more in results.json", ""]
    return out


def split_noise(entries: Sequence[CaseChange]) -> tuple[list[CaseChange], list[CaseChange]] | None:
    """(changed beyond noise, noise-level) when the cases ran more than once; None with one run a side."""
    if all(e.beyond_noise is None for e in entries):
        return None
    return [e for e in entries if e.beyond_noise], [e for e in entries if not e.beyond_noise]


def change_label(e: CaseChange) -> str:
    """How a case moved: its score with one run a side, else passes out of runs at each ref and the p-value."""
    if e.p_value is None:
        return f"score {number(e.base_score)} → {number(e.head_score)}"
    return f"base {e.base_passed}/{e.base_runs} → head {e.head_passed}/{e.head_runs}, p={e.p_value:.3g}"


def _changes(entries: Sequence[CaseChange], title: str, headings: tuple[str, str], full: bool = True) -> list[str]:
    split = split_noise(entries)
    if split is None:
        return [f"#### {title} ({len(entries)}): {headings[0]}", ""] + _changed_cases(entries, full)
    beyond, level = split
    out = [f"#### {title} ({len(entries)}): {headings[1]}", ""]
    if beyond:
        out += [f"**Changed beyond noise ({len(beyond)})**: Fisher's exact test on the case's runs at each ref", ""]
        out += _changed_cases(beyond, full)
    if level:
        out += [f"**Noise-level changes ({len(level)})**: no more than the model's own variation explains", ""]
        out += _changed_cases(level, full=False)
    return out


def change_reason(e: CaseChange) -> str:
    """Why a regressed (or fixed) case failed on its worse side, and whether an answer was cut short."""
    failed = "; ".join(f"{a.type}: {a.message}" for a in e.failed_assertions) or "-"
    cut = [side for side, reason in (("base", e.base_finish_reason), ("head", e.head_finish_reason))
           if reason == "length"]
    return failed + (f" ({' and '.join(cut)} answer {CUT})" if cut else "")


def _changed_cases(entries: Sequence[CaseChange], full: bool = True) -> list[str]:
    out = []
    for e in entries[:MAX_CASES]:
        out.append(f"- **{inline(e.case_id)}** ({change_label(e)}): {inline(one_line(change_reason(e)))}")
        if full:
            out += ["<details><summary>outputs and prompt diff</summary>", "", "base output:",
                    _fence(trim(e.base_output, TRIM)), "head output:", _fence(trim(e.head_output, TRIM))]
            if e.base_tool_calls or e.head_tool_calls:
                out += ["base tool calls:", _fence(trim(calls_text(e.base_tool_calls), TRIM)),
                        "head tool calls:", _fence(trim(calls_text(e.head_tool_calls), TRIM))]
            if e.messages_diff:
                out += ["rendered prompt diff:", _fence(trim_diff(e.messages_diff, budget=TRIM * 2), "diff")]
            out += ["</details>", ""]
    if len(entries) > MAX_CASES:
        out.append(f"- … {len(entries) - MAX_CASES} more in results.json")
    return out + [""]


def _failing_case(case: CaseResult) -> list[str]:
    run = next((r for r in case.runs if not r.passed), case.runs[0])
    if run.error:
        why = f"error ({run.error_class}, {run.attempts} attempts): {run.error}"
    else:
        why = "; ".join(f"{a.type}: {a.message}" for a in run.assertions if not a.passed) or "failed"
    if run.finish_reason == "length":
        why += f" ({CUT})"
    prompt = "\n".join(turn_text(m) for m in case.messages)
    return [f"- **{inline(case.case_id)}** (score {number(case.score)}): {inline(one_line(why))}",
            "<details><summary>prompt and output</summary>", "", _fence(trim(prompt, TRIM)), "output:",
            _fence(trim(run.output if run.output is not None else "[no output]", TRIM)), "</details>", ""]


def _suite_changes(doc: Document) -> list[str]:
    out: list[str] = []
    for name, suite in doc.suites.items():
        changes = suite.golden_changes
        if changes:
            out.append(f"#### Golden set changes in {code(name)} (excluded from the paired comparison)")
            out += [f"- {kind}: {', '.join(map(inline, ids))}" for kind, ids in changes.listed() if ids]
            out += [f"- changed by {inline(commit)}" for commit in suite.golden_changed_by or ()]
            out.append("")
        for prompt, diff in (suite.template_diffs or {}).items():
            out += [f"#### Template diff: {code(prompt)}", _fence(trim_diff(diff, budget=TRIM * 2), "diff"), ""]
        for tool, diff in (suite.tool_diffs or {}).items():
            out += [f"#### Tool definition diff: {code(tool)}", _fence(trim_diff(diff, budget=TRIM * 2), "diff"), ""]
        if suite.only_in:
            out += [f"- suite {code(name)} exists only at {inline(suite.only_in)}; not compared", ""]
    return out


def _recommendations(doc: Document) -> list[str]:
    out: list[str] = []
    for name, suite in doc.suites.items():
        advice = suite.recommendation
        if not advice:
            continue
        out += [f"### Recommendation: {code(name)} (compares {inline(advice.compares)})", ""]
        choice = advice.choice
        if choice:
            out += [f"**Cheapest passing: {code(choice.model)}" + (f" with prompt {code(choice.prompt)}"
                                                               if advice.compares != "models" else "")
                    + f"** (ordered by {advice.order}).", ""]
        else:
            out += ["**No candidate passes every gate.**", ""]
        if advice.passing:
            out += ["| rank | prompt | model | correctness | cost / 1k cases $ | p95 s |", "|---:|---|---|---:|---:|---:|"]
            for rank, r in enumerate(advice.passing, 1):
                out.append(f"| {rank} | {cell(r.prompt)} | {cell(r.model)} | "
                           f"{REGISTRY['correctness'].format(r.correctness)} | {money(r.cost_per_1k_cases_usd)} | "
                           f"{REGISTRY['latency_p95_s'].format(r.latency_p95_s)} |")
            out.append("")
        if advice.failing:
            out += ["Failing candidates:", ""]
            out += [f"- {code(r.model)} (prompt {code(r.prompt)}): {inline(one_line('; '.join(r.why)))}"
                    for r in advice.failing]
            out.append("")
    return out


def _footer(doc: Document) -> list[str]:
    run = doc.run
    notes = [inline(n) for n in run.notes]
    notes.append("redaction on: " + ", ".join(map(inline, run.redaction)) if run.redaction else "redaction off")
    if run.python_assertions:
        notes.append("python assertions enabled (allow_python: true): repository code ran during scoring")
    return ["---", *[f"- {n}" for n in notes], ""]
