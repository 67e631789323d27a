"""The span conventions, registered by name: each knows whether a span is a chat call and how to read it.

A new convention is one module with `NAME`, `is_llm_span(span)` and `read(span, vars_attribute)`,
plus one line in CONVENTIONS. Order matters only for spans that match several: the first wins.
"""

from __future__ import annotations

from typing import Protocol

from llmops_cli.traces import genai, openinference
from llmops_cli.traces.model import Reading, Span


class Convention(Protocol):
    """What a convention module provides (a module satisfies it by its functions)."""

    NAME: str

    def is_llm_span(self, span: Span) -> bool: ...

    def read(self, span: Span, vars_attribute: str | None) -> Reading: ...


CONVENTIONS: dict[str, Convention] = {
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
    return CONVENTIONS[convention].read(span, vars_attribute)
