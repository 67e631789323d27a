"""`llmops prompts log NAME`: a prompt's commits joined with the eval results stored for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_cli import gitref
from llmops_cli.cases import sha256_text
from llmops_cli.config import PROMPTS_DIR
from llmops_cli.errors import InputError
from llmops_cli.project import prompt_version
from llmops_cli.store import Store
from llmops_cli.tooldefs import TOOL_NAME, TOOLS_DIR
from llmops_cli.yamlfile import YamlError, load_yaml


@dataclass(frozen=True)
class LineageEntry:
    commit: gitref.CommitInfo
    results: list[dict[str, Any]] = field(default_factory=list)  # per run x model: run, model, metrics, gate
    tools: dict[str, str] = field(default_factory=dict)  # tool name -> short hash of its file at this commit


def prompt_log(root: Path, name: str, limit: int = 50) -> list[LineageEntry]:
    path = next((f"{PROMPTS_DIR}/{name}{ext}" for ext in (".yaml", ".yml") if (root / PROMPTS_DIR / f"{name}{ext}").exists()),
                f"{PROMPTS_DIR}/{name}.yaml")
    commits = gitref.file_log(root, path, limit)
    # A tool edit is a new version of every prompt offering it: its commits are part of the lineage.
    for tool in _tool_names((root / path).read_text(encoding="utf-8") if (root / path).is_file() else ""):
        commits += gitref.file_log(root, f"{TOOLS_DIR}/{tool}.yaml", limit)
    commits = sorted({c.sha: c for c in commits}.values(), key=lambda c: c.date, reverse=True)[:limit]
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
            tools = {t: source.read_text(f"{TOOLS_DIR}/{t}.yaml") or "" for t in _tool_names(text or "")}
        finally:
            source.close()  # gitpython keeps `git cat-file` helpers per repository open until then
        version = prompt_version(text, list(tools.values())) if text is not None else None
        entries.append(LineageEntry(commit, by_version.get(version, []) if version else [],
                                    {t: sha256_text(body)[:8] for t, body in tools.items()}))
    return entries


def _tool_names(prompt_text: str) -> list[str]:
    """The tools a prompt file lists (none when it does not parse: lineage shows what it can)."""
    try:
        data = load_yaml(prompt_text)
    except YamlError:
        return []
    tools = data.get("tools") if isinstance(data, dict) else None
    return [t for t in tools if isinstance(t, str) and TOOL_NAME.fullmatch(t)] if isinstance(tools, list) else []
