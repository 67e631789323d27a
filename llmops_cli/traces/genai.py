"""OpenTelemetry GenAI semantic conventions: a chat span's input, output and model.

Current conventions (attributes on the span, or on a `gen_ai.client.inference.operation.details`
event; structured or as a JSON string):
- `gen_ai.system_instructions`: [{type: text, content}]
- `gen_ai.input.messages`: [{role, parts: [{type: text, content} | {type: tool_call, id, name,
  arguments} | {type: tool_call_response, id, response}]}]
- `gen_ai.output.messages`: [{role: assistant, parts: [...], finish_reason}], one per choice
- `gen_ai.request.model` (else `gen_ai.response.model`), `gen_ai.usage.input_tokens` / `output_tokens`

Older instrumentations, still common in exports:
- span attributes `gen_ai.prompt` / `gen_ai.completion` holding [{role, content}] as JSON, or
  flattened as `gen_ai.prompt.N.role` / `gen_ai.prompt.N.content` (and `gen_ai.completion.N.*`);
- events `gen_ai.content.prompt` / `gen_ai.content.completion` carrying those two attributes;
- events per message: `gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.assistant.message`
  (attribute `content`) and `gen_ai.choice` (attribute `message` {role, content}, or `content`).

Only text is replayed: a tool call in the input or as the whole answer makes the span unusable,
with that reason. Template variables are never part of these conventions; they come from an
attribute named with `--vars-attribute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_cli.traces.model import MAX_MESSAGES, Reading, Span, Unusable, chat_messages, indexed, json_value, optional, variables

NAME = "genai"
CHAT_OPERATIONS = ("chat", "text_completion", "generate_content")
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant"}
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.prompt", "gen_ai.completion",
                "gen_ai.prompt.0.content", "gen_ai.completion.0.content")


def is_llm_span(span: Span) -> bool:
    """A chat call in GenAI terms (embeddings, tool executions and agent spans are not replayed)."""
    operation = span.attributes.get("gen_ai.operation.name")
    if operation is not None:
        return operation in CHAT_OPERATIONS
    return any(key in span.attributes for key in CONTENT_KEYS) or any(
        name.startswith("gen_ai.") for name, _ in span.events)


def read(span: Span, vars_attribute: str | None) -> Reading:
    a = _with_details(span)
    model = a.get("gen_ai.request.model") or a.get("gen_ai.response.model")
    template_vars = variables(a[vars_attribute], vars_attribute) if vars_attribute and vars_attribute in a else None
    return Reading(template_vars, optional(lambda: _input(a, span), template_vars is not None), _output(a, span),
                   str(model) if model else None)


def _with_details(span: Span) -> Mapping[str, Any]:
    """Span attributes, completed by the operation-details event when the content was recorded there."""
    merged = dict(span.attributes)
    for name, attributes in span.events:
        if name == DETAILS_EVENT:
            for key, value in attributes.items():
                merged.setdefault(key, value)
    return merged


def _input(a: Mapping[str, Any], span: Span) -> list[dict[str, str]] | None:
    if "gen_ai.input.messages" in a:
        system = _instructions(a)
        return system + _part_messages(json_value(a["gen_ai.input.messages"], "gen_ai.input.messages"),
                                       "gen_ai.input.messages")
    if "gen_ai.prompt" in a:
        return chat_messages(json_value(a["gen_ai.prompt"], "gen_ai.prompt"), "gen_ai.prompt")
    flat = indexed(a, "gen_ai.prompt")
    if flat:
        return chat_messages(flat, "gen_ai.prompt")
    for name, attributes in span.events:
        if name == "gen_ai.content.prompt" and "gen_ai.prompt" in attributes:
            return chat_messages(json_value(attributes["gen_ai.prompt"], "gen_ai.prompt"), "event gen_ai.content.prompt")
    per_event = [{"role": MESSAGE_EVENTS[name], "content": attributes.get("content")}
                 for name, attributes in span.events if name in MESSAGE_EVENTS]
    return chat_messages(per_event, "gen_ai.*.message events") if per_event else None


def _output(a: Mapping[str, Any], span: Span) -> str:
    if "gen_ai.output.messages" in a:
        messages = json_value(a["gen_ai.output.messages"], "gen_ai.output.messages")
        if not isinstance(messages, list) or not messages:
            raise Unusable("no output captured: gen_ai.output.messages is empty")
        return _answer_text(messages[0], "gen_ai.output.messages[0]")
    if "gen_ai.completion" in a:
        return _first_content(json_value(a["gen_ai.completion"], "gen_ai.completion"), "gen_ai.completion")
    flat = indexed(a, "gen_ai.completion")
    if flat:
        return _first_content(flat, "gen_ai.completion")
    for name, attributes in span.events:
        if name == "gen_ai.content.completion" and "gen_ai.completion" in attributes:
            return _first_content(json_value(attributes["gen_ai.completion"], "gen_ai.completion"),
                                  "event gen_ai.content.completion")
        if name == "gen_ai.choice":
            message = attributes.get("message")
            message = json_value(message, "gen_ai.choice message") if message is not None else attributes
            return _first_content([message], "event gen_ai.choice")
    raise Unusable("no output captured: the span has no gen_ai.output.messages, gen_ai.completion or gen_ai.choice")


def _instructions(a: Mapping[str, Any]) -> list[dict[str, str]]:
    if "gen_ai.system_instructions" not in a:
        return []
    parts = json_value(a["gen_ai.system_instructions"], "gen_ai.system_instructions")
    return [{"role": "system", "content": _parts_text(parts, "gen_ai.system_instructions")}]


def _part_messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise Unusable(f"{where} must be a non-empty list of {{role, parts}} messages")
    if len(value) > MAX_MESSAGES:
        raise Unusable(f"{where} has {len(value):,} messages; at most {MAX_MESSAGES:,} are replayed")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise Unusable(f"{where}[{index}] must be an object with a role and parts")
        messages.append({"role": message["role"], "content": _parts_text(message.get("parts"), f"{where}[{index}]")})
    return messages


def _parts_text(parts: Any, where: str) -> str:
    if not isinstance(parts, list):
        raise Unusable(f"{where}: parts must be a list")
    texts = []
    for index, part in enumerate(parts[:MAX_MESSAGES]):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("content", "")))
        elif kind in ("tool_call", "tool_call_response"):
            raise Unusable(f"{where} has a {kind} part ({part.get('name') or part.get('id') or 'unnamed'}); "
                           "conversations with tools are not replayed yet")
        else:
            raise Unusable(f"{where}.parts[{index}] is of type {kind!r}; only text parts are replayed")
    return "".join(texts)


def _answer_text(message: Any, where: str) -> str:
    """The text of one output message; reasoning parts are not the answer, a tool call alone is not text."""
    if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
        raise Unusable(f"{where} must be an object with parts")
    texts = [str(p.get("content", "")) for p in message["parts"] if isinstance(p, dict) and p.get("type") == "text"]
    if texts:
        return "".join(texts)
    calls = [str(p.get("name")) for p in message["parts"] if isinstance(p, dict) and p.get("type") == "tool_call"]
    if calls:
        raise Unusable(f"the logged answer is a tool call ({', '.join(calls)}), not text; tool calls are not compared yet")
    raise Unusable(f"no output captured: {where} has no text part")


def _first_content(messages: Any, where: str) -> str:
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise Unusable(f"no output captured: {where} has no message")
    content = messages[0].get("content")
    if not isinstance(content, str):
        raise Unusable(f"no output captured: {where}[0] has no text content")
    return content
