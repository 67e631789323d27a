"""report.html of `llmops rerun`: the same content as report.md on one self-contained page.

Every string from the document goes through `html.escape(quote=True)`; the page has no script
and a Content-Security-Policy that allows none, nor any fetch.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from llmops_cli.report.html import CSS, VERDICT
from llmops_cli.report.rerun_markdown import MAX_LISTED, interval, pct, ratio

TRIM = 4000
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render(doc: Mapping[str, Any]) -> str:
    run, gate, m, ingest = doc["run"], doc["gate"], doc["metrics"], doc["ingest"]
    out = [f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
           f"<title>llmops rerun {e(run['id'])}</title><style>{CSS}</style></head><body>",
           f"<h1>llmops rerun</h1><div class=\"verdict v-{e(gate['status'])}\">{e(VERDICT[gate['status']])}</div>",
           f"<p class=\"meta\">Run <code>{e(run['id'])}</code>: prompt <code>{e(run['prompt'])}</code> × model "
           f"<code>{e(run['model'])}</code> (<code>{e(run['model_id'])}</code>) on <code>{e(run['traces_file'])}</code>, "
           f"sample {e(format(run['sample'], 'g'))}, seed {e(run['seed'])}</p>"]
    if gate["reasons"]:
        out.append('<ul class="reasons">' + "".join(f"<li>{e(r)}</li>" for r in gate["reasons"]) + "</ul>")
    schema = "n/a (no schema)" if not run["has_schema"] else f"{pct(m['schema_validity'])} of {m['schema_traces']}"
    out.append("<table><tr><th>agreement (95% CI)</th><th>exact</th><th>JSON fields</th><th>similarity</th>"
               "<th>schema valid</th><th>refusal</th><th>errors</th></tr>"
               f"<tr><td class=\"n\">{e(m['agreed'])}/{e(m['replayed'])} = {e(pct(m['agreement']) + interval(m['agreement_ci']))}</td>"
               f"<td class=\"n\">{e(pct(m['exact_agreement']))}</td><td class=\"n\">{e(pct(m['json_field_agreement']))}</td>"
               f"<td class=\"n\">{e(ratio(m['similarity_mean']))}</td><td class=\"n\">{e(schema)}</td>"
               f"<td class=\"n\">{e(pct(m['refusal_rate']))}</td><td class=\"n\">{e(m['errors'])}</td></tr></table>")
    out.append(f"<p>{e(ingest['selected'])} traces selected: {e(m['replayed'])} replayed ({e(m['rendered'])} rendered "
               f"with the prompt, {e(m['as_logged'])} replayed as logged), {e(ingest['skipped'])} skipped, "
               f"{e(ingest['ignored_spans'])} other spans ignored.</p>")
    if gate["thresholds"]:
        out.append("<h2>Thresholds</h2><table><tr><th>bound</th><th>limit</th><th>value</th><th>result</th></tr>")
        for b in gate["thresholds"]:
            result = '<span class="ok">pass</span>' if b["passed"] else f'<span class="bad">FAIL</span> {e(b["note"])}'
            out.append(f"<tr><td>{e(b['key'])}</td><td class=\"n\">{e(pct(b['limit']))}</td>"
                       f"<td class=\"n\">{e(pct(b['value']))}</td><td>{result}</td></tr>")
        out.append("</table>")
    changed = [r for r in doc["traces"] if not r["agreed"] and r["error"] is None]
    if changed:
        out.append(f"<h2>Changed answers ({len(changed)})</h2>")
        for r in changed[:MAX_LISTED]:
            mode = "rendered" if r["mode"] == "rendered" else "replayed as logged"
            out.append(f'<details class="change" open><summary><code>{e(r["id"])}</code> ({e(mode)}, similarity '
                       f'{e(ratio(r["similarity"]))}) <span class="mute">{e(r["position"])}</span></summary>'
                       f'<div class="sbs"><div><h4>logged</h4><pre>{e(_trim(r["logged_output"]))}</pre></div>'
                       f'<div><h4>new</h4><pre>{e(_trim(r["new_output"]))}</pre></div></div></details>')
    errors = [r for r in doc["traces"] if r["error"] is not None]
    if errors:
        out.append(f"<h2>Errors ({len(errors)})</h2><ul>" + "".join(
            f"<li><code>{e(r['id'])}</code>: {e(r['error_class'])}: {e(_trim(r['error']))}</li>"
            for r in errors[:MAX_LISTED]) + "</ul>")
    if doc["skipped"]:
        out.append(f"<h2>Skipped traces ({e(ingest['skipped'])})</h2><ul>" + "".join(
            f"<li><code>{e(s['position'])}</code>{' (' + e(s['id']) + ')' if s['id'] else ''}: {e(s['reason'])}</li>"
            for s in doc["skipped"][:MAX_LISTED]) + "</ul>")
    if m["rendered"] and m["as_logged"]:
        out.append("<h2>Rendered or replayed as logged</h2><ul>")
        for mode, label in (("rendered", "Rendered with the prompt"), ("as_logged", "Replayed as logged (no variables)")):
            ids = [r["id"] for r in doc["traces"] if r["mode"] == mode]
            out.append(f"<li>{e(label)} ({len(ids)}): " + ", ".join(f"<code>{e(i)}</code>" for i in ids[:MAX_LISTED])
                       + (" …" if len(ids) > MAX_LISTED else "") + "</li>")
        out.append("</ul>")
    out.append("</body></html>\n")
    return "".join(out)


def _trim(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TRIM else text[:TRIM] + f"… [{len(text) - TRIM} more chars in results.json]"
