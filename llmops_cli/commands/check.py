"""`llmops check`: validate every file, render every case, verify the lock. No network.

It is the pre-commit hook, so it must stay fast: it imports neither litellm nor pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmops_cli.errors import Problems
from llmops_cli.plan import grader_config_problems
from llmops_cli.project import Project, load_project, lock_problems, render_problems
from llmops_cli.source import WorkTree


@dataclass(frozen=True)
class CheckSummary:
    suites: int
    prompts: int
    cases: int
    renders: int
    locked: bool


def content_problems(project: Project) -> Problems:
    """What `check` finds beyond loading, apart from the lock: cases that do not render, graders with no model.
    `lock` refuses these too, so a golden set that cannot run is never locked."""
    problems = Problems()
    problems.items += render_problems(project).items + grader_config_problems(project).items
    return problems


def check(root: Path) -> CheckSummary:
    """Raise InputError with every problem; return counts when all is well."""
    project = load_project(WorkTree(root))
    problems = content_problems(project)
    problems.items += lock_problems(project).items
    problems.raise_if_any()
    cases = sum(len(c) for c in project.cases.values())
    renders = sum(len(project.cases.get(s.name, ())) * len(s.prompts) for s in project.suites.values())
    return CheckSummary(len(project.suites), len(project.prompts), cases, renders, project.lock is not None)
