"""The span conventions, registered by name: each knows whether a span is a chat call and how to read it.

A new convention is one module with `NAME`, `is_llm_span(span)` and `read(span, vars_attribute)`,
plus one line in CONVENTIONS. Order matters only for spans that match several: the first wins.
"""

from __future__ import annotations

from types import ModuleType

from llmops_cli.traces import genai, openinference
from llmops_cli.traces.model import Reading, Span

CONVENTIONS: dict[str, ModuleType] = {
    genai.NAME: genai,  # first: OpenLLMetry-style spans carry gen_ai.prompt.N.* beside llm.* attributes
    openinference.NAME: openinference,
}


def convention_of(span: Span) -> str | None:
    """The convention that reads this span as a chat call; None for any other span (HTTP, tools,
    embeddings, agent steps), which a container skips silently because it is not a logged call."""
    if "openinference.span.kind" in span.attributes:  # explicit: an OpenInference span of another kind is not a call
        return openinference.NAME if openinference.is_llm_span(span) else None
    if "gen_ai.operation.name" in span.attributes:
        return genai.NAME if genai.is_llm_span(span) else None
    for name, convention in CONVENTIONS.items():
        if convention.is_llm_span(span):
            return name
    return None


def read_span(span: Span, convention: str, vars_attribute: str | None) -> Reading:
    reading: Reading = CONVENTIONS[convention].read(span, vars_attribute)
    return reading
