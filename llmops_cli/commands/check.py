"""`llmops check`: validate every file, render every case, verify the lock. No network.

It is the pre-commit hook, so it must stay fast: it imports neither litellm nor pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmops_cli.errors import Problems
from llmops_cli.plan import grader_config_problems
from llmops_cli.project import load_project, lock_problems, render_problems
from llmops_cli.source import WorkTree


@dataclass(frozen=True)
class CheckSummary:
    suites: int
    prompts: int
    cases: int
    renders: int
    locked: bool


def check(root: Path) -> CheckSummary:
    """Raise InputError with every problem; return counts when all is well."""
    project = load_project(WorkTree(root))
    problems = Problems()
    problems.items += (render_problems(project).items + lock_problems(project).items
                       + grader_config_problems(project).items)
    problems.raise_if_any()
    cases = sum(len(c) for c in project.cases.values())
    renders = sum(len(project.cases.get(s.name, ())) * len(s.prompts) for s in project.suites.values())
    return CheckSummary(len(project.suites), len(project.prompts), cases, renders, project.lock is not None)
