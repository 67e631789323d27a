"""A run's life in the store, the same for every command that makes one (eval, rerun, diff, merge).

A run is started (or an unfinished run of the same plan resumed), its calls are recorded, and
it is finished exactly once with a status and a summary. Whatever happens in between (a crash, an
interrupt, a document that cannot be built), the run ends `incomplete`, never left `running`: a
later run would resume into the same failure. Every run id has one shape,
`<YYYYmmdd-HHMMSS>-<kind>-<6 hex>`, sortable by time and saying what made it; every run's reports
go to `.llmops/reports/<run id>/` unless `--out` says otherwise.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from llmops_cli.document import Document
from llmops_cli.redact import scrub_environment
from llmops_cli.rerun_document import RerunDocument
from llmops_cli.store import RUN_KINDS, STORE_DIR, Store

REPORTS_DIR = "reports"
LABELS = (*RUN_KINDS, "merge")  # what made a run; a merged run is an eval run (kind "eval") labelled "merge"
CRASH_TEXT_MAX = 300

D = TypeVar("D", Document, RerunDocument)  # an eval's document, or a rerun's


def new_run_id(label: str) -> str:
    """A fresh run id: time first (ids sort by age), then what made it, then randomness (two runs in
    one second never collide)."""
    if label not in LABELS:
        raise ValueError(f"run label {label!r} is not one of {LABELS}")
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{uuid.uuid4().hex[:6]}"


def report_dir(root: Path, run_id: str, out: Path | None = None) -> Path:
    """Where a run's reports are written: `--out`, else the run's own folder in the store."""
    return out if out is not None else root / STORE_DIR / REPORTS_DIR / run_id


def document_status(document: Document | RerunDocument) -> str:
    """The stored status a finished run takes from its document's gate."""
    return "incomplete" if document.gate.status == "incomplete" else "complete"


def crash_text(exc: BaseException) -> str:
    """What crashed a run, for its summary: keys masked (any credential of the environment, every known key
    format) before the text is stored, and before it is cut, so no half key survives."""
    return scrub_environment(f"{type(exc).__name__}: {exc}")[:CRASH_TEXT_MAX]


@dataclass(frozen=True)
class RunStart:
    """What a new run records about itself; `plan_hash` (eval) lets an unfinished run of the same plan
    be resumed, "" for runs that are never resumed."""

    kind: str
    config: dict[str, Any]
    plan_hash: str = ""
    git_commit: str | None = None
    git_dirty: bool = False
    baseline_ref: str | None = None
    baseline_commit: str | None = None
    label: str | None = None  # of the run id, when it is not the kind (a merge)


class Run:
    """One run being made. Use as a context manager: leaving it unfinished (an exception, an
    interrupt) finishes it `incomplete` with the reason in its summary."""

    def __init__(self, store: Store, run_id: str, *, resumed: bool) -> None:
        self.store, self.id, self.resumed = store, run_id, resumed
        self.finished = False

    @classmethod
    def begin(cls, store: Store, start: RunStart, *, resume: bool = False) -> Run:
        """Resume the newest unfinished run of the same plan (when asked and it has one), else start one."""
        if resume and start.plan_hash:
            resumed = store.resume_run(start.plan_hash)
            if resumed is not None:
                return cls(store, resumed, resumed=True)
        run_id = new_run_id(start.label or start.kind)
        store.start_run(run_id, start.plan_hash, start.config, git_commit=start.git_commit, git_dirty=start.git_dirty,
                        baseline_ref=start.baseline_ref, baseline_commit=start.baseline_commit, kind=start.kind)
        return cls(store, run_id, resumed=False)

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        self.store.finish_run(self.id, status, summary)
        self.finished = True

    def judge(self, build: Callable[[], D], summarise: Callable[[D], dict[str, Any]],
              outcome: dict[str, Any] | None = None) -> D:
        """Build the run's document and finish the run with the status its gate gives. If building
        fails, the run still ends incomplete, with why, and the error goes on."""
        try:
            document = build()
        except BaseException as exc:
            self.finish("incomplete", {"outcome": {**(outcome or {}), "crashed": crash_text(exc)}})
            raise
        status = document_status(document)
        self.finish(status, summarise(document))
        if not isinstance(document, Document):  # a rerun's document does not state its run's end
            return document
        finished = self.store.get_run(self.id)
        return replace(document, run=replace(document.run, status=status,
                                             finished_at=finished.finished_at if finished else None))

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self.finished:
            why = ("interrupted" if isinstance(exc, KeyboardInterrupt) else crash_text(exc) if exc is not None
                   else "ended without finishing")
            self.finish("incomplete", {"outcome": {"crashed": why}})
