"""`llmops runs`, `llmops show RUN`, `llmops report RUN`: past runs, re-rendered from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.report import write_reports
from llmops_cli.results import build_document
from llmops_cli.store import RunRow, Store


def list_runs(root: Path, limit: int) -> list[RunRow]:
    store = Store(root)
    try:
        return store.list_runs(limit)
    finally:
        store.close()


def load_document(root: Path, run_id: str) -> dict[str, Any]:
    """Rebuild a run's results document from its stored calls (reports are views of the store)."""
    store = Store(root)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise InputError(f"run {run_id!r} not found in .llmops/llmops.db; `llmops runs` lists them")
        outcome = (run.summary or {}).get("outcome", {})
        document = build_document(run, store.results(run.id), outcome)
        return document
    finally:
        store.close()


def report(root: Path, run_id: str, formats: tuple[str, ...], out: Path | None) -> list[Path]:
    document = load_document(root, run_id)
    return write_reports(document, out or root / ".llmops" / "reports" / document["run"]["id"], formats)
