"""The typer app: parse options, call a command, print, exit. Nothing else lives here.

Heavy modules (litellm, pandas, the engine) are imported inside the commands that need them,
so `llmops --help` and `llmops check` stay fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, TypeVar

import typer

from llmops_cli.errors import InputError, LlmopsError
from llmops_cli.output import console, err_console

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Git-native prompt and eval CI: run golden suites, compare with the base branch, gate the PR.")
prompts_app = typer.Typer(no_args_is_help=True, help="Inspect prompts.")
app.add_typer(prompts_app, name="prompts")

T = TypeVar("T")
MAX_PROBLEM_LINES = 50


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding llmops.yaml (else `start`)."""
    for folder in (start, *start.parents):
        if (folder / "llmops.yaml").is_file():
            return folder
    return start


def fail(error: LlmopsError) -> NoReturn:
    lines = [str(p) for p in error.problems] if isinstance(error, InputError) else [str(error)]
    for line in lines[:MAX_PROBLEM_LINES]:
        err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    if len(lines) > MAX_PROBLEM_LINES:
        err_console.print(f"error: ... and {len(lines) - MAX_PROBLEM_LINES} more problems", markup=False)
    raise typer.Exit(error.exit_code)


def guarded(call: Callable[[], T]) -> T:
    """The one error boundary: known errors become lines + exit codes, never tracebacks."""
    try:
        return call()
    except LlmopsError as error:
        fail(error)
    except KeyboardInterrupt:
        err_console.print("interrupted: completed calls are stored; rerun the same command to resume", markup=False)
        raise typer.Exit(3) from None


ROOT_OPTION = typer.Option(None, "--project", "-C", help="Project folder (default: nearest folder with llmops.yaml).")


def _root(project: Optional[Path]) -> Path:
    return (project or find_root(Path.cwd())).resolve()


@app.command()
def init(project: Optional[Path] = ROOT_OPTION, force: bool = typer.Option(False, help="Overwrite existing files.")) -> None:
    """Scaffold llmops.yaml, an example prompt, suite and cases, and a .gitignore entry."""
    from llmops_cli.commands.init import init as run

    root = (project or Path.cwd()).resolve()
    written = guarded(lambda: run(root, force=force))
    for path in written:
        console.print(f"wrote {path}", markup=False)
    console.print("next: `llmops check`, then `llmops lock` and commit; `llmops eval` runs the suite.")


@app.command()
def check(project: Optional[Path] = ROOT_OPTION,
          files: Optional[list[str]] = typer.Argument(None, help="Ignored file names (pre-commit passes them); the whole project is checked.")) -> None:
    """Validate config, prompts, suites, cases and the lock; render every case. No network."""
    from llmops_cli.commands.check import check as run

    summary = guarded(lambda: run(_root(project)))
    lock_note = "lock verified" if summary.locked else "no llmops.lock (run `llmops lock` to lock golden sets)"
    console.print(f"ok: {summary.suites} suites, {summary.prompts} prompts, {summary.cases} cases, "
                  f"{summary.renders} renders; {lock_note}", markup=False)


@app.command()
def lock(project: Optional[Path] = ROOT_OPTION) -> None:
    """Hash every golden set into llmops.lock; commit it so a PR cannot quietly edit its exam."""
    from llmops_cli.commands.lock import lock as run

    counts = guarded(lambda: run(_root(project)))
    for suite, count in counts.items():
        console.print(f"locked {suite}: {count} cases", markup=False)


@app.command("eval")
def eval_(
    suites: Optional[list[str]] = typer.Argument(None, help="Suites to run (default: all)."),
    project: Optional[Path] = ROOT_OPTION,
    model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Model alias to run instead of the suite's list (repeatable)."),
    baseline: Optional[str] = typer.Option(None, help="Git ref to compare with (default: gate.baseline)."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the baseline comparison."),
    repeat: Optional[int] = typer.Option(None, min=1, help="Runs per case (overrides the suite)."),
    concurrency: Optional[int] = typer.Option(None, min=1, help="Calls in flight (overrides limits.concurrency)."),
    offline: bool = typer.Option(False, help="Answer only from the cache; list every miss (exit 3)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Call the model even when the cache has the answer."),
    max_cost: Optional[float] = typer.Option(None, min=0.0, help="Stop scheduling calls past this spend in USD."),
    format: str = typer.Option("md,json,junit", "--format", help="Report formats: md,json,junit,html."),
    out: Optional[Path] = typer.Option(None, help="Report folder (default .llmops/reports/<run>/)."),
    shard: Optional[str] = typer.Option(None, help="Run slice i of n of the cases, e.g. 1/4."),
    filter: Optional[str] = typer.Option(None, "--filter", help="Case id glob, or tag:NAME."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Render and plan; call nothing."),
    require_significance: bool = typer.Option(False, "--require-significance", help="Fail max_drop only on significant drops."),
) -> None:
    """Run suites, score them, compare with the baseline, gate and write reports."""
    from llmops_cli.commands.eval import DryRun, EvalOptions, evaluate
    from llmops_cli.plan import Selection, parse_shard
    from llmops_cli.progress import progress_bar
    from llmops_cli.report import parse_formats

    def run() -> object:
        selection = Selection(tuple(suites or ()), tuple(model or ()), repeat, filter,
                              parse_shard(shard) if shard else None)
        options = EvalOptions(selection, baseline, no_baseline, concurrency, offline, no_cache, max_cost,
                              parse_formats(format), out, dry_run, require_significance)
        with progress_bar(err_console) as on_progress:
            return evaluate(_root(project), options, on_progress)

    result = guarded(run)
    if isinstance(result, DryRun):
        for note in result.notes:
            console.print(f"note: {note}", markup=False)
        console.print(f"dry run: {result.suites} suites, {result.calls} calls, {result.unique_requests} unique requests, "
                      f"{result.cached} already cached, {result.unique_requests - result.cached} would be sent", markup=False)
        return
    from llmops_cli.commands.eval import print_result

    print_result(console, result)
    raise typer.Exit(result.exit_code)


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        sys.stderr.write(f"error: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(3)
