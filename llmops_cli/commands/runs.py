"""`llmops runs`, `llmops show RUN`, `llmops report RUN`: past runs, re-rendered from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.report import refuse_project_folder, write_reports
from llmops_cli.results import build_document
from llmops_cli.store import RunRow, Store


def is_scratch(run: RunRow) -> bool:
    """A `llmops diff --run` run: its calls are stored (and cached) but it has no suites, gate or report."""
    return run.config.get("kind") == "diff"


def list_runs(root: Path, limit: int) -> list[RunRow]:
    """The newest `limit` eval runs (scratch runs of `diff --run` are not listed)."""
    if limit <= 0:
        return []
    store = Store(root)
    try:
        fetch = limit
        while True:
            rows = store.list_runs(fetch)
            runs = [run for run in rows if not is_scratch(run)]
            if len(runs) >= limit or len(rows) < fetch:
                return runs[:limit]
            fetch *= 2
    finally:
        store.close()


def load_document(root: Path, run_id: str) -> dict[str, Any]:
    """Rebuild a run's results document from its stored calls (reports are views of the store)."""
    if run_id == "latest":
        newest = list_runs(root, 1)
        if not newest:
            raise InputError("no runs in .llmops/llmops.db yet; `llmops eval` makes one")
        run_id = newest[0].id
    store = Store(root)
    try:
        run = store.get_run(run_id)
        if run is None:
            raise InputError(f"run {run_id!r} not found in .llmops/llmops.db; `llmops runs` lists them")
        if is_scratch(run):
            raise InputError(f"run {run.id!r} is a scratch run of `llmops diff --run`: it has no gate or report; "
                             "`llmops runs` lists eval runs")
        outcome = (run.summary or {}).get("outcome", {})
        document = build_document(run, store.results(run.id), outcome)
        return document
    finally:
        store.close()


def report(root: Path, run_id: str, formats: tuple[str, ...], out: Path | None) -> list[Path]:
    refuse_project_folder(root, out)
    document = load_document(root, run_id)
    return write_reports(document, out or root / ".llmops" / "reports" / document["run"]["id"], formats)
