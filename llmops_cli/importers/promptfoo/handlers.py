"""One handler per promptfoo assertion type: the assertion (value already read and rendered) ->
llmops assertion specs, or `expect_refusal`, or a latency/cost limit kept for the suite."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.importers.promptfoo.importer import Skip
from llmops_cli.importers.promptfoo.providers import grader_alias
from llmops_cli.yamlfile import YamlError, load_yaml, plain

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

Spec = dict[str, Any]
SIMILAR_DEFAULT = 0.75      # promptfoo's default for `similar` in YAML


@dataclass
class Converted:
    asserts: list[Spec] = field(default_factory=list)
    refusal: bool = False


@dataclass
class Context:
    """What a type handler sees: the promptfoo assertion, its (rendered) value, where it is."""

    importer: Importer
    item: Mapping[str, Any]
    value: Any
    negate: bool
    where: str
    file: str | None
    scope: str

    def text(self) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise Skip("needs a text value")
        return str(self.value)

    def texts(self) -> list[str]:
        values = self.value if isinstance(self.value, list) else [self.value]
        if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            raise Skip("needs a list of text values")
        return [str(v) for v in values]

    def no_negation(self) -> None:
        if self.negate:
            raise Skip(f"type {self.item['type']!r} has no llmops equivalent; rewrite it as a python assertion")

    def note(self, message: str) -> None:
        self.importer.note(self.where, message, self.file)

    def threshold(self, spec: Spec, low: float, high: float) -> None:
        value = self.item.get("threshold")
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise Skip(f"'threshold' must be a number from {low:g} to {high:g}")
        spec["threshold"] = float(value)

    def grader_model(self, spec: Spec, embedding: bool) -> None:
        if self.item.get("provider") is not None:
            alias = grader_alias(self.importer, self.item["provider"], f"{self.where}.provider", embedding, self.file)
            if alias:
                spec["model"] = alias


def _absent(patterns: list[str], ignore_case: bool, every: bool = False) -> Spec:
    """A regex that matches only when none (or, with every=True, not all) of the patterns occur."""
    if every:
        body = "".join(rf"(?=[\s\S]*?(?:{p}))" for p in patterns)
    else:
        body = r"[\s\S]*?(?:" + "|".join(patterns) + ")"
    return _regex(rf"^(?!{body})", ignore_case)


def _escape(text: str) -> str:
    """Like re.escape, but leaves spaces and other harmless characters readable."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def _regex(pattern: str, ignore_case: bool = False) -> Spec:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise Skip(f"regex {pattern!r} is not valid in Python ({exc}); rewrite it") from None
    return {"type": "regex", "value": pattern, **({"ignore_case": True} if ignore_case else {})}


def _h_equals(c: Context) -> Converted:
    if isinstance(c.value, (dict, list)):
        c.no_negation()
        return Converted([{"type": "schema", "schema": {"const": c.value}}])
    text = c.text()
    if c.negate:
        return Converted([_regex(rf"^(?!\s*{_escape(text)}\s*\Z)")])
    return Converted([{"type": "equals", "value": text}])


def _h_contains(c: Context) -> Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    text = c.text()
    if not c.negate:
        return Converted([{"type": "icontains" if insensitive else "contains", "value": text}])
    if insensitive:
        return Converted([_absent([_escape(text)], True)])
    return Converted([{"type": "not_contains", "value": text}])


def _h_contains_all(c: Context) -> Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    values = c.texts()
    if c.negate:
        return Converted([_absent([_escape(v) for v in values], insensitive, every=True)])
    return Converted([{"type": "icontains" if insensitive else "contains", "value": v} for v in values])


def _h_contains_any(c: Context) -> Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    values = c.texts()
    if c.negate and not insensitive:
        return Converted([{"type": "not_contains", "value": v} for v in values])
    if c.negate:
        return Converted([_absent([_escape(v) for v in values], True)])
    return Converted([_regex("|".join(_escape(v) for v in values), insensitive)])


def _h_starts_with(c: Context) -> Converted:
    text = _escape(c.text())
    return Converted([_regex(rf"^(?!{text})" if c.negate else rf"^{text}")])


def _h_regex(c: Context) -> Converted:
    pattern = c.text()
    _regex(pattern)
    return Converted([_absent([pattern], False) if c.negate else _regex(pattern)])


def _h_json(c: Context) -> Converted:
    c.no_negation()
    schema = c.value
    if isinstance(schema, str):
        try:
            schema = plain(load_yaml(schema, yaml12=True))
        except YamlError:
            raise Skip("value must be a JSON schema") from None
    schema = {} if schema is None else schema
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except (SchemaError, TypeError, AttributeError) as exc:
        raise Skip(f"value is not a valid JSON schema ({getattr(exc, 'message', exc)})") from None
    if c.item["type"] == "contains-json":
        c.note("contains-json -> schema: llmops parses the whole answer (or a ```json fence) as JSON, not JSON "
               "found anywhere in the text")
    return Converted([{"type": "schema", "schema": schema}])


def _h_judge(c: Context) -> Converted:
    c.no_negation()
    rubric = c.text()
    if not rubric.strip():
        raise Skip("needs a rubric (the value)")
    spec: Spec = {"type": "judge", "rubric": rubric}
    if c.item["type"] in ("factuality", "model-graded-factuality"):
        spec["rubric"] = ("The answer is factually consistent with this reference answer: it may leave out or add "
                          f"details, but must not contradict it.\nReference answer: {rubric}")
        c.note("factuality -> judge: its five categories and their scores become one pass/fail rubric")
    c.grader_model(spec, embedding=False)
    c.threshold(spec, 0, 1)
    if "rubricPrompt" in c.item:
        c.note("rubricPrompt dropped: the judge uses llmops's versioned grading prompt")
    c.importer.uses_judge = c.importer.uses_judge or "model" not in spec
    return Converted([spec])


def _h_similar(c: Context) -> Converted:
    c.no_negation()
    metric = c.item["type"].partition(":")[2]
    if metric and metric != "cosine":
        raise Skip(f"the {metric} metric has no llmops equivalent (similarity is cosine); use similar")
    values = c.texts()
    if len(values) > 1:
        raise Skip("several reference values (pass if similar to any) have no llmops equivalent; keep one")
    spec: Spec = {"type": "similarity", "value": values[0], "threshold": SIMILAR_DEFAULT}
    c.threshold(spec, -1, 1)
    c.grader_model(spec, embedding=True)
    c.importer.uses_similarity = c.importer.uses_similarity or "model" not in spec
    return Converted([spec])


def _h_python(c: Context) -> Converted:
    c.no_negation()
    text = c.text().strip()
    match = re.fullmatch(r"(?:file://)?([^\s:]+\.py)(?::(\w+))?", text)
    if not match:
        raise Skip("inline python code; move it into a function in a .py file and reference it as module:function")
    path, function = match.group(1), match.group(2) or "get_assert"
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise Skip(f"{path!r} is outside the config's folder; move it into the project and reference it from there")
    module = ".".join(relative.with_suffix("").parts)
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise Skip(f"{path!r} is not an importable module name; rename it (letters, digits, '_')")
    c.importer.needs_python = True
    c.importer.python_files.setdefault(path, c.where)
    c.note(f"python -> llmops calls {module}:{function}(output, vars, **args) and expects True/False or "
           "(bool, reason); promptfoo passed (output, context): adapt the function")
    spec: Spec = {"type": "python", "function": f"{module}:{function}"}
    if isinstance(c.item.get("config"), dict):
        spec["args"] = c.item["config"]
    if "threshold" in c.item:
        c.note("threshold dropped: a python assertion passes or fails")
    return Converted([spec])


def _h_refusal(c: Context) -> Converted:
    if c.negate:
        c.note("not-is-refusal is implied: a case that expects an answer fails when the model refuses")
        return Converted()
    return Converted(refusal=True)


def _h_limit(c: Context) -> Converted:
    c.no_negation()
    threshold = c.item.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise Skip("needs a numeric 'threshold'")
    target = c.importer.cost if c.item["type"] == "cost" else c.importer.latency_ms
    target.append((float(threshold), c.scope, c.where))
    return Converted()


def _h_tools_call(c: Context) -> Converted:
    c.no_negation()
    c.note("is-valid-openai-tools-call -> tool_args_schema (every call's arguments validate against its tool); "
           "promptfoo also fails an answer with no tool call: add a tool_call assertion naming the expected tool")
    return Converted([{"type": "tool_args_schema"}])


def _h_tool_call_f1(c: Context) -> Converted:
    """tool-call-f1 at its default threshold 1.0 (exactly the expected tools, in any order) -> one
    tool_call per expected tool and no_tool_call for none; a lower threshold has no llmops equivalent."""
    c.no_negation()
    threshold = c.item.get("threshold", 1.0)
    if threshold != 1 and threshold != 1.0:
        raise Skip(f"threshold {threshold!r}: a partial F1 score has no llmops equivalent; use tool_call per tool")
    value = c.value
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise Skip("needs the expected tool names (a list or a comma-separated string)")
    c.note("tool-call-f1 -> tool_call per expected tool; a call of another tool lowers promptfoo's F1 but is not "
           "checked here (add no_tool_call for tools that must not be called)")
    return Converted([{"type": "tool_call", "name": name} for name in dict.fromkeys(names)])


HANDLERS: dict[str, Callable[[Context], Converted]] = {
    "equals": _h_equals, "contains": _h_contains, "icontains": _h_contains,
    "contains-all": _h_contains_all, "icontains-all": _h_contains_all,
    "contains-any": _h_contains_any, "icontains-any": _h_contains_any,
    "starts-with": _h_starts_with, "regex": _h_regex, "is-json": _h_json, "contains-json": _h_json,
    "llm-rubric": _h_judge, "model-graded-closedqa": _h_judge, "g-eval": _h_judge, "factuality": _h_judge,
    "model-graded-factuality": _h_judge, "similar": _h_similar, "python": _h_python,
    "is-refusal": _h_refusal, "cost": _h_limit, "latency": _h_limit,
    "is-valid-openai-tools-call": _h_tools_call, "tool-call-f1": _h_tool_call_f1,
}
