"""`llmops merge RUN_OR_DIR...`: shards from a CI matrix back into one result and one gate.

Each shard's results.json carries its calls (head and baseline) and the suite config it was
judged by, so the merged document is built exactly like an unsharded run's.

A gate over part of the cases would pass whatever the missing shards hold, so the shards must
be one plan (same commit, baseline, suite config, options and shard count) and form the whole
set 1..n; otherwise merge stops (exit 3, naming the missing shards). `--allow-partial` writes
the report of what is there, and its gate says incomplete, never passed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops_cli.commands.runs import load_document
from llmops_cli.document import Document, DocumentError
from llmops_cli.errors import IncompleteError, InputError
from llmops_cli.lifecycle import Run, RunStart, report_dir
from llmops_cli.report import refuse_project_folder, write_reports
from llmops_cli.results import build_document, records_from_document, summary_of
from llmops_cli.store import CallId, Store


def _load(root: Path, item: str) -> Document:
    path = Path(item)
    if path.is_dir():
        path = path / "results.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        try:
            return Document.from_json(data)
        except DocumentError as exc:
            raise InputError([f"{path}: {p}; merge the results.json of `llmops eval --shard`" for p in exc.problems]) \
                from None
    document = load_document(root, item)
    if not isinstance(document, Document):
        raise InputError(f"{item}: a `llmops rerun` run, not a shard of `llmops eval --shard`")
    return document


# Options that change what a shard ran; concurrency, cache and budget settings do not.
PLAN_OPTIONS = ("suites", "models", "repeat", "filter", "require_significance")


def merge(root: Path, items: list[str], formats: tuple[str, ...], out: Path | None,
          allow_partial: bool = False) -> tuple[Document, list[Path]]:
    refuse_project_folder(root, out)
    documents = [_load(root, item) for item in items]
    configs = [d.run.config or None for d in documents]
    if any(c is None for c in configs):
        raise InputError("a shard's results.json has no run.config; re-render it with this llmops version")
    if any(c != configs[0] for c in configs[1:]):
        raise InputError("shards were judged by different suite configs (different commits or options); "
                         "merge only shards of one run")
    _check_one_plan(items, documents)
    missing = missing_shards(items, documents)
    if missing and not allow_partial:
        raise IncompleteError(f"incomplete shard set: missing shards {missing}; merge every shard of the run "
                              "(or pass --allow-partial to report what is there without gating)")
    commits = {d.run.git_commit for d in documents}
    seen: dict[CallId, str] = {}
    records = []
    for item, document in zip(items, documents, strict=True):
        for side, base_cases in (("head", False), ("base", True)):
            for record in records_from_document(document, side, base_cases):
                ident = record.call_id
                if ident in seen:
                    raise InputError(f"{item}: case {record.suite}/{record.case_id} is also in {seen[ident]}; "
                                     "shards must not overlap")
                seen[ident] = item
                records.append(record)
    first = documents[0].run
    outcome = _merged_outcome(documents)
    if missing:
        outcome["partial"] = f"missing shards {missing}"
    config = {**first.config, "options": {**first.options, "shard": None, "merged_from": items},
              "redaction": list(first.redaction), "allow_python": first.python_assertions,
              "notes": sorted({n for d in documents for n in d.run.notes})}
    baseline = first.baseline
    start = RunStart("eval", config, git_commit=first.git_commit if len(commits) == 1 else None,
                     git_dirty=first.git_dirty, baseline_ref=baseline.ref if baseline else None,
                     baseline_commit=baseline.commit if baseline else None, label="merge")
    with Store(root) as store, Run.begin(store, start) as run:
        store.record_many(run.id, records)
        row = store.get_run(run.id)
        assert row is not None
        document = run.judge(lambda: build_document(row, records, outcome),
                             lambda document: {**summary_of(document), "outcome": outcome}, outcome)
    return document, write_reports(document, report_dir(root, run.id, out), formats)


def _check_one_plan(items: list[str], documents: list[Document]) -> None:
    """Shards of different commits, baselines or options would mix two runs into one verdict."""
    def differ(what: str, values: list[Any]) -> None:
        if any(v != values[0] for v in values[1:]):
            shown = ", ".join(f"{item}: {value}" for item, value in zip(items, values, strict=True))
            raise InputError(f"shards come from {what} ({shown}); merge only the shards of one run")

    differ("different commits", [d.run.git_commit for d in documents])
    differ("different baseline commits", [d.run.baseline.commit if d.run.baseline else None for d in documents])
    differ("runs with different options", [{k: d.run.options.get(k) for k in PLAN_OPTIONS} for d in documents])


def missing_shards(items: list[str], documents: list[Document]) -> str:
    """"" when the shards form a whole set 1..n (or one unsharded run), else the missing ones as "1/4, 3/4"."""
    specs = [d.run.options.get("shard") for d in documents]
    if all(spec is None for spec in specs):
        return ""
    if any(spec is None for spec in specs):
        whole = next(item for item, spec in zip(items, specs, strict=True) if spec is None)
        raise InputError(f"{whole}: not a shard (run without --shard); merge only the shards of one run")
    shards = [spec for spec in specs if spec is not None]
    counts = sorted({int(spec[1]) for spec in shards})
    if len(counts) > 1:
        raise InputError(f"shards of different shard counts ({', '.join(f'/{n}' for n in counts)}); "
                         "merge only the shards of one run")
    n = counts[0]
    have = {int(spec[0]) for spec in shards}
    return ", ".join(f"{i}/{n}" for i in range(1, n + 1) if i not in have)


def _merged_outcome(documents: list[Document]) -> dict[str, Any]:
    """Incomplete shards stay incomplete when merged: their reasons carry over."""
    reasons = [r for d in documents for r in d.gate.reasons if r.startswith(("stopped early", "--offline", "interrupted"))]
    return {"stopped": "; ".join(reasons)} if reasons else {}
