"""report.md of `llmops rerun`: the verdict, agreement with its interval, changed answers with
both texts, errors, skipped traces and which traces were rendered or replayed as logged.

Trace ids, positions, reasons and answers come from production: each goes through mdsafe (plain
words as they are, else a code span), answers in fences longer than any backtick run they contain.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmops_cli.report.fmt import interval, one_line, pct, ratio, trim
from llmops_cli.report.markdown import ICONS, TRIM
from llmops_cli.report.mdsafe import code, fence, inline
from llmops_cli.rerun_document import AgreementMetrics, Bound, Replayed, ReplayInfo, RerunDocument, SkippedTrace, TraceRow

MAX_LISTED = 50


def render(doc: RerunDocument, step_summary: bool = False) -> str:
    run, gate, m, ingest = doc.run, doc.gate, doc.metrics, doc.ingest
    out = [f"## llmops rerun: {ICONS[gate.status]}", "",
           f"Run {code(run.id)}: prompt {code(run.prompt)} × model {code(run.model)} "
           f"({code(run.model_id)}) on {code(run.traces_file)}, sample {run.sample:g}, seed {run.seed}", ""]
    out += [f"- {inline(one_line(reason))}" for reason in gate.reasons]
    out += [""] if gate.reasons else []
    out += ["| agreement (95% CI) | exact | JSON fields | similarity | schema valid | refusal | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {m.agreed}/{m.replayed} = {pct(m.agreement)}{interval(m.agreement_ci)} | "
            f"{pct(m.exact_agreement)} | {pct(m.json_field_agreement)} | {ratio(m.similarity_mean)} | "
            f"{_schema(m, run)} | {pct(m.refusal_rate)} | {m.errors} |", ""]
    out.append(f"{ingest.selected} traces selected: {m.replayed} replayed ({m.rendered} rendered with the "
               f"prompt, {m.as_logged} replayed as logged), {ingest.skipped} skipped"
               + (f"; {ingest.ignored_spans} spans that are not chat calls ignored" if ingest.ignored_spans else "")
               + ".")
    out.append("")
    if step_summary:
        return "\n".join(out) + "\n"
    out += _thresholds(gate.thresholds)
    out += _baseline(doc.baseline)
    out += _changed(doc.traces)
    out += _skipped(doc.skipped, ingest.skipped)
    out += _modes(doc.traces, m)
    return "\n".join(out) + "\n"


def _schema(m: AgreementMetrics, run: ReplayInfo) -> str:
    if not run.has_schema:
        return "n/a (no schema)"
    return f"{pct(m.schema_validity)} of {m.schema_traces}"


def _thresholds(rows: Sequence[Bound]) -> list[str]:
    if not rows:
        return ["No thresholds set (`--min-agreement`, `--max-refusal-rate`, `--min-schema-validity` or "
                "`rerun:` in llmops.yaml): this run reports, it does not gate.", ""]
    out = ["### Thresholds", "", "| bound | limit | value | result |", "|---|---:|---:|---|"]
    for r in rows:
        result = "✅" if r.passed else "❌" + (f" {r.note}" if r.note else "")
        out.append(f"| {r.key} | {pct(r.limit)} | {pct(r.value)} | {result} |")
    return out + [""]


def _baseline(b: Replayed | None) -> list[str]:
    if b is None:
        return []
    out = [f"### Compared with run {code(b.run)}", ""]
    if not b.paired:
        return out + ["**No trace of this replay was in that run**: no comparison (check --sample and --seed).", ""]
    p = "n/a" if b.p_value is None else f"{b.p_value:.3g}"
    out.append(f"On the {b.paired} traces both replayed: agreement {pct(b.agreement_before)} → "
               f"{pct(b.agreement_now)} ({(b.difference or 0.0) * 100:+.1f} points, exact McNemar p = {p}); "
               f"{b.only_now} only now, {b.only_before} only then.")
    for label, ids in (("Stopped agreeing", b.stopped_agreeing), ("Started agreeing", b.started_agreeing)):
        if ids:
            out.append(f"- {label} ({len(ids)}): " + ", ".join(code(i) for i in ids[:MAX_LISTED])
                       + (" …" if len(ids) > MAX_LISTED else ""))
    return out + [""]


def _changed(rows: Sequence[TraceRow]) -> list[str]:
    changed = [r for r in rows if not r.agreed and r.error is None]
    errors = [r for r in rows if r.error is not None]
    out: list[str] = []
    if changed:
        out += [f"### Changed answers ({len(changed)})", ""]
        for r in changed[:MAX_LISTED]:
            fields = "" if r.field_agreement is None else f", JSON fields kept {pct(r.field_agreement)}"
            out += [f"#### {code(r.id)} ({'rendered' if r.mode == 'rendered' else 'replayed as logged'}, "
                    f"similarity {ratio(r.similarity)}{fields})", "",
                    f"At {code(r.position)}.", "", "Logged:", "", fence(trim(r.logged_output, TRIM)), "",
                    "New:", "", fence(trim(r.new_output, TRIM)), ""]
        if len(changed) > MAX_LISTED:
            out += [f"… and {len(changed) - MAX_LISTED} more in results.json.", ""]
    if errors:
        out += [f"### Errors ({len(errors)})", ""]
        out += [f"- {code(r.id)}: {inline(r.error_class)}: {inline(one_line(r.error or '')[:300])}"
                for r in errors[:MAX_LISTED]]
        out.append("")
    return out


def _skipped(items: Sequence[SkippedTrace], total: int) -> list[str]:
    if not total:
        return []
    out = [f"### Skipped traces ({total})", ""]
    out += [f"- {code(s.position)}" + (f" ({code(s.id)})" if s.id else "") + f": {inline(one_line(s.reason))}"
            for s in items[:MAX_LISTED]]
    if total > MAX_LISTED:
        out.append(f"- … and {total - MAX_LISTED} more in results.json")
    return out + [""]


def _modes(rows: Sequence[TraceRow], m: AgreementMetrics) -> list[str]:
    """Which traces tested the prompt and which only the model: both kinds are listed when mixed."""
    if not m.rendered or not m.as_logged:
        kind = "rendered with the prompt" if m.rendered else "replayed as logged (no template variables)"
        return [f"All replayed traces were {kind}.", ""]
    out = ["### Rendered or replayed as logged", ""]
    for mode, label in (("rendered", "Rendered with the prompt"), ("as_logged", "Replayed as logged (no variables)")):
        ids = [r.id for r in rows if r.mode == mode]
        out.append(f"- {label} ({len(ids)}): " + ", ".join(code(i) for i in ids[:MAX_LISTED])
                   + (" …" if len(ids) > MAX_LISTED else ""))
    return out + [""]
