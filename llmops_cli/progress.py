"""Progress while calls run, on stderr so stdout stays clean.

On a terminal: rich's live bar. Without one (CI logs), a bar prints nothing until the end, which
looks like a hang on a long run; so a plain line every few seconds instead, and one at the end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from llmops_cli.runner import Progress as RunProgress

EVERY_ENV = "LLMOPS_PROGRESS_EVERY_S"
DEFAULT_EVERY_S = 10.0


def _detail(p: RunProgress) -> str:
    spent = "unknown" if p.spent_usd is None else f"${p.spent_usd:.4f}"
    return f"cached {p.cached} · errors {p.errors} · spent {spent}"


@contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[RunProgress], None]]:
    if not console.is_terminal:
        with progress_lines(console) as update:
            yield update
        return
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("eval", total=None, detail="")

        def update(p: RunProgress) -> None:
            bar.update(task, total=p.total, completed=p.done, detail=_detail(p))

        yield update


@contextmanager
def progress_lines(console: Console, every_s: float | None = None,
                   clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[RunProgress], None]]:
    """One line per `every_s` seconds (env LLMOPS_PROGRESS_EVERY_S, default 10) and a last one."""
    interval = every_s if every_s is not None else float(os.environ.get(EVERY_ENV, DEFAULT_EVERY_S))
    started = last = clock()
    latest: RunProgress | None = None
    printed: tuple[int, int] | None = None

    def show(p: RunProgress) -> None:
        nonlocal printed
        elapsed = clock() - started
        fresh, left = p.done - p.cached, p.total - p.done
        eta = "0s" if left <= 0 else f"{elapsed / fresh * left:.0f}s" if fresh > 0 else "unknown"
        console.print(f"eval: {p.done}/{p.total} done · {_detail(p)} · {elapsed:.0f}s elapsed · eta {eta}",
                      markup=False, highlight=False, soft_wrap=True)
        printed = (p.done, p.errors)

    def update(p: RunProgress) -> None:
        nonlocal last, latest
        latest = p
        if clock() - last >= interval:
            last = clock()
            show(p)

    yield update
    if latest is not None and printed != (latest.done, latest.errors):
        show(latest)
