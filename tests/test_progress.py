"""Progress without a terminal (CI logs): a line every few seconds and a last one, never silence."""

from __future__ import annotations

import io
import re
from pathlib import Path

from conftest import llmops
from rich.console import Console

from llmops_cli.progress import progress_lines
from llmops_cli.runner import Progress


def test_lines_are_throttled_and_the_last_state_is_always_printed() -> None:
    now = [0.0]
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with progress_lines(console, every_s=5.0, clock=lambda: now[0]) as update:
        for done in range(1, 11):
            now[0] += 1.0  # one call a second: a line at 5 s and 10 s, none in between
            update(Progress(total=20, done=done, cached=0, errors=0, spent_usd=0.001 * done))
        now[0] += 1.0
        update(Progress(total=20, done=12, cached=1, errors=1, spent_usd=None))  # type: ignore[arg-type]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("eval: 5/20 done") and "eta 15s" in lines[0] and "spent $0.0050" in lines[0]
    assert lines[1].startswith("eval: 10/20 done")
    assert lines[2].startswith("eval: 12/20 done") and "errors 1" in lines[2] and "spent unknown" in lines[2]


def test_eval_without_a_terminal_prints_progress_lines(project: Path) -> None:
    run = llmops("eval", "--no-baseline", cwd=project, env={"LLMOPS_PROGRESS_EVERY_S": "0"})
    assert run.code == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("eval: ")]
    assert lines and re.match(r"eval: 6/6 done · cached 0 · errors 0 · spent \$\d", lines[-1]), run.stderr
    assert "eval: " not in run.stdout
