"""report.html (placeholder until the HTML report lands): the Markdown report, escaped, in one page."""

from __future__ import annotations

import html as _html
from typing import Any, Mapping

from llmops_cli.report import markdown


def render(document: Mapping[str, Any]) -> str:
    body = _html.escape(markdown.render(document))
    return f"<!doctype html><meta charset=utf-8><title>llmops report</title><pre>{body}</pre>\n"
