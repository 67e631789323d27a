"""OpenInference semantic conventions (Phoenix, Arize and the openinference-instrumentation-* tracers).

An LLM span (`openinference.span.kind: LLM`) carries:
- `llm.prompt_template.variables`: the template variables as a JSON object (the new prompt
  renders them); `--vars-attribute` names another attribute instead;
- `llm.input_messages.N.message.role` / `.message.content` (or `.message.contents.M.message_content.text`):
  the messages as sent, replayed when there are no variables;
- `llm.output_messages.N.message.content`, else `output.value`: the answer;
- `input.value` / `output.value` with `input.mime_type` / `output.mime_type`: the raw request and
  answer; a JSON `input.value` with `messages` is replayed, plain text is one user message;
- `llm.model_name`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_cli.traces.model import Reading, Span, Unusable, chat_messages, indexed, json_value, optional, variables

NAME = "openinference"
VARIABLES = "llm.prompt_template.variables"


def is_llm_span(span: Span) -> bool:
    kind = span.attributes.get("openinference.span.kind")
    if kind is not None:
        return str(kind).upper() == "LLM"
    return any(key.startswith("llm.") or key in ("input.value", "output.value") for key in span.attributes)


def read(span: Span, vars_attribute: str | None) -> Reading:
    a = span.attributes
    name = vars_attribute or VARIABLES
    template_vars = variables(a[name], name) if name in a else None
    messages = optional(lambda: _input(a, required=template_vars is None), template_vars is not None)
    model = a.get("llm.model_name")
    return Reading(template_vars, messages, _output(a), str(model) if model else None)


def _input(a: Mapping[str, Any], required: bool) -> list[dict[str, str]] | None:
    listed = indexed(a, "llm.input_messages", "message")
    if listed:
        return chat_messages([_with_contents(a, "llm.input_messages", i, m) for i, m in enumerate(listed)],
                             "llm.input_messages")
    if "input.value" not in a:
        if required:
            raise Unusable(f"no input captured: the span has neither {VARIABLES}, llm.input_messages nor input.value")
        return None
    value = a["input.value"]
    if _is_json(a, "input") or (isinstance(value, str) and value.lstrip()[:1] in ("{", "[")):
        try:
            parsed = json_value(value, "input.value")
        except Unusable:
            parsed = None
        if isinstance(parsed, dict) and "messages" in parsed:
            return chat_messages(parsed["messages"], "input.value messages")
        if isinstance(parsed, dict) and required:
            raise Unusable(f"input.value is a JSON object without messages; if it holds the template variables, "
                           f"name it with --vars-attribute input.value (else {VARIABLES} is read)")
    if not isinstance(value, str):
        if required:
            raise Unusable("input.value must be text or JSON with messages")
        return None
    return [{"role": "user", "content": value}]


def _with_contents(a: Mapping[str, Any], prefix: str, index: int, message: dict[str, Any]) -> dict[str, Any]:
    """A message whose text sits in `message.contents.M.message_content.*` (multi-part content)."""
    if "content" in message:
        return message
    parts = indexed(a, f"{prefix}.{index}.message.contents", "message_content")
    return {**message, "content": [{"type": p.get("type", "text"), "text": p.get("text", "")} for p in parts] or None}


def _output(a: Mapping[str, Any]) -> str:
    listed = indexed(a, "llm.output_messages", "message")
    if listed:
        first = _with_contents(a, "llm.output_messages", 0, listed[0])
        content = first.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        if any(key.startswith("llm.output_messages.0.message.tool_calls.") for key in a):
            raise Unusable("the logged answer is a tool call, not text; tool calls are not compared yet")
    if "output.value" not in a:
        raise Unusable("no output captured: the span has neither llm.output_messages nor output.value")
    value = a["output.value"]
    if not isinstance(value, str):
        raise Unusable("output.value must be text")
    if _is_json(a, "output") and '"choices"' in value[:4096]:
        body = json_value(value, "output.value")
        try:
            return str(body["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise Unusable("output.value is a response body without choices[0].message.content") from None
    return value


def _is_json(a: Mapping[str, Any], side: str) -> bool:
    return str(a.get(f"{side}.mime_type", "")).lower() == "application/json"
