"""`llmops prompts log NAME`: a prompt's commits joined with the eval results stored for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli import gitref
from llmops_cli.cases import sha256_text
from llmops_cli.config import PROMPTS_DIR
from llmops_cli.errors import InputError
from llmops_cli.store import Store


@dataclass(frozen=True)
class LineageEntry:
    commit: gitref.CommitInfo
    results: list[dict[str, Any]] = field(default_factory=list)  # per run x model: run, model, metrics, gate


def prompt_log(root: Path, name: str, limit: int = 50) -> list[LineageEntry]:
    path = next((f"{PROMPTS_DIR}/{name}{ext}" for ext in (".yaml", ".yml") if (root / PROMPTS_DIR / f"{name}{ext}").exists()),
                f"{PROMPTS_DIR}/{name}.yaml")
    commits = gitref.file_log(root, path, limit)
    if not commits:
        raise InputError(f"{path}: no commits touch this prompt (is it committed, and is this a git repository?)")
    with Store(root) as store:
        runs = store.list_runs(limit=5000)
    # A run belongs to the prompt version it actually ran: matched by the prompt file's hash,
    # so runs at later commits that did not touch the prompt (or with it uncommitted) land right.
    by_version: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        version = run.config.get("prompt_hashes", {}).get(name)
        for group in (run.summary or {}).get("groups", []):
            if version and group["prompt"] == name:
                by_version.setdefault(version, []).append(
                    {"run": run.id, "commit": run.git_commit, "suite": group["suite"], "model": group["model"],
                     "metrics": group["metrics"], "passed": group["passed"]})
    entries = []
    for commit in commits:
        source = gitref.open_ref(root, commit.sha)
        try:
            text = source.read_text(path)
        finally:
            source.close()  # gitpython keeps `git cat-file` helpers per repository open until then
        entries.append(LineageEntry(commit, by_version.get(sha256_text(text), []) if text is not None else []))
    return entries
