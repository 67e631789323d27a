"""The Jinja2 environment of the HTML reports: our templates (report/templates/, package data), with
autoescape on, so every value from a run (case ids, model output, config, provider errors) is
escaped on output and no template has to remember to.

The templates are ours and trusted, so this is a plain Environment, not the sandbox that renders
users' prompts. Values are escaped the way `html.escape(quote=True)` does (`&#x27;`, `&quot;`),
the entities report.html has always used; markup built by a macro passes through unescaped once.
Undefined names are errors, so a misspelt key fails a test instead of printing nothing.
"""

from __future__ import annotations

import html
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from llmops_cli.report import fmt


class Escaped:
    """Text already escaped by `escape`: autoescape takes it as markup (`__html__`) and wraps it once."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __html__(self) -> str:
        return self.text


def escape(value: Any) -> Any:
    """Every `{{ value }}` on output: None reads as nothing, markup from a macro stays, the rest is escaped."""
    if hasattr(value, "__html__"):
        return value
    return Escaped(html.escape("" if value is None else str(value), quote=True))


def environment(**names: Any) -> Environment:
    """The environment with the formatting filters of report/fmt.py and the page's own `names` as globals."""
    env = Environment(loader=PackageLoader("llmops_cli.report", "templates"), autoescape=True, finalize=escape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      auto_reload=False)
    env.filters.update(number=fmt.number, metric=fmt.metric, money=fmt.money, delta=fmt.delta, pct=fmt.pct,
                       ratio=fmt.ratio, trim_to=fmt.trim)
    env.globals.update(names)
    return env
