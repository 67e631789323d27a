"""The repository's own example project (top-level prompts/ and evals/) stays valid and green."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO, llmops

from llmops_cli._standin import StandinServer


def test_example_project_checks() -> None:
    run = llmops("check", cwd=REPO)
    assert run.code == 0, run.stderr
    assert "lock verified" in run.stdout


def test_example_project_passes_its_gate_on_the_standin(tmp_path: Path, server: StandinServer) -> None:
    for name in ("llmops.yaml", "llmops.lock", "prompts", "evals"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    run = llmops("eval", "--no-baseline", cwd=tmp_path, env={"LLMOPS_STANDIN_URL": server.base_url})
    assert run.code == 0, run.stdout + run.stderr
    assert "gate: passed" in run.stdout
