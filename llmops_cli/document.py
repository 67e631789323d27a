"""The results document as typed values: the one definition of results.json.

A run's product (DESIGN section 5) is this document; report.md, junit.xml and report.html are
views of it. Every part is a frozen dataclass whose field names are the JSON keys, so the writer
(`Document.to_json`), the reader (`Document.from_json`) and docs/results.md (checked against
these classes by a test) cannot drift apart. The pair owns `schema_version`, as Inspect AI's eval
log owns its version: a reader refuses a document of another version instead of misreading it.

`from_json` reads untrusted files (a CI artifact passed to `--baseline-results`, a shard given to
`merge`): every problem is named by its key path, e.g. `groups[0].cases[1].runs[0].passed`, and
nothing half-read is returned.

Metrics stay keyed by name (`Metrics`): the set of metrics belongs to their registry, not here.
Opaque blobs (the run's options and judged config, rendered messages) are JSON objects as written.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, Union

from llmops_cli.power import Sensitivity
from llmops_cli.stats import Comparison

SCHEMA_VERSION = 1
MAX_PROBLEMS = 20

JSONObject = Mapping[str, Any]  # an opaque JSON object, kept as written (options, config, a message)
Status = Literal["passed", "failed", "incomplete"]
EXIT_CODES: Mapping[Status, int] = {"passed": 0, "failed": 1, "incomplete": 3}

OMIT_NONE = {"omit_none": True}  # a key written only when it has a value


class DocumentError(ValueError):
    """A JSON value that is not a results document: every problem as `key path: what`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class BaselineRef:
    ref: str
    commit: str | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    created_at: float = 0.0
    finished_at: float | None = None
    status: str = "complete"
    git_commit: str | None = None
    git_dirty: bool = False
    baseline: BaselineRef | None = None
    options: JSONObject = field(default_factory=dict)
    redaction: tuple[str, ...] = ()
    python_assertions: bool = False
    notes: tuple[str, ...] = ()
    config: JSONObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SkippedCheck:
    """A drop check that could not compare (no baseline, no counterpart, no paired cases)."""

    suite: str
    prompt: str
    model: str
    metric: str
    bound: str
    why: str


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate as results.json states it: the decision, worded (see gate.GateDecision for its parts)."""

    status: Status = "incomplete"
    exit_code: int = 3
    reasons: tuple[str, ...] = ()
    skipped: tuple[SkippedCheck, ...] = ()


@dataclass(frozen=True, slots=True)
class Metrics:
    """A group's metrics by name (the metric set is the registry's, so not fixed here); counts,
    shares and seconds are numbers, None is unknown (never zero)."""

    values: Mapping[str, float | None]
    error_classes: Mapping[str, int] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        return self.values.get(name)

    def __getitem__(self, name: str) -> float | None:
        """A metric by name; KeyError when the document has no such metric (templates read `m.errors`)."""
        return self.values[name]

    def count(self, name: str) -> int:
        """A count (calls, errors, ...); 0 when absent."""
        return int(self.values.get(name) or 0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.values.items():
            out[name] = value
            if name == "errors":
                out["error_classes"] = dict(self.error_classes)
        out.setdefault("error_classes", dict(self.error_classes))
        return out

    @classmethod
    def read(cls, data: object) -> Metrics:
        """Metrics from results.json: every value a number or null, `error_classes` counts."""
        if type(data) is not dict:
            raise _bad(data, "an object")
        problems: list[tuple[list[str | int], str]] = []
        values: dict[str, float | None] = {}
        for name, value in data.items():
            if name == "error_classes":
                continue
            if value is not None and type(value) not in (int, float):
                problems.append(([name], f"{_kind(value)} is not a number or null"))
            values[name] = value
        classes = data.get("error_classes") or {}
        if type(classes) is not dict or not all(type(v) is int for v in classes.values()):
            problems.append((["error_classes"], "not an object of counts"))
        if problems:
            raise _Bad(problems)
        return cls(values, dict(classes))

    @classmethod
    def from_json(cls, data: object) -> Metrics:
        """Metrics from the mapping metrics.compute returns (or results.json holds)."""
        metrics = _read(cls, data)
        assert isinstance(metrics, Metrics)
        return metrics


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """One bound of one metric. passed None: not applicable (a max_drop that could not compare, a bound
    of a metric with no cases of its kind); note says why."""

    metric: str
    bound: str
    limit: float
    value: float | None
    base: float | None = None
    passed: bool | None = None
    note: str = ""
    sensitivity: Sensitivity | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class AssertionResult:
    type: str
    passed: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class GraderCall:
    """A grader call (LLM judge, embeddings) behind a case's verdict, counted apart from the model's."""

    kind: str
    index: int
    version: str
    model: str
    model_id: str
    key: str
    cached: bool
    attempts: int
    score: float | None
    reason: str | None
    error: str | None
    error_class: str | None
    latency_s: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class ToolCallResult:
    """A tool call the model made: arguments as it wrote them (redacted), `valid` when they parse as
    JSON and validate against the offered tool's parameters (judged before redaction)."""

    id: str
    name: str
    arguments: str
    valid: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """One model call of an agent loop and the recorded tool results sent back after it (one per call)."""

    key: str
    text: str
    finish_reason: str | None
    tool_calls: tuple[ToolCallResult, ...] = ()
    tool_results: tuple[str, ...] = ()
    cached: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class CaseChange:
    """A regression (passed at base, fails now) or a fix, with the evidence a reviewer needs."""

    case_id: str
    tags: tuple[str, ...]
    base_score: float
    head_score: float
    base_passed: int
    base_runs: int
    head_passed: int
    head_runs: int
    p_value: float | None
    beyond_noise: bool | None
    base_output: str | None
    head_output: str | None
    base_finish_reason: str | None
    head_finish_reason: str | None
    failed_assertions: tuple[AssertionResult, ...]
    messages_diff: str
    base_tool_calls: tuple[ToolCallResult, ...] = ()  # every step's, of the evidence run at each ref
    head_tool_calls: tuple[ToolCallResult, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """One run of a case (`runs[]`): the call and its verdict."""

    repeat: int
    key: str = ""
    output: str | None
    error: str | None
    error_class: str | None
    attempts: int
    cached: bool
    finish_reason: str | None
    latency_s: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    passed: bool
    refused: bool
    empty: bool
    schema_valid: bool | None
    assertions: tuple[AssertionResult, ...]
    graders: tuple[GraderCall, ...] = ()
    shared: bool = False
    tool_calls: tuple[ToolCallResult, ...] = ()  # of the final answer (`output` is its text)
    steps: tuple[StepResult, ...] = ()  # an agent loop's model calls; empty for a single call


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    case_id: str
    case_hash: str = ""
    tags: tuple[str, ...]
    expect_refusal: bool
    score: float = 0.0
    passed: bool = False
    messages: tuple[JSONObject, ...]
    runs: tuple[CallResult, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """One suite x prompt x model: its metrics, thresholds, comparison with the baseline and cases."""

    suite: str
    prompt: str
    model: str
    model_id: str
    kind: str = "quality"
    passed: bool = False
    incomplete: bool = False
    metrics: Metrics = field(default_factory=lambda: Metrics({}))
    base_metrics: Metrics | None = None
    comparisons: Mapping[str, Comparison] = field(default_factory=dict)
    thresholds: tuple[ThresholdRow, ...] = ()
    regressions: tuple[CaseChange, ...] = ()
    fixes: tuple[CaseChange, ...] = ()
    cases: tuple[CaseResult, ...]
    base_cases: tuple[CaseResult, ...] = ()

    @property
    def label(self) -> str:
        """`suite x model`, plus `(prompt)` when the prompt is not named like the suite."""
        return f"{self.suite} x {self.model}" + (f" ({self.prompt})" if self.prompt != self.suite else "")


@dataclass(frozen=True, slots=True)
class GoldenChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    edited: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.edited)

    def listed(self) -> list[tuple[str, tuple[str, ...]]]:
        """(kind, case ids) in the order results.json lists them."""
        return [("added", self.added), ("removed", self.removed), ("edited", self.edited)]


@dataclass(frozen=True, slots=True)
class Choice:
    prompt: str
    model: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """One prompt x model of a recommendation, with what it is ordered by and why it fails."""

    prompt: str
    model: str
    model_id: str
    passed: bool
    cases: int
    correctness: float | None
    cost_usd: float | None
    cost_per_1k_cases_usd: float | None
    latency_p95_s: float | None
    why: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    compares: str
    order: str
    choice: Choice | None
    passing: tuple[Candidate, ...]
    failing: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class SuiteEntry:
    """What changed in a suite's exam since the baseline, and the advice for a suite of candidates."""

    kind: str | None = field(default=None, metadata=OMIT_NONE)
    golden_changes: GoldenChanges | None = field(default=None, metadata=OMIT_NONE)
    golden_changed_by: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    template_diffs: Mapping[str, str] | None = field(default=None, metadata=OMIT_NONE)
    tool_diffs: Mapping[str, str] | None = field(default=None, metadata=OMIT_NONE)
    only_in: str | None = field(default=None, metadata=OMIT_NONE)
    recommendation: Recommendation | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, slots=True)
class AdaptiveGroup:
    """What `repeat: auto` added to one suite x prompt x model."""

    suite: str
    prompt: str
    model: str
    cases_resampled: int
    runs: int
    calls_added: int


@dataclass(frozen=True, slots=True)
class Adaptive:
    """The adaptive second stage of a run: which suites, how many calls it added and why."""

    max_repeat: int
    suites: tuple[str, ...]
    first_calls: int
    calls_added: int
    groups: tuple[AdaptiveGroup, ...]
    reason: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """results.json: the run, the gate, one group per suite x prompt x model, and per-suite notes."""

    versioned: ClassVar[bool] = True  # written with schema_version first
    run: RunInfo
    gate: GateResult = GateResult()
    groups: tuple[Group, ...] = ()
    suites: Mapping[str, SuiteEntry] = field(default_factory=dict)
    adaptive: Adaptive | None = field(default=None, metadata=OMIT_NONE)

    def to_json(self) -> dict[str, Any]:
        """The document as JSON values, `schema_version` first."""
        body = _to_json(self)
        assert isinstance(body, dict)
        return {"schema_version": SCHEMA_VERSION, **body}

    @classmethod
    def from_json(cls, data: object) -> Document:
        """Read a results.json value; DocumentError names every problem by its key path."""
        from llmops_cli.results_schema import document_problems

        if not isinstance(data, dict):
            raise DocumentError([f"(top level): {_kind(data)} is not a results document"])
        if data.get("schema_version") != SCHEMA_VERSION:
            raise DocumentError([f"schema_version: {data.get('schema_version')!r} is not {SCHEMA_VERSION} "
                                 "(written by another llmops version)"])
        problems = document_problems(data)
        if problems:
            raise DocumentError(problems)
        body = {k: v for k, v in data.items() if k != "schema_version"}
        document = _read(cls, body)
        assert isinstance(document, Document)
        return document


# --- the one writer and the one reader, driven by the classes above ----------------------------
# Each class gets its writer and reader built once from its fields (cached per type), so a 100k-case
# document costs one call per value; key paths are only assembled when something is wrong.


def as_json(value: object) -> Any:
    """Any part of the document as the JSON values results.json holds for it."""
    return _to_json(value)


def json_fields(value: object) -> list[tuple[str, object]] | None:
    """One level of a part of the document: its keys and their (still typed) values, as `to_json`
    writes them; None for anything else. A streaming writer converts a case at a time with it, so a
    100k-case document never exists twice in memory."""
    if isinstance(value, Metrics):
        return list(value.to_json().items())
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    out: list[tuple[str, object]] = [("schema_version", SCHEMA_VERSION)] if getattr(value, "versioned", False) else []
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is not None or not f.metadata.get("omit_none"):
            out.append((f.name, item))
    return out


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _to_json(value: object) -> object:
    kind: type = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    return _writer(kind)(value)


@functools.cache
def _writer(cls: type) -> Callable[[Any], object]:
    if cls is Metrics:
        return Metrics.to_json
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"no writer for {cls!r}")
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    # One dict display per class, compiled once: a case's runs are written by the thousand.
    items = ", ".join(f"{f.name!r}: o.{f.name}" if _is_json(hints[f.name]) else
                      f"{f.name!r}: (None if o.{f.name} is None else j(o.{f.name}))" for f in fields)
    omitted = tuple(f.name for f in fields if f.metadata.get("omit_none"))
    namespace: dict[str, Any] = {"j": _to_json}
    exec(f"def write(o):\n    return {{{items}}}", namespace)  # noqa: S102 - our own field names only
    whole: Callable[[Any], dict[str, object]] = namespace["write"]
    if not omitted:
        return whole

    def write(obj: Any) -> dict[str, object]:
        out = whole(obj)
        for name in omitted:
            if out[name] is None:
                del out[name]
        return out

    return write


def _is_json(tp: Any) -> bool:
    """A field whose value is already a JSON value as written (a scalar, or an opaque JSON object)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return all(_is_json(a) for a in args)
    if origin is Literal:
        return True
    if origin in (collections.abc.Mapping, dict):
        return args[1] is Any
    return tp in _SCALARS


class _Bad(Exception):
    """Problems found under a value: (keys from that value down, what is wrong)."""

    def __init__(self, problems: list[tuple[list[str | int], str]]) -> None:
        self.problems = problems

    def under(self, key: str | int) -> _Bad:
        for keys, _ in self.problems:
            keys.insert(0, key)
        return self


def _bad(value: object, what: str) -> _Bad:
    return _Bad([([], f"{_kind(value)} is not {what}")])


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


T = TypeVar("T")


def read_json(cls: type[T], data: object) -> T:
    """A typed part of a document (or the rerun document) from JSON values; DocumentError with key paths."""
    value = _read(cls, data)
    assert isinstance(value, cls)
    return value


def _read(tp: Any, value: object) -> object:
    """`value` read as `tp`; DocumentError with every problem's key path."""
    try:
        return _reader(tp)(value)
    except _Bad as bad:
        from llmops_cli.results_schema import key_path

        raise DocumentError([f"{key_path(keys)}: {what}" for keys, what in bad.problems]) from None


@functools.cache
def _reader(tp: Any) -> Callable[[object], object]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return lambda value: value
    if origin in (Union, types.UnionType):
        inner = _reader(next(a for a in args if a is not type(None)))
        optional = type(None) in args
        return lambda value: None if value is None and optional else inner(value)
    if origin is Literal:
        allowed = frozenset(args)
        return lambda value: value if isinstance(value, str) and value in allowed else _raise(
            _Bad([([], f"{value!r} is not one of {', '.join(map(repr, args))}")]))
    if origin is tuple:
        return _tuple_reader(args)
    if origin in (collections.abc.Mapping, dict):
        return _mapping_reader(args[1])
    if tp is Metrics:
        return Metrics.read
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _dataclass_reader(tp)
    return _scalar_reader(tp)


def _raise(bad: _Bad) -> object:
    raise bad


def _tuple_reader(args: tuple[Any, ...]) -> Callable[[object], object]:
    variadic = len(args) == 2 and args[1] is Ellipsis
    readers = [_reader(args[0])] if variadic else [_reader(a) for a in args]

    def read(value: object) -> object:
        if type(value) is not list:
            raise _bad(value, "an array")
        if not variadic and len(value) != len(readers):
            raise _Bad([([], f"an array of {len(value)} items is not {len(readers)} items")])
        out = []
        for i, item in enumerate(value):
            try:
                out.append(readers[0 if variadic else i](item))
            except _Bad as bad:
                raise bad.under(i) from None
        return tuple(out)

    return read


def _mapping_reader(item_type: Any) -> Callable[[object], object]:
    if item_type is Any:  # an opaque JSON object, kept as written
        return lambda value: value if type(value) is dict else _raise(_bad(value, "an object"))
    inner = _reader(item_type)

    def read(value: object) -> object:
        if type(value) is not dict:
            raise _bad(value, "an object")
        out = {}
        for key, item in value.items():
            try:
                out[key] = inner(item)
            except _Bad as bad:
                raise bad.under(key) from None
        return out

    return read


def _dataclass_reader(cls: type) -> Callable[[object], object]:
    hints = typing.get_type_hints(cls)
    specs = tuple((f.name, f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                   _reader(hints[f.name])) for f in dataclasses.fields(cls))

    def read(value: object) -> object:
        if type(value) is not dict:
            raise _bad(value, "an object")
        kwargs = {}
        problems: list[tuple[list[str | int], str]] = []
        for name, required, reader in specs:
            if name not in value:
                if required:
                    problems.append(([name], "missing"))
                continue
            try:
                kwargs[name] = reader(value[name])
            except _Bad as bad:
                problems += bad.under(name).problems
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            raise _Bad(problems)
        return cls(**kwargs)

    return read


def _scalar_reader(tp: Any) -> Callable[[object], object]:
    if tp is float:
        accepted: tuple[type, ...] = (int, float)
        what = "a number"
    elif tp is int:
        accepted, what = (int,), "an integer"
    elif tp is str:
        accepted, what = (str,), "a string"
    elif tp is bool:
        accepted, what = (bool,), "a boolean"
    else:
        raise TypeError(f"no reader for {tp!r}")
    return lambda value: value if type(value) in accepted else _raise(_bad(value, what))
