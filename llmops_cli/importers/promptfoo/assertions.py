"""One promptfoo assertion -> llmops: what every type shares (weight, metric, transform, `file://`
and `{{ var }}` values, the tally of conversions), then the type's handler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_cli.importers.promptfoo.handlers import HANDLERS, Context, Converted
from llmops_cli.importers.promptfoo.importer import Skip

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

_ADVICE = {
    "javascript": "rewrite it as a python assertion",
    "is-valid-openai-function-call": "legacy function_call answers are not read; use tools and tool_args_schema",
    "is-valid-function-call": "use tool_args_schema (tools offered by the prompt) or tool_call",
    "assert-set": "list its assertions directly (llmops requires every assertion to pass)",
    "levenshtein": "use a similarity or python assertion",
}


def assertion(imp: Importer, item: Any, where: str, file: str | None, variables: Mapping[str, Any] | None,
              scope: str) -> Converted:
    """Convert one assertion (rendered with `variables` when given); an unconvertible one is listed."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        imp.skip(where, "an assertion must be a mapping with a 'type'; skipped", file)
        return Converted()
    kind = item["type"]
    try:
        if item.get("transform") or item.get("contextTransform"):
            raise Skip("transforms the answer before checking it; llmops checks the raw answer: "
                       "fold the transform into a python assertion")
        if item.get("weight") == 0:
            raise Skip("weight 0 (reported, never failing) has no llmops equivalent; every llmops assertion "
                       "must pass")
        if item.get("weight") not in (None, 1):
            imp.note(where, f"weight {item['weight']} dropped: every llmops assertion must pass", file)
        if item.get("metric"):
            imp.metrics.add(str(item["metric"]))
        negate = kind.startswith("not-")
        base = kind[4:] if negate else kind
        handler = HANDLERS.get(base.split(":")[0] if base.startswith("similar") else base)
        if handler is None:
            raise Skip(f"type {kind!r} has no llmops equivalent; {_ADVICE.get(base, 'rewrite it as a python assertion')}")
        value = item.get("value") if base == "python" else imp.value_file(where, item.get("value"))
        if variables is not None:
            value = _render(value, variables)
        result = handler(Context(imp, item, value, negate, where, file, scope))
    except Skip as skip:
        message = str(skip)
        if not message.startswith("type "):
            message = f"type {kind!r}: {message}"
        imp.skip(where, message, file)
        return Converted()
    for spec in result.asserts:
        pair = f"{kind} -> {spec['type']}"
        imp.type_counts[pair] = imp.type_counts.get(pair, 0) + 1
    if result.refusal:
        imp.type_counts[f"{kind} -> expect_refusal"] = imp.type_counts.get(f"{kind} -> expect_refusal", 0) + 1
    return result


def jinja() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render `{{ var }}` in an assertion value with the case's vars (llmops values are literal)."""
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if not (isinstance(value, str) and ("{{" in value or "{%" in value)):
        return value
    from jinja2 import TemplateError

    try:
        return jinja().from_string(value).render(**variables)
    except TemplateError as exc:
        raise Skip(f"its value {value!r} could not be rendered with the case's vars ({exc})") from None
