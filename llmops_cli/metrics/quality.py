"""correctness and schema_validity: did the answer pass, does it fit the prompt's output schema.

An error is never a pass: an errored call fails its case's correctness and is an invalid output
for schema_validity, in the group's value and in the paired comparison alike.
"""

from __future__ import annotations

from llmops_cli.metrics.base import Metric, MetricContext, one
from llmops_cli.store import CallRecord


def _passed(r: CallRecord, context: MetricContext) -> tuple[float, ...]:
    return one(r.ok and r.passed)


def _schema_valid(r: CallRecord, context: MetricContext) -> tuple[float, ...]:
    if not context.has_schema or r.expect_refusal:
        return ()
    return one(bool(r.schema_valid))  # None on an errored call: no output, so no valid one


CORRECTNESS = Metric(
    name="correctness", higher_is_better=True, share=True, observe=_passed,
    definition="mean over cases of the share of the case's runs that passed (errors fail)")

SCHEMA_VALIDITY = Metric(
    name="schema_validity", higher_is_better=True, share=True, observe=_schema_valid, scope="answer",
    definition="mean over cases not expecting a refusal of the share of runs whose output parses and validates "
               "against output.schema (errors count as invalid; only when the prompt declares a schema)")
