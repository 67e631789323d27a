"""Error types that carry their exit code.

One boundary in `cli.py` turns these into one line per problem and an exit code, so no
traceback ever reaches a user for bad input (exit 2) or an incomplete run (exit 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's files, pointing at where to fix it."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class LlmopsError(Exception):
    """Base error; `exit_code` is what the process ends with."""

    exit_code = 2


class InputError(LlmopsError):
    """Invalid input or usage: every problem found, reported together (exit 2)."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem | str] | Problem | str) -> None:
        self.problems: list[Problem | str] = [problems] if isinstance(problems, (Problem, str)) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class IncompleteError(LlmopsError):
    """The run could not complete: provider errors, budget, offline miss, interrupt (exit 3)."""

    exit_code = 3


class Problems:
    """Collects problems across files so a user sees all of them in one run."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, file: str, line: int | None, message: str) -> None:
        self.items.append(Problem(file, line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(self.items)
