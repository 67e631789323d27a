"""The results document: the product of a run, built only from what the store holds.

`results.json` is this document (its typed model and its one reader and writer are in
document.py; the keys are documented in docs/results.md); the Markdown, JUnit and HTML reports
are views of it, so `llmops report RUN` re-renders any past run exactly.

A suite with several candidates (models, or prompt variants with `prompts: [a, b]`) gets a
`recommendation` (recommend.py); the gate decision does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, cast

from llmops_cli import adaptive
from llmops_cli.document import (
    AssertionResult,
    BaselineRef,
    CallResult,
    CaseResult,
    Document,
    GateResult,
    GoldenChanges,
    GraderCall,
    Group,
    Metrics,
    Recommendation,
    RunInfo,
    StepResult,
    SuiteEntry,
    as_json,
)
from llmops_cli.gate import (
    GateSettings,
    assertion_results,
    case_changes,
    check_thresholds,
    compare_values,
    decide,
    drop_sensitivity,
    paired_values,
    tool_call_results,
)
from llmops_cli.metrics import PAIRED, MetricContext
from llmops_cli.metrics.compute import case_scores, compute
from llmops_cli.recommend import recommend
from llmops_cli.report.prose import reasons
from llmops_cli.store import CallId, CallRecord, RunRow, SideGroup, Store, group_records

Shapes = dict[tuple[tuple[str, bool], ...], tuple[AssertionResult, ...]]  # assertion verdicts without messages

# What results.json keeps of the run's config: enough to judge its records again (`llmops merge`, `report`),
# `adaptive` included, whose suites take their levels from first runs and report the calls added.
CONFIG_KEPT = ("suites", "gate_settings", "prompt_hashes", "tool_hashes", "adaptive")


def build_document(run: RunRow, records: Iterable[CallRecord], outcome: Mapping[str, Any]) -> Document:
    """The document of records held in memory (a merge of shards, a test)."""
    records = list(records)
    grouped = group_records(records)
    return _document(run, grouped, grouped.__getitem__, lambda: (r.call_id for r in records if r.grader is None),
                     outcome)


def stored_document(run: RunRow, store: Store, outcome: Mapping[str, Any]) -> Document:
    """The document of a stored run, its records read one group (side x suite x prompt x model) at a time and let
    go once their group is judged: a 100k-case run never holds every record beside the whole document."""
    rows = store.result_groups(run.id)
    return _document(run, rows, lambda key: list(store.results_of(rows[key])), lambda: store.call_ids(run.id), outcome)


def _document(run: RunRow, keys: Collection[SideGroup], load: Callable[[SideGroup], list[CallRecord]],
              calls: Callable[[], Iterable[CallId]], outcome: Mapping[str, Any]) -> Document:
    """The document of a run whose records come by group: `keys` names the groups, `load` reads one."""
    config = run.config
    settings = GateSettings(**config.get("gate_settings", {}))
    resampled = set((config.get("adaptive") or {}).get("suites", ()))
    shapes: Shapes = {}
    groups = [_judged_group(config, key, keys, load, settings, run.baseline_ref is not None, resampled, shapes)
              for key in sorted(keys) if key[0] == "head"]
    decision = decide(groups, outcome, settings)
    gate = GateResult(status=decision.status, exit_code=decision.exit_code, reasons=tuple(reasons(decision)),
                      skipped=decision.skipped)
    suites = {name: _suite_entry(entry, recommend([g for g in groups if g.suite == name], settings))
              for name, entry in config["suites"].items()}
    return Document(
        run=RunInfo(
            id=run.id, created_at=run.created_at, finished_at=run.finished_at, status=run.status,
            git_commit=run.git_commit, git_dirty=run.git_dirty,
            baseline=BaselineRef(run.baseline_ref, run.baseline_commit) if run.baseline_ref else None,
            options=config.get("options", {}), redaction=tuple(config.get("redaction", [])),
            python_assertions=config.get("allow_python", False), notes=tuple(config.get("notes", [])),
            config={k: config[k] for k in CONFIG_KEPT if k in config}),
        gate=gate, groups=tuple(groups), suites=suites,
        adaptive=adaptive.summary(config, calls()) if config.get("adaptive") else None)


def _judged_group(config: Mapping[str, Any], key: SideGroup, keys: Collection[SideGroup],
                  load: Callable[[SideGroup], list[CallRecord]], settings: GateSettings, has_baseline: bool,
                  resampled: set[str], shapes: Shapes) -> Group:
    """A head group judged against its base group; their records go when it returns."""
    _, suite, prompt, model = key
    base_key = ("base", suite, prompt, model)
    return _group(config["suites"][suite], suite, prompt, model, load(key), load(base_key) if base_key in keys else None,
                  settings, has_baseline=has_baseline, first_runs_levels=suite in resampled, shapes=shapes)


def _suite_entry(config: Mapping[str, Any], advice: Recommendation | None) -> SuiteEntry:
    """What the report says of a suite: from the config it was judged by, plus the advice."""
    changes = config.get("golden_changes")
    changed_by = config.get("golden_changed_by")
    diffs = config.get("template_diffs")
    tools = config.get("tool_diffs")
    return SuiteEntry(
        kind=config.get("kind"),
        golden_changes=GoldenChanges(added=tuple(changes["added"]), removed=tuple(changes["removed"]),
                                     edited=tuple(changes["edited"])) if changes is not None else None,
        golden_changed_by=tuple(changed_by) if changed_by is not None else None,
        template_diffs=dict(diffs) if diffs is not None else None,
        tool_diffs=dict(tools) if tools is not None else None,
        only_in=config.get("only_in"), recommendation=advice)


def _missing_base(suite_config: Mapping[str, Any], suite: str, prompt: str, model: str, has_baseline: bool) -> str:
    """Why a group has no baseline to compare with, in words a reviewer can act on."""
    if not has_baseline:
        return "run without a baseline"
    if suite_config.get("only_in") == "head":
        return (f"suite {suite!r} has no baseline (new in this change, or renamed with a different golden set); "
                "nothing to compare")
    return (f"no baseline run of prompt {prompt!r} x model {model!r} (a new prompt, a rename git did not detect, "
            "or a model not defined at the baseline); nothing to compare")


def _group(suite_config: Mapping[str, Any], suite: str, prompt: str, model: str, head: list[CallRecord],
           base: list[CallRecord] | None, settings: GateSettings, has_baseline: bool, first_runs_levels: bool,
           shapes: Shapes) -> Group:
    context = MetricContext(has_schema=bool(suite_config.get("has_schema", {}).get(prompt)))
    computed = compute(head, context)
    base_computed = compute(base, context) if base else None
    if first_runs_levels:  # `repeat: auto` samples only disagreeing cases again: levels come from first runs
        computed = adaptive.level_metrics(computed, compute(adaptive.first_runs(head), context))
        if base and base_computed is not None:
            base_computed = adaptive.level_metrics(base_computed, compute(adaptive.first_runs(base), context))
    metrics = Metrics.from_json(computed)
    base_metrics = Metrics.from_json(base_computed) if base_computed is not None else None
    same = set(suite_config.get("same_cases") or [])
    values = {m: paired_values(head, base, m, same, context) for m in PAIRED} if base else {}
    compare = adaptive.compare if first_runs_levels else compare_values  # adaptive: the weighted sign-flip test
    compared = {m: compare(bv, hv, settings.alpha) for m, (bv, hv) in values.items()}
    thresholds = check_thresholds(metrics, suite_config.get("thresholds", {}), base_metrics, compared, settings,
                                  missing_base=_missing_base(suite_config, suite, prompt, model, has_baseline))
    for i, t in enumerate(thresholds):
        if t.bound == "max_drop" and t.metric in compared:
            # With require_significance the test, not max_drop alone, decides: noise fails at most alpha.
            alone = None if settings.require_significance else t.limit
            thresholds[i] = replace(t, sensitivity=drop_sensitivity(compared[t.metric], *values[t.metric],
                                                                    settings.alpha, alone))
    changes = case_changes(head, base, same, settings.alpha) if base else None
    error_rate = metrics.get("error_rate")
    incomplete = error_rate is not None and error_rate > settings.max_error_rate
    return Group(
        suite=suite, prompt=prompt, model=model, model_id=head[0].model_id, kind=suite_config.get("kind", "quality"),
        passed=not incomplete and all(t.passed is not False for t in thresholds), incomplete=incomplete,
        metrics=metrics, base_metrics=base_metrics, comparisons=compared, thresholds=tuple(thresholds),
        regressions=tuple(changes.regressions) if changes else (), fixes=tuple(changes.fixes) if changes else (),
        cases=_cases(head, shapes), base_cases=_cases(base, shapes) if base else ())


def _cases(records: list[CallRecord], shapes: Shapes) -> tuple[CaseResult, ...]:
    scores = case_scores(records)
    runs: dict[str, list[CallRecord]] = {}
    for r in sorted(records, key=lambda r: (r.case_id, r.repeat)):
        runs.setdefault(r.case_id, []).append(r)
    return tuple(CaseResult(case_id=first.case_id, case_hash=first.case_hash, tags=tuple(first.tags),
                            expect_refusal=first.expect_refusal, score=scores[case_id],
                            passed=scores[case_id] == 1.0, messages=tuple(first.messages),
                            runs=tuple(_call(r, shapes) for r in case_runs))
                 for case_id, case_runs in runs.items() for first in case_runs[:1])


def _call(r: CallRecord, shapes: Shapes) -> CallResult:
    return CallResult(
        repeat=r.repeat, key=r.key, output=r.output, error=r.error, error_class=r.error_class, attempts=r.attempts,
        cached=r.cached, finish_reason=r.finish_reason, latency_s=r.latency_s, tokens_in=r.tokens_in,
        tokens_out=r.tokens_out, cost_usd=r.cost_usd, passed=r.passed and r.ok, refused=r.refused, empty=r.empty,
        schema_valid=r.schema_valid, assertions=_assertions(r.assertions, shapes),
        graders=tuple(GraderCall(**a) for a in r.graders), shared=r.shared,
        tool_calls=tool_call_results(r.tool_calls), steps=tuple(_step(s) for s in r.steps))


def _assertions(verdicts: list[dict[str, Any]], shapes: Shapes) -> tuple[AssertionResult, ...]:
    """A run's assertion verdicts; those without a message are one shared tuple per shape (type, passed),
    as most runs of a large run pass alike: 100k cases then hold one copy, not 100k."""
    if any(v.get("message") for v in verdicts):
        return tuple(assertion_results(verdicts))
    shape = tuple((str(v["type"]), bool(v["passed"])) for v in verdicts)
    found = shapes.get(shape)
    if found is None:
        found = shapes[shape] = tuple(assertion_results(verdicts))
    return found


def _step(step: Mapping[str, Any]) -> StepResult:
    """An agent loop's step as its record holds it (agent.Step.summary, redacted)."""
    return StepResult(key=step["key"], text=step["text"], finish_reason=step["finish_reason"],
                      tool_calls=tool_call_results(step["tool_calls"]), tool_results=tuple(step["tool_results"]),
                      cached=step["cached"], tokens_in=step["tokens_in"], tokens_out=step["tokens_out"],
                      cost_usd=step["cost_usd"], latency_s=step["latency_s"])


def records_from_document(document: Document, side: str, base_cases: bool = False) -> Iterable[CallRecord]:
    """Call records back out of a results document: its head cases, or its `base_cases`, stored as `side`."""
    for g in document.groups:
        for case in g.base_cases if base_cases else g.cases:
            for run in case.runs:
                yield CallRecord(
                    side=side, suite=g.suite, prompt=g.prompt, model=g.model, model_id=g.model_id,
                    case_id=case.case_id, repeat=run.repeat, key=run.key,
                    messages=cast("list[dict[str, str]]", [dict(m) for m in case.messages]),
                    output=run.output, error=run.error, error_class=run.error_class, attempts=run.attempts,
                    cached=run.cached, finish_reason=run.finish_reason, latency_s=run.latency_s,
                    tokens_in=run.tokens_in, tokens_out=run.tokens_out, cost_usd=run.cost_usd,
                    passed=run.passed, refused=run.refused, empty=run.empty, schema_valid=run.schema_valid,
                    expect_refusal=case.expect_refusal, tags=list(case.tags),
                    assertions=[{"type": a.type, "passed": a.passed, "message": a.message} for a in run.assertions],
                    case_hash=case.case_hash, graders=[as_json(a) for a in run.graders], shared=run.shared,
                    tool_calls=[as_json(c) for c in run.tool_calls], steps=[as_json(s) for s in run.steps])


def summary_of(document: Document) -> dict[str, Any]:
    """What `runs` and `prompts log` list: the gate and each group's metrics, no cases."""
    return {
        "gate": as_json(document.gate),
        "groups": [{"suite": g.suite, "prompt": g.prompt, "model": g.model, "model_id": g.model_id,
                    "passed": g.passed, "metrics": g.metrics.to_json()} for g in document.groups],
    }
