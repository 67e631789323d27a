"""What every trace reader produces: a usable logged call, or the reason a record was skipped.

A production export is never all usable (a span without its output, an attribute a tracer
truncated, a shape nobody documented), so readers never raise on one bad record: they raise
`Unusable` for it, and the caller records a `Skip` with its position and goes on. Bounds live
here because every record is untrusted input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmops_cli.casefiles import json_kind

MAX_MESSAGES = 1_000  # per trace: a longer conversation is not a single logged call
MAX_DEPTH = 32  # nesting of OTLP values and JSON attributes


class Unusable(Exception):
    """One record cannot be replayed; the message says why, in the export's own words."""


@dataclass(frozen=True)
class Trace:
    """One logged call: what was asked (template variables, or the messages as sent) and what came back.

    `source` names the convention it was read with (jsonl, genai, openinference); `vars` is None
    when the trace carries no template variables, and its messages are then replayed as logged."""

    id: str
    position: str
    source: str
    vars: Mapping[str, Any] | None
    messages: list[dict[str, str]] | None
    output: str
    model: str | None = None


@dataclass(frozen=True)
class Skip:
    position: str
    id: str | None
    reason: str


@dataclass(frozen=True)
class Span:
    """A span reduced to what the conventions read: attributes (OTLP values already decoded) and events."""

    id: str | None
    attributes: Mapping[str, Any]
    events: tuple[tuple[str, Mapping[str, Any]], ...] = ()


def json_value(value: Any, name: str) -> Any:
    """An attribute that may be recorded structured or as a JSON string (both are allowed by the conventions)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        raise Unusable(f"attribute {name!r} is not parsable JSON (starts {value[:40]!r})") from None


def variables(value: Any, name: str) -> dict[str, Any]:
    """Template variables from an attribute: a JSON object (string or structured)."""
    parsed = json_value(value, name)
    if not isinstance(parsed, dict):
        raise Unusable(f"attribute {name!r} must hold a JSON object of template variables, got {json_kind(parsed)}")
    return parsed


def optional(read: Callable[[], list[dict[str, str]] | None], spare: bool) -> list[dict[str, str]] | None:
    """The logged messages; when the trace has template variables they are not replayed, so messages
    that cannot be (a tool call, an image part) do not make the trace unusable."""
    try:
        return read()
    except Unusable:
        if spare:
            return None
        raise


def text_of(content: Any, where: str) -> str:
    """A message's text: a string, or OpenAI-style content parts of type text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content[:MAX_MESSAGES]:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                texts.append(str(part.get("text", part.get("content", ""))))
            else:
                kind = part.get("type") if isinstance(part, dict) else json_kind(part)
                raise Unusable(f"{where} has a {kind!r} part; only text is replayed")
        return "".join(texts)
    raise Unusable(f"{where} content must be text, got {json_kind(content)}")


def chat_messages(value: Any, where: str) -> list[dict[str, str]]:
    """OpenAI-style [{role, content}] messages, checked and reduced to text."""
    if not isinstance(value, list) or not value:
        raise Unusable(f"{where} must be a non-empty list of {{role, content}} messages")
    if len(value) > MAX_MESSAGES:
        raise Unusable(f"{where} has {len(value):,} messages; at most {MAX_MESSAGES:,} are replayed")
    messages = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            raise Unusable(f"{where}[{index}] must be an object with a role")
        if item.get("tool_calls") or item["role"] in ("tool", "function"):
            raise Unusable(f"{where}[{index}] is a tool call or result; conversations with tools are not replayed yet")
        messages.append({"role": item["role"], "content": text_of(item.get("content"), f"{where}[{index}]")})
    return messages


@dataclass(frozen=True)
class Reading:
    """What a convention read from one span; the container adds where it was."""

    vars: dict[str, Any] | None
    messages: list[dict[str, str]] | None
    output: str
    model: str | None


def indexed(attributes: Mapping[str, Any], prefix: str, inner: str = "") -> list[dict[str, Any]]:
    """Flattened lists (`prefix.0.role`, `prefix.0.content`, ... or `prefix.0<inner>.role`) as a list of
    objects, in index order; tracers flatten lists this way because span attributes cannot nest."""
    items: dict[int, dict[str, Any]] = {}
    head = prefix + "."
    for key, value in attributes.items():
        if not key.startswith(head):
            continue
        number, _, rest = key[len(head):].partition(".")
        if not number.isdigit() or len(number) > 6:
            continue
        if inner:
            if not rest.startswith(inner + "."):
                continue
            rest = rest[len(inner) + 1:]
        if rest and "." not in rest:
            items.setdefault(int(number), {})[rest] = value
    if len(items) > MAX_MESSAGES:
        raise Unusable(f"{prefix} has {len(items):,} entries; at most {MAX_MESSAGES:,} are replayed")
    return [items[i] for i in sorted(items)]


def flatten(value: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Nested attribute objects (`{"llm": {"model_name": ...}}`, as some exporters write them) as the
    dotted keys the conventions name; lists of objects get their indices (`llm.input_messages.0...`).
    Every nested value is also kept whole under its own name (`llm.prompt_template.variables` may be
    an object, `gen_ai.input.messages` is a list by definition)."""
    if depth > MAX_DEPTH:
        raise Unusable(f"attributes nested deeper than {MAX_DEPTH} levels")
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        flat[name] = item
        if isinstance(item, dict):
            flat.update(flatten(item, name + ".", depth + 1))
        elif isinstance(item, list) and all(isinstance(x, dict) for x in item[:MAX_MESSAGES]):
            for index, element in enumerate(item[:MAX_MESSAGES]):
                flat.update(flatten(element, f"{name}.{index}.", depth + 1))
    return flat
