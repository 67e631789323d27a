"""Reading a trace file: JSONL (our shapes, or one OTLP export per line as the Collector's file
exporter writes), or one JSON document (an OTLP export, or a list of our records).

Every record yields a Trace or a Skip with its position (`file:line`, plus the span's path in an
export) and reason; spans that are not chat calls are Ignored. Sampling is seeded and asked
once per record (per chat span in an export), so the same command picks the same traces.
Sizes are bounded: a record over MAX_RECORD_BYTES is skipped, a single-document file over
MAX_DOCUMENT_BYTES is refused, and ids repeated in a file are skipped after their first use.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.traces import jsonl, otlp
from llmops_cli.traces.model import Skip, Trace, Unusable
from llmops_cli.traces.otlp import Ignored

MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024

Item = Trace | Skip | Ignored


def read_traces(path: Path, sample: float, seed: int, vars_attribute: str | None) -> Iterator[Item]:
    picker = random.Random(seed)
    pick: Callable[[], bool] = lambda: picker.random() < sample  # noqa: E731
    seen: dict[str, str] = {}
    for item in _items(path, pick, vars_attribute):
        if isinstance(item, Trace):
            first = seen.setdefault(item.id, item.position)
            if first != item.position:
                item = Skip(item.position, item.id, f"id {item.id!r} repeats the trace at {first}; each is replayed once")
        yield item


def _items(path: Path, pick: Callable[[], bool], vars_attribute: str | None) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        number = 0
        first = True  # only a file whose first record does not parse alone may be one pretty-printed document
        while True:
            raw = handle.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            number += 1
            where = f"{path.name}:{number}"
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # the rest of the oversized line
                    raw = handle.readline(MAX_RECORD_BYTES)
                if pick():
                    yield Skip(where, None, f"record larger than {MAX_RECORD_BYTES // 2**20} MiB")
                continue
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                document = _document(path, raw) if first else None
                first = False
                if document is not None:
                    yield from _document_items(document, path, pick, vars_attribute)
                    return
                if pick():
                    yield Skip(where, None, f"not JSON: {getattr(exc, 'msg', exc)}")
                continue
            first = False
            yield from _record(record, where, pick, vars_attribute)


def _record(record: Any, where: str, pick: Callable[[], bool], vars_attribute: str | None) -> Iterator[Item]:
    if otlp.is_export(record):
        yield from otlp.read(record, where + ": ", vars_attribute, pick)
        return
    if not pick():
        return
    try:
        yield jsonl.read(record, where, vars_attribute)
    except Unusable as exc:
        trace_id = record.get("id") if isinstance(record, dict) and isinstance(record.get("id"), (str, int)) else None
        yield Skip(where, str(trace_id) if trace_id is not None else None, str(exc))


def _document(path: Path, first_line: bytes) -> Any | None:
    """The file as one JSON document, or None when it is not one (then it is JSONL with a bad line)."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        if first_line.strip() not in (b"{", b"["):
            return None  # a big JSONL file whose first line is broken: read it line by line
        raise InputError(f"{path}: a {size // 2**20} MiB file whose first record is not one JSON line: over the "
                         f"{MAX_DOCUMENT_BYTES // 2**20} MiB limit for a single JSON document; export JSONL "
                         "(one record or one export a line)")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def _document_items(document: Any, path: Path, pick: Callable[[], bool], vars_attribute: str | None) -> Iterator[Item]:
    """An OTLP export, or a list of our records."""
    if otlp.is_export(document):
        yield from otlp.read(document, f"{path.name}: ", vars_attribute, pick)
    elif isinstance(document, list):
        for index, record in enumerate(document):
            yield from _record(record, f"{path.name}[{index}]", pick, vars_attribute)
    else:
        raise InputError(f"{path}: one JSON document, but neither an OTLP export (resourceSpans) nor a list of traces")
