"""Trace samples written from the specifications, shared by the reader and rerun tests.

OTLP JSON (opentelemetry-proto, JSON encoding): resourceSpans -> scopeSpans -> spans; attribute
values are AnyValue objects, intValue a decimal string. GenAI conventions: gen_ai.input.messages /
gen_ai.output.messages as role + parts. OpenInference: flattened llm.input_messages.N.message.*.
"""

from __future__ import annotations

import json
from typing import Any


def av(value: Any) -> dict[str, Any]:
    """A Python value as an OTLP AnyValue."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [av(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": av(v)} for k, v in value.items()]}}
    return {"stringValue": str(value)}


def span(span_id: str, attributes: dict[str, Any], events: list[tuple[str, dict[str, Any]]] = (),
         name: str = "chat gpt-4o-mini") -> dict[str, Any]:
    return {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": name, "kind": 3,
            "startTimeUnixNano": "1730000000000000000", "endTimeUnixNano": "1730000001000000000",
            "attributes": [{"key": k, "value": av(v)} for k, v in attributes.items()],
            "events": [{"timeUnixNano": "1730000000500000000", "name": n,
                        "attributes": [{"key": k, "value": av(v)} for k, v in a.items()]} for n, a in events],
            "status": {}}


def export(spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": av("support-bot")}]},
                               "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2"},
                                               "spans": spans}]}]}


def genai_chat(span_id: str, system: str | None, user: str, answer: str | None, *, structured: bool = True,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A chat span as the current GenAI conventions describe it; `answer=None` drops the output."""
    inputs = [{"role": "user", "parts": [{"type": "text", "content": user}]}]
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.temperature": 0.0, "gen_ai.usage.input_tokens": 42, "gen_ai.usage.output_tokens": 17,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.input.messages": inputs if structured else json.dumps(inputs)}
    if system is not None:
        instructions = [{"type": "text", "content": system}]
        attributes["gen_ai.system_instructions"] = instructions if structured else json.dumps(instructions)
    if answer is not None:
        outputs = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        attributes["gen_ai.output.messages"] = outputs if structured else json.dumps(outputs)
    attributes.update(extra or {})
    return span(span_id, attributes)


def openinference_llm(span_id: str, variables: dict[str, Any] | None, messages: list[tuple[str, str]],
                      answer: str) -> dict[str, Any]:
    """An LLM span as OpenInference's flattened attributes describe it."""
    attributes: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                  "llm.token_count.prompt": 40, "llm.token_count.completion": 12,
                                  "output.value": answer, "output.mime_type": "text/plain",
                                  "llm.output_messages.0.message.role": "assistant",
                                  "llm.output_messages.0.message.content": answer}
    for index, (role, content) in enumerate(messages):
        attributes[f"llm.input_messages.{index}.message.role"] = role
        attributes[f"llm.input_messages.{index}.message.content"] = content
    if variables is not None:
        attributes["llm.prompt_template.variables"] = json.dumps(variables)
        attributes["llm.prompt_template.template"] = "{{ ticket }}"
    return span(span_id, attributes, name="ChatCompletion")
