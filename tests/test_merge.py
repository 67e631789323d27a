"""Sharding and merging: 4 shards merged equal one unsharded run, apart from timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import SUPPORT_PROMPT, git, llmops, write_project

from llmops_cli.standin import StandinServer

TIMING_KEYS = {"latency_s", "cached", "attempts"}
TIMING_METRICS = {"latency_p50_s", "latency_p95_s", "latency_max_s", "cached_calls", "spent_usd"}


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


def test_four_shards_merge_to_the_unsharded_result(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(24))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "pr")
    (root / "prompts" / "support.yaml").write_text(SUPPORT_PROMPT.replace("as refund, bug or other", ""))
    git(root, "commit", "-qam", "worse prompt")

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
