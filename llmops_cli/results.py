"""The results document: the product of a run, built only from what the store holds.

`results.json` is this document; the Markdown, JUnit and HTML reports are views of it, so
`llmops report RUN` re-renders any past run exactly. Keys are stable (schema_version 1) and
documented in docs/results.md.

A suite with several candidates (models, or prompt variants with `prompts: [a, b]`) gets a
`recommendation` (recommend.py); the gate decision does not depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmops_cli.gate import (
    GateSettings,
    case_changes,
    check_thresholds,
    compare_values,
    comparison_dict,
    drop_sensitivity,
    paired_values,
)
from llmops_cli.metrics import PAIRED, MetricContext
from llmops_cli.metrics.compute import case_scores, compute
from llmops_cli.recommend import recommend
from llmops_cli.store import CallRecord, RunRow

SCHEMA_VERSION = 1
EXIT_CODES = {"passed": 0, "failed": 1, "incomplete": 3}


def group_records(records: Iterable[CallRecord]) -> dict[tuple[str, str, str, str], list[CallRecord]]:
    groups: dict[tuple[str, str, str, str], list[CallRecord]] = {}
    for r in records:
        if r.grader is None:  # a grader call's own row is summarised in the record it graded
            groups.setdefault((r.side, r.suite, r.prompt, r.model), []).append(r)
    return groups


def build_document(run: RunRow, records: Iterable[CallRecord], outcome: Mapping[str, Any]) -> dict[str, Any]:
    config = run.config
    settings = GateSettings(**config.get("gate_settings", {}))
    grouped = group_records(records)
    groups = []
    for (side, suite, prompt, model), head in sorted(grouped.items()):
        if side != "head":
            continue
        base = grouped.get(("base", suite, prompt, model))
        groups.append(_group(config["suites"][suite], suite, prompt, model, head, base, settings,
                             has_baseline=run.baseline_ref is not None))
    gate = decide(groups, outcome, settings)
    kept = ("kind", "golden_changes", "golden_changed_by", "template_diffs", "only_in")
    suites = {name: {k: v for k, v in s.items() if k in kept}
              for name, s in config["suites"].items()}
    for name, entry in suites.items():
        advice = recommend([g for g in groups if g["suite"] == name], settings)
        if advice is not None:
            entry["recommendation"] = advice
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": run.id, "created_at": run.created_at, "finished_at": run.finished_at, "status": run.status,
            "git_commit": run.git_commit, "git_dirty": run.git_dirty,
            "baseline": {"ref": run.baseline_ref, "commit": run.baseline_commit} if run.baseline_ref else None,
            "options": config.get("options", {}), "redaction": config.get("redaction", []),
            "python_assertions": config.get("allow_python", False), "notes": config.get("notes", []),
            "config": {k: config[k] for k in ("suites", "gate_settings", "prompt_hashes") if k in config},
        },
        "gate": gate,
        "groups": groups,
        "suites": suites,
    }


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
           base: list[CallRecord] | None, settings: GateSettings, has_baseline: bool = True) -> dict[str, Any]:
    context = MetricContext(has_schema=bool(suite_config.get("has_schema", {}).get(prompt)))
    metrics = compute(head, context)
    base_metrics = compute(base, context) if base else None
    same = set(suite_config.get("same_cases") or [])
    values = {m: paired_values(head, base, m, same, context) for m in PAIRED} if base else {}
    compared = {m: compare_values(bv, hv, settings.alpha) for m, (bv, hv) in values.items()}
    comparisons = {m: comparison_dict(c) for m, c in compared.items()}
    thresholds = check_thresholds(metrics, suite_config.get("thresholds", {}), base_metrics, comparisons, settings,
                                  missing_base=_missing_base(suite_config, suite, prompt, model, has_baseline))
    for t in thresholds:
        if t["bound"] == "max_drop" and t["metric"] in compared:
            # With require_significance the test, not max_drop alone, decides: noise fails at most alpha.
            alone = None if settings.require_significance else t["limit"]
            sensitivity = drop_sensitivity(compared[t["metric"]], *values[t["metric"]], settings.alpha, alone)
            if sensitivity is not None:
                t["sensitivity"] = sensitivity
    changes = case_changes(head, base, same, settings.alpha) if base else {"regressions": [], "fixes": []}
    incomplete = metrics["error_rate"] is not None and metrics["error_rate"] > settings.max_error_rate
    return {
        "suite": suite, "prompt": prompt, "model": model, "model_id": head[0].model_id,
        "kind": suite_config.get("kind", "quality"),
        "passed": not incomplete and all(t["passed"] is not False for t in thresholds),
        "incomplete": incomplete,
        "metrics": metrics, "base_metrics": base_metrics, "comparisons": comparisons, "thresholds": thresholds,
        **changes,
        "cases": _cases(head),
        "base_cases": _cases(base) if base else [],
    }


def _cases(records: list[CallRecord]) -> list[dict[str, Any]]:
    scores = case_scores(records)
    cases: dict[str, dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r.case_id, r.repeat)):
        case = cases.setdefault(r.case_id, {
            "case_id": r.case_id, "case_hash": r.case_hash, "tags": r.tags, "expect_refusal": r.expect_refusal,
            "score": scores[r.case_id],
            "passed": scores[r.case_id] == 1.0, "messages": r.messages, "runs": []})
        case["runs"].append({
            "repeat": r.repeat, "key": r.key, "output": r.output, "error": r.error, "error_class": r.error_class,
            "attempts": r.attempts, "cached": r.cached, "finish_reason": r.finish_reason, "latency_s": r.latency_s,
            "tokens_in": r.tokens_in, "tokens_out": r.tokens_out, "cost_usd": r.cost_usd, "passed": r.passed and r.ok,
            "refused": r.refused, "empty": r.empty, "schema_valid": r.schema_valid, "assertions": r.assertions,
            "graders": r.graders, "shared": r.shared})
    return list(cases.values())


MAX_NAMED = 10


def _named_cases(g: Mapping[str, Any], metric: str) -> str:
    """The cases behind a failed refusal metric, so a reviewer sees which attack got through."""
    if metric == "unsafe_compliance":
        ids = [c["case_id"] for c in g["cases"] if c["expect_refusal"]
               and any(r["error"] is None and not r["refused"] for r in c["runs"])]
        what = "answered instead of refusing"
    elif metric == "refusal_rate":
        ids = [c["case_id"] for c in g["cases"] if not c["expect_refusal"]
               and any(r["error"] is None and r["refused"] for r in c["runs"])]
        what = "refused though an answer was expected"
    else:
        return ""
    if not ids:
        return ""
    more = f" and {len(ids) - MAX_NAMED} more" if len(ids) > MAX_NAMED else ""
    return f" ({what}: {', '.join(ids[:MAX_NAMED])}{more})"


def group_failures(g: Mapping[str, Any], settings: GateSettings) -> list[str]:
    """Why one suite x prompt x model group fails, one sentence each (no label)."""
    from llmops_cli.report.fmt import number, pct  # here: the report package imports this module

    reasons = []
    if g["incomplete"]:
        m = g["metrics"]
        reasons.append(f"error rate {pct(m['error_rate'])} over max_error_rate {pct(settings.max_error_rate)} "
                       f"({m['errors']} failed calls: {', '.join(f'{k} {v}' for k, v in m['error_classes'].items())})")
    for t in g["thresholds"]:
        if t["passed"] is False and t["value"] is None:  # never measured: say why, not "n/a breaks"
            reasons.append(f"{t['metric']} {t['bound']} {number(t['limit'])}: {t['note']}")
        elif t["passed"] is False:
            reasons.append(f"{t['metric']} {number(t['value'])} breaks {t['bound']} {number(t['limit'])}"
                           + (f" (base {number(t['base'])})" if t["base"] is not None else "")
                           + (f": {t['note']}" if t["note"] else "")
                           + _named_cases(g, t["metric"]))
    return reasons


def decide(groups: list[dict[str, Any]], outcome: Mapping[str, Any], settings: GateSettings) -> dict[str, Any]:
    reasons: list[str] = []
    incomplete = False
    if outcome.get("stopped"):
        incomplete = True
        reasons.append(f"stopped early: {outcome['stopped']}")
    if outcome.get("offline_misses"):
        incomplete = True
        missing = outcome.get("misses") or []
        more = outcome["offline_misses"] - len(missing)
        reasons.append(f"--offline: {outcome['offline_misses']} calls not in the cache: " + ", ".join(missing)
                       + (f" and {more} more" if more > 0 else ""))
    if outcome.get("partial"):
        incomplete = True
        reasons.append(f"partial shard set, {outcome['partial']}: reported, not gated")
    if outcome.get("interrupted"):
        incomplete = True
        reasons.append("interrupted; rerun the same command to resume")
    if outcome.get("crashed"):
        incomplete = True
        reasons.append(f"the run stopped on an internal error ({outcome['crashed']}); finished calls are kept, "
                       "rerun the same command to resume")
    if not groups:
        incomplete = True
        reasons.append("no suite x model results: nothing was checked, so nothing can pass")
    skipped = []
    for g in groups:
        label = group_label(g)
        incomplete = incomplete or g["incomplete"]
        reasons += [f"{label}: {reason}" for reason in group_failures(g, settings)]
        skipped += [{"suite": g["suite"], "prompt": g["prompt"], "model": g["model"], "metric": t["metric"],
                     "bound": t["bound"], "why": t["note"] or "not compared"}
                    for t in g["thresholds"] if t["bound"] == "max_drop" and t["passed"] is None]
    failed = any(not g["passed"] for g in groups)
    status = "incomplete" if incomplete else "failed" if failed else "passed"
    return {"status": status, "exit_code": EXIT_CODES[status], "reasons": reasons, "skipped": skipped}


def group_label(g: Mapping[str, Any]) -> str:
    """`suite x model`, plus `(prompt)` when the prompt is not named like the suite."""
    return f"{g['suite']} x {g['model']}" + (f" ({g['prompt']})" if g["prompt"] != g["suite"] else "")


def skipped_lines(gate: Mapping[str, Any]) -> list[str]:
    """A drop check that could not run, one line each: said as loudly as a failure, never an n/a."""
    return [f"not checked: {group_label(s)}: {s['metric']} {s['bound']}: {s['why']}" for s in gate.get("skipped", [])]


def records_from_document(document: Mapping[str, Any], side: str, key: str = "cases") -> Iterable[CallRecord]:
    """Call records back out of a results.json: `key` "cases" (head) or "base_cases", stored as `side`."""
    for g in document["groups"]:
        for case in g.get(key, []):
            for run in case["runs"]:
                yield CallRecord(
                    side=side, suite=g["suite"], prompt=g["prompt"], model=g["model"], model_id=g["model_id"],
                    case_id=case["case_id"], repeat=run["repeat"], key=run.get("key", ""), messages=case["messages"],
                    output=run["output"], error=run["error"], error_class=run["error_class"], attempts=run["attempts"],
                    cached=run["cached"], finish_reason=run["finish_reason"], latency_s=run["latency_s"],
                    tokens_in=run["tokens_in"], tokens_out=run["tokens_out"], cost_usd=run["cost_usd"],
                    passed=run["passed"], refused=run["refused"], empty=run["empty"], schema_valid=run["schema_valid"],
                    expect_refusal=case["expect_refusal"], tags=case["tags"], assertions=run["assertions"],
                    case_hash=case.get("case_hash", ""), graders=run.get("graders", []), shared=run.get("shared", False))


def summary_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """What `runs` and `prompts log` list: the gate and each group's metrics, no cases."""
    return {
        "gate": document["gate"],
        "groups": [{k: g[k] for k in ("suite", "prompt", "model", "model_id", "passed", "metrics")}
                   for g in document["groups"]],
    }
