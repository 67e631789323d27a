"""`llmops lock`: hash every golden set into llmops.lock."""

from __future__ import annotations

from pathlib import Path

from llmops_cli.commands.check import content_problems
from llmops_cli.lock import LOCK_FILE, build_lock
from llmops_cli.project import load_project
from llmops_cli.source import WorkTree


def lock(root: Path) -> dict[str, int]:
    """Write llmops.lock for all suites; returns suite -> case count. Refuses what `check` refuses."""
    project = load_project(WorkTree(root), read_lock=False)
    content_problems(project).raise_if_any()
    suites = {name: (suite.cases_path, project.cases[name]) for name, suite in project.suites.items()}
    target = root / LOCK_FILE
    partial = target.with_name(LOCK_FILE + ".tmp")
    partial.write_text(build_lock(suites), encoding="utf-8")
    partial.replace(target)  # atomic: an interrupted lock never leaves a damaged llmops.lock
    return {name: len(cases) for name, (_, cases) in suites.items()}
