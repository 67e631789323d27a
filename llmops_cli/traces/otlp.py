"""OTLP JSON exports: `resourceSpans -> scopeSpans -> spans`, attributes in OTLP's typed form.

This is what the OpenTelemetry Collector's file exporter and most backends' "export as OTLP
JSON" write: one ExportTraceServiceRequest per document (the file exporter writes one per line).
Attribute values are AnyValue objects: `stringValue`, `boolValue`, `intValue` (a decimal string
in JSON, since it is 64-bit), `doubleValue`, `arrayValue: {values: [...]}`,
`kvlistValue: {values: [{key, value}]}`, `bytesValue` (base64, kept as text). Older exports say
`instrumentationLibrarySpans` for `scopeSpans`; both are read.

Only chat spans are traces (see spans.convention_of); every other span is counted as ignored.
A chat span that cannot be read (no output, an unparsable attribute) is a skip with its position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmops_cli.traces.model import MAX_DEPTH, Skip, Span, Trace, Unusable
from llmops_cli.traces.spans import convention_of, read_span

NAME = "otlp"
RELEVANT = ("gen_ai.", "llm.", "input.", "output.", "openinference.")


@dataclass(frozen=True)
class Ignored:
    """A span that is not a chat call (HTTP, database, tool, embeddings): neither a trace nor a skip."""

    position: str


def is_export(document: Any) -> bool:
    return isinstance(document, dict) and "resourceSpans" in document


def read(document: dict[str, Any], where: str, vars_attribute: str | None,
         pick: Callable[[], bool]) -> Iterator[Trace | Skip | Ignored]:
    """Every span of one export, in order; `pick()` is asked once per chat span (seeded sampling)."""
    for r, resource in enumerate(_list(document.get("resourceSpans"))):
        scopes = resource.get("scopeSpans", resource.get("instrumentationLibrarySpans")) if isinstance(resource, dict) else None
        for s, scope in enumerate(_list(scopes)):
            for n, raw in enumerate(_list(scope.get("spans") if isinstance(scope, dict) else None)):
                position = f"{where}resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                yield from _one(raw, position, vars_attribute, pick)


def _one(raw: Any, position: str, vars_attribute: str | None,
         pick: Callable[[], bool]) -> Iterator[Trace | Skip | Ignored]:
    span_id = str(raw.get("spanId")) if isinstance(raw, dict) and raw.get("spanId") else None
    try:
        span = _span(raw, vars_attribute)
    except Unusable as exc:
        if pick():
            yield Skip(position, span_id, str(exc))
        return
    convention = convention_of(span)
    if convention is None:
        yield Ignored(position)
        return
    if not pick():
        return
    try:
        reading = read_span(span, convention, vars_attribute)
    except Unusable as exc:
        yield Skip(position, span_id, f"{convention} span: {exc}")
        return
    yield Trace(span_id or position, position, convention, reading.vars, reading.messages, reading.output, reading.model)


def _span(raw: Any, vars_attribute: str | None) -> Span:
    if not isinstance(raw, dict):
        raise Unusable("a span must be an object")
    relevant = lambda key: key.startswith(RELEVANT) or key == vars_attribute  # noqa: E731
    events = tuple((str(e.get("name", "")), attributes(e.get("attributes"), relevant))
                   for e in _list(raw.get("events")) if isinstance(e, dict))
    return Span(str(raw["spanId"]) if raw.get("spanId") else None, attributes(raw.get("attributes"), relevant), events)


def attributes(raw: Any, relevant: Callable[[str], bool] = lambda key: True) -> dict[str, Any]:
    """`[{key, value: AnyValue}]` as a plain dict. An attribute that does not decode makes the span
    unusable when the replay needs it, and is dropped otherwise (a broken HTTP attribute is not our concern)."""
    decoded: dict[str, Any] = {}
    for item in _list(raw):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        try:
            decoded[item["key"]] = any_value(item.get("value"))
        except Unusable as exc:
            if relevant(item["key"]):
                raise Unusable(f"attribute {item['key']!r}: {exc}") from None
    return decoded


def any_value(value: Any, depth: int = 0) -> Any:
    """One OTLP AnyValue as a Python value (kvlist -> dict, array -> list)."""
    if depth > MAX_DEPTH:
        raise Unusable(f"value nested deeper than {MAX_DEPTH} levels")
    if not isinstance(value, dict):
        raise Unusable("not an OTLP AnyValue object")
    if not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            raise Unusable(f"intValue {str(value['intValue'])[:20]!r} is not an integer") from None
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            raise Unusable(f"doubleValue {str(value['doubleValue'])[:20]!r} is not a number") from None
    if "arrayValue" in value:
        return [any_value(v, depth + 1) for v in _values(value["arrayValue"])]
    if "kvlistValue" in value:
        return {str(kv.get("key")): any_value(kv.get("value"), depth + 1)
                for kv in _values(value["kvlistValue"]) if isinstance(kv, dict)}
    if "bytesValue" in value:
        return str(value["bytesValue"])
    raise Unusable(f"unknown AnyValue type {next(iter(value))!r}")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _values(container: Any) -> list[Any]:
    """The `values` of an arrayValue or kvlistValue (absent when empty)."""
    return _list(container.get("values")) if isinstance(container, dict) else []
