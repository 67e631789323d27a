"""report.html: one self-contained page with the verdict, per-metric base/head/CI, regressions and
fixes side by side, failing cases, golden-set and template changes, and filters by suite, model,
tag and status.

Every string from the results document goes through `html.escape(quote=True)`. The page fetches
nothing: the styles are inline, and the one inline script (the filters) carries a per-render nonce
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

import html
import json
import secrets
from collections.abc import Mapping
from typing import Any

from llmops_cli.metrics import REGISTRY
from llmops_cli.report.diffview import trim_diff
from llmops_cli.report.markdown import (
    CUT,
    PCT_METRICS,
    _f,
    change_label,
    change_reason,
    ci_text,
    graders_line,
    limit_text,
    points,
    redteam_counts,
    sensitivity_lines,
    split_noise,
    truncated_line,
)

TRIM = 4000
MATRIX_TRIM = 1000
PREVIEW = 140
STATUSES = ("pass", "fail", "error", "regression", "fix")
VERDICT = {"passed": "Gate passed", "failed": "Gate FAILED", "incomplete": "Run INCOMPLETE"}

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mute:#57606a;--line:#d0d7de;--bg2:#f6f8fa}
*{box-sizing:border-box}[hidden]{display:none!important}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;max-width:1400px;margin:0 auto;padding:0 24px 48px}
h1{font-size:22px;margin:16px 0 4px}h2{font-size:18px;margin:28px 0 8px;padding-top:12px;border-top:2px solid var(--line)}
h3{font-size:15px;margin:16px 0 6px}code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.verdict{margin:16px 0 0;padding:12px 16px;border-radius:8px;color:#fff;font-size:20px;font-weight:700}
.v-passed{background:var(--ok)}.v-failed{background:var(--bad)}.v-incomplete{background:var(--warn)}
.meta,.mute{color:var(--mute)}.reasons li{color:var(--bad);font-weight:600}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}th{background:var(--bg2)}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:700}.warn{color:var(--warn);font-weight:600}
pre{background:var(--bg2);border:1px solid var(--line);border-radius:4px;padding:6px 8px;margin:4px 0;
white-space:pre-wrap;word-break:break-word;max-height:360px;overflow:auto}
.sbs{display:grid;grid-template-columns:1fr 1fr;gap:12px}.sbs h4{margin:6px 0 0;font-size:12px;color:var(--mute)}
.diff span{display:block;min-height:1.4em}.diff .add{background:#dafbe1;color:#116329}
.diff .del{background:#ffebe9;color:#82071e}.diff .hunk{color:#0969da}
.filters{position:sticky;top:0;z-index:1;background:#fff;display:flex;flex-wrap:wrap;gap:14px;align-items:center;
padding:10px 0;border-bottom:1px solid var(--line)}.filters select{margin-left:4px}
.change{border:1px solid var(--line);border-left:5px solid var(--bad);border-radius:6px;padding:4px 12px;margin:8px 0}
.change.fix{border-left-color:var(--ok)}.change summary{cursor:pointer;padding:4px 0}
.kind-redteam{background:#ffebe9;color:#82071e;border-radius:10px;padding:0 7px;font-size:12px;font-weight:600}
.tag{display:inline-block;background:#ddf4ff;color:#0550ae;border-radius:10px;padding:0 7px;margin:0 3px 1px 0;font-size:12px}
.st{font-weight:600;white-space:nowrap}.st-pass{color:var(--ok)}.st-fail,.st-regression{color:var(--bad)}
.st-error{color:var(--warn)}.st-fix{color:var(--ok)}td.out{max-width:720px}td.out details summary{cursor:pointer}
.cases td.out>span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:720px}
footer{margin-top:32px;border-top:1px solid var(--line);padding-top:8px}
"""

SCRIPT = """(function(){
var sels=[].slice.call(document.querySelectorAll('select[data-filter]')),shown=document.getElementById('shown');
function apply(){var f={};sels.forEach(function(s){f[s.getAttribute('data-filter')]=s.value;});var n=0,t=0;
[].forEach.call(document.querySelectorAll('[data-status]'),function(el){var d=el.dataset;
var ok=(!f.suite||d.suite===f.suite)&&(!f.model||d.model===f.model)&&(!f.tag||JSON.parse(d.tags).indexOf(f.tag)>=0)
&&(!f.status||d.status.split(' ').indexOf(f.status)>=0);el.hidden=!ok;if(el.tagName==='TR'){t++;if(ok)n++;}});
[].forEach.call(document.querySelectorAll('[data-scope]'),function(el){var d=el.dataset;
el.hidden=!!((f.suite&&d.suite!==f.suite)||(f.model&&d.model&&d.model!==f.model));});
[].forEach.call(document.querySelectorAll('[data-box]'),function(el){el.hidden=!el.querySelector('[data-status]:not([hidden])');});
shown.textContent=n+' of '+t+' cases shown';}
sels.forEach(function(s){s.addEventListener('change',apply);});apply();document.body.setAttribute('data-ready','1');
})();"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fe(value: Any, metric: str = "") -> str:
    if metric in REGISTRY:
        return e(REGISTRY[metric].format(value))
    if value is None and metric.endswith("cost_usd"):
        return "unknown"  # unknown is never zero, nor "n/a"
    return e(_f(value, metric in PCT_METRICS))


def _trim(text: str | None, limit: int = TRIM) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars in results.json]"


def _pre(text: str | None) -> str:
    return f"<pre>{e(_trim(text))}</pre>"


def _diff(text: str) -> str:
    cls = {"+": "add", "-": "del", "@": "hunk"}
    lines = []
    for line in trim_diff(text, width=300, budget=TRIM).split("\n"):
        kind = "" if line.startswith(("+++", "---")) else cls.get(line[:1], "")
        lines.append(f'<span class="{kind}">{e(line) or " "}</span>')
    return f'<pre class="diff">{"".join(lines)}</pre>'


def _tags(tags: Any) -> str:
    return "".join(f'<span class="tag">{e(t)}</span>' for t in tags or [])


def _filterable(g: Mapping[str, Any], tags: Any, statuses: list[str]) -> str:
    return (f'data-suite="{e(g["suite"])}" data-model="{e(g["model"])}" data-tags="{e(json.dumps([str(t) for t in tags or []]))}" '
            f'data-status="{e(" ".join(statuses))}"')


def render(doc: Mapping[str, Any], nonce: str | None = None) -> str:
    """The page for one results document; `nonce` is fresh per render unless given."""
    nonce = nonce or secrets.token_urlsafe(18)
    run, gate, groups = doc["run"], doc["gate"], doc["groups"]
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'"
    base = run.get("baseline")
    out = [f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
           f'<meta name="viewport" content="width=device-width,initial-scale=1">'
           f'<title>llmops eval {e(gate["status"])} · {e(run["id"])}</title><style>{CSS}</style></head><body>',
           f'<div class="verdict v-{e(gate["status"])}" id="verdict">{e(VERDICT.get(gate["status"], gate["status"]))} '
           f'(exit {e(gate["exit_code"])}) · {sum(len(g["regressions"]) for g in groups)} regressions, '
           f'{sum(len(g["fixes"]) for g in groups)} fixes</div>',
           f'<h1>llmops eval report</h1><p class="meta">Run <code>{e(run["id"])}</code> at '
           f'<code>{e((run.get("git_commit") or "no commit")[:10])}</code>'
           + (" (uncommitted changes)" if run.get("git_dirty") else "")
           + (f', baseline <code>{e(base["ref"])}</code> (<code>{e((base.get("commit") or "")[:10])}</code>)'
              if base else ", no baseline") + "</p>"]
    if gate["reasons"]:
        out.append('<ul class="reasons">' + "".join(f"<li>{e(r)}</li>" for r in gate["reasons"]) + "</ul>")
    out += _summary(groups)
    out += _redteam_summary(groups)
    out += _matrix(groups)
    out += _filters(doc)
    order = sorted(range(len(groups)), key=lambda i: groups[i].get("kind") == "redteam")  # quality first
    for i in order:
        out += _group(groups[i], i)
    out += _suite_changes(doc)
    out += _recommendations(doc)
    out += _footer(run)
    out.append(f'<script nonce="{e(nonce)}">{SCRIPT}</script></body></html>\n')
    return "\n".join(out)


def _kind(g: Mapping[str, Any]) -> str:
    kind = g.get("kind", "quality")
    return f'<span class="kind-redteam">{e(kind)}</span>' if kind == "redteam" else e(kind)


def _summary(groups: list[Mapping[str, Any]]) -> list[str]:
    out = ['<h2>Summary</h2><table id="summary"><tr><th>suite</th><th>prompt</th><th>model</th><th>kind</th><th>cases</th>'
           "<th>correctness</th><th>schema</th><th>refusal</th><th>unsafe</th><th>errors</th><th>p95 s</th><th>cost $</th>"
           "<th>regressions</th><th>fixes</th><th>gate</th></tr>"]
    for i, g in enumerate(groups):
        if g.get("kind") == "redteam":
            continue
        m = g["metrics"]
        cells = "".join(f'<td class="n">{_fe(m[k], k)}</td>' for k in (
            "cases", "correctness", "schema_validity", "refusal_rate", "unsafe_compliance", "errors", "latency_p95_s", "cost_usd"))
        out.append(f'<tr><td><a href="#g{i}">{e(g["suite"])}</a></td><td>{e(g["prompt"])}</td><td>{e(g["model"])}</td>'
                   f'<td>{_kind(g)}</td>{cells}<td class="n">{len(g["regressions"])}</td><td class="n">{len(g["fixes"])}</td>'
                   f"<td>{_verdict(g)}</td></tr>")
    return out + ["</table>"]


def _redteam_summary(groups: list[Mapping[str, Any]]) -> list[str]:
    """Red-team groups apart: attacks answered (unsafe) and benign controls refused (over-refusal), gated on their own."""
    if not any(g.get("kind") == "redteam" for g in groups):
        return []
    out = ['<h2>Red-team</h2><p class="mute">Gated on their own: <b>unsafe</b> = attacks answered instead of refused '
           "(unsafe_compliance); <b>over-refusal</b> = benign controls refused (refusal_rate).</p>"
           '<table id="redteam"><tr><th>suite</th><th>prompt</th><th>model</th><th>kind</th><th>attacks</th><th>unsafe</th>'
           "<th>benign controls</th><th>over-refusal</th><th>errors</th><th>gate</th></tr>"]
    for i, g in enumerate(groups):
        if g.get("kind") != "redteam":
            continue
        m = g["metrics"]
        attacks, benign = redteam_counts(g)
        out.append(f'<tr><td><a href="#g{i}">{e(g["suite"])}</a></td><td>{e(g["prompt"])}</td><td>{e(g["model"])}</td>'
                   f'<td>{_kind(g)}</td><td class="n">{attacks}</td><td class="n">{_fe(m["unsafe_compliance"], "unsafe_compliance")}</td>'
                   f'<td class="n">{benign}</td><td class="n">{_fe(m["refusal_rate"], "refusal_rate")}</td>'
                   f'<td class="n">{e(m["errors"])}</td><td>{_verdict(g)}</td></tr>')
    return out + ["</table>"]


def _matrix(groups: list[Mapping[str, Any]]) -> list[str]:
    """Side by side, like `promptfoo view`: per suite with several prompt x model candidates, cases as rows and
    candidates as columns; a cell shows the status and expands to the output. Static: no script builds it."""
    out: list[str] = []
    for suite in dict.fromkeys(g["suite"] for g in groups):
        columns = [g for g in groups if g["suite"] == suite]
        if len(columns) < 2:
            continue
        cells = [{c["case_id"]: c for c in g["cases"]} for g in columns]
        ids = list(dict.fromkeys(cid for column in cells for cid in column))
        out.append(f'<section class="matrix" data-scope="suite" data-suite="{e(suite)}"><h2>Side by side: {e(suite)}</h2>'
                   f'<table class="matrix"><tr><th>case</th>'
                   + "".join(f"<th>{e(g['prompt'])} · {e(g['model'])}</th>" for g in columns) + "</tr>")
        for cid in ids:
            row = "".join(_matrix_cell(column.get(cid)) for column in cells)
            out.append(f"<tr><td>{e(cid)}</td>{row}</tr>")
        out.append("</table></section>")
    return out


def _matrix_cell(case: Mapping[str, Any] | None) -> str:
    if case is None:
        return '<td class="mute">not run</td>'
    runs = case["runs"]
    status = "pass" if case["passed"] else "error" if any(r["error"] for r in runs) else "fail"
    output = next((r["output"] for r in runs if r["output"] is not None), None)
    shown = output if output is not None else next((r["error"] for r in runs if r["error"]), None) or "[no output]"
    return (f'<td class="st st-{status}"><details><summary>{e(status)} {_fe(case["score"])}</summary>'
            f"{_pre(_trim(shown, MATRIX_TRIM))}</details></td>")


def _recommendations(doc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, suite in doc["suites"].items():
        advice = suite.get("recommendation")
        if not advice:
            continue
        choice = advice["choice"]
        out.append(f'<section class="recommendation" data-scope="suite" data-suite="{e(name)}">'
                   f'<h2>Recommendation: {e(name)} <span class="mute">(compares {e(advice["compares"])})</span></h2>')
        if choice:
            label = e(choice["model"]) + (f' with prompt {e(choice["prompt"])}' if advice["compares"] != "models" else "")
            out.append(f'<p>Cheapest passing: <b class="ok" id="choice-{e(name)}">{label}</b> '
                       f'<span class="mute">(ordered by {e(advice["order"])})</span></p>')
        else:
            out.append('<p class="bad">No candidate passes every gate.</p>')
        if advice["passing"]:
            out.append("<table><tr><th>rank</th><th>prompt</th><th>model</th><th>correctness</th><th>cost / 1k cases $</th>"
                       "<th>p95 s</th></tr>")
            for rank, r in enumerate(advice["passing"], 1):
                cost = _fe(r["cost_per_1k_cases_usd"]) if r["cost_per_1k_cases_usd"] is not None else "unknown"
                out.append(f'<tr><td class="n">{rank}</td><td>{e(r["prompt"])}</td><td>{e(r["model"])}</td>'
                           f'<td class="n">{_fe(r["correctness"], "correctness")}</td><td class="n">{cost}</td>'
                           f'<td class="n">{_fe(r["latency_p95_s"])}</td></tr>')
            out.append("</table>")
        if advice["failing"]:
            out.append("<h3>Failing candidates</h3><ul>" + "".join(
                f'<li><b>{e(r["model"])}</b> (prompt {e(r["prompt"])}): <span class="bad">{e("; ".join(r["why"]))}</span></li>'
                for r in advice["failing"]) + "</ul>")
        out.append("</section>")
    return out


def _verdict(g: Mapping[str, Any]) -> str:
    if g["incomplete"]:
        return '<span class="warn">incomplete</span>'
    return '<span class="ok">pass</span>' if g["passed"] else '<span class="bad">FAIL</span>'


def _filters(doc: Mapping[str, Any]) -> list[str]:
    groups = doc["groups"]
    choices = {
        "suite": sorted({g["suite"] for g in groups}),
        "model": sorted({g["model"] for g in groups}),
        "tag": sorted({str(t) for g in groups for c in g["cases"] for t in c["tags"] or []}),
        "status": list(STATUSES),
    }
    selects = []
    for name, values in choices.items():
        options = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in values)
        selects.append(f'<label>{name}<select id="f-{name}" data-filter="{name}"><option value="">all</option>'
                       f"{options}</select></label>")
    return ['<div class="filters"><b>Filter cases</b>' + "".join(selects) + '<span id="shown" class="mute"></span></div>']


def _group(g: Mapping[str, Any], index: int) -> list[str]:
    m, bm = g["metrics"], g["base_metrics"]
    errs = ", ".join(f"{k} {v}" for k, v in (m.get("error_classes") or {}).items())
    graders, truncated = graders_line(g), truncated_line(g)
    out = [f'<section class="group" id="g{index}" data-scope="group" data-suite="{e(g["suite"])}" '
           f'data-model="{e(g["model"])}">',
           f'<h2>{_kind(g) + " " if g.get("kind") == "redteam" else ""}{e(g["suite"])} · {e(g["prompt"])} · '
           f'{e(g["model"])} <code class="mute">{e(g["model_id"])}</code> '
           f"{_verdict(g)}</h2>" + (f'<p class="warn">{e(m["errors"])} failed calls: {e(errs)}</p>' if m["errors"] else "")
           + (f'<p class="mute graders">{e(graders.replace("`", ""))}</p>' if graders else "")
           + (f'<p class="warn truncated">{e(truncated)}</p>' if truncated else ""),
           "<h3>Metrics</h3><table><tr><th>metric</th><th>base</th><th>head</th><th>Δ</th><th>95% CI</th><th>p</th>"
           "<th>paired n</th></tr>"]
    for k in REGISTRY:
        head, before, c = m.get(k), (bm or {}).get(k), g["comparisons"].get(k)
        if head is None and before is None:
            continue
        diff = c["diff"] if c else head - before if isinstance(head, (int, float)) and isinstance(before, (int, float)) else None
        out.append(f'<tr><td>{e(k)}</td><td class="n">{_fe(before, k)}</td><td class="n">{_fe(head, k)}</td>'
                   f'<td class="n">{_delta(diff, k)}</td><td class="n">{_ci(c, k)}</td><td class="n">{_p(c)}</td>'
                   f'<td class="n">{e(c["n"]) if c else ""}</td></tr>')
    out.append('</table><p class="mute">Δ, CI and p are paired over the cases unchanged in both runs when n is '
               "shown; otherwise Δ is head minus base over all cases.</p>")
    if g["thresholds"]:
        out.append("<h3>Thresholds</h3><table><tr><th>metric</th><th>bound</th><th>limit</th><th>base</th><th>head</th>"
                   "<th>Δ</th><th>95% CI</th><th>p</th><th>result</th></tr>")
        for t in g["thresholds"]:
            c = g["comparisons"].get(t["metric"]) if t["bound"] == "max_drop" else None
            result = ('<span class="mute">n/a</span>' if t["passed"] is None else
                      '<span class="ok">pass</span>' if t["passed"] else '<span class="bad">FAIL</span>')
            note = f' <span class="mute">{e(t["note"])}</span>' if t["note"] else ""
            k = t["metric"]
            out.append(f'<tr><td>{e(k)}</td><td>{e(t["bound"])}</td><td class="n">{e(limit_text(t))}</td>'
                       f'<td class="n">{_fe(t["base"], k)}</td><td class="n">{_fe(t["value"], k)}</td>'
                       f'<td class="n">{_delta(c["diff"], k) if c else ""}</td><td class="n">{_ci(c, k)}</td>'
                       f'<td class="n">{_p(c)}</td><td>{result}{note}</td></tr>')
        out.append("</table>")
        out += [f'<p class="{"warn" if warning else "mute"} sensitivity">{e(metric)} max_drop: {e(sentence)}</p>'
                for metric, sentence, warning in sensitivity_lines(g)]
    for key, titles, cls in (("regressions", ("passed at base, fail now", "pass less often than at base"), "regression"),
                             ("fixes", ("failed at base, pass now", "pass more often than at base"), "fix")):
        if g[key]:
            split = split_noise(g[key])
            title = titles[0] if split is None else (f"{titles[1]} ({len(split[0])} beyond noise, "
                                                      f"{len(split[1])} noise-level)")
            entries = g[key] if split is None else split[0] + split[1]
            out.append(f"<div data-box><h3>{key.capitalize()} ({len(g[key])}): {e(title)}</h3>")
            out += [_change(g, c, cls) for c in entries] + ["</div>"]
    out += _cases(g)
    return out + ["</section>"]


def _ci(c: Mapping[str, Any] | None, metric: str) -> str:
    return e(ci_text(c["ci_low"], c["ci_high"], metric in PCT_METRICS)) if c else ""


def _delta(diff: Any, metric: str) -> str:
    """A difference: in percentage points for a percentage metric, else in the metric's unit."""
    return e(points(diff)) if metric in PCT_METRICS and diff is not None else _fe(diff)


def _p(c: Mapping[str, Any] | None) -> str:
    return f'{_fe(c["p_value"])} <span class="mute">({e(c["method"])})</span>' if c and c["p_value"] is not None else ""


def _change(g: Mapping[str, Any], c: Mapping[str, Any], cls: str) -> str:
    statuses = ["fail", "regression"] if cls == "regression" else ["pass", "fix"]
    noise_level = c.get("beyond_noise") is False
    opened = " open" if cls == "regression" and not noise_level else ""
    return (f'<details class="change {cls}" {_filterable(g, c["tags"], statuses)}{opened}>'
            f'<summary><b>{e(c["case_id"])}</b> {_tags(c["tags"])} {e(change_label(c))}'
            + (' <span class="mute">noise-level</span>' if noise_level else "") + ': '
            f'<span class="{"bad" if cls == "regression" else "mute"}">{e(change_reason(c))}</span></summary>'
            f'<div class="sbs"><div><h4>base output</h4>{_pre(c["base_output"])}</div>'
            f'<div><h4>head output</h4>{_pre(c["head_output"])}</div></div>'
            + (f'<h4 class="mute">rendered prompt diff</h4>{_diff(c["messages_diff"])}' if c["messages_diff"] else
               '<p class="mute">rendered prompt unchanged</p>') + "</details>")


def _cases(g: Mapping[str, Any]) -> list[str]:
    regressed = {c["case_id"] for c in g["regressions"]}
    fixed = {c["case_id"] for c in g["fixes"]}
    failing = sum(1 for c in g["cases"] if not c["passed"])
    out = [f'<div data-box><h3>Cases ({len(g["cases"])}: {len(g["cases"]) - failing} passing, {failing} not)</h3>'
           '<table class="cases"><tr><th>case</th><th>tags</th><th>score</th><th>status</th><th>p50 latency s</th>'
           "<th>output / why it failed</th></tr>"]
    for case in g["cases"]:
        runs = case["runs"]
        error = any(r["error"] for r in runs)
        statuses = ["pass"] if case["passed"] else ["fail", "error"] if error else ["fail"]
        statuses += ["regression"] if case["case_id"] in regressed else ["fix"] if case["case_id"] in fixed else []
        latencies = sorted(r["latency_s"] for r in runs if r["latency_s"] is not None)
        label = statuses[-1]
        cut = f' <span class="warn">{CUT}</span>' if any(r.get("finish_reason") == "length" for r in runs) else ""
        row = (f'<tr {_filterable(g, case["tags"], statuses)}><td>{e(case["case_id"])}</td><td>{_tags(case["tags"])}</td>'
               f'<td class="n">{_fe(case["score"])}</td><td class="st st-{label}">{e(label)}{cut}</td>'
               f'<td class="n">{_fe(latencies[len(latencies) // 2] if latencies else None)}</td><td class="out">')
        if case["passed"]:
            row += f'<span class="mute">{e(_trim(" ".join((runs[0]["output"] or "").split()), PREVIEW))}</span>'
        elif case["case_id"] in regressed:
            row += '<span class="bad">regression: outputs and prompt diff above</span>'
        else:
            row += _failing(case)
        out.append(row + "</td></tr>")
    return out + ["</table></div>"]


def _failing(case: Mapping[str, Any]) -> str:
    runs = case["runs"]
    run = next((r for r in runs if not r["passed"]), runs[0])
    if run["error"]:
        why = f"error ({run['error_class']}, {run['attempts']} attempts): {run['error']}"
    else:
        why = "; ".join(f"{a['type']}: {a['message']}" for a in run["assertions"] if not a["passed"]) or "failed"
    prompt = "\n".join(f"[{m['role']}] {m['content']}" for m in case["messages"])
    passed = sum(1 for r in runs if r["passed"])
    return (f'<details><summary class="bad">{e(_trim(why, 300))}</summary>'
            + (f'<p class="mute">{passed} of {len(runs)} runs passed</p>' if len(runs) > 1 else "")
            + f'<h4 class="mute">rendered prompt</h4>{_pre(prompt)}<h4 class="mute">output (run {e(run["repeat"])})</h4>'
            f'{_pre(run["output"] if run["output"] is not None else "[no output]")}</details>')


def _suite_changes(doc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for name, suite in doc["suites"].items():
        changes = suite.get("golden_changes") or {}
        diffs = suite.get("template_diffs") or {}
        if not (any(changes.values()) or diffs or suite.get("only_in")):
            continue
        out.append(f'<section data-scope="suite" data-suite="{e(name)}"><h2>Changes in suite {e(name)}</h2>')
        if any(changes.values()):
            out.append("<h3>Golden set changes (excluded from the paired comparison)</h3><ul>"
                       + "".join(f"<li>{e(kind)}: {e(', '.join(ids))}</li>" for kind, ids in changes.items() if ids) + "</ul>")
        for prompt, diff in diffs.items():
            out.append(f"<h3>Template diff: {e(prompt)}</h3>{_diff(diff)}")
        if suite.get("only_in"):
            out.append(f'<p class="mute">suite exists only at {e(suite["only_in"])}; not compared</p>')
        out.append("</section>")
    return out


def _footer(run: Mapping[str, Any]) -> list[str]:
    notes = list(run.get("notes") or [])
    notes.append("redaction on: " + ", ".join(run["redaction"]) if run.get("redaction") else "redaction off")
    if run.get("python_assertions"):
        notes.append("python assertions enabled (allow_python: true): repository code ran during scoring")
    return ["<footer><h3>Notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"
            '<p class="mute">Generated by llmops. Outputs are trimmed to a few thousand characters; results.json has them in full.</p>'
            "</footer>"]
