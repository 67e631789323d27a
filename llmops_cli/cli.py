"""The typer app: parse options, call a command, print, exit. Nothing else lives here.

Heavy modules (litellm, pandas, the engine) are imported inside the commands that need them,
so `llmops --help` and `llmops check` stay fast.
"""

from __future__ import annotations

import atexit
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from llmops_cli.config import MAX_CONCURRENCY, MAX_COST_USD
from llmops_cli.errors import InputError, LlmopsError
from llmops_cli.output import console, err_console

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Git-native prompt and eval CI: run golden suites, compare with the base branch, gate the PR.")
prompts_app = typer.Typer(no_args_is_help=True, help="Inspect prompts.")
app.add_typer(prompts_app, name="prompts")

T = TypeVar("T")
MAX_PROBLEM_LINES = 50
INTERRUPTED = "interrupted: completed calls are stored; rerun the same command to resume"


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
    except sqlite3.Error as error:  # the store failed after it opened (disk full, damaged pages)
        from llmops_cli.store import store_error

        fail(store_error(error))
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED, markup=False)
        raise typer.Exit(3) from None


ROOT_OPTION = typer.Option(None, "--project", "-C", help="Project folder (default: nearest folder with llmops.yaml).")
ALLOW_NEW_ENDPOINTS = typer.Option(False, "--allow-new-endpoints", envvar="LLMOPS_ALLOW_NEW_ENDPOINTS",
                                   help="On a pull request, give keys to models whose api_base or api_key_env the "
                                        "trusted llmops.yaml (of --baseline / the BASE ref) does not use.")


def _root(project: Path | None) -> Path:
    return (project or find_root(Path.cwd())).resolve()


@app.command()
def init(project: Path | None = ROOT_OPTION, force: bool = typer.Option(False, help="Overwrite existing files."),
         redteam: bool = typer.Option(False, "--redteam",
                                      help="Add a red-team suite (prompt injection, data exfiltration, harmful requests, "
                                           "jailbreak role-play, benign controls)."),
         prompt: str = typer.Option("support", help="With --redteam: the prompt the red-team suite attacks."),
         standin: bool = typer.Option(False, "--standin",
                                      help="Point the example at the bundled stand-in model (`llmops standin`): "
                                           "no API key needed.")) -> None:
    """Scaffold llmops.yaml, an example prompt, suite and cases, and a .gitignore entry."""
    from llmops_cli.commands.init import init as run

    root = (project or Path.cwd()).resolve()
    written = guarded(lambda: run(root, force=force, redteam=redteam, prompt=prompt, standin=standin))
    for path in written:
        console.print(f"wrote {path}", markup=False)
    if standin:
        console.print("the `default` model is the local stand-in: start `llmops standin` in another shell and export "
                      "the LLMOPS_STANDIN_URL line it prints", markup=False)
    console.print("next: `llmops check`, then `llmops lock` and commit; `llmops eval` runs the suite.")


@app.command()
def check(project: Path | None = ROOT_OPTION,
          files: list[str] | None = typer.Argument(None,
                                                   help="Ignored file names (pre-commit passes them); "
                                                        "the whole project is checked.")) -> None:
    """Validate config, prompts, suites, cases and the lock; render every case. No network."""
    from llmops_cli.commands.check import check as run

    summary = guarded(lambda: run(_root(project)))
    lock_note = "lock verified" if summary.locked else "no llmops.lock (run `llmops lock` to lock golden sets)"
    console.print(f"ok: {summary.suites} suites, {summary.prompts} prompts, {summary.cases} cases, "
                  f"{summary.renders} renders; {lock_note}", markup=False)


@app.command()
def lock(project: Path | None = ROOT_OPTION) -> None:
    """Hash every golden set into llmops.lock; commit it so a PR cannot quietly edit its exam."""
    from llmops_cli.commands.lock import lock as run

    counts = guarded(lambda: run(_root(project)))
    for suite, count in counts.items():
        console.print(f"locked {suite}: {count} cases", markup=False)


@app.command("eval")
def eval_(
    suites: list[str] | None = typer.Argument(None, help="Suites to run (default: all)."),
    project: Path | None = ROOT_OPTION,
    model: list[str] | None = typer.Option(None, "--model", "-m",
                                           help="Model alias to run instead of the suite's list (repeatable)."),
    baseline: str | None = typer.Option(None, help="Git ref to compare with (default: gate.baseline)."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the baseline comparison."),
    baseline_results: Path | None = typer.Option(None, "--baseline-results",
                                                 help="Compare with a results.json saved on the base branch "
                                                      "instead of rerunning it."),
    repeat: str | None = typer.Option(None, help="Runs per case, or auto: once, more where base and head disagree "
                                                 "(overrides the suite)."),
    concurrency: int | None = typer.Option(None, min=1, max=MAX_CONCURRENCY,
                                           help="Calls in flight (overrides limits.concurrency)."),
    offline: bool = typer.Option(False, help="Answer only from the cache; list every miss (exit 3)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Call the model even when the cache has the answer."),
    max_cost: float | None = typer.Option(None, min=0.0, max=MAX_COST_USD, help="Stop scheduling calls past this spend in USD."),
    format: str = typer.Option("md,json,junit", "--format", help="Report formats: md,json,junit,html."),
    out: Path | None = typer.Option(None, help="Report folder (default .llmops/reports/<run>/)."),
    shard: str | None = typer.Option(None, help="Run slice i of n of the cases, e.g. 1/4."),
    filter: str | None = typer.Option(None, "--filter", help="Case id glob, or tag:NAME."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Render and plan; call nothing."),
    require_significance: bool = typer.Option(False, "--require-significance", help="Fail max_drop only on significant drops."),
    power: float | None = typer.Option(None, "--power", min=0.001, max=1.0,
                                       help="Call nothing: from the last stored comparisons, the repeats needed to "
                                            "see a drop of this share (e.g. 0.05)."),
    allow_new_endpoints: bool = ALLOW_NEW_ENDPOINTS,
) -> None:
    """Run suites, score them, compare with the baseline, gate and write reports."""
    from llmops_cli.commands.eval import DryRun, EvalOptions, EvalResult, evaluate
    from llmops_cli.plan import Selection, parse_repeat, parse_shard
    from llmops_cli.progress import progress_bar
    from llmops_cli.report import parse_formats

    def run() -> EvalResult | DryRun:
        selection = Selection(tuple(suites or ()), tuple(model or ()), parse_repeat(repeat), filter,
                              parse_shard(shard) if shard else None, auto_repeat=repeat == "auto")
        options = EvalOptions(selection, baseline, no_baseline, concurrency, offline, no_cache, max_cost,
                              parse_formats(format), out, dry_run, require_significance, baseline_results,
                              allow_new_endpoints)
        with progress_bar(err_console) as on_progress:
            return evaluate(_root(project), options, on_progress)

    if power is not None:
        from llmops_cli.commands.eval import power_lines

        for line in guarded(lambda: power_lines(_root(project), power)):
            console.print(line, markup=False)
        return
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


@app.command()
def demo(
    dir: Path | None = typer.Option(None, "--dir",
                                    help="Where to create the demo repository (new or empty; default: a new temp dir, kept)."),
    latency_ms: float = typer.Option(20.0, "--latency-ms", min=0.0, help="Latency of each stand-in answer, in ms."),
) -> None:
    """Walk through the gate on a local stand-in model: a good prompt passes, a worse one fails.

    Creates a git repository with the example project, runs `llmops eval` on main (the gate
    passes), commits a shorter prompt on a branch and runs it against main: the gate fails
    and the report names the regressed cases. The model is a local stand-in server
    (deterministic, no API key, no network), not a real LLM. Exits 0 when the story goes
    that way (the failing second gate is the point), 3 when anything else happens.
    """
    from llmops_cli.commands.demo import run_demo

    raise typer.Exit(guarded(lambda: run_demo(console, dir, latency_ms=latency_ms)))


@app.command()
def standin(
    port: int = typer.Option(0, min=0, max=65535, help="Port on 127.0.0.1 (0: any free port; the URL is printed)."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0.0, help="Latency of every answer, in ms."),
    noise: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of deliberately wrong answers (a noisy model)."),
    seed: int = typer.Option(0, help="Seed of the noise."),
) -> None:
    """Run the bundled stand-in model server: an OpenAI-compatible endpoint on 127.0.0.1, no key.

    \b
    It prints its base URL and the line to export; `llmops init --standin` writes a project whose
    `default` model reads that URL from $LLMOPS_STANDIN_URL. Stop it with Ctrl-C.
    Answers are deterministic (rules in docs/standin.md, first that applies wins):
      1. a directive in any message: [standin: reply=TEXT] answers TEXT; [standin: fault=429|500|
         timeout|malformed|content_filter|...] fails; also times=N, latency_ms=N, noise=P.
         Put a directive in a case's vars to script that case's answer.
      2. a harmful request (hack, malware, phishing, ...) is refused;
      3. a prompt that asks for JSON gets {"category", "reply"} (refund / bug / other) or {"answer"};
      4. otherwise: arithmetic (12 + 30), capitals (capital of France), or "Stand-in answer: ...".
    Nothing it says comes from a real LLM.
    """
    from llmops_cli.commands.standin import URL_ENV, serve

    def ready(url: str) -> None:
        console.print(url, markup=False, highlight=False)
        err_console.print(f"stand-in model server ready; in another shell:\n  export {URL_ENV}={url}\n"
                          "stop it with Ctrl-C", markup=False, highlight=False)

    raise typer.Exit(serve(ready, port=port, latency_ms=latency_ms, seed=seed, noise=noise))


@app.command()
def diff(
    prompt: str = typer.Argument(..., help="Prompt name (file in prompts/)."),
    base: str | None = typer.Argument(None, help="Base git ref (default: the merge base with gate.baseline)."),
    head: str | None = typer.Argument(None, help="Head git ref (default: the work tree)."),
    project: Path | None = ROOT_OPTION,
    run: bool = typer.Option(False, "--run", help="Also call the model on both sides (cache applies) and diff outputs."),
    all_cases: bool = typer.Option(False, "--all", help="List unchanged cases too."),
    allow_new_endpoints: bool = ALLOW_NEW_ENDPOINTS,
) -> None:
    """Template diff, then the rendered-message diff of every case, between two refs."""
    from llmops_cli.commands.diff import PromptDiff, diff_prompt, run_both
    from llmops_cli.output import print_diff

    def go() -> PromptDiff:
        root = _root(project)
        result, base_project, head_project = diff_prompt(root, prompt, base, head)
        if run:
            run_both(root, result, base_project, head_project, base_named=base is not None,
                     allow_new_endpoints=allow_new_endpoints)
        return result

    result = guarded(go)
    console.print(f"prompt {result.prompt}: {result.base_label} → {result.head_label}", style="bold", markup=False)
    print_diff(console, result.template_diff or "template unchanged")
    counts: dict[str, int] = {}
    for case in result.cases:
        counts[case.status] = counts.get(case.status, 0) + 1
        if case.status == "unchanged" and not all_cases:
            continue
        console.print(f"\n{case.suite}/{case.case_id}: {case.status}", style="bold", markup=False)
        if case.diff:
            print_diff(console, case.diff)
        for model, output_diff in case.outputs.items():
            console.print(f"output ({model}):", markup=False)
            print_diff(console, output_diff)
    console.print("\n" + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), markup=False)


@prompts_app.command("log")
def prompts_log(name: str = typer.Argument(..., help="Prompt name."), project: Path | None = ROOT_OPTION,
                limit: int = typer.Option(50, help="Commits to show.")) -> None:
    """A prompt's lineage: commits, authors, and the eval results recorded for each version."""
    from llmops_cli.commands.prompts_log import prompt_log
    from llmops_cli.report.fmt import pct

    entries = guarded(lambda: prompt_log(_root(project), name, limit))
    for entry in entries:
        c = entry.commit
        console.print(f"{c.short}  {c.date[:10]}  {c.author}  {c.subject}", markup=False)
        if entry.tools:
            console.print("    tools: " + ", ".join(f"{t}@{h}" for t, h in entry.tools.items()), markup=False)
        for r in entry.results:
            m = r["metrics"]
            console.print(f"    {r['suite']} x {r['model']}: correctness {pct(m['correctness'])}, schema "
                          f"{pct(m['schema_validity'])}, refusal {pct(m['refusal_rate'])} "
                          f"({'pass' if r['passed'] else 'fail'}, run {r['run']})", markup=False)
        if not entry.results:
            console.print("    (no eval results recorded for this version)", markup=False)


@app.command()
def runs(project: Path | None = ROOT_OPTION, limit: int = typer.Option(20, help="How many runs.")) -> None:
    """List past eval and rerun runs, newest first."""
    from llmops_cli.commands.runs import list_line, list_runs

    for run in guarded(lambda: list_runs(_root(project), limit)):
        console.print(list_line(run), markup=False)


@app.command()
def show(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough), or `latest`."),
         project: Path | None = ROOT_OPTION) -> None:
    """Show one stored run: the gate, the summary per suite x model, the reasons (a rerun run: its figures)."""
    from llmops_cli.commands.eval import EvalResult, print_result
    from llmops_cli.commands.runs import load_eval_document, load_run, rerun_lines

    run = guarded(lambda: load_run(_root(project), run_id))
    if run.kind == "rerun":
        for line in rerun_lines(run):
            console.print(line, markup=False)
        return
    document = guarded(lambda: load_eval_document(_root(project), run))
    print_result(console, EvalResult(document, None))


@app.command()
def report(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough), or `latest`."),
           project: Path | None = ROOT_OPTION,
           format: str = typer.Option("md,json,junit,html", "--format", help="Report formats."),
           out: Path | None = typer.Option(None, help="Report folder (default .llmops/reports/<run>/).")) -> None:
    """Re-render a stored run's reports (a report is a pure function of the stored results)."""
    from llmops_cli.commands.runs import report as run
    from llmops_cli.report import parse_formats

    for path in guarded(lambda: run(_root(project), run_id, parse_formats(format), out)):
        console.print(f"wrote {path}", markup=False)


@app.command()
def merge(items: list[str] = typer.Argument(..., help="Run ids or folders/files holding a shard's results.json."),
          project: Path | None = ROOT_OPTION,
          format: str = typer.Option("md,json,junit", "--format", help="Report formats."),
          out: Path | None = typer.Option(None, help="Report folder (default .llmops/reports/<run>/)."),
          allow_partial: bool = typer.Option(False, "--allow-partial",
                                             help="Report an incomplete shard set; its gate says incomplete (exit 3).")
          ) -> None:
    """Merge sharded runs (`eval --shard i/n`) into one result, one report and one gate decision."""
    from llmops_cli.commands.eval import EvalResult, print_result
    from llmops_cli.commands.merge import merge as run
    from llmops_cli.report import parse_formats

    document, files = guarded(lambda: run(_root(project), items, parse_formats(format), out, allow_partial))
    print_result(console, EvalResult(document, files[0].parent if files else None, files))
    raise typer.Exit(document.gate.exit_code)


@app.command("stats")
def stats_(project: Path | None = ROOT_OPTION,
           since: str = typer.Option("7d", help="Window, e.g. 30m, 12h, 7d, 4w."),
           by: str = typer.Option("prompt,model", help="Group by: suite, prompt, model, model_id."),
           format: str = typer.Option("table", "--format", help="table, md, json or csv.")) -> None:
    """Cost, tokens, latency p50/p95 and error rate per prompt and model, from the store."""
    from llmops_cli.commands.stats import parse_by, parse_since, stats

    if format not in ("table", "md", "json", "csv"):
        fail(InputError(f"--format {format!r}: choose table, md, json or csv"))
    frame = guarded(lambda: stats(_root(project), parse_since(since), parse_by(by)))
    if frame.empty:
        console.print(f"no calls recorded in the last {since}", markup=False)
        return
    if format == "json":
        console.print(frame.to_json(orient="records", indent=2), markup=False)  # unknown -> null
    elif format == "csv":
        console.print(frame.to_csv(index=False, float_format="%.6g"), markup=False, end="")  # unknown -> empty
    elif format == "md":
        console.print(_markdown_table(_readable(frame)), markup=False)
    else:
        console.print(_readable(frame).to_string(index=False), markup=False)


def _readable(frame: Any) -> Any:
    """Numbers to 4 significant digits; a missing figure reads `unknown` (a price) or `n/a` (no fresh call), never NaN."""
    from llmops_cli.report.fmt import number

    def cell(column: str, value: Any) -> str:
        if isinstance(value, float) and value != value:  # NaN
            return "unknown" if column.endswith("_usd") else "n/a"
        return number(value)

    return frame.apply(lambda col: col.map(lambda v: cell(str(col.name), v)))


def _markdown_table(frame: Any) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


@app.command("rerun")
def rerun_(traces: Path = typer.Argument(...,
                                         help="Logged production calls: JSONL, or an OTLP JSON export (see README: Traces)."),
           prompt: str = typer.Option(..., "--prompt", help="Prompt to render the logged template variables with."),
           model: str = typer.Option(..., "--model", help="Model alias to call, e.g. staging."),
           sample: float = typer.Option(1.0, help="Fraction of traces to replay, e.g. 0.01."),
           seed: int = typer.Option(0, help="Seed of the sampling (the same seed picks the same traces)."),
           vars_attribute: str | None = typer.Option(None, "--vars-attribute",
                                                     help="Span attribute holding the template variables as a JSON object "
                                                          "(default: llm.prompt_template.variables)."),
           strict: bool = typer.Option(False, "--strict",
                                       help="Exit 2 when any trace cannot be used (default: skip it and list it)."),
           min_agreement: float | None = typer.Option(None, "--min-agreement",
                                                      help="Gate: least share of traces whose new answer agrees "
                                                           "with the logged one."),
           max_refusal_rate: float | None = typer.Option(None, "--max-refusal-rate",
                                                         help="Gate: most share of new answers that refuse."),
           min_schema_validity: float | None = typer.Option(None, "--min-schema-validity",
                                                            help="Gate: least share of schema-valid answers "
                                                                 "(traces rendered with a prompt that declares a schema)."),
           baseline_run: str | None = typer.Option(None, "--baseline-run",
                                                   help="An earlier rerun run to compare with "
                                                        "(same traces, same --sample and --seed)."),
           format: str = typer.Option("md,json,junit", "--format", help="Report formats: md,json,junit,html."),
           project: Path | None = ROOT_OPTION,
           out: Path | None = typer.Option(None, help="Report folder (default .llmops/reports/<run>/)."),
           allow_new_endpoints: bool = ALLOW_NEW_ENDPOINTS) -> None:
    """Replay logged production inputs against a prompt/model and compare with the logged outputs."""
    from llmops_cli.commands.rerun import RerunOptions, rerun
    from llmops_cli.config import RerunThresholds
    from llmops_cli.report import parse_formats
    from llmops_cli.report.fmt import interval, pct, ratio

    formats = guarded(lambda: parse_formats(format))
    options = RerunOptions(prompt=prompt, model=model, sample=sample, seed=seed, vars_attribute=vars_attribute,
                           strict=strict, thresholds=RerunThresholds(min_agreement, max_refusal_rate, min_schema_validity),
                           baseline_run=baseline_run, allow_new_endpoints=allow_new_endpoints, formats=formats, out=out)
    result = guarded(lambda: rerun(_root(project), traces, options))
    doc = result.document
    m = doc.metrics
    console.print(f"rerun {doc.run.id}: {m.replayed} traces replayed ({m.rendered} rendered, "
                  f"{m.as_logged} as logged), {doc.ingest.skipped} skipped, {m.errors} errors; "
                  f"agreement {pct(m.agreement)}{interval(m.agreement_ci)}, exact {pct(m.exact_agreement)}, "
                  f"similarity {ratio(m.similarity_mean)}, schema {pct(m.schema_validity)}, "
                  f"refusal {pct(m.refusal_rate)}; {m.changed} changed", markup=False)
    for item in doc.skipped[:20]:
        console.print(f"skipped: {item.position}: {item.reason}", markup=False)
    changed = [row.id for row in doc.traces if not row.agreed and row.error is None]
    for trace_id in changed[:20]:
        console.print(f"changed: {trace_id}", markup=False)
    if len(changed) > 20:
        console.print(f"... and {len(changed) - 20} more changed (see the report)", markup=False)
    for reason in doc.gate.reasons:
        console.print(f"- {reason}", markup=False)
    console.print(f"gate: {doc.gate.status} (exit {result.exit_code}) · reports: {result.files[0].parent}",
                  markup=False)
    raise typer.Exit(result.exit_code)


import_app = typer.Typer(no_args_is_help=True, help="Convert another tool's eval config into llmops files.")
app.add_typer(import_app, name="import")


@import_app.command("promptfoo")
def import_promptfoo(
    config: Path = typer.Argument(..., help="The promptfoo config, e.g. promptfooconfig.yaml."),
    out: Path | None = typer.Option(None, "--out", help="Folder to write the llmops files into (default: the current folder)."),
    suite: str | None = typer.Option(None, "--suite",
                                     help="Suite name (default: from the config's description, else 'promptfoo')."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    every: bool = typer.Option(False, "--all",
                               help="List every line of the summary (default: repeated lines grouped, each section capped)."),
) -> None:
    """Convert a promptfoo config into llmops.yaml, prompts/ and one eval suite.

    \b
    providers       -> models: aliases (litellm strings; the first is `default`)
    prompts         -> prompts/<name>.yaml; several prompts -> suite `prompts: [a, b]`
    tests           -> evals/<suite>/cases.jsonl; defaultTest.assert -> suite `assert:`
    equals, contains, icontains, not-contains, regex -> the same llmops types
    starts-with, not-icontains, not-regex, contains-any, ... -> regex
    is-json, contains-json -> schema; llm-rubric, model-graded-closedqa, factuality -> judge
    similar -> similarity; python file://x.py:fn -> python; is-refusal -> expect_refusal
    latency -> thresholds.latency_max_s; cost -> thresholds.cost_usd (suite total)
    javascript and anything else -> listed as not converted

    Everything that could not be converted, or changed meaning, is listed as `file: where: what`;
    lines that repeat per test are grouped and each section is capped (--all lists every line).
    The full mapping is in llmops_cli/importers/promptfoo/__init__.py.
    """
    from llmops_cli.commands.import_promptfoo import import_promptfoo as run
    from llmops_cli.importers.promptfoo.summary import capped, grouped

    result = guarded(lambda: run(config, out or Path("."), suite=suite, force=force))

    def section(lines: list[str], indent: str = "", limit: int = 14) -> None:
        for line in lines if every else capped(grouped(lines), limit):
            console.print(f"{indent}{line}", markup=False)

    section([f"wrote {path}" for path in result.written], limit=8)
    console.print("mapped:", markup=False)
    section(result.mapped, "  ", limit=20)
    if result.notes:
        console.print(f"converted with a change ({len(result.notes)}):", markup=False)
        section(result.notes)
    if result.unconverted:
        console.print(f"not converted ({len(result.unconverted)}):", markup=False)
        section(result.unconverted)
    if result.check_problems:
        for line in result.check_problems:
            err_console.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        err_console.print("error: the imported files do not pass `llmops check` yet; fix the lines above", markup=False)
        raise typer.Exit(2)
    console.print(f"llmops check: ok. next: review evals/{result.suite}/, then `llmops lock` and commit", markup=False)


INTERRUPTED_BY_TYPER = 130  # typer turns a KeyboardInterrupt that reaches it into this exit code


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (a CI runner cancelling the job, `kill`) does what Ctrl-C does at this moment: inside a
    run, asyncio's handler cancels the calls cleanly; elsewhere a KeyboardInterrupt. Either way the run
    is stored as incomplete and resumable, and the exit code is 3."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def main() -> None:
    """Console entry point: click's usage errors become one `error:` line and exit 2 too."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        from typer._click import exceptions as click  # typer vendors click since 0.2x
    except ImportError:  # pragma: no cover - older typer on real click
        from click import exceptions as click  # type: ignore[no-redef]

    try:
        code = app(standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # `llmops` alone: the help, as usual
        console.print(exc.ctx.get_help() if exc.ctx else "", markup=False)
        sys.exit(0)
    except click.UsageError as exc:
        param = getattr(exc, "param", None)
        hint = f"{param.opts[0]}: " if param is not None and getattr(param, "opts", None) else ""
        err_console.print(f"error: {hint}{exc.message}", markup=False, highlight=False)
        sys.exit(2)
    except click.ClickException as exc:
        err_console.print(f"error: {exc.format_message()}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print(INTERRUPTED, markup=False)
        sys.exit(3)
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback, and no key in a CI log
        from llmops_cli.redact import scrub_environment

        sys.stderr.write(f"error: internal error: {scrub_environment(f'{type(exc).__name__}: {exc}')}\n")
        sys.exit(3)
    if code == INTERRUPTED_BY_TYPER:  # an interrupt outside a command's own boundary (while importing, printing)
        err_console.print(INTERRUPTED, markup=False)
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


def entry() -> NoReturn:
    """The `llmops` command: main(), then out without the interpreter's teardown.

    Freeing every module and object at exit costs 0.1-0.2 s a command (measured: 80-110 ms after importing
    what `eval` needs, 220 ms after a 1,000-case run), more than `llmops --help` may take in all. By then the
    command has closed everything it wrote (the store, the reports, the step summary); the exit handlers
    still run and the output is flushed, so nothing is lost. main() itself exits normally, for callers that
    run it in their own process, and so does a process being profiled or traced (cProfile, coverage), whose
    tool writes its results at the normal exit."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        main()  # leaves through SystemExit, the usual way
    try:
        main()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): the exit code still says what the gate said
            pass
    os._exit(code)
