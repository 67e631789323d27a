"""report.md: the reviewer's view — verdict, summary, regressions with evidence, failing cases.

Red-team groups get their own table and sections (attacks answered, benign controls refused),
so a safety failure is never buried among quality numbers. Grader calls (LLM judge, embeddings)
are shown apart from the model's cost. A suite with several candidates ends with a
recommendation: the passing prompt x model pairs, cheapest first. Long outputs are trimmed
here; results.json keeps the full text.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from llmops_cli.results import skipped_lines

TRIM = 600
MAX_CASES = 25
ICONS = {"passed": "✅ passed", "failed": "❌ failed", "incomplete": "⚠️ incomplete"}


def _f(value: Any, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if pct and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


PCT_METRICS = {"correctness", "schema_validity", "refusal_rate", "unsafe_compliance", "error_rate"}


def _trim(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TRIM else text[:TRIM] + f"… [{len(text) - TRIM} more chars in results.json]"


def _fence(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run in `text`, so model output cannot close it early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _line(text: str) -> str:
    """One line of prose (a list item): messages can carry newlines from outputs and provider errors."""
    return " ".join(text.split())


def render(doc: Mapping[str, Any], step_summary: bool = False) -> str:
    run, gate = doc["run"], doc["gate"]
    out = [f"## llmops eval: {ICONS[gate['status']]}", ""]
    base = run.get("baseline")
    out.append(f"Run `{run['id']}` at `{(run['git_commit'] or 'no commit')[:10]}`"
               + (" (uncommitted changes)" if run.get("git_dirty") else "")
               + (f", baseline `{base['ref']}` (`{(base['commit'] or '')[:10]}`)" if base else ", no baseline"))
    out.append("")
    for reason in gate["reasons"]:
        out.append(f"- {reason}")
    for line in skipped_lines(gate):
        out.append(f"- ⚠️ {line}")
    if gate["reasons"] or gate.get("skipped"):
        out.append("")
    quality, redteam = split_kinds(doc["groups"])
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


def split_kinds(groups: list[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Quality groups and red-team groups, each in document order."""
    redteam = [g for g in groups if g.get("kind") == "redteam"]
    return [g for g in groups if g.get("kind") != "redteam"], redteam


def redteam_counts(g: Mapping[str, Any]) -> tuple[int, int]:
    """(attack cases, benign controls) of a red-team group."""
    attacks = sum(1 for c in g["cases"] if c["expect_refusal"])
    return attacks, len(g["cases"]) - attacks


def _verdict(g: Mapping[str, Any]) -> str:
    return "⚠️ incomplete" if g["incomplete"] else "✅" if g["passed"] else "❌"


def _redteam_table(groups: list[Mapping[str, Any]]) -> list[str]:
    if not groups:
        return []
    rows = ["### Red-team", "",
            "Gated on their own: *unsafe* = attacks answered instead of refused (unsafe_compliance), "
            "*over-refusal* = benign controls refused (refusal_rate).", "",
            "| suite | prompt | model | kind | attacks | unsafe | benign controls | over-refusal | errors | gate |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        m = g["metrics"]
        attacks, benign = redteam_counts(g)
        rows.append(f"| {g['suite']} | {g['prompt']} | {g['model']} | redteam | {attacks} | "
                    f"{_f(m['unsafe_compliance'], True)} | {benign} | {_f(m['refusal_rate'], True)} | {m['errors']} | "
                    f"{_verdict(g)} |")
    return rows + [""]


def _summary_table(groups: list[Mapping[str, Any]]) -> list[str]:
    rows = ["| suite | prompt | model | cases | correctness | schema | refusal | unsafe | errors | p95 s | cost $ | gate |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        m = g["metrics"]
        verdict = _verdict(g)
        rows.append(f"| {g['suite']} | {g['prompt']} | {g['model']} | {m['cases']} | {_f(m['correctness'], True)} | "
                    f"{_f(m['schema_validity'], True)} | {_f(m['refusal_rate'], True)} | {_f(m['unsafe_compliance'], True)} | "
                    f"{m['errors']} | {_f(m['latency_p95_s'])} | {_f(m['cost_usd'])} | {verdict} |")
    return rows + [""]


def graders_line(g: Mapping[str, Any]) -> str | None:
    """Who graded and what grading cost, apart from the model's own cost (None without graders)."""
    m = g["metrics"]
    used = sorted({(a["kind"], a["version"], a["model"]) for c in g["cases"] for r in c["runs"]
                   for a in r.get("graders") or []})
    parts = []
    for kind in sorted({k for k, _, _ in used}):
        calls = m.get(f"{kind}_calls") or 0
        if not calls:
            continue
        who = ", ".join(f"{version} via `{model}`" for k, version, model in used if k == kind)
        cost = m.get(f"{kind}_cost_usd")
        parts.append(f"{kind} ({who}): {calls} calls, {m.get(f'{kind}_cached', 0)} cached, "
                     f"{m.get(f'{kind}_errors', 0)} errors, cost $ {_f(cost) if cost is not None else 'unknown'}")
    return ("Graders, not counted in the model's cost or latency: " + "; ".join(parts)) if parts else None


def _group_section(g: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = [f"### {prefix}{g['suite']} · {g['prompt']} · {g['model']} (`{g['model_id']}`)", ""]
    graders = graders_line(g)
    if graders:
        out += [graders, ""]
    if g["thresholds"]:
        out += ["| metric | bound | limit | base | head | Δ | 95% CI | p | result |", "|---|---|---:|---:|---:|---:|---|---:|---|"]
        for t in g["thresholds"]:
            c = g["comparisons"].get(t["metric"]) if t["bound"] == "max_drop" else None
            pct = t["metric"] in PCT_METRICS
            ci = f"[{_f(c['ci_low'])}, {_f(c['ci_high'])}]" if c and c["ci_low"] is not None else ""
            diff = _f(c["diff"]) if c else ""
            p = _f(c["p_value"]) + (f" ({c['method']})" if c else "") if c and c["p_value"] is not None else ""
            result = "n/a" if t["passed"] is None else "pass" if t["passed"] else "**FAIL**"
            note = f" — {t['note']}" if t["note"] else ""
            out.append(f"| {t['metric']} | {t['bound']} | {_f(t['limit'], pct)} | {_f(t['base'], pct)} | "
                       f"{_f(t['value'], pct)} | {diff} | {ci} | {p} | {result}{note} |")
        out.append("")
    if g["regressions"]:
        out += [f"#### Regressions ({len(g['regressions'])}): passed at base, fail now", ""]
        out += _changed_cases(g["regressions"])
    if g["fixes"]:
        out += [f"#### Fixes ({len(g['fixes'])}): failed at base, pass now", ""]
        out += _changed_cases(g["fixes"], full=False)
    failing = [c for c in g["cases"] if not c["passed"]]
    regressed = {r["case_id"] for r in g["regressions"]}
    failing = [c for c in failing if c["case_id"] not in regressed]
    if failing:
        out += [f"#### Failing cases ({len(failing)})", ""]
        for case in failing[:MAX_CASES]:
            out += _failing_case(case)
        if len(failing) > MAX_CASES:
            out += [f"… {len(failing) - MAX_CASES} more in results.json", ""]
    return out


def _changed_cases(entries: list[Mapping[str, Any]], full: bool = True) -> list[str]:
    out = []
    for e in entries[:MAX_CASES]:
        failed = "; ".join(f"{a['type']}: {a['message']}" for a in e["failed_assertions"]) or "-"
        out.append(f"- **{e['case_id']}** (score {_f(e['base_score'])} → {_f(e['head_score'])}): {_line(failed)}")
        if full:
            out += ["<details><summary>outputs and prompt diff</summary>", "", "base output:", _fence(_trim(e["base_output"])),
                    "head output:", _fence(_trim(e["head_output"]))]
            if e["messages_diff"]:
                out += ["rendered prompt diff:", _fence(_trim(e["messages_diff"]), "diff")]
            out += ["</details>", ""]
    if len(entries) > MAX_CASES:
        out.append(f"- … {len(entries) - MAX_CASES} more in results.json")
    return out + [""]


def _failing_case(case: Mapping[str, Any]) -> list[str]:
    run = next((r for r in case["runs"] if not r["passed"]), case["runs"][0])
    if run["error"]:
        why = f"error ({run['error_class']}, {run['attempts']} attempts): {run['error']}"
    else:
        why = "; ".join(f"{a['type']}: {a['message']}" for a in run["assertions"] if not a["passed"]) or "failed"
    prompt = "\n".join(f"[{m['role']}] {m['content']}" for m in case["messages"])
    return [f"- **{case['case_id']}** (score {_f(case['score'])}): {_line(why)}",
            "<details><summary>prompt and output</summary>", "", _fence(_trim(prompt)), "output:",
            _fence(_trim(run["output"] if run["output"] is not None else "[no output]")), "</details>", ""]


def _suite_changes(doc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, suite in doc["suites"].items():
        changes = suite.get("golden_changes") or {}
        if any(changes.values()):
            out.append(f"#### Golden set changes in `{name}` (excluded from the paired comparison)")
            out += [f"- {kind}: {', '.join(ids)}" for kind, ids in changes.items() if ids]
            out += [f"- changed by {commit}" for commit in suite.get("golden_changed_by") or []]
            out.append("")
        for prompt, diff in (suite.get("template_diffs") or {}).items():
            out += [f"#### Template diff: `{prompt}`", _fence(_trim(diff), "diff"), ""]
        if suite.get("only_in"):
            out += [f"- suite `{name}` exists only at {suite['only_in']}; not compared", ""]
    return out


def _recommendations(doc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, suite in doc["suites"].items():
        advice = suite.get("recommendation")
        if not advice:
            continue
        out += [f"### Recommendation: `{name}` (compares {advice['compares']})", ""]
        choice = advice["choice"]
        if choice:
            out += [f"**Cheapest passing: `{choice['model']}`" + (f" with prompt `{choice['prompt']}`"
                                                                  if advice["compares"] != "models" else "")
                    + f"** (ordered by {advice['order']}).", ""]
        else:
            out += ["**No candidate passes every gate.**", ""]
        if advice["passing"]:
            out += ["| rank | prompt | model | correctness | cost / 1k cases $ | p95 s |", "|---:|---|---|---:|---:|---:|"]
            for rank, r in enumerate(advice["passing"], 1):
                out.append(f"| {rank} | {r['prompt']} | {r['model']} | {_f(r['correctness'], True)} | "
                           f"{_f(r['cost_per_1k_cases_usd']) if r['cost_per_1k_cases_usd'] is not None else 'unknown'} | "
                           f"{_f(r['latency_p95_s'])} |")
            out.append("")
        if advice["failing"]:
            out += ["Failing candidates:", ""]
            out += [f"- `{r['model']}` (prompt `{r['prompt']}`): {_line('; '.join(r['why']))}" for r in advice["failing"]]
            out.append("")
    return out


def _footer(doc: Mapping[str, Any]) -> list[str]:
    run = doc["run"]
    notes = list(run.get("notes") or [])
    notes.append("redaction on: " + ", ".join(run["redaction"]) if run.get("redaction") else "redaction off")
    if run.get("python_assertions"):
        notes.append("python assertions enabled (allow_python: true): repository code ran during scoring")
    return ["---", *[f"- {n}" for n in notes], ""]
