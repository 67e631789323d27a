"""The document of `llmops rerun` as typed values: the one definition of its results.json.

A replay of logged production calls is judged by agreement with the logged answers, not by suites,
so its document is a kind of its own (`"kind": "rerun"`), written and read by the same machinery as
an eval's (document.py): frozen dataclasses whose field names are the JSON keys, one writer, one
reader that names every problem by its key path. The run stores it in its summary, and `llmops
report RUN` re-renders a past replay from there; docs/results.md lists its keys (checked by a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from llmops_cli.document import OMIT_NONE, SCHEMA_VERSION, DocumentError, Status, as_json, read_json

KIND: Literal["rerun"] = "rerun"
Mode = Literal["rendered", "as_logged"]


@dataclass(frozen=True, slots=True)
class ReplayInfo:
    """What was replayed, with what and where from."""

    id: str
    created_at: float | None
    git_commit: str | None
    prompt: str
    prompt_path: str
    has_schema: bool  # the prompt declares output.schema
    model: str
    model_id: str
    traces_file: str
    sample: float
    seed: int
    vars_attribute: str | None
    redaction: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bound:
    """One threshold of the rerun gate, checked; a metric that could not be measured fails, with why."""

    key: str  # min_agreement | max_refusal_rate | min_schema_validity
    metric: str
    bound: Literal["min", "max"]
    limit: float
    value: float | None
    passed: bool
    note: str


@dataclass(frozen=True, slots=True)
class ReplayGate:
    status: Status
    exit_code: int
    reasons: tuple[str, ...]
    thresholds: tuple[Bound, ...]


@dataclass(frozen=True, slots=True)
class IngestCounts:
    selected: int  # records sampled
    usable: int
    skipped: int
    ignored_spans: int  # spans that are not chat calls
    sources: Mapping[str, int]  # traces per reader: jsonl, genai, openinference


@dataclass(frozen=True, slots=True)
class AgreementMetrics:
    replayed: int
    answered: int
    errors: int
    rendered: int  # variables rendered with the prompt
    as_logged: int  # messages replayed as logged
    agreed: int
    changed: int
    agreement: float | None
    agreement_ci: tuple[float, float] | None  # 95% Wilson
    exact_agreement: float | None
    json_field_agreement: float | None
    similarity_mean: float | None
    schema_traces: int
    schema_validity: float | None
    refusal_rate: float | None


@dataclass(frozen=True, slots=True)
class SkippedTrace:
    position: str  # file:line, or the span's path in an export
    id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One replayed trace; both answers only where they differ (a failed call has no new answer)."""

    id: str
    position: str
    source: str
    mode: Mode
    agreed: bool
    exact: bool | None
    same_json: bool | None
    field_agreement: float | None
    similarity: float | None
    refused: bool | None
    schema_valid: bool | None  # null unless rendered with a prompt that declares a schema
    error: str | None
    error_class: str | None
    logged_output: str | None = field(default=None, metadata=OMIT_NONE)
    new_output: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class Replayed:
    """This replay against an earlier one of the same traces (`--baseline-run`)."""

    run: str
    paired: int
    only_now: int
    only_before: int
    agreement_before: float | None
    agreement_now: float | None
    difference: float | None
    p_value: float | None  # exact McNemar
    stopped_agreeing: tuple[str, ...]
    started_agreeing: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RerunDocument:
    """results.json of `llmops rerun`."""

    versioned: ClassVar[bool] = True  # written with schema_version first (report.write_json)
    kind: Literal["rerun"] = KIND
    run: ReplayInfo
    gate: ReplayGate
    ingest: IngestCounts
    metrics: AgreementMetrics
    skipped: tuple[SkippedTrace, ...]
    traces: tuple[TraceRow, ...]
    baseline: Replayed | None

    def to_json(self) -> dict[str, Any]:
        body = as_json(self)
        assert isinstance(body, dict)
        return {"schema_version": SCHEMA_VERSION, **body}

    @classmethod
    def from_json(cls, data: object) -> RerunDocument:
        """A rerun document from JSON values (a run's stored summary); DocumentError names each problem."""
        if not isinstance(data, Mapping) or data.get("kind") != KIND:
            raise DocumentError(["kind: not a `llmops rerun` document"])
        if data.get("schema_version") != SCHEMA_VERSION:
            raise DocumentError([f"schema_version: {data.get('schema_version')!r} is not {SCHEMA_VERSION} "
                                 "(written by another llmops version)"])
        return read_json(cls, {k: v for k, v in data.items() if k != "schema_version"})
