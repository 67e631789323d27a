"""Model-graded assertions, the pure half: which model grades, what is sent, under which key.

The runner does the I/O (cache, provider, store); everything it needs to decide is here, so
planning can reject an assertion with no grader model before anything runs (exit 2) and the
report can say which grader and which grading-prompt version produced each verdict.

A grader request is keyed like a model call (model, endpoint, params, messages) plus the
grader's version: a changed grading prompt never reuses an old verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops_cli.cases import canonical_json, sha256_text
from llmops_cli.config import Assertion, ModelSpec
from llmops_cli.scoring.base import Grade, Grader, GraderError
from llmops_cli.scoring.registry import REGISTRY


@dataclass(frozen=True)
class GraderModels:
    """The aliases graders may use: llmops.yaml's models and its per-setting defaults
    (`judge_model`, `embedding_model`)."""

    models: Mapping[str, ModelSpec] = field(default_factory=dict)
    defaults: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class GraderRequest:
    """One grader call for the assertion at `index` of a case's applicable assertions."""

    kind: str
    index: int
    version: str
    endpoint: str  # "chat" | "embedding"
    model: ModelSpec
    messages: list[dict[str, str]]
    params: Mapping[str, Any]
    key: str

    def parse(self, text: str) -> Grade:
        return grader_of(self.kind).parse(text)


def grader_of(kind: str) -> Grader:
    grader = REGISTRY[kind].grader
    assert grader is not None, kind
    return grader


def grader_kinds() -> tuple[str, ...]:
    """Assertion types that call a model, for the per-kind metrics (judge_calls, similarity_calls, ...)."""
    return tuple(name for name, kind in REGISTRY.items() if kind.needs_model)


def resolve_model(assertion: Assertion, models: GraderModels) -> ModelSpec:
    """The grader model of a model-graded assertion; ValueError with a one-line fix when there is none."""
    grader = grader_of(assertion.type)
    alias = assertion.spec.get("model") or models.defaults.get(grader.setting)
    if alias is None:
        raise ValueError(f"{assertion.type} assertion needs a model: set {grader.setting} in llmops.yaml "
                         f"or give 'model' (a model alias)")
    if alias not in models.models:
        raise ValueError(f"{assertion.type} assertion: unknown model alias {alias!r}; known: "
                         f"{', '.join(models.models) or 'none'}")
    return models.models[alias]


def grader_key(version: str, endpoint: str, spec: ModelSpec, params: Mapping[str, Any],
            messages: list[dict[str, str]]) -> str:
    request = {"grader": version, "endpoint": endpoint, "model": spec.model, "api_base": spec.api_base,
               "params": dict(params), "messages": messages}
    if spec.extra:
        request["model_params"] = dict(spec.extra)
    return sha256_text(canonical_json(request))


def requests_for(answer: str, asserts: Sequence[Assertion], case_vars: Mapping[str, Any],
                 models: GraderModels) -> list[GraderRequest]:
    """The grader calls an answer needs (callers skip empty answers and unwanted refusals: those
    fail on their own, and grading them would only cost money)."""
    requests = []
    for index, assertion in enumerate(asserts):
        kind = REGISTRY[assertion.type]
        if kind.grader is None:
            continue
        spec = resolve_model(assertion, models)
        call = kind.grader.request(answer, assertion.spec, case_vars)
        requests.append(GraderRequest(assertion.type, index, kind.grader.version, kind.grader.endpoint, spec,
                                   call.messages, dict(call.params),
                                   grader_key(kind.grader.version, kind.grader.endpoint, spec, call.params, call.messages)))
    return requests


def grader_problems(assertion: Assertion, models: GraderModels, case_vars: Mapping[str, Any] | None) -> list[str]:
    """Why a model-graded assertion cannot run (no model, unknown alias, missing context variable)."""
    if not REGISTRY[assertion.type].needs_model:
        return []
    problems = []
    try:
        resolve_model(assertion, models)
    except ValueError as exc:
        problems.append(str(exc))
    var = assertion.spec.get("context_var")
    if case_vars is not None and isinstance(var, str) and var not in case_vars:
        problems.append(f"{assertion.type} assertion: context_var {var!r} is not a variable of this case")
    return problems


@dataclass(frozen=True)
class GraderResult:
    """How one grader call ended: a parsed Grade, or an error class (`judge_malformed`,
    `judge_server_error`, ...) that makes the case an error."""

    request: GraderRequest
    answer: Any  # CachedAnswer | None (kept loose: the store is not imported here)
    attempts: int
    cached: bool
    grade: Grade | None = None
    error_class: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def summary(self, redact: Any) -> dict[str, Any]:
        """What the call record keeps about this grader call (reports and metrics read it)."""
        a, r = self.answer, self.request
        return {"kind": r.kind, "index": r.index, "version": r.version, "model": r.model.alias, "model_id": r.model.model,
                "key": r.key, "cached": self.cached, "attempts": self.attempts,
                "score": self.grade.score if self.grade else None,
                "reason": redact(self.grade.reason) if self.grade else None,
                "error": redact(self.error) if self.error else None, "error_class": self.error_class,
                "latency_s": a.latency_s if a else None, "tokens_in": a.tokens_in if a else 0,
                "tokens_out": a.tokens_out if a else 0, "cost_usd": a.cost_usd if a else None}


def settle(request: GraderRequest, answer: Any, *, failure_class: str | None = None, failure: str | None = None,
           attempts: int = 0, cached: bool = False) -> GraderResult:
    """Parse a grader's answer, or classify its failure, as `<kind>_<class>`."""
    if answer is None:
        return GraderResult(request, None, attempts, cached, None, f"{request.kind}_{failure_class or 'unknown'}",
                         failure or "no answer")
    try:
        return GraderResult(request, answer, attempts, cached, request.parse(answer.text))
    except GraderError as exc:
        return GraderResult(request, answer, attempts, cached, None, f"{request.kind}_malformed", str(exc))
