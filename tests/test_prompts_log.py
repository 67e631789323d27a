"""`llmops prompts log NAME`: the commits that touched a prompt, newest first, with its eval results."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import SUPPORT_PROMPT, git, results_json
from test_gate import WORSE_PROMPT, cli, make_repo

from llmops_cli._standin import StandinServer


def run_id(root: Path) -> str:
    return str(results_json(root)["run"]["id"])


def test_log_lists_commits_newest_first_with_the_results_of_each_version(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)  # Ada adds the prompt
    assert cli(root, "eval", "--no-baseline").code == 0
    first_run = run_id(root)

    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    git(root, "add", "-A")
    git(root, "commit", "-q", "--author", "Bob Builder <bob@example.test>", "-m", "Shorten the support prompt")
    assert cli(root, "eval", "--baseline", "HEAD~1").code == 1
    worse_run = run_id(root)

    (root / "README.md").write_text("# Support bot\n")  # a later commit that does not touch the prompt
    git(root, "add", "-A")
    git(root, "commit", "-q", "--author", "Cleo Writer <cleo@example.test>", "-m", "Add README")
    assert cli(root, "eval", "--baseline", "HEAD~1").code == 0  # same prompt version as Bob's commit
    readme_run = run_id(root)

    (root / "prompts" / "support.yaml").write_text(SUPPORT_PROMPT.replace("support desk", "help desk"))
    cli(root, "eval", "--no-baseline")  # an uncommitted version: belongs to no commit
    draft_run = run_id(root)
    cli(root, "diff", "support", "HEAD~1", "--run")  # diff scratch runs are not eval results

    run = cli(root, "prompts", "log", "support")

    assert run.code == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    commits = [i for i, line in enumerate(lines) if not line.startswith(" ")]
    assert len(commits) == 2  # the README commit did not touch the prompt
    bob, ada = (lines[i] for i in commits)
    short_bob, short_ada = (git(root, "rev-parse", "--short", ref).strip() for ref in ("HEAD~1", "HEAD~2"))
    assert re.fullmatch(rf"{short_bob}  \d{{4}}-\d\d-\d\d  Bob Builder  Shorten the support prompt", bob), bob
    assert re.fullmatch(rf"{short_ada}  \d{{4}}-\d\d-\d\d  Ada Tester  Add support prompt and golden set", ada), ada

    bob_results = lines[commits[0] + 1:commits[1]]
    ada_results = lines[commits[1] + 1:]
    # 10 cases: at Bob's version only the two refusals and the reply check pass.
    assert sorted(bob_results) == sorted(
        f"    support x default: correctness 30.0%, schema 0.0%, refusal 0.0% ({verdict}, run {rid})"
        for verdict, rid in (("fail", worse_run), ("pass", readme_run)))
    assert ada_results == [f"    support x default: correctness 90.0%, schema 100.0%, refusal 0.0% (pass, run {first_run})"]
    assert draft_run not in run.stdout and "-diff-" not in run.stdout


def test_log_of_a_prompt_without_commits_is_an_input_error(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    (root / "prompts" / "draft.yaml").write_text(SUPPORT_PROMPT)  # never committed
    run = cli(root, "prompts", "log", "draft")
    assert run.code == 2
    assert run.stderr.strip().splitlines() == [
        "error: prompts/draft.yaml: no commits touch this prompt (is it committed, and is this a git repository?)"]
