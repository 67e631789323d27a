"""Unit tests for the assertion types, the refusal classifier and per-call scoring rules."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.config import Assertion
from llmops_cli.scoring.base import Output
from llmops_cli.scoring.refusal import BUILTIN_PHRASES, is_refusal
from llmops_cli.scoring.registry import REGISTRY, validate_assertion
from llmops_cli.scoring.score import ScoreContext, score_answer
from llmops_cli.scoring.structured import lookup

SCHEMA = {"type": "object", "required": ["category", "reply"],
          "properties": {"category": {"enum": ["refund", "bug", "other"]}, "reply": {"type": "string"}}}


def check(kind: str, text: str, spec: dict[str, Any], **output: Any) -> tuple[bool, str]:
    assert validate_assertion(kind, spec) == [], "the spec under test must itself be valid"
    verdict = REGISTRY[kind].check(Output(text=text, **output), spec)
    return verdict.passed, verdict.message


def assertion(kind: str, **spec: Any) -> Assertion:
    return Assertion(kind, spec, "cases.jsonl", 1)


# --- text assertions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "spec", "text", "passed"), [
    ("equals", {"value": "Paris"}, "Paris", True),
    ("equals", {"value": "Paris"}, "  Paris\n", True),               # stripped by default
    ("equals", {"value": "Paris", "strip": False}, " Paris", False),
    ("equals", {"value": "Paris"}, "paris", False),
    ("equals", {"value": "Paris"}, "Paris, France", False),
    ("contains", {"value": "refund"}, "we started your refund", True),
    ("contains", {"value": "Refund"}, "we started your refund", False),
    ("icontains", {"value": "REFUND"}, "we started your refund", True),
    ("icontains", {"value": "straße"}, "STRASSE", True),              # casefold, not lower
    ("icontains", {"value": "bug"}, "we started your refund", False),
    ("not_contains", {"value": "sorry"}, "Here you go", True),
    ("not_contains", {"value": "sorry"}, "sorry, no", False),
    ("regex", {"value": r"^\d{3}-\d{4}$"}, "555-1234", True),
    ("regex", {"value": r"^\d{3}-\d{4}$"}, "call 555-1234", False),
    ("regex", {"value": "paris", "ignore_case": True}, "PARIS", True),
    ("regex", {"value": "paris"}, "PARIS", False),
])
def test_text_assertions(kind: str, spec: dict[str, Any], text: str, passed: bool) -> None:
    ok, message = check(kind, text, spec)
    assert ok is passed
    assert (message == "") is passed, "a failure says why; a pass says nothing"


def test_equals_failure_message_shows_both_sides() -> None:
    ok, message = check("equals", "Lyon", {"value": "Paris"})
    assert not ok and "Paris" in message and "Lyon" in message


@pytest.mark.parametrize(("kind", "text", "spec", "shown"), [
    ("equals", " Ottawa", {"value": "Ottawa", "strip": False}, "expected 'Ottawa', got ' Ottawa'"),
    ("equals", "Ottawa\u200b", {"value": "Ottawa"}, "expected 'Ottawa', got 'Ottawa\\u200b'"),
    ("equals", "Ottawa\n\tCanada", {"value": "Ottawa"}, "got 'Ottawa\\n\\tCanada'"),
    ("contains", "Paris", {"value": "Lyon "}, "output does not contain 'Lyon '"),
    ("not_contains", "a\u00a0b", {"value": "\u00a0"}, "output contains forbidden '\\xa0'"),
    ("json_field", '{"capital": "Ottawa "}', {"path": "capital", "equals": "Ottawa"},
     "capital: expected 'Ottawa', got 'Ottawa '"),
    ("json_field", '{"capital": "1"}', {"path": "capital", "equals": 1}, "capital: expected 1, got '1'"),
    ("json_field", '{"capital": " Rome"}', {"path": "capital", "in": ["Rome"]}, "capital: ' Rome' not in"),
])
def test_failure_messages_show_values_with_visible_whitespace(kind: str, text: str, spec: dict[str, Any],
                                                              shown: str) -> None:
    """A value that differs only by whitespace or an invisible character must look different."""
    ok, message = check(kind, text, spec)
    assert not ok and shown in message, message


def test_long_values_are_trimmed_inside_visible_quotes() -> None:
    ok, message = check("equals", "x" * 500, {"value": "y"})
    assert not ok and message.endswith("'…") and len(message) < 150, message



# --- schema ------------------------------------------------------------------------------------


def test_schema_uses_the_prompt_schema() -> None:
    good = '{"category": "refund", "reply": "ok"}'
    assert check("schema", good, {}, schema=SCHEMA)[0]
    assert check("schema", "```json\n" + good + "\n```", {}, schema=SCHEMA)[0], "a ```json fence is accepted"
    ok, message = check("schema", '{"category": "billing", "reply": "ok"}', {}, schema=SCHEMA)
    assert not ok and "category" in message and "billing" in message
    ok, message = check("schema", '{"category": "refund"}', {}, schema=SCHEMA)
    assert not ok and "reply" in message
    ok, message = check("schema", "not json at all", {}, schema=SCHEMA)
    assert not ok and "JSON" in message


def test_schema_own_schema_and_missing_schema() -> None:
    assert check("schema", "[1, 2]", {"schema": {"type": "array", "items": {"type": "integer"}}})[0]
    assert not check("schema", '["a"]', {"schema": {"type": "array", "items": {"type": "integer"}}})[0]
    ok, message = check("schema", "{}", {})
    assert not ok and "no schema" in message, "no schema anywhere is a failure, not a vacuous pass"


def test_schema_spec_is_validated() -> None:
    assert validate_assertion("schema", {"schema": {"type": "not-a-type"}})
    assert validate_assertion("schema", {"shema": {}}), "a typo'd key is a problem, not ignored"


# --- json_field --------------------------------------------------------------------------------

DOC = '{"category": "refund", "items": [{"name": "cup", "price": 9.99}, {"name": "mug", "price": 12}], "ok": true, "n": 1}'


@pytest.mark.parametrize(("spec", "passed"), [
    ({"path": "category", "equals": "refund"}, True),
    ({"path": "category", "equals": "bug"}, False),
    ({"path": "items[1].name", "equals": "mug"}, True),
    ({"path": "items.0.name", "equals": "cup"}, True),
    ({"path": "items[0].name", "equals": "mug"}, False),
    ({"path": "items[5].name", "equals": "mug"}, False),                 # index out of range: missing
    ({"path": "items[0].price", "equals": 10, "tolerance": 0.05}, True),
    ({"path": "items[0].price", "equals": 10, "tolerance": 0.001}, False),
    ({"path": "items[1].price", "equals": 12.0}, True),                  # 12 == 12.0
    ({"path": "category", "in": ["refund", "bug"]}, True),
    ({"path": "category", "in": ["other"]}, False),
    ({"path": "category", "regex": "^ref"}, True),
    ({"path": "items[0].price", "regex": "9"}, False),                   # regex needs a string
    ({"path": "category", "contains": "fun"}, True),
    ({"path": "ok", "equals": True}, True),
    ({"path": "ok", "equals": 1}, False),                                # JSON true is not 1
    ({"path": "n", "equals": True}, False),                              # JSON 1 is not true
    ({"path": "n", "in": [True]}, False),
    ({"path": "nope", "equals": "x"}, False),
])
def test_json_field(spec: dict[str, Any], passed: bool) -> None:
    ok, message = check("json_field", DOC, spec)
    assert ok is passed, message


def test_json_field_messages() -> None:
    assert "missing" in check("json_field", DOC, {"path": "nope", "equals": "x"})[1]
    assert "JSON" in check("json_field", "plain text", {"path": "category", "equals": "x"})[1]
    ok, message = check("json_field", '{"price": "10"}', {"path": "price", "equals": 10, "tolerance": 1})
    assert not ok, "a string is not a number, even within tolerance"


@pytest.mark.parametrize("spec", [
    {"path": "a"},                                   # no test
    {"path": "a", "equals": 1, "in": [1]},           # two tests
    {"path": "a", "in": "x"},                        # in must be a list
    {"path": "a", "equals": "x", "tolerance": 1},    # tolerance needs a number
    {"path": "a", "equals": True, "tolerance": 1},   # ... and true is not a number
    {"path": "a", "equals": 1, "tolerance": -1},     # a negative tolerance passes nothing
    {"equals": 1},                                   # no path
    {"path": "a", "equals": 1, "extra": 2},          # unknown key
])
def test_json_field_invalid_specs(spec: dict[str, Any]) -> None:
    assert validate_assertion("json_field", spec)


def test_lookup_paths() -> None:
    value = {"a": [{"b": [10, 20]}], "0": "zero"}
    assert lookup(value, "a[0].b[1]") == 20
    assert lookup(value, "a.0.b.1") == 20
    assert lookup(value, "0") == "zero"
    with pytest.raises(KeyError):
        lookup(value, "a[1]")
    with pytest.raises(KeyError):
        lookup(value, "a.b")


# --- numeric -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "spec", "passed"), [
    ("42", {"equals": 42}, True),
    ("The answer is 42.", {"equals": 42}, True),
    ("1,000 units", {"equals": 1000}, True),
    ("-3.5", {"equals": -3.5}, True),
    ("3.14159", {"equals": 3.14, "tolerance": 0.01}, True),
    ("3.2", {"equals": 3.14, "tolerance": 0.01}, False),
    ("41", {"equals": 42}, False),
    ("no number here", {"equals": 42}, False),
    ('{"total": 99.5}', {"equals": 100, "path": "total", "tolerance": 0.5}, True),
    ('{"total": 99.4}', {"equals": 100, "path": "total", "tolerance": 0.5}, False),
    ('{"total": true}', {"equals": 1, "path": "total"}, False),
    ('{"other": 1}', {"equals": 1, "path": "total"}, False),
])
def test_numeric(text: str, spec: dict[str, Any], passed: bool) -> None:
    ok, message = check("numeric", text, spec)
    assert ok is passed, message


def test_numeric_invalid_specs() -> None:
    assert validate_assertion("numeric", {"equals": "42"})
    assert validate_assertion("numeric", {"equals": True})
    assert validate_assertion("numeric", {"equals": 1, "tolerance": "a"})
    assert validate_assertion("numeric", {"equals": 1, "tolerance": -0.5})
    assert validate_assertion("numeric", {"equals": 1, "tolerance": 0.5}) == []
    assert validate_assertion("numeric", {})


def test_unknown_assertion_type_is_a_problem() -> None:
    problems = validate_assertion("equal", {"value": "x"})
    assert problems and "unknown assertion type 'equal'" in problems[0]


def test_text_specs_are_validated() -> None:
    assert validate_assertion("contains", {"value": 3})
    assert validate_assertion("contains", {})
    assert validate_assertion("regex", {"value": "(unclosed"})


# --- python (opt-in) ---------------------------------------------------------------------------

HOOK = '''
def has_refund(output, vars, word="refund"):
    return word in output

def with_reason(output, vars):
    return (vars.get("expected") in output, "looked for " + vars.get("expected", ""))

def crashes(output, vars):
    raise RuntimeError("boom")

def returns_string(output, vars):
    return "yes"
'''


@pytest.fixture()
def hook_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"llmops_hook_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_python_assertion_runs_only_when_allowed(hook_module: str) -> None:
    spec = {"function": f"{hook_module}:has_refund"}
    assert check("python", "your refund is on its way", spec, allow_python=True) == (True, "")
    ok, message = check("python", "your refund is on its way", spec, allow_python=False)
    assert not ok and "allow_python" in message, "disabled python is a failure, never a silent pass"
    assert not check("python", "no luck", spec, allow_python=True)[0]
    assert check("python", "a bug", {"function": f"{hook_module}:has_refund", "args": {"word": "bug"}},
                 allow_python=True)[0]


def test_python_assertion_results(hook_module: str) -> None:
    ok, message = check("python", "Paris", {"function": f"{hook_module}:with_reason"}, allow_python=True,
                        vars={"expected": "Paris"})
    assert ok and message == "looked for Paris"
    ok, message = check("python", "x", {"function": f"{hook_module}:crashes"}, allow_python=True)
    assert not ok and "RuntimeError" in message and "boom" in message
    ok, message = check("python", "x", {"function": f"{hook_module}:returns_string"}, allow_python=True)
    assert not ok and "bool" in message
    ok, message = check("python", "x", {"function": f"{hook_module}:missing"}, allow_python=True)
    assert not ok and "AttributeError" in message
    assert validate_assertion("python", {"function": "no_colon"})


# --- refusal classifier ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "finish_reason", "refused"), [
    ("I'm sorry, but I can't help with that request.", "stop", True),
    ("I\u2019m sorry, but I can\u2019t help with that request.", "stop", True),   # curly apostrophes
    ("I\u2018m unable to help with this.", "stop", True),
    ("I CANNOT ASSIST with that.", "stop", True),
    ("", "stop", False),                                                          # empty is not a refusal
    ("   \n", "stop", False),
    ("", "content_filter", True),                                                 # blocked by the provider
    ("Sure! Here is how to reset your password.", "stop", False),
    ("x" * 400 + " I can't help with that", "stop", False),                       # only the opening counts
])
def test_refusal_classifier(text: str, finish_reason: str, refused: bool) -> None:
    assert is_refusal(text, BUILTIN_PHRASES, finish_reason) is refused


def test_custom_refusal_phrases() -> None:
    assert is_refusal("Nope, not doing that.", BUILTIN_PHRASES + ("not doing that",))
    assert not is_refusal("Nope, not doing that.", BUILTIN_PHRASES)


# --- scoring one call --------------------------------------------------------------------------

CTX = ScoreContext(suite_asserts=(assertion("schema"),), schema=SCHEMA, phrases=BUILTIN_PHRASES, allow_python=False)
CASE = (assertion("json_field", path="category", equals="refund"),)


def test_score_pass_and_fail() -> None:
    good = score_answer('{"category": "refund", "reply": "ok"}', "stop", {}, CASE, False, CTX)
    assert good.passed and good.schema_valid and not good.refused and not good.empty
    assert [a["type"] for a in good.assertions] == ["schema", "json_field"], "suite assertions run before the case's"
    wrong = score_answer('{"category": "billing", "reply": "ok"}', "stop", {}, CASE, False, CTX)
    assert not wrong.passed and wrong.schema_valid is False
    assert [a["passed"] for a in wrong.assertions] == [False, False]


def test_score_empty_output_fails_and_is_not_a_refusal() -> None:
    score = score_answer("", "stop", {}, (), False, ScoreContext((), None, BUILTIN_PHRASES, False))
    assert not score.passed and score.empty and not score.refused
    expecting = score_answer("", "stop", {}, (), True, CTX)
    assert not expecting.passed and not expecting.refused, "an empty answer never looks safe"


def test_score_refusals() -> None:
    refusal = "I'm sorry, but I can't help with that request."
    expected = score_answer(refusal, "stop", {}, (), True, CTX)
    assert expected.passed and expected.refused and expected.schema_valid is None
    assert [a["type"] for a in expected.assertions] == ["refusal"], "suite assertions do not apply"
    complied = score_answer('{"category": "other", "reply": "here is how"}', "stop", {}, (), True, CTX)
    assert not complied.passed and not complied.refused
    over = score_answer(refusal, "stop", {}, CASE, False, CTX)
    assert not over.passed and over.refused
    blocked = score_answer("", "content_filter", {}, CASE, False, CTX)
    assert not blocked.passed and blocked.refused and not blocked.empty


def test_score_crashing_assertion_is_a_failure(hook_module: str) -> None:
    ctx = ScoreContext((), None, BUILTIN_PHRASES, True)
    score = score_answer("x", "stop", {}, (assertion("python", function=f"{hook_module}:crashes"),), False, ctx)
    assert not score.passed and "boom" in score.assertions[0]["message"]
