"""`llmops rerun TRACES --prompt P --model staging`: replay production inputs on a new prompt/model.

Traces are read by llmops_cli.traces (our JSONL, OTLP JSON exports, GenAI and OpenInference
spans). A trace with template variables is rendered with the prompt (a prompt change); one
without is replayed with its messages as logged (a model or params change); the report says
which was which. A trace that cannot be used is skipped with its position and reason: any skip
is an input error with `--strict`, and so is skipping more than half of the selected traces
(the export is then not what it looks like). Both checks happen before any call is sent.

The replay runs through the same runner, cache and store as eval; redaction (llmops.yaml's
rules, or every built-in rule when it sets none: production traces carry personal data) applies
to everything stored (answers in the cache included) and reported. The results document is
stored with the run and rendered by the report formats' rerun writers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmops_cli import agreement
from llmops_cli.cases import Case, canonical_json, sha256_text
from llmops_cli.config import ALWAYS_REDACTED, BUILTIN_REDACTIONS, ProjectConfig, RedactRule, RerunThresholds
from llmops_cli.document import EXIT_CODES, DocumentError, Status, as_json
from llmops_cli.errors import InputError
from llmops_cli.lifecycle import Run, RunStart, report_dir
from llmops_cli.plan import PlannedCall, request_key
from llmops_cli.project import Project, load_project
from llmops_cli.providers import api_key, secrets_in_use
from llmops_cli.redact import Redactor
from llmops_cli.render import RenderError
from llmops_cli.report import fmt, refuse_project_folder, write_reports
from llmops_cli.rerun_document import IngestCounts, ReplayGate, ReplayInfo, RerunDocument, SkippedTrace, TraceRow
from llmops_cli.scoring.refusal import refusal_phrases
from llmops_cli.scoring.score import ScoreContext
from llmops_cli.source import WorkTree
from llmops_cli.store import Store
from llmops_cli.tooldefs import request_params
from llmops_cli.traces import Ignored, Skip, Trace, read_traces
from llmops_cli.trust import guard_pull_request

MAX_LISTED_SKIPS = 1_000  # in the document; the count is always whole
MISSING_HINT = "the trace carries no such variable (template variables: --vars-attribute, llm.prompt_template.variables)"


@dataclass(frozen=True)
class RerunOptions:
    prompt: str
    model: str
    sample: float = 1.0
    seed: int = 0
    vars_attribute: str | None = None
    strict: bool = False
    thresholds: RerunThresholds = RerunThresholds()  # from the command line; each overrides llmops.yaml's
    baseline_run: str | None = None
    allow_new_endpoints: bool = False  # on a pull request, let a model with api_base/api_key_env have its key
    formats: tuple[str, ...] = ("md", "json", "junit")
    out: Path | None = None


@dataclass
class RerunResult:
    document: RerunDocument
    files: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.document.gate.exit_code


@dataclass
class Ingest:
    traces: list[Trace] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    ignored: int = 0


def rerun(root: Path, traces_path: Path, options: RerunOptions) -> RerunResult:
    refuse_project_folder(root, options.out)
    project = load_project(WorkTree(root))
    _check_options(project, options)
    spec = project.config.models[options.model]
    # On a pull request llmops.yaml is the pull request's own, and rerun has no baseline to trust instead.
    guard_pull_request(project.config.models.values(), (), None, options.allow_new_endpoints)
    api_key(spec)
    redactor = rerun_redactor(project.config)
    ingest = _ingest(traces_path, options)
    calls, logged = _plan(project, options, ingest, redactor)
    _check_skips(traces_path, ingest, options, redactor)
    earlier = _earlier_rows(root, options.baseline_run) if options.baseline_run else None
    return _run(root, project, options, traces_path, calls, logged, ingest, redactor, earlier)


def rerun_rules(config: ProjectConfig) -> tuple[RedactRule, ...]:
    """llmops.yaml's rules, or every built-in one when it sets none (the always-on `secret` rule alone)."""
    chosen = [r for r in config.redact if not (r.name == ALWAYS_REDACTED and r.pattern is None)]
    return config.redact if chosen else tuple(RedactRule(name) for name in BUILTIN_REDACTIONS)


def rerun_redactor(config: ProjectConfig) -> Redactor:
    return Redactor(rerun_rules(config), secrets_in_use(config.models))


def _check_options(project: Project, options: RerunOptions) -> None:
    if options.prompt not in project.prompts:
        raise InputError(f"--prompt {options.prompt!r}: no prompts/{options.prompt}.yaml; known: {', '.join(project.prompts)}")
    if options.model not in project.config.models:
        raise InputError(f"--model {options.model!r}: not a model alias in llmops.yaml; "
                         f"known: {', '.join(project.config.models)}")
    if not 0 < options.sample <= 1:
        raise InputError(f"--sample {options.sample}: use a fraction in (0, 1], e.g. 0.01 for 1%")
    for key in agreement.BOUNDS:
        value = getattr(options.thresholds, key[0])
        if value is not None and not 0 <= value <= 1:
            raise InputError(f"--{key[0].replace('_', '-')} {value}: use a fraction between 0 and 1, e.g. 0.9")


def _ingest(path: Path, options: RerunOptions) -> Ingest:
    ingest = Ingest()
    for item in read_traces(path, options.sample, options.seed, options.vars_attribute):
        if isinstance(item, Trace):
            ingest.traces.append(item)
        elif isinstance(item, Skip):
            ingest.skipped.append(item)
        elif isinstance(item, Ignored):
            ingest.ignored += 1
    return ingest


def _plan(project: Project, options: RerunOptions, ingest: Ingest,
          redactor: Redactor) -> tuple[list[PlannedCall], dict[str, agreement.Logged]]:
    """A call per usable trace; a trace whose variables do not render with the prompt is a skip too."""
    prompt = project.prompts[options.prompt]
    compiled = project.compiled[options.prompt]
    spec = project.config.models[options.model]
    phrases = refusal_phrases(project.config.refusal)
    rendered_ctx = ScoreContext((), prompt.schema, phrases, allow_python=False)
    as_logged_ctx = ScoreContext((), None, phrases, allow_python=False)  # not written for the prompt's schema
    calls: list[PlannedCall] = []
    logged: dict[str, agreement.Logged] = {}
    usable = []
    params = {**prompt.params, **request_params(project.prompt_tools(options.prompt), prompt.tool_choice)}
    for trace in ingest.traces:
        try:
            messages = (compiled.render(trace.vars, MISSING_HINT) if trace.vars is not None
                        else list(trace.messages or []))
        except RenderError as exc:
            ingest.skipped.append(Skip(trace.position, trace.id, f"its variables do not render with {prompt.path}"
                                       f"{':' + str(exc.line) if exc.line else ''}: {exc.message}"))
            continue
        if not messages:
            ingest.skipped.append(Skip(trace.position, trace.id, "no input captured: no variables and no messages"))
            continue
        case_id = redactor.text(trace.id)  # the stored id: ids can carry personal data too
        if case_id in logged:
            ingest.skipped.append(Skip(trace.position, trace.id, f"id {case_id!r} repeats another trace's id once "
                                       "redacted; each is replayed once"))
            continue
        usable.append(trace)
        case = Case(case_id, {}, (), False, (), 0, sha256_text(canonical_json(messages))[:16])
        ctx = rendered_ctx if trace.vars is not None else as_logged_ctx
        calls.append(PlannedCall("head", "rerun", options.prompt, spec, case, 0, messages, dict(params),
                                 request_key(spec, params, messages, 0), ctx))
        logged[case_id] = agreement.Logged(case_id, redactor.text(trace.position), trace.source,
                                            trace.vars is not None, redactor.text(trace.output))
    ingest.traces = usable
    return calls, logged


def _check_skips(path: Path, ingest: Ingest, options: RerunOptions, redactor: Redactor) -> None:
    """Exit 2 before anything is sent: any skip under --strict, or more than half of the selection."""
    skipped, selected = len(ingest.skipped), len(ingest.skipped) + len(ingest.traces)
    if not selected:
        raise InputError(f"{path}: no chat traces selected ({ingest.ignored} other spans ignored, sample "
                         f"{options.sample:g}); check the file, or raise --sample")
    too_many = 2 * skipped > selected
    if not skipped or not (options.strict or too_many):
        return
    why = (f"--strict: {skipped} of {selected} selected traces cannot be replayed" if options.strict and not too_many
           else f"{skipped} of {selected} selected traces cannot be replayed (more than half): the export is not "
                f"what llmops reads, or --vars-attribute is wrong")
    lines = [f"{redactor.text(s.position)}: {redactor.text(s.reason)}" for s in ingest.skipped]
    raise InputError([why, *lines])


def _earlier_rows(root: Path, run_id: str) -> tuple[TraceRow, ...]:
    with Store(root) as store:
        run = store.get_run(run_id)
    try:
        return RerunDocument.from_json((run.summary or {}).get("rerun") if run else None).traces
    except DocumentError:
        raise InputError(f"--baseline-run {run_id!r}: no finished `llmops rerun` run with that id in "
                         ".llmops/llmops.db; `llmops runs` lists them") from None


def _run(root: Path, project: Project, options: RerunOptions, path: Path, calls: list[PlannedCall],
         logged: dict[str, agreement.Logged], ingest: Ingest, redactor: Redactor,
         earlier: tuple[TraceRow, ...] | None) -> RerunResult:
    from llmops_cli import gitref
    from llmops_cli.runner import RunLimits, Runner

    config = project.config
    thresholds = _thresholds(config.rerun, options.thresholds)
    run_config = {"suites": {}, "prompt": options.prompt, "model": options.model,
                  "traces": redactor.text(str(path)), "sample": options.sample, "seed": options.seed,
                  "vars_attribute": options.vars_attribute, "thresholds": thresholds.__dict__,
                  "redaction": [r.name for r in rerun_rules(config)]}
    stopped: str | None = "interrupted"
    with Store(root) as store, Run.begin(store, RunStart("rerun", run_config, git_commit=gitref.head_commit(root))) as run:
        try:
            outcome = Runner(store, run.id, RunLimits.from_config(config.limits), redactor,
                             redact_cache=True).run(calls, set())
            stopped = outcome.stopped
        finally:
            document = run.judge(
                lambda: _document(run.id, store, run_config, options, thresholds, project, path,
                                  [r for r in store.results(run.id) if r.side == "head" and r.grader is None], logged,
                                  ingest, redactor, earlier, stopped),
                lambda document: {"gate": as_json(document.gate), "rerun": document.to_json()})
    return RerunResult(document, write_reports(document, report_dir(root, run.id, options.out), options.formats))


def _thresholds(configured: RerunThresholds, given: RerunThresholds) -> RerunThresholds:
    chosen = {k: v for k, v in given.__dict__.items() if v is not None}
    return replace(configured, **chosen)


def _document(run_id: str, store: Store, run_config: dict[str, Any], options: RerunOptions,
              thresholds: RerunThresholds, project: Project, path: Path, records: list[Any],
              logged: dict[str, agreement.Logged], ingest: Ingest, redactor: Redactor,
              earlier: tuple[TraceRow, ...] | None, stopped: str | None) -> RerunDocument:
    has_schema = project.prompts[options.prompt].schema is not None
    by_id = {r.case_id: r for r in records}
    rows = agreement.compare([by_id[t_id] for t_id in logged if t_id in by_id], logged, has_schema)
    metrics = agreement.metrics(rows)
    bounds = agreement.check(metrics, thresholds, has_schema)
    missing = len(logged) - len(rows)
    error_rate = metrics.errors / metrics.replayed if metrics.replayed else 0.0
    reasons = [agreement.reason(b) for b in bounds if not b.passed]
    incomplete = []
    if stopped or missing:
        incomplete.append(f"the replay stopped early ({stopped or 'interrupted'}): {missing} of {len(logged)} traces "
                          "not replayed; run the same command again to finish (answers so far are cached)")
    if error_rate > project.config.limits.max_error_rate:
        incomplete.append(f"{metrics.errors} of {metrics.replayed} calls failed ({fmt.pct(error_rate)}), over "
                          f"limits.max_error_rate {fmt.pct(project.config.limits.max_error_rate)}")
    status: Status = "incomplete" if incomplete else "failed" if reasons else "passed"
    run = store.get_run(run_id)
    skipped = ingest.skipped
    return RerunDocument(
        run=ReplayInfo(id=run_id, created_at=run.created_at if run else None, git_commit=run.git_commit if run else None,
                       prompt=options.prompt, prompt_path=project.prompts[options.prompt].path, has_schema=has_schema,
                       model=options.model, model_id=project.config.models[options.model].model,
                       traces_file=run_config["traces"], sample=options.sample, seed=options.seed,
                       vars_attribute=options.vars_attribute, redaction=tuple(run_config["redaction"])),
        gate=ReplayGate(status=status, exit_code=EXIT_CODES[status], reasons=tuple(incomplete + reasons),
                        thresholds=tuple(bounds)),
        ingest=IngestCounts(selected=len(ingest.traces) + len(skipped), usable=len(ingest.traces), skipped=len(skipped),
                            ignored_spans=ingest.ignored, sources=dict(Counter(t.source for t in ingest.traces))),
        metrics=metrics,
        skipped=tuple(SkippedTrace(position=redactor.text(s.position), id=redactor.text(s.id) if s.id else None,
                                   reason=redactor.text(s.reason)) for s in skipped[:MAX_LISTED_SKIPS]),
        traces=tuple(rows),
        baseline=agreement.paired_with(options.baseline_run, rows, earlier)
        if earlier is not None and options.baseline_run else None,
    )
