"""The `llmops-check` pre-commit hook, through real pre-commit and real `git commit`.

The hook source is a snapshot git repository of this working copy (tracked and untracked,
not ignored, files), so the test covers what would be published, uncommitted changes
included. pre-commit builds the hook's environment by pip-installing that snapshot with its
dependencies: slow (30-60 s), so PRE_COMMIT_HOME is shared by the whole test session.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import GIT_ENV, REPO

PRE_COMMIT = shutil.which("pre-commit", path=str(Path(sys.executable).parent)) or shutil.which("pre-commit")
needs_pre_commit = pytest.mark.skipif(PRE_COMMIT is None,
                                      reason="pre-commit is not installed (it comes with `pip install -e '.[test]'`)")
HOOK_ID = "llmops-check"


def _env(pre_commit_home: Path) -> dict[str, str]:
    """A clean environment for the repositories the test makes: no git variables of an outer
    hook, and no global git config (a global core.hooksPath would make `pre-commit install` refuse)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, **GIT_ENV, "PRE_COMMIT_HOME": str(pre_commit_home), "PRE_COMMIT_COLOR": "never",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = _run(["git", *args], cwd, env)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, pre_commit_home: Path) -> tuple[Path, str]:
    """A git repository holding a snapshot of this source tree; returns (path, HEAD sha)."""
    env = _env(pre_commit_home)
    # The developer's own git config applies here (safe.directory in CI containers, say).
    outer = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, env=outer,
                            capture_output=True, check=True).stdout.decode()
    snapshot = tmp_path_factory.mktemp("llmops-hook-source")
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():  # tracked but deleted in the work tree: not part of the snapshot
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    assert (snapshot / ".pre-commit-hooks.yaml").is_file() and (snapshot / "pyproject.toml").is_file()
    _git(snapshot, env, "init", "-q", "-b", "main")
    _git(snapshot, env, "add", "-A")
    _git(snapshot, env, "commit", "-q", "--no-verify", "-m", "llmops snapshot")
    return snapshot, _git(snapshot, env, "rev-parse", "HEAD").strip()


@pytest.fixture()
def user_repo(tmp_path: Path, hook_repo: tuple[Path, str], pre_commit_home: Path) -> tuple[Path, dict[str, str]]:
    """A user's project: `llmops init`, git, and a .pre-commit-config.yaml using our hook."""
    env = _env(pre_commit_home)
    repo = tmp_path / "shop"
    repo.mkdir()
    init = _run([sys.executable, "-m", "llmops_cli", "init"], repo, env)
    assert init.returncode == 0, init.stderr
    source, rev = hook_repo
    config = {"repos": [{"repo": str(source), "rev": rev, "hooks": [{"id": HOOK_ID}]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _git(repo, env, "init", "-q", "-b", "main")
    assert PRE_COMMIT
    installed = _run([PRE_COMMIT, "install"], repo, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo, env


def _commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    _git(repo, env, "add", "-A")
    return _run(["git", "commit", "-m", message], repo, env)


def test_hook_manifest_declares_llmops_check() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == HOOK_ID)
    assert hook["entry"] == "llmops check" and hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("llmops.yaml", "llmops.lock", "prompts/support.yaml", "prompts/a.yml", "evals/support/suite.yaml",
                 "evals/support/cases.jsonl", "ml/llmops.yaml", "ml/prompts/x.yaml"):
        assert files.search(path), path
    for path in ("README.md", "src/prompts.py", "prompts/notes.txt", "llmops.yaml.bak", "myevals.txt"):
        assert not files.search(path), path


@needs_pre_commit
def test_hook_blocks_a_broken_template_and_lets_a_good_change_through(user_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = user_repo
    first = _commit(repo, env, "add llmops project")  # builds the hook environment (once a session)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out
    assert "llmops check" in out and "Passed" in out

    prompt = repo / "prompts" / "support.yaml"
    good = prompt.read_text()
    lines = good.splitlines()
    messages_at = next(i for i, text in enumerate(lines, 1) if text.startswith("messages:"))
    template_at = next(i for i, text in enumerate(lines, 1) if "{{ product }}" in text)
    prompt.write_text(good.replace("{{ product }}", "{{ product "))
    blocked = _commit(repo, env, "break the template")
    out = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, out
    assert "Failed" in out
    named = re.search(r"prompts/support\.yaml:(\d+): template syntax error", out)
    assert named, out
    # The line of the broken message (its entry or the template line itself).
    assert messages_at < int(named[1]) <= template_at, out
    assert _git(repo, env, "rev-list", "--count", "HEAD").strip() == "1"  # nothing was committed

    prompt.write_text(good.replace("Classify the ticket", "Read the ticket, then classify it"))
    fixed = _commit(repo, env, "reword the prompt")
    out = fixed.stdout + fixed.stderr
    assert fixed.returncode == 0, out
    assert "Passed" in out
    assert _git(repo, env, "rev-list", "--count", "HEAD").strip() == "2"


@needs_pre_commit
def test_hook_skips_commits_that_touch_no_llmops_file(user_repo: tuple[Path, dict[str, str]]) -> None:
    repo, env = user_repo
    assert _commit(repo, env, "add llmops project").returncode == 0
    # A broken prompt left unstaged in the work tree does not concern a README-only commit.
    prompt = repo / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace("{{ product }}", "{{ product "))
    (repo / "README.md").write_text("# shop\n")
    _git(repo, env, "add", "README.md")
    done = _run(["git", "commit", "-m", "readme"], repo, env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Skipped" in out
