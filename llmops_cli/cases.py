"""Golden cases (cases.jsonl): parsing, validation and canonical hashing.

A case's hash is the sha256 of its canonical JSON, so reformatting a line changes nothing but
editing any value does; the lock file and the baseline pairing both rest on this.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from llmops_cli.config import Assertion, parse_assertions
from llmops_cli.errors import Problems

CASE_KEYS = ("id", "vars", "assert", "expect_refusal", "tags", "description", "metadata")
MAX_CASE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    id: str
    vars: Mapping[str, Any]
    asserts: tuple[Assertion, ...]
    expect_refusal: bool
    tags: tuple[str, ...]
    line: int
    hash: str
    description: str = ""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_cases(text: str, path: str, problems: Problems,
                validate_assertion: Callable[[str, dict[str, Any]], list[str]]) -> list[Case]:
    """All valid cases of one file; every bad line and duplicate id becomes a problem."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        case = _parse_line(raw, path, number, problems, validate_assertion)
        if case is None:
            continue
        if case.id in seen:
            problems.add(path, number, f"duplicate case id {case.id!r} (first at line {seen[case.id]}); ids must be unique in a suite")
            continue
        seen[case.id] = number
        cases.append(case)
    if not cases and not problems:
        problems.add(path, None, "no cases; add one JSON object per line, e.g. {\"id\": \"c1\", \"vars\": {...}}")
    return cases


def _parse_line(raw: str, path: str, number: int, problems: Problems,
                validate_assertion: Callable[[str, dict[str, Any]], list[str]]) -> Case | None:
    if len(raw) > MAX_CASE_BYTES:
        problems.add(path, number, f"case is larger than {MAX_CASE_BYTES // (1024 * 1024)} MB; keep big inputs in files the case refers to")
        return None
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        problems.add(path, number, f"invalid JSON: {message}; each line must be one JSON object")
        return None
    if not isinstance(obj, dict):
        problems.add(path, number, f"each line must be a JSON object, got {type(obj).__name__}")
        return None
    case_id = obj.get("id")
    label = f"case {case_id!r}" if isinstance(case_id, str) and case_id else "case"
    unknown = [k for k in obj if k not in CASE_KEYS]
    if unknown:
        problems.add(path, number, f"{label}: unknown key {unknown[0]!r}; allowed: {', '.join(CASE_KEYS)}")
        return None
    if not isinstance(case_id, str) or not case_id.strip():
        problems.add(path, number, "case is missing a non-empty string 'id'")
        return None
    variables = obj.get("vars", {})
    if not isinstance(variables, dict):
        problems.add(path, number, f"{label}: 'vars' must be an object")
        return None
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add(path, number, f"{label}: 'tags' must be a list of strings")
        return None
    expect_refusal = obj.get("expect_refusal", False)
    if not isinstance(expect_refusal, bool):
        problems.add(path, number, f"{label}: 'expect_refusal' must be true or false")
        return None
    before = len(problems.items)
    asserts = parse_assertions(obj.get("assert"), path, number, problems, validate_assertion)
    for problem in problems.items[before:]:
        object.__setattr__(problem, "message", f"{label}: {problem.message}")
    if len(problems.items) != before:
        return None
    return Case(
        id=case_id,
        vars=variables,
        asserts=asserts,
        expect_refusal=expect_refusal,
        tags=tuple(tags),
        line=number,
        hash=sha256_text(canonical_json(obj))[:16],
        description=str(obj.get("description", "")),
    )
