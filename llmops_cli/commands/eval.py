"""`llmops eval`: plan head and baseline, run through the cache and the model, gate, report."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmops_cli import adaptive
from llmops_cli.cases import canonical_json, sha256_text
from llmops_cli.document import Document, DocumentError, Group
from llmops_cli.errors import InputError
from llmops_cli.gate import GateSettings
from llmops_cli.lifecycle import Run, RunStart, crash_text, report_dir
from llmops_cli.lock import LOCK_FILE, case_hashes, diff_cases, set_hash
from llmops_cli.plan import PlannedCall, Selection, is_adhoc, plan_calls, resolve_model
from llmops_cli.project import Project, load_project, lock_problems
from llmops_cli.providers import api_key, secrets_in_use
from llmops_cli.redact import Redactor
from llmops_cli.renames import SEARCHED, find_renames, relabel_project, relabel_records, suite_renames_by_golden_set
from llmops_cli.report import fmt, refuse_project_folder, write_reports
from llmops_cli.report.diffview import file_diff
from llmops_cli.report.markdown import sensitivity_lines, truncated_line
from llmops_cli.report.prose import skipped_lines
from llmops_cli.results import records_from_document, stored_document, summary_of
from llmops_cli.runner import Progress, RunLimits, Runner, RunOutcome, identity
from llmops_cli.source import WorkTree
from llmops_cli.store import CallId, CallRecord, Store
from llmops_cli.trust import guard_pull_request


@dataclass(frozen=True)
class EvalOptions:
    selection: Selection = Selection()
    baseline: str | None = None
    no_baseline: bool = False
    concurrency: int | None = None
    offline: bool = False
    no_cache: bool = False
    max_cost: float | None = None
    formats: tuple[str, ...] = ("md", "json", "junit")
    out: Path | None = None
    dry_run: bool = False
    require_significance: bool = False
    baseline_results: Path | None = None
    allow_new_endpoints: bool = False  # on a pull request, let a changed api_base/api_key_env have its key


@dataclass
class EvalResult:
    document: Document
    report_dir: Path | None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return self.document.gate.exit_code


@dataclass(frozen=True)
class DryRun:
    calls: int
    unique_requests: int
    cached: int
    suites: int
    notes: list[str]


@dataclass
class Baseline:
    """What the head is compared with: a project at a git ref, or a saved results.json."""

    ref: str | None = None
    commit: str | None = None
    project: Project | None = None
    records: list[CallRecord] = field(default_factory=list)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    prompt_texts: dict[str, str] = field(default_factory=dict)
    prompt_paths: dict[str, str] = field(default_factory=dict)  # under the head's names, for template diffs
    tool_texts: dict[str, str] = field(default_factory=dict)  # tool definitions at the baseline, for diffs
    source: str = ""  # what the comparison is with (a commit, a results file's content hash): part of the run's identity


class _Plan:
    """What a run needs until its calls are made: the head project, the baseline and the planned calls (rendered
    messages). `release` lets them go before the run is judged, so a 100k-case eval never holds its project and
    rendered calls beside its results and their document."""

    def __init__(self, head: Project, baseline: Baseline | None, calls: list[PlannedCall]) -> None:
        self._parts: tuple[Project, Baseline | None, list[PlannedCall]] | None = (head, baseline, calls)

    def _held(self) -> tuple[Project, Baseline | None, list[PlannedCall]]:
        if self._parts is None:
            raise RuntimeError("the plan was released: its calls are made")
        return self._parts

    @property
    def head(self) -> Project:
        return self._held()[0]

    @property
    def baseline(self) -> Baseline | None:
        return self._held()[1]

    @property
    def calls(self) -> list[PlannedCall]:
        return self._held()[2]

    def release(self) -> None:
        self._parts = None


def evaluate(root: Path, options: EvalOptions, on_progress: Callable[[Progress], None] = lambda p: None) -> EvalResult | DryRun:
    refuse_project_folder(root, options.out)
    notes: list[str] = []
    plan = _plan(root, options, notes)
    with Store(root) as store:
        if options.dry_run:
            return _dry_run(store, plan, options, notes)
        return _run(root, store, plan, options, notes, on_progress)


def _plan(root: Path, options: EvalOptions, notes: list[str]) -> _Plan:
    """Load and check the head (and the baseline), and plan every call; input errors surface here, before anything runs."""
    head = load_project(WorkTree(root), options.selection.suites)
    if head.config.allow_python and str(root) not in sys.path:
        sys.path.insert(0, str(root))  # `python` assertions name modules of the user's project
    _refuse_unlocked(head)
    calls = plan_calls(head, "head", options.selection)
    if options.selection.filter and not calls:
        raise InputError(f"--filter {options.selection.filter!r} matches no case; a typo here would skip the "
                         "whole exam (use a case id glob or tag:NAME)")
    notes += [f"--model {m}: an ad-hoc litellm model string, not an alias of llmops.yaml (the provider's usual key "
              "variable applies)" for m in options.selection.models if is_adhoc(head.config.models, m)]
    baseline = _baseline(root, head, options, notes)
    if baseline and baseline.project is not None:
        _refuse_dropped_lock(head, baseline.project)
        calls += _plan_baseline(head, baseline.project, options.selection, notes)
    _refuse_new_endpoints(head, baseline, options)
    for spec in {c.model.alias: c.model for c in calls if not options.offline}.values():
        api_key(spec)  # a missing key is an input error before anything runs
    return _Plan(head, baseline, calls)


def _dry_run(store: Store, plan: _Plan, options: EvalOptions, notes: list[str]) -> DryRun:
    calls = plan.calls
    keys = sorted({c.request_key for c in calls})  # an agent loop's later steps depend on its answers
    cached = len(store.cached_keys(keys)) if not options.no_cache else 0
    if any(adaptive.is_adaptive(s, options.selection) for s in plan.head.suites.values()):
        notes.append(f"repeat auto: these are the first runs; cases whose first runs disagree between base and "
                     f"head run again at both refs, up to limits.max_repeat ({plan.head.config.limits.max_repeat}) "
                     f"runs a side and at most {adaptive.MAX_CALLS_FACTOR}x these calls")
    return DryRun(len(calls), len(keys), cached, len(plan.head.suites), notes)


def _refuse_unlocked(project: Project) -> None:
    problems = lock_problems(project)
    if problems:
        problems.raise_if_any()


def _refuse_new_endpoints(head: Project, baseline: Baseline | None, options: EvalOptions) -> None:
    """Only a baseline the workflow named (`--baseline REF`) is trusted: `gate.baseline` is read from
    the pull request's own llmops.yaml, which could name the pull request itself."""
    named = options.baseline is not None and baseline is not None and baseline.project is not None
    trusted = baseline.project.config.models.values() if named and baseline and baseline.project else ()
    guard_pull_request(head.config.models.values(), trusted, options.baseline if named else None,
                       allowed=options.allow_new_endpoints or options.offline)


def _refuse_dropped_lock(head: Project, base: Project) -> None:
    if base.lock is not None and head.lock is None:
        raise InputError(f"{LOCK_FILE}: exists at the baseline but not here; golden sets stay locked "
                         "(restore it, or run `llmops lock` and commit it)")


def _baseline(root: Path, head: Project, options: EvalOptions, notes: list[str]) -> Baseline | None:
    if options.baseline_results is not None:
        return _baseline_from_results(options.baseline_results, head, notes)
    if options.no_baseline:
        return None
    ref = options.baseline or head.config.gate.baseline
    from llmops_cli import gitref

    try:
        source = gitref.open_baseline(root, ref)
    except InputError:
        if options.baseline or os.environ.get("CI"):
            raise
        notes.append(f"baseline {ref!r} not found here; ran without a baseline (pass --baseline REF or --no-baseline)")
        return None
    notes.append(f"baseline: {source.label}")
    try:
        base = load_project(source)  # reads every file it needs now; the repository handle can go
    except InputError as exc:
        notes.append(f"baseline {ref}: no valid llmops project there ({exc.problems[0]}); nothing to compare")
        return Baseline(ref, source.commit, source=f"git:{source.commit}")
    finally:
        source.close()
    for problem in lock_problems(base).items:
        notes.append(f"baseline {ref}: {problem}")
    renames = find_renames(base, head, gitref.renamed_paths(root, source.commit, SEARCHED))
    notes += renames.notes()
    base = relabel_project(base, renames)
    return Baseline(ref, source.commit, base, hashes={n: case_hashes(c) for n, c in base.cases.items()},
                    prompt_texts={n: p.text for n, p in base.prompts.items()},
                    prompt_paths={n: p.path for n, p in base.prompts.items()},
                    tool_texts={n: t.text for n, t in base.tools.items()}, source=f"git:{source.commit}")


def _baseline_from_results(path: Path, head: Project, notes: list[str]) -> Baseline:
    """A results.json saved on the base branch (a CI artifact) instead of rerunning it. It is checked
    whole before anything is stored: a bad file is an input error, never a run that crashes later.

    Suites renamed since are followed by their identical golden sets."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable llmops results.json ({type(exc).__name__}: {exc}); "
                         "pass the results.json written by `llmops eval`") from None
    if not isinstance(data, dict) or not {"schema_version", "run", "groups"} <= set(data):
        raise InputError(f"{path}: not an llmops results.json (it needs schema_version, run and groups); "
                         "pass the results.json written by `llmops eval`")
    try:
        document = Document.from_json(data)
    except DocumentError as exc:
        raise InputError([f"{path}: {p}; pass the results.json written by `llmops eval`" for p in exc.problems]) from None
    # Answers of the base branch's own run, reused: like cached answers, this run neither sent nor paid for them.
    records = [replace(r, cached=True) for r in records_from_document(document, side="base")]
    hashes: dict[str, dict[str, str]] = {}
    for record in records:
        hashes.setdefault(record.suite, {})[record.case_id] = record.case_hash
    renames = suite_renames_by_golden_set({n: set_hash(h) for n, h in hashes.items()}, head)
    notes += renames.notes()
    records = relabel_records(records, renames)
    hashes = {renames.suites.get(n, n): h for n, h in hashes.items()}
    return Baseline(f"results:{path.name}", document.run.git_commit, None, records, hashes,
                    source="results:" + sha256_text(canonical_json(data)))


def _plan_baseline(head: Project, base: Project, selection: Selection, notes: list[str]) -> list[PlannedCall]:
    calls: list[PlannedCall] = []
    for name, suite in head.suites.items():
        if name not in base.suites:
            notes.append(f"suite {name!r} is new in this change: no baseline to compare")
            continue
        models = tuple(m for m in (selection.models or suite.models) if resolve_model(base.config.models, m))
        if not models:  # an empty selection would mean "the baseline suite's own models"
            notes.append(f"suite {name!r}: none of its models is defined at the baseline; no baseline to compare")
            continue
        # An adaptive head runs the baseline once a case too: its first stage is symmetric, whatever `repeat` said there.
        repeat = 1 if adaptive.is_adaptive(suite, selection) else selection.repeat
        sub = Selection((name,), models, repeat, selection.filter, selection.shard)
        try:
            calls += plan_calls(base, "base", sub)
        except InputError as exc:
            notes.append(f"suite {name!r} does not render at the baseline ({exc.problems[0]}); compared without it")
    return calls


def _suite_config(root: Path, head: Project, baseline: Baseline | None, all_suites: bool) -> dict[str, Any]:
    suites: dict[str, Any] = {}
    for name, suite in head.suites.items():
        entry: dict[str, Any] = {
            "kind": suite.kind, "prompts": list(suite.prompts), "cases_path": suite.cases_path,
            "thresholds": {m: {"min": t.min, "max": t.max, "max_drop": t.max_drop} for m, t in suite.thresholds.items()},
            "has_schema": {p: head.prompts[p].schema is not None for p in suite.prompts},
        }
        head_hashes = case_hashes(head.cases.get(name, ()))
        if baseline is not None and name in baseline.hashes:
            base_hashes = baseline.hashes[name]
            changes = diff_cases(base_hashes, head_hashes)
            entry["golden_changes"] = {"added": list(changes.added), "removed": list(changes.removed),
                                       "edited": list(changes.edited)}
            if changes and baseline.commit:
                entry["golden_changed_by"] = _changed_by(root, suite.cases_path, baseline.commit)
            entry["same_cases"] = sorted(k for k, v in head_hashes.items() if base_hashes.get(k) == v)
            entry["template_diffs"] = {p: _text_diff(baseline.prompt_texts[p], head.prompts[p].text,
                                                     baseline.prompt_paths.get(p, head.prompts[p].path), head.prompts[p].path)
                                       for p in suite.prompts if p in baseline.prompt_texts
                                       and baseline.prompt_texts[p] != head.prompts[p].text}
            entry["tool_diffs"] = _tool_diffs(head, suite.prompts, baseline.tool_texts)
        elif baseline is not None:
            entry["only_in"] = "head"
        suites[name] = entry
    for name in (baseline.hashes if baseline and all_suites else {}):
        if name not in head.suites:
            suites[name] = {"kind": "quality", "only_in": "base", "thresholds": {}}
    return suites


def _tool_diffs(head: Project, prompts: Sequence[str], base_texts: Mapping[str, str]) -> dict[str, str]:
    """Tool definitions the suite's prompts offer that changed since the baseline (a new one diffs from empty)."""
    names = sorted({t.name for p in prompts for t in head.prompt_tools(p)})
    return {n: _text_diff(base_texts.get(n, ""), head.tools[n].text, head.tools[n].path, head.tools[n].path)
            for n in names if base_texts.get(n, "") != head.tools[n].text}


def _changed_by(root: Path, path: str, base_commit: str) -> list[str]:
    from llmops_cli import gitref

    try:
        commits = gitref.changed_by(root, path, base_commit, "HEAD")
    except InputError:
        return []
    return [f"{c.short} {c.author}: {c.subject}" for c in commits]


def _text_diff(old: str, new: str, old_path: str, new_path: str) -> str:
    return file_diff(old, new, f"a/{old_path}", f"b/{new_path}")


def _run(root: Path, store: Store, plan: _Plan, options: EvalOptions, notes: list[str],
         on_progress: Callable[[Progress], None]) -> EvalResult:
    cfg = plan.head.config
    limits = RunLimits.from_config(
        cfg.limits, concurrency=options.concurrency or cfg.limits.concurrency,
        max_cost_usd=options.max_cost if options.max_cost is not None else cfg.limits.max_cost_usd,
        use_cache=not options.no_cache, offline=options.offline)
    settings = GateSettings(alpha=cfg.gate.alpha, max_error_rate=cfg.limits.max_error_rate,
                            require_significance=options.require_significance or cfg.gate.require_significance)
    run_config = {
        "suites": _suite_config(root, plan.head, plan.baseline, not options.selection.suites),
        "gate_settings": settings.__dict__, "redaction": [r.name for r in cfg.redact], "allow_python": cfg.allow_python,
        "notes": notes, "prompt_hashes": {name: plan.head.prompt_version(name) for name in plan.head.prompts},
        "tool_hashes": {name: sha256_text(t.text) for name, t in plan.head.tools.items()},
        "options": _options_dict(options, limits),
    }
    resampled = _adaptive_config(plan.head, plan.baseline, options)
    if resampled is not None:  # max_repeat is part of the plan: a changed one is a new run, not a resume
        run_config["adaptive"] = resampled
        run_config["options"] = {**_options_dict(options, limits), "max_repeat": resampled["max_repeat"]}
    ref, commit, source = ((plan.baseline.ref, plan.baseline.commit, plan.baseline.source) if plan.baseline
                           else (None, None, None))  # no local holds the baseline: `release` must let it go
    plan_hash = sha256_text(canonical_json([run_config["options"], source,
                                            sorted(c.key + repr(tuple(identity(c))) for c in plan.calls)]))
    from llmops_cli import gitref

    paths = ["llmops.yaml", "llmops.lock", "prompts", "evals", "tools"]
    start = RunStart("eval", run_config, plan_hash, gitref.head_commit(root), gitref.is_dirty(root, paths), ref, commit)
    with Run.begin(store, start, resume=True) as run:
        outcome: dict[str, Any] = {}
        try:
            outcome = _make_calls(store, run, plan, run_config, limits, options, notes, on_progress)
        except KeyboardInterrupt:
            outcome = {"interrupted": True}
            raise
        except InputError as exc:  # a missing key, found before the first call: nothing was sent
            outcome = {"stopped": f"{exc.problems[0]}"}
            raise
        except BaseException as exc:  # any crash: the run is incomplete and resumable, never "complete"
            outcome = {"crashed": crash_text(exc)}
            raise
        finally:
            plan.release()  # judged from the store alone: the project and rendered calls go first
            document = _judge(store, run, outcome)
    folder = report_dir(root, run.id, options.out)
    files = write_reports(document, folder, options.formats)
    return EvalResult(document, folder, files, notes)


def _make_calls(store: Store, run: Run, plan: _Plan, run_config: Mapping[str, Any], limits: RunLimits,
                options: EvalOptions, notes: list[str], on_progress: Callable[[Progress], None]) -> dict[str, Any]:
    """Make the plan's calls (and the adaptive stage's) into the run; the outcome the gate is told of."""
    cfg, calls, baseline = plan.head.config, plan.calls, plan.baseline
    done: set[CallId] = set()
    if run.resumed:
        done = {r.call_id for r in store.results(run.id) if r.ok and r.grader is None}
        notes.append(f"resumed run {run.id}: {len(done)} completed calls kept")
    elif baseline is not None and baseline.records:
        store.record_many(run.id, baseline.records)
    redactor = Redactor(cfg.redact, secrets_in_use([*cfg.models.values(), *(c.model for c in calls)]))
    result = Runner(store, run.id, limits, redactor, on_progress).run(calls, done)
    resampled = run_config.get("adaptive")
    if resampled is not None and resampled["note"] is None and baseline and baseline.project:
        result = _resample(store, run.id, plan.head, baseline.project, run_config, options.selection, result,
                           Runner(store, run.id, limits, redactor, on_progress))
    return {"stopped": result.stopped, "offline_misses": len(result.misses),
            "misses": [f"{c.suite}/{c.case.id} x {c.model.alias}" + (" (baseline)" if c.side == "base" else "")
                       for c in result.misses[:50]]}


def _adaptive_config(head: Project, baseline: Baseline | None, options: EvalOptions) -> dict[str, Any] | None:
    """The adaptive suites of this run and their max_repeat (None: no suite is adaptive); `note` says why
    no case can be run again when the comparison cannot be sampled at both refs."""
    names = [name for name, suite in head.suites.items() if adaptive.is_adaptive(suite, options.selection)]
    if not names:
        return None
    note = None
    if baseline is None or (baseline.project is None and not baseline.records):
        note = "no baseline to compare with, so every case ran once"
    elif baseline.project is None:
        note = ("the baseline is a saved results.json, whose runs cannot be repeated; every case ran once "
                "(use --baseline REF to sample disagreeing cases again at both refs)")
    return {"max_repeat": head.config.limits.max_repeat, "suites": names, "note": note}


def _resample(store: Store, run_id: str, head: Project, base: Project, run_config: Mapping[str, Any],
              selection: Selection, first: RunOutcome, runner: Runner) -> RunOutcome:
    """The adaptive second stage: more runs, at both refs, of the cases whose first runs disagree. Chosen from
    the stored first runs, so a resumed run plans the same calls (and skips those already done)."""
    if first.stopped or first.misses:
        return first
    suites = run_config["adaptive"]["suites"]
    same = {name: set(entry.get("same_cases") or []) for name, entry in run_config["suites"].items()}
    chosen = adaptive.resample_plan(store.results(run_id), same, suites, run_config["adaptive"]["max_repeat"])
    if not chosen:
        return first
    sub = Selection(tuple(sorted({suite for suite, _, _ in chosen})), selection.models,
                    max(r.runs for r in chosen.values()), selection.filter, selection.shard)
    planned = plan_calls(head, "head", sub) + _plan_baseline(head, base, sub, [])
    extra = []
    for call in planned:
        plan = chosen.get((call.suite, call.prompt, call.model.alias))
        if plan is not None and 1 <= call.repeat < plan.runs and call.case.id in plan.cases:
            extra.append(call)
    done = {r.call_id for r in store.results(run_id) if r.ok and r.grader is None}
    second = runner.run(extra, done)
    return RunOutcome(second.progress, first.misses + second.misses, second.stopped)


def power_lines(root: Path, drop: float) -> list[str]:
    """`--power DROP`: what the last stored comparisons say about the runs a case needed to see DROP."""
    from llmops_cli import powerplan

    alpha = load_project(WorkTree(root)).config.gate.alpha
    with Store(root) as store:
        found = powerplan.estimates(store, drop, alpha)
    if not found:
        raise InputError("--power: no stored run compared a suite with a baseline yet; run `llmops eval` first")
    return [f"power: {powerplan.describe(e, drop)}" for e in found]


def _judge(store: Store, run: Run, outcome: dict[str, Any]) -> Document:
    """Judge the stored calls and finish the run complete or incomplete (incomplete too if judging fails)."""
    row = store.get_run(run.id)
    assert row is not None
    return run.judge(lambda: stored_document(row, store, outcome),
                     lambda document: {**summary_of(document), "outcome": outcome}, outcome)


def _options_dict(options: EvalOptions, limits: RunLimits) -> dict[str, Any]:
    s = options.selection
    return {"suites": list(s.suites), "models": list(s.models), "repeat": "auto" if s.auto_repeat else s.repeat,
            "filter": s.filter,
            "shard": list(s.shard) if s.shard else None, "concurrency": limits.concurrency,
            "offline": options.offline, "no_cache": options.no_cache, "max_cost_usd": limits.max_cost_usd,
            "require_significance": options.require_significance}


def calls_line(doc: Document) -> str:
    """What reached a provider, as opposed to what was scored: cache hits and calls sharing an identical
    request of this run are not sent again, and unknown prices read unknown, never $0."""
    metrics = [m for g in doc.groups for m in (g.metrics, g.base_metrics) if m]

    def count(key: str) -> int:
        return sum(m.count(key) for m in metrics)

    spent = [m.get("spent_usd") for m in metrics]
    money = "unknown" if any(v is None for v in spent) else "$" + fmt.money(sum(v for v in spent if v is not None), 4)
    return (f"calls: {count('calls')} scored, {count('sent_calls')} sent, {count('cached_calls')} from the cache, "
            f"{count('shared_calls')} shared with an identical request; spent {money}")


def print_result(console: Any, result: EvalResult) -> None:
    """The terminal summary: one line per suite x model, the reasons, where the reports are."""
    from rich.table import Table

    doc = result.document
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    table = Table(box=None, pad_edge=False)
    for column in ("suite", "prompt", "model", "kind", "cases", "correct", "schema", "refusal", "unsafe", "errors",
                   "p95 s", "cost $", "gate"):
        table.add_column(column)
    for g in sorted(doc.groups, key=lambda g: g.kind == "redteam"):  # red-team groups last, labelled
        m = g.metrics
        verdict = "incomplete" if g.incomplete else "pass" if g.passed else "FAIL"
        table.add_row(g.suite, g.prompt, g.model, g.kind, str(m.count("cases")), fmt.pct(m.get("correctness")),
                      fmt.pct(m.get("schema_validity")), fmt.pct(m.get("refusal_rate")),
                      fmt.pct(m.get("unsafe_compliance")), str(m.count("errors")), fmt.seconds(m.get("latency_p95_s")),
                      fmt.money(m.get("cost_usd"), 4), verdict)
    console.print(table)
    if doc.groups:
        console.print(calls_line(doc), markup=False)
    if doc.adaptive:
        console.print(adaptive.describe(doc.adaptive), markup=False)
    for g in doc.groups:
        truncated = truncated_line(g)
        if truncated:
            console.print(f"warning: {g.suite} x {g.model}: {truncated}", markup=False)
    lines = regression_lines(doc.groups)
    for line in lines[:MAX_REGRESSION_LINES]:
        console.print(line, markup=False)
    if len(lines) > MAX_REGRESSION_LINES:
        console.print(f"… {len(lines) - MAX_REGRESSION_LINES} more regressions in report.md", markup=False)
    for g in doc.groups:
        for metric, sentence, _ in sensitivity_lines(g, warnings_only=True):
            console.print(f"warning: {g.label}: {metric} max_drop: {sentence}", markup=False)
    for g in doc.groups:
        if g.regressions or g.fixes:
            console.print(change_summary(g), markup=False)
    for reason in doc.gate.reasons:
        console.print(f"- {reason}", markup=False)
    for line in skipped_lines(doc.gate.skipped):
        console.print(line, markup=False)
    for name, suite in doc.suites.items():
        advice = suite.recommendation
        if advice:
            choice = advice.choice
            console.print(f"recommendation {name}: " + (f"cheapest passing {choice.model} (prompt {choice.prompt})"
                                                      if choice else "no candidate passes every gate"), markup=False)
    console.print(f"gate: {doc.gate.status} (exit {doc.gate.exit_code}) · run {doc.run.id}", markup=False)
    if result.report_dir is not None:
        console.print(f"reports: {result.report_dir}", markup=False)


MAX_REGRESSION_LINES = 10


def regression_lines(groups: Sequence[Group]) -> list[str]:
    """One line per regressed case, changes beyond noise first; with repeated runs each shows the
    case's passes at both refs, so a 4/5 -> 3/5 wobble does not read like a 5/5 -> 0/5 break."""
    found = [(g, r) for g in groups for r in g.regressions]
    found.sort(key=lambda item: item[1].beyond_noise is False)
    lines = []
    for g, r in found:
        line = f"regression: {g.suite}/{r.case_id} x {g.model}"
        if r.p_value is not None:
            line += (f" (base {r.base_passed}/{r.base_runs}, head {r.head_passed}/{r.head_runs}"
                     + ("" if r.beyond_noise else "; noise-level") + ")")
        lines.append(line)
    return lines


def change_summary(g: Group) -> str:
    """A group's regression and fix counts and the paired test of correctness, on one line."""
    def count(n: int, word: str, plural: str) -> str:
        return f"{n} {word if n == 1 else plural}"

    regressions, fixes = g.regressions, g.fixes
    text = f"{g.suite} x {g.model}: {count(len(regressions), 'regression', 'regressions')}"
    if any(r.beyond_noise is not None for r in regressions + fixes):
        text += f" ({sum(1 for r in regressions if r.beyond_noise)} beyond noise)"
    text += f", {count(len(fixes), 'fix', 'fixes')}"
    c = g.comparisons.get("correctness")
    if c and c.p_value is not None:
        text += f"; correctness {fmt.pct(c.base)} → {fmt.pct(c.head)}, p={c.p_value:.3g} ({c.method})"
    return text
