"""How far a replay agrees with the logged production answers, and whether that passes the gate.

A trace **agrees** when the new answer equals the logged one (outer whitespace aside), or when
both are JSON and parse to the same value (the same fields with the same values, whatever the
key order or spacing). Agreement is the share of replayed traces that agree, with a 95% Wilson
score interval; a call that failed is replayed but never agrees (an error is never a pass).
Beside it: the mean share of the logged JSON object's top-level fields the new answer keeps, a
text similarity ratio (difflib: by character up to SIMILARITY_CHARS characters, by word beyond,
on at most SIMILARITY_WORDS words, so a long answer costs milliseconds, not minutes), refusal
rate, and schema validity over the traces rendered with a prompt that declares a schema (a
trace replayed as logged was not written for that schema, so it is not counted; a failed call
counts as invalid, as in eval).

Both answers are compared redacted, so a rule that rewrites an email rewrites it on both sides.
The gate: `min_agreement`, `max_refusal_rate`, `min_schema_validity`; a bound on a metric that
could not be measured fails and says why (unknown is never a pass).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from llmops_cli.config import RerunThresholds
from llmops_cli.rerun_document import AgreementMetrics, Bound, Mode, Replayed, TraceRow
from llmops_cli.scoring.base import parse_json_answer
from llmops_cli.stats import wilson
from llmops_cli.store import CallRecord

SIMILARITY_CHARS = 2_000
SIMILARITY_WORDS = 2_000
Z95 = 1.959963984540054
BOUNDS: tuple[tuple[str, str, Literal["min", "max"]], ...] = (
    ("min_agreement", "agreement", "min"), ("max_refusal_rate", "refusal_rate", "max"),
    ("min_schema_validity", "schema_validity", "min"))


@dataclass(frozen=True)
class Logged:
    """What the comparison needs of a trace: its logged answer (already redacted) and how it was replayed."""

    id: str
    position: str
    source: str
    rendered: bool  # True: its variables were rendered with the prompt; False: its messages replayed as logged
    output: str


def field_agreement(old: str, new: str) -> float | None:
    """Share of the logged JSON object's top-level fields the new answer reproduces (None: not a JSON object)."""
    before, after = parse_json_answer(old), parse_json_answer(new)
    if not isinstance(before, dict) or not isinstance(after, dict) or not before:
        return None
    return sum(1 for k, v in before.items() if k in after and after[k] == v) / len(before)


def same_json(old: str, new: str) -> bool:
    before, after = parse_json_answer(old), parse_json_answer(new)
    return not isinstance(before, ValueError) and not isinstance(after, ValueError) and before == after


def similarity(old: str, new: str) -> float:
    if len(old) <= SIMILARITY_CHARS and len(new) <= SIMILARITY_CHARS:
        return difflib.SequenceMatcher(None, old, new, autojunk=False).ratio()
    words_old, words_new = old.split()[:SIMILARITY_WORDS], new.split()[:SIMILARITY_WORDS]
    return difflib.SequenceMatcher(None, words_old, words_new, autojunk=False).ratio()


def compare(records: Sequence[CallRecord], logged: Mapping[str, Logged], has_schema: bool) -> list[TraceRow]:
    """One row per replayed trace, in the order replayed; both answers only where they differ."""
    rows = []
    for r in records:
        trace = logged[r.case_id]
        mode: Mode = "rendered" if trace.rendered else "as_logged"
        checked = has_schema and trace.rendered
        row = TraceRow(id=trace.id, position=trace.position, source=trace.source, mode=mode, agreed=False, exact=None,
                       same_json=None, field_agreement=None, similarity=None, refused=None,
                       schema_valid=False if checked else None, error=r.error, error_class=r.error_class)
        if r.ok:
            new = r.output or ""
            exact = trace.output.strip() == new.strip()
            agreed = exact or same_json(trace.output, new)
            row = replace(row, agreed=agreed, exact=exact, same_json=agreed,
                          field_agreement=field_agreement(trace.output, new), similarity=similarity(trace.output, new),
                          refused=r.refused, schema_valid=r.schema_valid if checked else None)
        if not row.agreed:
            row = replace(row, logged_output=trace.output, new_output=r.output)
        rows.append(row)
    return rows


def metrics(rows: Sequence[TraceRow]) -> AgreementMetrics:
    answered = [r for r in rows if r.error is None]
    n = len(rows)
    agreed = sum(1 for r in rows if r.agreed)
    fields = [r.field_agreement for r in answered if r.field_agreement is not None]
    schema = [r.schema_valid for r in rows if r.schema_valid is not None]  # a failed call is not valid
    return AgreementMetrics(
        replayed=n, answered=len(answered), errors=n - len(answered),
        rendered=sum(1 for r in rows if r.mode == "rendered"), as_logged=sum(1 for r in rows if r.mode == "as_logged"),
        agreed=agreed, changed=len(answered) - sum(1 for r in answered if r.agreed),
        agreement=agreed / n if n else None, agreement_ci=wilson(agreed, n, Z95) if n else None,
        exact_agreement=sum(1 for r in answered if r.exact) / n if n else None,
        json_field_agreement=sum(fields) / len(fields) if fields else None,
        similarity_mean=sum(r.similarity or 0.0 for r in answered) / len(answered) if answered else None,
        schema_traces=len(schema), schema_validity=sum(schema) / len(schema) if schema else None,
        refusal_rate=sum(1 for r in answered if r.refused) / len(answered) if answered else None)


def check(values: AgreementMetrics, thresholds: RerunThresholds, has_schema: bool) -> list[Bound]:
    """One bound per threshold set."""
    rows = []
    for key, metric, bound in BOUNDS:
        limit = getattr(thresholds, key)
        if limit is None:
            continue
        value = getattr(values, metric)
        if value is None:
            rows.append(Bound(key, metric, bound, limit, value, False, _unmeasured(metric, has_schema)))
        else:
            passed = value >= limit - 1e-12 if bound == "min" else value <= limit + 1e-12
            rows.append(Bound(key, metric, bound, limit, value, passed, ""))
    return rows


def _unmeasured(metric: str, has_schema: bool) -> str:
    if metric == "schema_validity":
        return ("not measured: the prompt declares no output.schema" if not has_schema else
                "not measured: no answered trace was rendered with the prompt (all were replayed as logged)")
    return "not measured: no trace was answered"


def reason(row: Bound) -> str:
    """The gate's one line for a broken bound."""
    shown = "n/a" if row.value is None else f"{row.value:.1%}"
    return f"{row.metric} {shown} breaks {row.key} {row.limit:.1%}" + (f" ({row.note})" if row.note else "")


def paired_with(run: str, rows: Sequence[TraceRow], earlier: Sequence[TraceRow]) -> Replayed:
    """This replay against an earlier one (`run`) of the same traces (by id): agreement on the traces both
    replayed, the traces that stopped agreeing and those that started, and McNemar's exact p."""
    from llmops_cli.stats import mcnemar_exact

    before = {r.id: r.agreed for r in earlier}
    common = [r for r in rows if r.id in before]
    lost = tuple(r.id for r in common if before[r.id] and not r.agreed)
    gained = tuple(r.id for r in common if not before[r.id] and r.agreed)
    n = len(common)
    base = sum(1 for r in common if before[r.id]) / n if n else None
    head = sum(1 for r in common if r.agreed) / n if n else None
    return Replayed(run=run, paired=n, only_now=len(rows) - n, only_before=len(before) - n, agreement_before=base,
                    agreement_now=head, difference=head - base if base is not None and head is not None else None,
                    p_value=mcnemar_exact(len(lost), len(gained)) if n else None,
                    stopped_agreeing=lost, started_agreeing=gained)
