"""Assertion types by name: a new type is a module plus one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops_cli.config import did_you_mean
from llmops_cli.scoring import judge, python_hook, similarity, structured, text, tools
from llmops_cli.scoring.base import Kind

REGISTRY: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        text.EQUALS, text.CONTAINS, text.ICONTAINS, text.NOT_CONTAINS, text.REGEX,
        structured.SCHEMA, structured.JSON_FIELD, structured.NUMERIC,
        python_hook.PYTHON,
        judge.JUDGE, similarity.SIMILARITY,
        tools.TOOL_CALL, tools.NO_TOOL_CALL, tools.TOOL_SEQUENCE, tools.TOOL_ARGS_SCHEMA,
    )
}


def validate_assertion(type_name: str, spec: Mapping[str, Any]) -> list[str]:
    """Problems with one assertion; an unknown type is a problem, never a skip."""
    kind = REGISTRY.get(type_name)
    if kind is None:
        return [f"unknown assertion type {type_name!r}{did_you_mean(str(type_name).replace('-', '_'), REGISTRY)}; "
                f"known: {', '.join(sorted(REGISTRY))}"]
    return kind.validate(spec)
