"""llmops' own JSONL trace shapes, one logged call a line:

- flat: {"id", "vars": {...} | "messages": [...], "output": "...", "model", "timestamp"}
- LiteLLM logging payload: {"id", "model", "messages": [...], "response": {"choices": [{"message": {"content"}}]}}
- a span as an attribute object (Phoenix/OpenInference span JSON, or GenAI attributes):
  {"context": {"span_id"}, "attributes": {"llm.prompt_template.variables": "...", "output.value": "...", ...}}
  Nested attribute objects are read as the dotted names the conventions use.
"""

from __future__ import annotations

from typing import Any

from llmops_cli.traces.model import Span, Trace, Unusable, chat_messages, flatten, text_of
from llmops_cli.traces.spans import convention_of, read_span

NAME = "jsonl"


def read(record: Any, position: str, vars_attribute: str | None) -> Trace:
    if not isinstance(record, dict):
        raise Unusable("each line must be a JSON object (one logged call)")
    if isinstance(record.get("attributes"), dict):
        return _span(record, position, vars_attribute)
    trace_id = _id(record.get("id"), position)
    if "vars" not in record and "messages" not in record:
        raise Unusable("unknown shape: expected 'vars' or 'messages' with 'output' (or a 'response'), "
                       "an 'attributes' object, or an OTLP export with resourceSpans")
    variables = record.get("vars")
    if variables is not None and not isinstance(variables, dict):
        raise Unusable("'vars' must be an object of template variables")
    messages = chat_messages(record["messages"], "messages") if record.get("messages") is not None else None
    output = record.get("output")
    response = record.get("response")
    if output is None and isinstance(response, dict):
        choices = response.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        output = message.get("content") if isinstance(message, dict) else None
    if output is None:
        raise Unusable("no output captured: no 'output' and no response.choices[0].message.content")
    text = text_of(output, "output")
    model = record.get("model")
    return Trace(trace_id, position, NAME, variables, messages, text, str(model) if model else None)


def _span(record: dict[str, Any], position: str, vars_attribute: str | None) -> Trace:
    given = record.get("context")
    context: dict[str, Any] = given if isinstance(given, dict) else {}
    span_id = context.get("span_id") or record.get("span_id") or record.get("id")
    events = tuple((str(e.get("name", "")), flatten(e.get("attributes") or {}))
                   for e in record.get("events") or [] if isinstance(e, dict) and isinstance(e.get("attributes") or {}, dict))
    span = Span(str(span_id) if span_id else None, flatten(record["attributes"]), events)
    convention = convention_of(span)
    if convention is None:
        raise Unusable("unknown shape: the attributes follow neither the GenAI nor the OpenInference conventions "
                       "for a chat call")
    reading = read_span(span, convention, vars_attribute)
    return Trace(_id(span_id, position), position, convention, reading.vars, reading.messages, reading.output,
                 reading.model)


def _id(value: Any, position: str) -> str:
    return str(value) if value is not None and str(value).strip() else position
