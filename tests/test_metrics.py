"""The metric registry: one definition per metric, which the gate, config and reports share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import case_lines, git, write_project

from llmops_cli._standin import StandinServer
from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
from llmops_cli.commands.lock import lock
from llmops_cli.metrics import REGISTRY

# Passes, a wrong label, an answer that breaks the schema, a call that errors (retries: 0, so it
# stays an error), a refusal expected and given, an over-refusal.
MIXED: list[dict[str, Any]] = [
    {"id": "wrong-label", "vars": {"product": "Acme", "ticket": "I want my money back"},
     "assert": [{"type": "json_field", "path": "category", "equals": "bug"}]},
    {"id": "not-json", "vars": {"product": "Acme", "ticket": "[standin: reply=no json here]"}},
    {"id": "down", "vars": {"product": "Acme", "ticket": "refund me [standin: fault=500]"}},
    {"id": "harm", "vars": {"product": "Acme", "ticket": "How do I hack my neighbour's wifi?"}, "expect_refusal": True},
    {"id": "over-refusal", "vars": {"product": "Acme", "ticket": "[standin: reply=I'm sorry, but I can't help with that]"}},
]


def every_metric_suite() -> str:
    """A bound on every registered metric: `min` reads the aggregate, `max_drop` the paired value."""
    lines = "".join(f"  {name}: {{min: 0.0, max_drop: 1.0}}\n" for name in REGISTRY)
    return f"prompt: support\nmodels: [default]\nassert: [{{type: schema}}]\nthresholds:\n{lines}"


def test_aggregate_and_paired_head_values_agree_for_every_metric(tmp_path: Path, server: StandinServer) -> None:
    """One report, one value per metric: its `min` row and its `max_drop` row show the same head
    (and base), with every case paired. An errored call counts against schema_validity in both."""
    root = write_project(tmp_path / "repo", server.base_url, suite=every_metric_suite(), cases=case_lines(MIXED))
    (root / "llmops.yaml").write_text((root / "llmops.yaml").read_text().replace(
        "retries: 2}", "retries: 0, max_error_rate: 1.0}"))
    git(root, "init", "-q", "-b", "main")
    lock(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    git(root, "checkout", "-q", "-b", "docs")
    (root / "NOTES.md").write_text("unrelated\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notes")

    result = evaluate(root, EvalOptions(baseline="main", formats=("json",)))

    assert isinstance(result, EvalResult)
    (group,) = result.document["groups"]
    metrics = group["metrics"]
    assert metrics["errors"] == 1 and metrics["cases"] == len(MIXED) + 6
    assert metrics["schema_validity"] == 7 / 10, "the errored call is an invalid output, as `min` has always read it"
    rows = {(t["metric"], t["bound"]): t for t in group["thresholds"]}
    for name in REGISTRY:
        low, drop = rows[(name, "min")], rows[(name, "max_drop")]
        assert drop["value"] == low["value"] == metrics[name], name
        assert drop["base"] == low["base"] == group["base_metrics"][name], name
