"""Report formats: each a pure function of the results document, registered by name.

A new format is one module plus one line in FORMATS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from llmops_cli.errors import IncompleteError, InputError
from llmops_cli.report import html, junit, markdown


def _dump_json(value: Any, handle: Any, depth: int = 0) -> None:
    """results.json, streamed: the containers near the top are written piece by piece and each
    deeper value (a case) whole by the C encoder; the same bytes as to_json()."""
    if depth < 4 and isinstance(value, dict):
        handle.write("{")
        for i, (key, item) in enumerate(value.items()):
            handle.write(("," if i else "") + json.dumps(str(key), ensure_ascii=False) + ":")
            _dump_json(item, handle, depth + 1)
        handle.write("}")
    elif depth < 4 and isinstance(value, list):
        handle.write("[")
        for i, item in enumerate(value):
            if i:
                handle.write(",")
            _dump_json(item, handle, depth + 1)
        handle.write("]")
    else:
        handle.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def to_json(document: Mapping[str, Any]) -> str:
    """Compact: json's C encoder only runs without `indent`, and results.json of a 10k-case run
    is written on every eval (`jq .` pretty-prints it)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


FORMATS: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "md": ("report.md", markdown.render),
    "json": ("results.json", to_json),
    "junit": ("junit.xml", junit.render),
    "html": ("report.html", html.render),
}


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"--format {text!r}: unknown format {unknown[0] if unknown else ''!r}; choose from {', '.join(FORMATS)}")
    return formats


def write_reports(document: Mapping[str, Any], out: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write each format into `out`; the Markdown also goes to $GITHUB_STEP_SUMMARY when set."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in formats:
            file_name, render = FORMATS[name]
            path = out / file_name
            if name == "json":
                with open(path, "w", encoding="utf-8") as handle:
                    _dump_json(document, handle)
                    handle.write("\n")
            else:
                path.write_text(render(document), encoding="utf-8")
            written.append(path)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown.render(document, step_summary=True))
    except OSError as exc:
        raise IncompleteError(f"{exc.filename or out}: cannot write the report ({exc.strerror}); results are stored, "
                              f"re-render with `llmops report {document['run']['id']} --out DIR`") from None
    return written
