"""What one promptfoo import carries through its steps: what it has found so far, how it reports
dropped items and notes, and how it reads the files a config names."""

from __future__ import annotations

import json
import os
import re
from glob import glob as globfiles
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.casefiles import jsonl_lines
from llmops_cli.errors import InputError
from llmops_cli.yamlfile import YamlError, load_yaml, plain

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.providers import Model

MAX_GLOB = 10_000  # files one pattern may name
CODE_FILES = (".py", ".js", ".ts", ".cjs", ".mjs", ".cts", ".mts", ".rb")


class Skip(Exception):
    """This item has no llmops equivalent; the message says what to do instead."""


class Importer:
    def __init__(self, config: Path, out: Path) -> None:
        self.label = str(config)
        self.path = config
        self.out = out
        self.base = config.resolve().parent
        self.mapped: dict[str, None] = {}
        self.notes: dict[str, None] = {}
        self.unconverted: dict[str, None] = {}
        self.type_counts: dict[str, int] = {}
        self.latency_ms: list[tuple[float, str, str]] = []  # (limit, scope, where)
        self.cost: list[tuple[float, str, str]] = []
        self.needs_python = False
        self.metrics: set[str] = set()
        self.python_files: dict[str, str] = {}  # file as referenced -> where
        self.models: list[Model] = []            # the models under test
        self.graders: list[Model] = []           # judge and embedding models
        self.judge_model: str | None = None
        self.embedding_model: str | None = None
        self.uses_judge = False
        self.uses_similarity = False

    # -- reporting ---------------------------------------------------------------------------
    def skip(self, where: str, message: str, file: str | None = None) -> None:
        self.unconverted[f"{file or self.label}: {where}: {message}"] = None

    def note(self, where: str, message: str, file: str | None = None) -> None:
        self.notes[f"{file or self.label}: {where}: {message}"] = None

    def fail(self, where: str, message: str, file: str | None = None) -> InputError:
        return InputError(f"{file or self.label}: {where}: {message}")

    def mapping(self, where: str, raw: Any) -> dict[str, Any]:
        """An optional section that promptfoo defines as a mapping: absent reads empty, anything else
        is the user's mistake to name, not an attribute error deep in the conversion."""
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(where, f"must be a mapping, not {type(raw).__name__}")
        return raw

    # -- files -------------------------------------------------------------------------------
    def shown(self, ref: str) -> str:
        """A referenced file as the user would type it (next to the config they named)."""
        return str(Path(self.label).parent / ref)

    def expand(self, where: str, ref: str, file: str | None = None) -> list[str]:
        """`ref` (relative to the config's folder), or the files its glob matches."""
        if not any(c in ref for c in "*?["):
            return [ref]
        found = globfiles(str(self.base / ref), recursive=True)[:MAX_GLOB]
        matches = sorted(os.path.relpath(p, self.base) for p in found if os.path.isfile(p))
        if not matches:
            raise self.fail(where, f"no file matches {ref!r} (looked in {self.base}); fix the pattern", file)
        return matches

    def read(self, where: str, ref: str, file: str | None = None) -> str:
        path = self.base / ref
        if not path.is_file():
            raise self.fail(where, f"file {ref!r} not found (looked for {path}); fix the path or create the file", file)
        try:
            return path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeError) as exc:
            raise self.fail(where, f"cannot read {ref!r} as UTF-8 text ({exc})", file) from None

    def data(self, where: str, ref: str, file: str | None = None) -> Any:
        """A JSON, JSONL or YAML file, parsed."""
        text = self.read(where, ref, file)
        try:
            if ref.endswith(".jsonl"):
                return [json.loads(line) for line in jsonl_lines(text) if line.strip()]
            if ref.endswith(".json"):
                return json.loads(text)
            return plain(load_yaml(text, yaml12=True))
        except json.JSONDecodeError as exc:
            raise self.fail(where, f"{ref}: invalid JSON at line {exc.lineno}: {exc.msg}", file) from None
        except YamlError as exc:
            raise self.fail(where, f"{ref}:{exc.line or ''} {exc.message}", file) from None

    def value_file(self, where: str, value: Any) -> Any:
        """`file://x` values of assertions and vars: JSON/YAML parsed, text read."""
        if not (isinstance(value, str) and value.startswith("file://")):
            return value
        ref = value[len("file://"):]
        if ref.endswith((".json", ".jsonl", ".yaml", ".yml")):
            return self.data(where, ref)
        if ref.endswith(CODE_FILES) or re.search(r"\.\w+:\w+$", ref) or not ref.endswith((".txt", ".md", ".j2", ".csv")):
            raise Skip(f"loads {value!r}, which llmops cannot inline; paste the value in")
        return self.read(where, ref)
