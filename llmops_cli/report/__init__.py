"""Report formats: each a pure function of the results document, registered by name.

A new format is one module plus one line in FORMATS; its eval writer reads the typed document
(document.py). `llmops rerun` writes a document of its own kind ("kind": "rerun", rerun_document.py);
each format's entry names its writer for either kind, under one file name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from llmops_cli.document import Document, as_json, json_fields
from llmops_cli.errors import IncompleteError, InputError
from llmops_cli.report import html, junit, markdown, rerun_html, rerun_junit, rerun_markdown
from llmops_cli.rerun_document import RerunDocument


def write_json(document: Any, handle: TextIO, depth: int = 0) -> None:
    """results.json, streamed and compact: the containers near the top are written piece by
    piece and each deeper value (a case) whole by json's C encoder, which only runs without
    `indent`; a 100k-case document never exists as one string, nor (typed) twice as values
    (`jq .` pretty-prints it)."""
    fields = json_fields(document) if depth < 4 else None
    if fields is not None or (depth < 4 and isinstance(document, dict)):
        handle.write("{")
        for i, (key, item) in enumerate(fields if fields is not None else document.items()):
            handle.write(("," if i else "") + json.dumps(str(key), ensure_ascii=False) + ":")
            write_json(item, handle, depth + 1)
        handle.write("}")
    elif depth < 4 and isinstance(document, (list, tuple)):
        handle.write("[")
        for i, item in enumerate(document):
            handle.write("," if i else "")
            write_json(item, handle, depth + 1)
        handle.write("]")
    else:
        handle.write(json.dumps(as_json(document), ensure_ascii=False, separators=(",", ":")))
    if depth == 0:
        handle.write("\n")


def _text(render: Callable[[Document], str]) -> Callable[[Document, TextIO], None]:
    """A format rendered to one string: report.md lists a bounded number of cases, and junit.xml's tree stays
    below what judging a large run takes (report.html, one row a case, is written as it renders)."""
    def write(document: Document, handle: TextIO) -> None:
        handle.write(render(document))

    return write


def _rerun_text(render: Callable[[RerunDocument], str]) -> Callable[[RerunDocument, TextIO], None]:
    def write(document: RerunDocument, handle: TextIO) -> None:
        handle.write(render(document))

    return write


Writer = Callable[[Document, TextIO], None]
RerunWriter = Callable[[RerunDocument, TextIO], None]


@dataclass(frozen=True)
class Format:
    """One report format: the file it writes and its writer for each kind of document (an eval's results
    and a rerun's replay), so `--format` means the same files for `llmops eval`, `rerun` and `report`."""

    file: str
    eval: Writer
    rerun: RerunWriter


FORMATS: dict[str, Format] = {
    "md": Format("report.md", _text(markdown.render), _rerun_text(rerun_markdown.render)),
    "json": Format("results.json", write_json, write_json),
    "junit": Format("junit.xml", _text(junit.render), _rerun_text(rerun_junit.render)),
    "html": Format("report.html", html.write, _rerun_text(rerun_html.render)),
}


def step_summary(document: Document | RerunDocument) -> str:
    """The head of report.md (verdict and summary tables) for $GITHUB_STEP_SUMMARY."""
    if isinstance(document, Document):
        return markdown.render(document, step_summary=True)
    return rerun_markdown.render(document, step_summary=True)


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise InputError(f"--format {text!r}: unknown format {unknown[0] if unknown else ''!r}; choose from {', '.join(FORMATS)}")
    return formats


PROJECT_FOLDERS = ("prompts", "evals", "tools", ".git")


def refuse_project_folder(root: Path, out: Path | None) -> None:
    """`--out .` or `--out prompts` would write reports among the files a PR is judged by: refused
    before anything runs. The project root, a folder above it, and its source folders are out."""
    if out is None:
        return
    target, project = out.resolve(), root.resolve()
    inside = [name for name in PROJECT_FOLDERS if target == project / name or project / name in target.parents]
    where = ("the project folder" if target == project else "a folder above the project" if target in project.parents
             else f"in the project's {inside[0]}/ folder" if inside else None)
    if where:
        raise InputError(f"--out {out}: is {where}; reports there would sit among (and could overwrite) the files "
                         "under review: use a folder of its own, e.g. --out llmops-report")


def write_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write through a temporary file in the same folder, then rename: a reader (or a full disk)
    sees the old file or the whole new one, never a truncated report."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_reports(document: Document | RerunDocument, out: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write each format into `out`; the Markdown also goes to $GITHUB_STEP_SUMMARY when set."""
    run_id = document.run.id
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in formats:
            report = FORMATS[name]
            if isinstance(document, Document):
                write_atomic(out / report.file, partial(report.eval, document))
            else:
                write_atomic(out / report.file, partial(report.rerun, document))
            written.append(out / report.file)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(step_summary(document))
    except OSError as exc:
        raise IncompleteError(f"{exc.filename or out}: cannot write the report ({exc.strerror}); results are stored, "
                              f"re-render with `llmops report {run_id} --out DIR`") from None
    return written
