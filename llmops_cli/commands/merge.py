"""`llmops merge RUN_OR_DIR...`: shards from a CI matrix back into one result and one gate.

Each shard's results.json carries its calls (head and baseline) and the suite config it was
judged by, so the merged document is built exactly like an unsharded run's.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from llmops_cli.commands.runs import load_document
from llmops_cli.errors import InputError
from llmops_cli.report import refuse_project_folder, write_reports
from llmops_cli.results import build_document, records_from_document, summary_of
from llmops_cli.store import Store


def _load(root: Path, item: str) -> dict[str, Any]:
    path = Path(item)
    if path.is_dir():
        path = path / "results.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
    return load_document(root, item)


def merge(root: Path, items: list[str], formats: tuple[str, ...], out: Path | None) -> tuple[dict[str, Any], list[Path]]:
    refuse_project_folder(root, out)
    documents = [_load(root, item) for item in items]
    configs = [d["run"].get("config") for d in documents]
    if any(c is None for c in configs):
        raise InputError("a shard's results.json has no run.config; re-render it with this llmops version")
    if any(c != configs[0] for c in configs[1:]):
        raise InputError("shards were judged by different suite configs (different commits or options); "
                         "merge only shards of one run")
    commits = {d["run"]["git_commit"] for d in documents}
    seen: dict[tuple[Any, ...], str] = {}
    records = []
    for item, document in zip(items, documents):
        for side, key in (("head", "cases"), ("base", "base_cases")):
            for record in records_from_document(document, side, key):
                ident = (side, record.suite, record.prompt, record.model, record.case_id, record.repeat)
                if ident in seen:
                    raise InputError(f"{item}: case {record.suite}/{record.case_id} is also in {seen[ident]}; "
                                     "shards must not overlap")
                seen[ident] = item
                records.append(record)
    first = documents[0]["run"]
    outcome = _merged_outcome(documents)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-merged-" + uuid.uuid4().hex[:4]
    config = {**configs[0], "options": {**first.get("options", {}), "shard": None, "merged_from": items},
              "redaction": first.get("redaction", []), "allow_python": first.get("python_assertions", False),
              "notes": sorted({n for d in documents for n in d["run"].get("notes", [])})}
    store = Store(root)
    try:
        baseline = first.get("baseline") or {}
        store.start_run(run_id, "", config, first["git_commit"] if len(commits) == 1 else None,
                        bool(first.get("git_dirty")), baseline.get("ref"), baseline.get("commit"))
        store.record_many(run_id, records)
        run = store.get_run(run_id)
        assert run is not None
        document = build_document(run, records, outcome)
        status = "incomplete" if document["gate"]["status"] == "incomplete" else "complete"
        store.finish_run(run_id, status, {**summary_of(document), "outcome": outcome})
        document["run"]["status"] = status
    finally:
        store.close()
    return document, write_reports(document, out or root / ".llmops" / "reports" / run_id, formats)


def _merged_outcome(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Incomplete shards stay incomplete when merged: their reasons carry over."""
    reasons = [r for d in documents for r in d["gate"]["reasons"] if r.startswith(("stopped early", "--offline", "interrupted"))]
    return {"stopped": "; ".join(reasons)} if reasons else {}
