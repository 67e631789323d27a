"""The ranges a saved results.json must keep to be read back (`--baseline-results`, `merge`).

A results document from a CI artifact is untrusted input: a hand-edited or truncated file must
be refused up front with the key path of each problem (exit 2), never stored and then crash
every later run that reads it. `Document.from_json` (document.py) checks this schema first, for
the calls it turns back into records and the ranges a stored call can have (counts are bounded
so sums cannot overflow), then the type of every other key of the model.
"""

from __future__ import annotations

from typing import Any

MAX_PROBLEMS = 20
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**9}
_SECONDS = {"type": ["number", "null"], "minimum": 0}
_TEXT = {"type": ["string", "null"]}
_FLAG = {"type": "boolean"}

_RUN = {
    "type": "object",
    "required": ["repeat", "output", "error", "error_class", "attempts", "cached", "finish_reason", "latency_s",
                 "tokens_in", "tokens_out", "cost_usd", "passed", "refused", "empty", "schema_valid", "assertions"],
    "properties": {
        "repeat": _COUNT, "key": {"type": "string"}, "output": _TEXT, "error": _TEXT, "error_class": _TEXT,
        "attempts": _COUNT, "cached": _FLAG, "finish_reason": _TEXT, "latency_s": _SECONDS, "tokens_in": _COUNT,
        "tokens_out": _COUNT, "cost_usd": _SECONDS, "passed": _FLAG, "refused": _FLAG, "empty": _FLAG,
        "schema_valid": {"type": ["boolean", "null"]},
        "assertions": {"type": "array", "items": {"type": "object"}},
        "graders": {"type": "array", "items": {"type": "object"}}, "shared": _FLAG,
        "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "name", "arguments"]}},
        "steps": {"type": "array", "items": {"type": "object", "required": ["tool_calls"]}},
    },
}
_CASE = {
    "type": "object",
    "required": ["case_id", "tags", "expect_refusal", "messages", "runs"],
    "properties": {
        "case_id": {"type": "string", "minLength": 1}, "case_hash": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}, "expect_refusal": _FLAG,
        "messages": {"type": "array", "items": {"type": "object", "required": ["role", "content"],
                                                "properties": {"role": {"type": "string"}}}},
        "runs": {"type": "array", "items": _RUN},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "run", "groups"],
    "properties": {
        "schema_version": {"const": 1},
        "run": {"type": "object", "properties": {"git_commit": _TEXT}},
        "groups": {"type": "array", "items": {
            "type": "object",
            "required": ["suite", "prompt", "model", "model_id", "cases"],
            "properties": {
                "suite": {"type": "string", "minLength": 1}, "prompt": {"type": "string", "minLength": 1},
                "model": {"type": "string", "minLength": 1}, "model_id": {"type": "string"},
                "cases": {"type": "array", "items": _CASE}, "base_cases": {"type": "array", "items": _CASE},
            },
        }},
    },
}


def key_path(parts: Any) -> str:
    """`groups[0].cases[1].runs[0].passed`: where to look in the file."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def document_problems(document: Any) -> list[str]:
    """Every way `document` is not a readable results document, one `key path: what` each (at most
    MAX_PROBLEMS, in file order)."""
    from jsonschema.validators import validator_for

    validator = validator_for(SCHEMA)(SCHEMA)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{key_path(e.absolute_path)}: {e.message[:200]}" for e in errors[:MAX_PROBLEMS]]
