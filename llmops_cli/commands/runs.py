"""`llmops runs`, `llmops show RUN`, `llmops report RUN`: past runs, re-rendered from the store."""

from __future__ import annotations

from pathlib import Path

from llmops_cli.document import Document, DocumentError, as_json
from llmops_cli.errors import InputError
from llmops_cli.lifecycle import report_dir
from llmops_cli.report import refuse_project_folder, write_reports
from llmops_cli.report.fmt import number
from llmops_cli.rerun_document import RerunDocument
from llmops_cli.results import stored_document
from llmops_cli.store import RunRow, Store

LISTED_KINDS = ("eval", "rerun")  # scratch runs of `llmops diff --run` have no result to list


def list_runs(root: Path, limit: int) -> list[RunRow]:
    """The newest `limit` eval and rerun runs."""
    if limit <= 0:
        return []
    with Store(root) as store:
        return store.list_runs(limit, LISTED_KINDS)


def load_run(root: Path, run_id: str) -> RunRow:
    """A stored run by id, unique prefix or `latest`; a scratch run of `diff --run` has nothing to show."""
    if run_id == "latest":
        newest = list_runs(root, 1)
        if not newest:
            raise InputError("no runs in .llmops/llmops.db yet; `llmops eval` makes one")
        run_id = newest[0].id
    with Store(root) as store:
        run = store.get_run(run_id)
    if run is None:
        raise InputError(f"run {run_id!r} not found in .llmops/llmops.db; `llmops runs` lists them")
    if run.kind == "diff":
        raise InputError(f"run {run.id!r} is a scratch run of `llmops diff --run`: it has no gate or report; "
                         "`llmops runs` lists eval runs")
    return run


def load_document(root: Path, run_id: str) -> Document | RerunDocument:
    """A run's document: an eval run's is rebuilt from its stored calls (reports are views of the
    store); a rerun run's is the one it stored when it finished."""
    run = load_run(root, run_id)
    if run.kind == "rerun":
        document = stored_rerun(run)
        if document is None:
            raise InputError(f"run {run.id!r} is a `llmops rerun` run that did not finish ({run.status}): "
                             "it has no report; rerun the traces")
        return document
    return load_eval_document(root, run)


def stored_rerun(run: RunRow) -> RerunDocument | None:
    """The document a rerun run stored when it finished; None if it did not finish (or is unreadable)."""
    try:
        return RerunDocument.from_json((run.summary or {}).get("rerun"))
    except DocumentError:
        return None


def load_eval_document(root: Path, run: RunRow) -> Document:
    """An eval run's document, rebuilt from its stored calls and the outcome it finished with."""
    with Store(root) as store:
        outcome = (run.summary or {}).get("outcome", {})
        return stored_document(run, store, outcome)


def rerun_lines(run: RunRow) -> list[str]:
    """What a rerun run measured, from its stored document (the trace file may be gone)."""
    document = stored_rerun(run)
    if document is None:
        return [f"rerun run {run.id}: {run.status}, no figures recorded (it did not finish)"]
    m = document.metrics
    figures = ", ".join(f"{k} {number(v)}" for k, v in as_json(m).items()
                        if isinstance(v, (int, float, str)) and not isinstance(v, bool) and k not in ("replayed", "errors"))
    return [f"rerun run {run.id}: {run.status}, agreement gate {document.gate.status}",
            f"{m.replayed} traces replayed, {m.errors} errors",
            figures, f"reports: .llmops/reports/{run.id}/ (`llmops report {run.id}` re-renders them)"]


def list_line(run: RunRow) -> str:
    """One `llmops runs` line: an eval run's gate and size, a rerun run's kind, status and size."""
    import datetime

    when = datetime.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")
    if run.kind == "rerun":
        document = stored_rerun(run)
        m = document.metrics if document is not None else None
        size = f"{m.replayed} traces replayed, {m.errors} errors" if m is not None else "no figures"
        return f"{run.id}  {when}  rerun       {run.status:<10}  {size}"
    gate = (run.summary or {}).get("gate", {}).get("status", run.status)
    groups = len((run.summary or {}).get("groups", []))
    return f"{run.id}  {when}  {gate:<10}  {(run.git_commit or 'no-commit')[:10]}  {groups} suite x model"


def report(root: Path, run_id: str, formats: tuple[str, ...], out: Path | None) -> list[Path]:
    refuse_project_folder(root, out)
    document = load_document(root, run_id)
    return write_reports(document, report_dir(root, document.run.id, out), formats)
