"""Golden-set file formats: JSONL, YAML and CSV all become (line, case object) pairs.

One reader per format, chosen by the file's extension; validation of each object is the same for
all of them (cases.py), so a case means the same thing and hashes the same way whatever file holds
it. JSONL stays the default: one case a line diffs best in review. YAML is pleasant for
multi-line inputs; CSV is what spreadsheets export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from llmops_cli.errors import Problems
from llmops_cli.yamlfile import LineDict, LineList, YamlError, load_yaml, plain

MAX_CASE_BYTES = 8 * 1024 * 1024
CSV_LIST_SEPARATOR = ";"  # tags in a CSV cell: "refund;priority"
Reader = Callable[[str, str, Problems], Iterator[tuple[int, Any]]]


def json_kind(value: Any) -> str:
    for kind, name in ((bool, "true/false"), (dict, "an object"), (list, "an array"), (str, "a string"),
                       ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return "null"


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads keeps the last of repeated keys silently; in a golden case that hides an edit."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def jsonl_lines(text: str) -> list[str]:
    """A JSONL text's lines, split on "\\n" only (golden sets, the lock, imported files).

    `str.splitlines()` also breaks at U+2028, U+2029, U+0085 and friends, which JSON allows raw
    inside strings; a case holding one would be cut in two. A trailing "\\r" (CRLF files) is
    JSON whitespace, so json.loads accepts it as is.
    """
    return text.split("\n")


def read_jsonl(text: str, path: str, problems: Problems) -> Iterator[tuple[int, Any]]:
    """One JSON object a line. Lines end at "\\n" only: U+2028 and friends are legal inside JSON strings."""
    for number, raw in enumerate(jsonl_lines(text), start=1):
        if not raw.strip():
            continue
        if len(raw) > MAX_CASE_BYTES:
            problems.add(path, number, f"case is larger than {MAX_CASE_BYTES // (1024 * 1024)} MB; keep big inputs "
                                       "in files the case refers to ({\"file\": \"inputs/big.txt\"})")
            continue
        try:
            obj = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except (json.JSONDecodeError, RecursionError) as exc:
            message = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            problems.add(path, number, f"invalid JSON: {message}; each line must be one JSON object")
            continue
        except ValueError:  # Python refuses to convert integers of more than 4,300 digits
            problems.add(path, number, "invalid JSON: a number with thousands of digits; write it as a string")
            continue
        except _DuplicateKey as exc:
            problems.add(path, number, f"duplicate key {exc.args[0]!r} in one JSON object; keep one of them")
            continue
        yield number, obj


def read_yaml(text: str, path: str, problems: Problems) -> Iterator[tuple[int, Any]]:
    """A YAML list of case mappings (block scalars `|` make multi-line inputs readable)."""
    try:
        data = load_yaml(text)
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return
    if not isinstance(data, LineList):
        problems.add(path, getattr(data, "line", None) or 1, "a YAML golden set is a list of cases: `- id: c1`, "
                                                             "`  vars: {...}`")
        return
    for index, item in enumerate(data):
        number = data.line_of(index)
        obj = plain(item) if isinstance(item, (LineDict, LineList)) else item
        try:
            json.dumps(obj, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.add(path, number, f"case holds a value JSON cannot carry ({exc}); quote dates and special "
                                       "numbers as strings")
            continue
        yield number, obj


def read_csv(text: str, path: str, problems: Problems) -> Iterator[tuple[int, Any]]:
    """A header row, then one case a row: `id`, optional `expect_refusal` (true/false), `tags`
    (separated by ';'), `description`, `assert` (a JSON list); every other column is a variable."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if not header or "id" not in header:
            problems.add(path, 1, "the first row must name the columns and include `id`, e.g. id,ticket,tags")
            return
        if len(set(header)) != len(header):
            duplicate = next(h for h in header if header.count(h) > 1)
            problems.add(path, 1, f"column {duplicate!r} appears twice; keep one")
            return
        for row in rows:
            number = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.add(path, number, f"{len(row)} cells but {len(header)} columns; quote cells that hold commas")
                continue
            obj = _csv_case(dict(zip(header, row, strict=True)), path, number, problems)
            if obj is not None:
                yield number, obj
    except csv.Error as exc:
        problems.add(path, rows.line_num or None, f"unreadable CSV: {exc}")


def _csv_case(cells: dict[str, str], path: str, number: int, problems: Problems) -> dict[str, Any] | None:
    special = {"id", "expect_refusal", "tags", "description", "assert"}
    obj: dict[str, Any] = {"id": cells["id"], "vars": {k: v for k, v in cells.items() if k not in special}}
    if cells.get("expect_refusal", "").strip():
        flag = cells["expect_refusal"].strip().lower()
        if flag not in ("true", "false"):
            problems.add(path, number, f"expect_refusal must be true or false, got {cells['expect_refusal']!r}")
            return None
        obj["expect_refusal"] = flag == "true"
    if cells.get("tags", "").strip():
        obj["tags"] = [t.strip() for t in cells["tags"].split(CSV_LIST_SEPARATOR) if t.strip()]
    if cells.get("description", "").strip():
        obj["description"] = cells["description"]
    if cells.get("assert", "").strip():
        try:
            obj["assert"] = json.loads(cells["assert"])
        except ValueError as exc:  # JSONDecodeError, or an integer of thousands of digits
            problems.add(path, number, f"the assert cell must be a JSON list of assertions ({getattr(exc, 'msg', exc)})")
            return None
    return obj


READERS: dict[str, Reader] = {".jsonl": read_jsonl, ".yaml": read_yaml, ".yml": read_yaml, ".csv": read_csv}


def reader_for(path: str) -> Reader:
    """By extension; anything else is read as JSONL, the documented default."""
    suffix = path[path.rfind("."):].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return READERS.get(suffix, read_jsonl)
