"""Sharding and merging: 4 shards merged equal one unsharded run, apart from timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import SUPPORT_PROMPT, git, llmops, write_project

from llmops_cli._standin import StandinServer

TIMING_KEYS = {"latency_s", "cached", "attempts", "shared"}  # how an answer was obtained, not what it was
TIMING_METRICS = {"latency_p50_s", "latency_p95_s", "latency_max_s", "cached_calls", "spent_usd", "sent_calls",
                  "shared_calls"}


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """Everything but timings and run identity."""
    doc = json.loads(json.dumps(document))
    for group in doc["groups"]:
        for key in ("metrics", "base_metrics"):
            for metric in TIMING_METRICS:
                (group[key] or {}).pop(metric, None)
        for threshold in group["thresholds"]:
            if threshold["metric"].startswith("latency"):
                threshold["value"] = threshold["base"] = None
        for case in group["cases"] + group["base_cases"]:
            for run in case["runs"]:
                for key in TIMING_KEYS:
                    run.pop(key)
    return {"gate": doc["gate"], "groups": doc["groups"], "suites": doc["suites"]}


def many_cases(n: int) -> str:
    labels = [("refund", "I want a refund"), ("bug", "It crashes"), ("other", "Hello there")]
    lines = []
    for i in range(n):
        label, text = labels[i % 3]
        lines.append(json.dumps({"id": f"c{i:03d}", "vars": {"product": "Acme", "ticket": f"{text} #{i}"},
                                 "assert": [{"type": "json_field", "path": "category", "equals": label}]}))
    return "\n".join(lines) + "\n"


def _worse_prompt_on_a_branch(root: Path) -> None:
    """main holds the project; branch `pr` drops the label list, so some cases regress."""
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "pr")
    (root / "prompts" / "support.yaml").write_text(SUPPORT_PROMPT.replace("as refund, bug or other", ""))
    git(root, "commit", "-qam", "worse prompt")


def test_four_shards_merge_to_the_unsharded_result(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(24))
    _worse_prompt_on_a_branch(root)

    full = llmops("eval", "--baseline", "main", "--out", str(tmp_path / "full"), cwd=root)
    assert full.code == 1, full.stderr
    shard_dirs = []
    sizes = []
    for i in range(1, 5):
        out = tmp_path / f"shard{i}"
        run = llmops("eval", "--baseline", "main", "--shard", f"{i}/4", "--out", str(out), cwd=root)
        assert run.code in (0, 1), run.stderr
        sizes.append(sum(len(g["cases"]) for g in json.loads((out / "results.json").read_text())["groups"]))
        shard_dirs.append(str(out))
    assert sum(sizes) == 24 and all(size < 24 for size in sizes)

    merged = llmops("merge", *shard_dirs, "--out", str(tmp_path / "merged"), cwd=root)
    assert merged.code == 1, merged.stderr
    a = json.loads((tmp_path / "full" / "results.json").read_text())
    b = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert comparable(a) == comparable(b)
    assert len(b["groups"][0]["regressions"]) == len(a["groups"][0]["regressions"]) > 0


def test_overlapping_shards_are_refused(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    run = llmops("eval", "--no-baseline", "--out", str(tmp_path / "a"), cwd=root)
    assert run.code == 0
    merged = llmops("merge", str(tmp_path / "a"), str(tmp_path / "a"), cwd=root)
    assert merged.code == 2
    assert "shards must not overlap" in merged.stderr
    assert "Traceback" not in merged.stderr


def test_shard_spec_is_validated(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    run = llmops("eval", "--no-baseline", "--shard", "0/4", cwd=root)
    assert run.code == 2
    assert "--shard" in run.stderr


def test_an_incomplete_shard_set_never_gates(tmp_path: Path, server: StandinServer) -> None:
    """Shard 2/2 alone once passed while the whole run failed in shard 1: a partial set stops (exit 3)."""
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(12))
    _worse_prompt_on_a_branch(root)
    shards = {}
    for i in (1, 2, 3):
        shards[i] = str(tmp_path / f"shard{i}")
        run = llmops("eval", "--baseline", "main", "--shard", f"{i}/3", "--out", shards[i], cwd=root)
        assert run.code in (0, 1), run.stderr

    partial = llmops("merge", shards[2], "--out", str(tmp_path / "partial"), cwd=root)
    assert partial.code == 3, partial.stdout + partial.stderr
    assert "Traceback" not in partial.stderr
    (line,) = partial.stderr.strip().splitlines()
    assert "missing shards 1/3, 3/3" in line and "--allow-partial" in line, line
    assert not (tmp_path / "partial" / "results.json").exists()

    reported = llmops("merge", shards[2], shards[3], "--allow-partial", "--out", str(tmp_path / "partial"), cwd=root)
    assert reported.code == 3, reported.stdout + reported.stderr
    document = json.loads((tmp_path / "partial" / "results.json").read_text())
    assert document["gate"]["status"] == "incomplete"
    assert any("missing shards 1/3" in reason and "not gated" in reason for reason in document["gate"]["reasons"])
    assert "missing shards 1/3" in (tmp_path / "partial" / "report.md").read_text()
    assert "gate: incomplete (exit 3)" in reported.stdout

    (root / "README.md").write_text("later\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a later commit")
    later = str(tmp_path / "later1")
    assert llmops("eval", "--baseline", "main", "--shard", "1/3", "--out", later, cwd=root).code in (0, 1)
    mixed = llmops("merge", later, shards[2], shards[3], cwd=root)
    assert mixed.code == 2, mixed.stdout + mixed.stderr
    assert "different commits" in mixed.stderr

    other_count = str(tmp_path / "of2")
    assert llmops("eval", "--baseline", "main", "--shard", "1/2", "--out", other_count, cwd=root).code in (0, 1)
    counts = llmops("merge", other_count, later, cwd=root)
    assert counts.code == 2 and "shard counts" in counts.stderr, counts.stderr

    whole = llmops("merge", shards[1], shards[2], shards[3], "--out", str(tmp_path / "whole"), cwd=root)
    assert whole.code == 1, whole.stdout + whole.stderr
