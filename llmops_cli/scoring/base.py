"""What every assertion type shares: the output under test and a verdict.

An assertion type is a module-level object with `validate(spec) -> list[str]` (problems, checked
when files load, so an unknown key is an input error and never a silent skip) and
`check(output, spec) -> Verdict`. A model-graded type (judge, similarity) also carries a `Grader`:
the runner sends the grader's request after the answer arrives and hands the parsed `Grade` to
`check` as `output.grade`, so `check` itself stays pure and never touches the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmops_cli.store import ToolCall

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n```", re.DOTALL)
_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str = ""


@dataclass
class Output:
    """A model's answer plus what the assertions need to know about the case."""

    text: str
    schema: Mapping[str, Any] | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    allow_python: bool = False
    grade: Grade | None = None  # the grader's verdict for the assertion being checked (model-graded types)
    tool_steps: tuple[tuple[ToolCall, ...], ...] = ()  # the tool calls of each model call, in order
    tools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # offered tool -> parameters schema
    _json: Any = field(default=_MISSING, repr=False)
    _schema_checks: dict[int, str | None] = field(default_factory=dict, repr=False)  # id(schema) -> error

    def json(self) -> Any:
        """The answer parsed as JSON (a ```json fence is accepted); raises ValueError."""
        if self._json is _MISSING:
            self._json = parse_json_answer(self.text)
        if isinstance(self._json, ValueError):
            raise self._json
        return self._json


def parse_json_answer(text: str) -> Any:
    stripped = text.strip()
    candidates = [stripped] + [m.group(1) for m in _FENCE.finditer(text)]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (json.JSONDecodeError, RecursionError):
            continue
    return ValueError("output is not valid JSON")


class AssertionType(Protocol):
    name: str
    validate: Callable[[Mapping[str, Any]], list[str]]
    check: Callable[[Output, Mapping[str, Any]], Verdict]


@dataclass(frozen=True)
class Grade:
    """What a grader model said, parsed: a score (judge 0..1, similarity a cosine) and why."""

    score: float
    reason: str = ""


class GraderError(Exception):
    """A grader reply that cannot be read (not strict JSON, wrong shape): the case is an error, never a pass."""


@dataclass(frozen=True)
class GraderMessages:
    """What one model-graded assertion sends: chat messages (judge) or, for embeddings, one
    `{"role": "input", "content": text}` per text, so both are stored and redacted like any prompt."""

    messages: list[dict[str, str]]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grader:
    """How an assertion asks a model. `setting` names the llmops.yaml key whose alias it uses when the
    assertion gives no `model`; `version` goes into the cache key and the report, so changing the
    grading prompt never reuses verdicts given under the old one."""

    endpoint: str  # "chat" | "embedding"
    setting: str  # "judge_model" | "embedding_model"
    version: str
    request: Callable[[str, Mapping[str, Any], Mapping[str, Any]], GraderMessages]  # (answer, spec, case vars)
    parse: Callable[[str], Grade]  # raises GraderError


@dataclass(frozen=True)
class Kind:
    """A registered assertion type; `grader` is set for types that need a model call to decide."""

    name: str
    validate: Callable[[Mapping[str, Any]], list[str]]
    check: Callable[[Output, Mapping[str, Any]], Verdict]
    grader: Grader | None = None

    @property
    def needs_model(self) -> bool:
        return self.grader is not None


def keys_problems(spec: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[str]:
    problems = [f"missing required key {key!r}" for key in required if key not in spec]
    allowed = required + optional
    problems += [f"unknown key {key!r}; allowed: {', '.join(allowed) or 'none'}" for key in spec if key not in allowed]
    return problems


def short(text: Any, limit: int = 80) -> str:
    shown = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def shown(value: Any, limit: int = 80) -> str:
    """A compared value as a failure message must show it: a string quoted like Python's repr, so
    `' Ottawa'` and `'Ottawa'` look different and a newline, tab, no-break or zero-width space is
    spelled out (`\\n`, `\\xa0`, `\\u200b`); other JSON values as JSON, so `'1'` is not `1`.
    A long string is cut inside the quotes and marked with `…` after them."""
    if not isinstance(value, str):
        return short(value, limit)
    return repr(value) if len(value) <= limit else repr(value[: limit - 1]) + "…"
