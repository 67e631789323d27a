"""The rich progress bar the CLI shows while calls run (on stderr, so stdout stays clean)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from llmops_cli.runner import Progress as RunProgress


@contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[RunProgress], None]]:
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("eval", total=None, detail="")

        def update(p: RunProgress) -> None:
            bar.update(task, total=p.total, completed=p.done,
                       detail=f"cached {p.cached} · errors {p.errors} · ${p.spent_usd:.4f}")

        yield update
