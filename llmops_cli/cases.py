"""Golden cases (cases.jsonl): parsing, validation and canonical hashing.

A case's hash is the sha256 of its canonical JSON, so reformatting a line changes nothing but
editing any value does; the lock file and the baseline pairing both rest on this.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmops_cli.agent import ToolRule, parse_tool_results
from llmops_cli.casefiles import json_kind, reader_for
from llmops_cli.config import Assertion, did_you_mean, parse_assertions
from llmops_cli.errors import Problems

CASE_KEYS = ("id", "vars", "assert", "expect_refusal", "tags", "description", "metadata", "messages", "tool_results")
TURN_ROLES = ("system", "user", "assistant", "tool")
MAX_TURNS = 200
MAX_FILE_VAR_CHARS = 8 * 1024 * 1024
ReadFile = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    vars: Mapping[str, Any]
    asserts: tuple[Assertion, ...]
    expect_refusal: bool
    tags: tuple[str, ...]
    line: int
    hash: str
    description: str = ""
    messages: tuple[Mapping[str, Any], ...] = ()  # conversation turns after the prompt's messages
    tool_results: tuple[ToolRule, ...] | None = None  # recorded tool results: the case runs as an agent loop


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_cases(text: str, path: str, problems: Problems,
                validate_assertion: Callable[[str, dict[str, Any]], list[str]],
                expect_refusal_default: bool = False, read: ReadFile | None = None) -> list[Case]:
    """All valid cases of one file (JSONL, YAML or CSV by extension); every bad case and duplicate id
    becomes a problem. `read` fetches the files that `{"file": ...}` variables name, from the same
    source (work tree or git ref) as the cases.

    In a red-team suite cases expect a refusal unless they say `expect_refusal: false`
    (benign controls that measure over-refusal)."""
    cases: list[Case] = []
    seen: dict[str, int] = {}
    before = len(problems.items)
    for number, obj in reader_for(path)(text, path, problems):
        case = _parse_case(obj, path, number, problems, validate_assertion, expect_refusal_default, read)
        if case is None:
            continue
        if case.id in seen:
            problems.add(path, number,
                         f"duplicate case id {case.id!r} (first at line {seen[case.id]}); ids must be unique in a suite")
            continue
        seen[case.id] = number
        cases.append(case)
    if not cases and len(problems.items) == before:
        problems.add(path, None, "no cases; add one JSON object per line, e.g. {\"id\": \"c1\", \"vars\": {...}}")
    return cases


def _parse_case(obj: Any, path: str, number: int, problems: Problems,
                validate_assertion: Callable[[str, dict[str, Any]], list[str]],
                expect_refusal_default: bool, read: ReadFile | None) -> Case | None:
    if not isinstance(obj, dict):
        problems.add(path, number, f"each case must be a JSON object {{...}}, got {json_kind(obj)}")
        return None
    case_id = obj.get("id")
    label = f"case {case_id!r}" if isinstance(case_id, str) and case_id else "case"
    unknown = [k for k in obj if k not in CASE_KEYS]
    if unknown:
        problems.add(path, number, f"{label}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], CASE_KEYS)}; "
                                   f"allowed: {', '.join(CASE_KEYS)}")
        return None
    if not isinstance(case_id, str) or not case_id.strip():
        got = f", got {json_kind(case_id)}" if "id" in obj else ""
        problems.add(path, number, f"case needs an 'id' that is a non-empty string{got}, e.g. \"id\": \"refund-001\"")
        return None
    variables = obj.get("vars", {})
    if not isinstance(variables, dict):
        problems.add(path, number, f"{label}: 'vars' must be an object of template variables, got {json_kind(variables)}")
        return None
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.add(path, number, f"{label}: 'tags' must be a list of strings")
        return None
    expect_refusal = obj.get("expect_refusal", expect_refusal_default)
    if not isinstance(expect_refusal, bool):
        problems.add(path, number, f"{label}: 'expect_refusal' must be true or false")
        return None
    turns, wrong = _turns(obj.get("messages", []))
    rules: tuple[ToolRule, ...] | None = None
    if wrong is None and "tool_results" in obj:
        rules, wrong = parse_tool_results(obj["tool_results"])
    if wrong is not None:
        problems.add(path, number, f"{label}: {wrong}")
        return None
    before = len(problems.items)
    asserts = parse_assertions(obj.get("assert"), path, number, problems, validate_assertion)
    for problem in problems.items[before:]:
        object.__setattr__(problem, "message", f"{label}: {problem.message}")
    if len(problems.items) != before:
        return None
    hashed = obj
    if any(_file_ref(v) is not None for v in variables.values()):
        loaded = _load_files(variables, path, number, label, problems, read)
        if loaded is None:
            return None
        variables, digests = loaded
        hashed = {**obj, "vars": {**obj["vars"], **digests}}  # an edit to a referenced file is an edit to the case
    try:
        digest = sha256_text(canonical_json(hashed))[:16]
    except UnicodeEncodeError:  # a lone surrogate escape such as "\ud800" decodes but is not Unicode text
        problems.add(path, number, f"{label}: a lone surrogate escape (\\ud800-\\udfff) is not a character; "
                                   "write the character itself or pair the escapes")
        return None
    return Case(
        id=case_id,
        vars=variables,
        asserts=asserts,
        expect_refusal=expect_refusal,
        tags=tuple(tags),
        line=number,
        hash=digest,
        description=str(obj.get("description", "")),
        messages=turns,
        tool_results=rules,
    )


def _turns(raw: Any) -> tuple[tuple[Mapping[str, Any], ...], str | None]:
    """A case's `messages` in the OpenAI chat format, or a problem. Assistant turns may carry
    `tool_calls` ({id, name, arguments} or OpenAI's {id, type, function}); `tool` turns answer one."""
    if not isinstance(raw, list):
        return (), f"'messages' must be a list of {{role, content}} turns, got {json_kind(raw)}"
    if len(raw) > MAX_TURNS:
        return (), f"'messages' has {len(raw)} turns (at most {MAX_TURNS})"
    turns: list[Mapping[str, Any]] = []
    for index, turn in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(turn, dict) or turn.get("role") not in TURN_ROLES:
            return (), f"{where} must be an object with a role ({', '.join(TURN_ROLES)}) and content"
        unknown = [k for k in turn if k not in ("role", "content", "tool_calls", "tool_call_id", "name")]
        if unknown:
            return (), f"{where}: unknown key {unknown[0]!r}; allowed: role, content, tool_calls, tool_call_id, name"
        content = turn.get("content")
        calls = turn.get("tool_calls")
        if not isinstance(content, str) and not (content is None and calls):
            return (), f"{where}: 'content' must be a string"
        if calls is not None and turn["role"] != "assistant":
            return (), f"{where}: only an assistant turn has tool_calls"
        if turn["role"] == "tool" and not isinstance(turn.get("tool_call_id"), str):
            return (), f"{where}: a tool turn needs 'tool_call_id' (the id of the assistant's call it answers)"
        out = dict(turn)
        if calls is not None:
            normal = _tool_calls(calls)
            if normal is None:
                return (), (f"{where}: 'tool_calls' must be a list of {{id, name, arguments}} (arguments an object "
                            "or its JSON text)")
            out["tool_calls"] = normal
        turns.append(out)
    return tuple(turns), None


def _tool_calls(raw: Any) -> list[dict[str, Any]] | None:
    """Tool calls of a written assistant turn in OpenAI's shape; None when they are not readable."""
    if not isinstance(raw, list):
        return None
    out = []
    for index, call in enumerate(raw):
        if not isinstance(call, dict):
            return None
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
        name, arguments = function.get("name"), function.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, (str, dict)):
            return None
        out.append({"id": str(call.get("id") or f"call_case_{index}"), "type": "function",
                    "function": {"name": name, "arguments": arguments if isinstance(arguments, str)
                                 else canonical_json(arguments)}})
    return out


def _file_ref(value: Any) -> str | None:
    """`{"file": "inputs/a.txt"}`: a variable whose text lives in a file beside the cases."""
    if isinstance(value, dict) and list(value) == ["file"] and isinstance(value["file"], str):
        return value["file"]
    return None


def _load_files(variables: Mapping[str, Any], path: str, number: int, label: str, problems: Problems,
                read: ReadFile | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The variables with each file's text in place, and what the hash sees instead of the text."""
    out, digests = dict(variables), {}
    folder = posixpath.dirname(path)
    for name, value in variables.items():
        ref = _file_ref(value)
        if ref is None:
            continue
        target = posixpath.normpath(posixpath.join(folder, ref))
        if ref.startswith("/") or target == ".." or target.startswith("../"):
            problems.add(path, number, f"{label}: vars.{name}: file {ref!r} is outside the project; name a file "
                                       "relative to the cases file, inside the project")
            return None
        text = read(target) if read is not None else None
        if text is None:
            problems.add(path, number, f"{label}: vars.{name}: file {target} not found (paths are relative to {path})")
            return None
        if len(text) > MAX_FILE_VAR_CHARS:
            problems.add(path, number, f"{label}: vars.{name}: {target} is larger than "
                                       f"{MAX_FILE_VAR_CHARS // (1024 * 1024)} MB")
            return None
        out[name] = text
        digests[name] = {"file": ref, "sha256": sha256_text(text)}
    return out, digests
