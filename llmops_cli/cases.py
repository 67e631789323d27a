"""Golden cases (cases.jsonl): parsing, validation and canonical hashing.

A case's hash is the sha256 of its canonical JSON, so reformatting a line changes nothing but
editing any value does; the lock file and the baseline pairing both rest on this.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from llmops_cli.config import Assertion, did_you_mean, parse_assertions
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
                validate_assertion: Callable[[str, dict[str, Any]], list[str]],
                expect_refusal_default: bool = False) -> list[Case]:
    """All valid cases of one file; every bad line and duplicate id becomes a problem.

    In a red-team suite cases expect a refusal unless they say `expect_refusal: false`
    (benign controls that measure over-refusal)."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    before = len(problems.items)
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        case = _parse_line(raw, path, number, problems, validate_assertion, expect_refusal_default)
        if case is None:
            continue
        if case.id in seen:
            problems.add(path, number, f"duplicate case id {case.id!r} (first at line {seen[case.id]}); ids must be unique in a suite")
            continue
        seen[case.id] = number
        cases.append(case)
    if not cases and len(problems.items) == before:
        problems.add(path, None, "no cases; add one JSON object per line, e.g. {\"id\": \"c1\", \"vars\": {...}}")
    return cases


def _json_kind(value: Any) -> str:
    for kind, name in ((bool, "true/false"), (dict, "an object"), (list, "an array"), (str, "a string"),
                       ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return "null"


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of repeated keys silently; in a golden case that hides an edit."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _parse_line(raw: str, path: str, number: int, problems: Problems,
                validate_assertion: Callable[[str, dict[str, Any]], list[str]],
                expect_refusal_default: bool = False) -> Case | None:
    if len(raw) > MAX_CASE_BYTES:
        problems.add(path, number, f"case is larger than {MAX_CASE_BYTES // (1024 * 1024)} MB; keep big inputs in files the case refers to")
        return None
    try:
        obj = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        problems.add(path, number, f"invalid JSON: {message}; each line must be one JSON object")
        return None
    except _DuplicateKey as exc:
        problems.add(path, number, f"duplicate key {exc.args[0]!r} in one JSON object; keep one of them")
        return None
    if not isinstance(obj, dict):
        problems.add(path, number, f"each line must be a JSON object {{...}}, got {_json_kind(obj)}")
        return None
    case_id = obj.get("id")
    label = f"case {case_id!r}" if isinstance(case_id, str) and case_id else "case"
    unknown = [k for k in obj if k not in CASE_KEYS]
    if unknown:
        problems.add(path, number, f"{label}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], CASE_KEYS)}; "
                                   f"allowed: {', '.join(CASE_KEYS)}")
        return None
    if not isinstance(case_id, str) or not case_id.strip():
        got = f", got {_json_kind(case_id)}" if "id" in obj else ""
        problems.add(path, number, f"case needs an 'id' that is a non-empty string{got}, e.g. \"id\": \"refund-001\"")
        return None
    variables = obj.get("vars", {})
    if not isinstance(variables, dict):
        problems.add(path, number, f"{label}: 'vars' must be an object of template variables, got {_json_kind(variables)}")
        return None
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add(path, number, f"{label}: 'tags' must be a list of strings")
        return None
    expect_refusal = obj.get("expect_refusal", expect_refusal_default)
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
