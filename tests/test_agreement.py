"""Agreement of a replay with the logged answers, and the rerun gate's bounds (in-process: pure functions)."""

from __future__ import annotations

import pytest

from llmops_cli.agreement import check, field_agreement, metrics, paired_with, same_json, similarity
from llmops_cli.config import RerunThresholds
from llmops_cli.rerun_document import Mode, TraceRow


def row(i: int, agreed: bool, *, error: bool = False, mode: Mode = "rendered", schema: bool | None = None) -> TraceRow:
    return TraceRow(id=f"t{i}", position=f"t.jsonl:{i + 1}", source="jsonl", mode=mode, agreed=agreed,
                    exact=agreed and not error, same_json=agreed, field_agreement=None,
                    similarity=None if error else (1.0 if agreed else 0.5), refused=False, schema_valid=schema,
                    error="boom" if error else None, error_class="server_error" if error else None)


def test_json_answers_agree_whatever_their_layout() -> None:
    assert same_json('{"a": 1, "b": [1, 2]}', '```json\n{"b": [1, 2],\n "a": 1}\n```')
    assert not same_json('{"a": 1}', '{"a": 2}') and not same_json("yes", "yes ")  # text is compared exactly
    assert field_agreement('{"a": 1, "b": 2}', '{"a": 1, "b": 3}') == 0.5 and field_agreement("x", "{}") is None
    assert 0.99 < similarity("x" * 200, "x" * 199 + "y") < 1.0
    long_text = " ".join(f"word{i % 97}" for i in range(50_000))  # compared word by word, on the first 2,000 words
    assert similarity(long_text, long_text) == 1.0
    assert 0.999 < similarity(long_text, "changed " + long_text) < 1.0


def test_agreement_has_a_wilson_interval_and_errors_never_agree() -> None:
    rows = [row(i, True) for i in range(16)] + [row(16, False), row(17, False), row(18, False, error=True)]
    m = metrics(rows)
    assert m.agreed == 16 and m.replayed == 19 and m.errors == 1 and m.changed == 2
    assert m.agreement == pytest.approx(16 / 19)
    assert m.agreement_ci is not None
    low, high = m.agreement_ci
    assert low == pytest.approx(0.6243, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)


def test_bounds_and_an_unmeasured_metric_fails_loudly() -> None:
    m = metrics([row(0, True, mode="as_logged"), row(1, False, mode="as_logged")])
    assert m.schema_validity is None and m.schema_traces == 0
    bounds = check(m, RerunThresholds(min_agreement=0.5, max_refusal_rate=0.0, min_schema_validity=1.0), has_schema=True)
    assert [(b.key, b.passed) for b in bounds] == [("min_agreement", True), ("max_refusal_rate", True),
                                                         ("min_schema_validity", False)]
    assert "all were replayed as logged" in bounds[2].note
    assert check(m, RerunThresholds(min_agreement=0.51), has_schema=False)[0].passed is False
    assert check(m, RerunThresholds(), has_schema=False) == []


def test_paired_with_an_earlier_replay() -> None:
    earlier = [row(0, True), row(1, True), row(2, False), row(9, True)]
    now = [row(0, True), row(1, False), row(2, True), row(3, True)]
    b = paired_with("r0", now, earlier)
    assert b.run == "r0" and b.paired == 3 and b.only_now == 1 and b.only_before == 1
    assert b.stopped_agreeing == ("t1",) and b.started_agreeing == ("t2",) and b.p_value == 1.0
