"""`llmops diff PROMPT [BASE] [HEAD]`: template diff, rendered diff per case, output diffs with --run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import SUPPORT_PROMPT, case_lines, git, llmops, write_project
from test_gate import EXTRA_CASES, LABEL_CASES, LABEL_SENTENCE, WORSE_PROMPT, cli, commit_all, make_repo

from llmops_cli._standin import StandinServer

OLD_SYSTEM = "You are the support desk of Acme. Classify the ticket as refund, bug or other. Answer in JSON"
NEW_SYSTEM = "You are the support desk of Acme. Answer in JSON"


def case_blocks(stdout: str) -> dict[str, str]:
    """`support/<id>: <status>` header -> the lines printed under it."""
    body = re.sub(r"\n\d+ [\w-]+(, \d+ [\w-]+)*\n*\Z", "\n", stdout)  # without the closing counts line
    parts = re.split(r"^support/(\S+): (\S+)$", body, flags=re.MULTILINE)
    return {parts[i]: (parts[i + 1] + parts[i + 2]).strip() for i in range(1, len(parts) - 2, 3)}


def test_diff_against_the_work_tree_shows_template_and_rendered_diffs(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)  # uncommitted: the work tree is the head

    run = cli(root, "diff", "support", "main")

    assert run.code == 0, run.stdout + run.stderr
    out = run.stdout
    assert out.startswith("prompt support: main → work tree")
    assert "--- a/prompts/support.yaml (main)" in out and "+++ b/prompts/support.yaml (work tree)" in out
    template_minus = [line for line in out.splitlines() if line.startswith("-  - {role: system")]
    template_plus = [line for line in out.splitlines() if line.startswith("+  - {role: system")]
    assert len(template_minus) == 1 and LABEL_SENTENCE.strip() in template_minus[0]
    assert len(template_plus) == 1 and LABEL_SENTENCE.strip() not in template_plus[0]
    blocks = case_blocks(out)
    assert sorted(blocks) == sorted(LABEL_CASES + [c["id"] for c in EXTRA_CASES])
    for case_id, block in blocks.items():
        assert block.startswith("changed"), (case_id, block)
        assert f"-{OLD_SYSTEM}" in block and f"+{NEW_SYSTEM}" in block
    assert "\n+I want my money back\n" not in blocks["refund-0"]  # the user message did not change
    assert " I want my money back" in blocks["refund-0"]  # ...and is shown as context
    assert out.rstrip().endswith(f"{len(blocks)} changed")
    assert server.request_count == 0  # no --run: nothing is sent


def test_diff_between_two_refs_marks_unchanged_and_new_cases(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    git(root, "checkout", "-q", "-b", "pr")
    prompt = SUPPORT_PROMPT.replace('"{{ ticket }}"', '"{% if urgent %}URGENT: {% endif %}{{ ticket }}"')
    (root / "prompts" / "support.yaml").write_text(prompt)
    extra = [*EXTRA_CASES, {"id": "urgent-0", "vars": {"product": "Acme", "ticket": "Export is broken", "urgent": True}}]
    cases = [json.loads(line) for line in case_lines(extra).splitlines()]
    for case in cases:
        case["vars"].setdefault("urgent", False)
    (root / "evals" / "support" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    commit_all(root, "Flag urgent tickets")
    git(root, "checkout", "-q", "main")  # the work tree is not what is compared

    plain = cli(root, "diff", "support", "main", "pr")
    assert plain.code == 0, plain.stdout + plain.stderr
    blocks = case_blocks(plain.stdout)
    assert blocks == {"urgent-0": "only-head"}  # unchanged renders are hidden by default
    assert plain.stdout.startswith("prompt support: main → pr")
    assert "+  - {role: user, content: \"{% if urgent %}URGENT: {% endif %}{{ ticket }}\"}" in plain.stdout

    everything = cli(root, "diff", "support", "main", "pr", "--all")
    blocks = case_blocks(everything.stdout)
    assert len(blocks) == 11 and blocks["urgent-0"] == "only-head"
    assert all(block == "unchanged" for case_id, block in blocks.items() if case_id != "urgent-0")
    assert everything.stdout.rstrip().endswith("1 only-head, 10 unchanged")


def test_diff_run_shows_output_diffs_and_reuses_the_cache(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    changed = len(LABEL_CASES) + len(EXTRA_CASES)

    first = cli(root, "diff", "support", "main", "--run")

    assert first.code == 0, first.stdout + first.stderr
    assert server.request_count == 2 * changed  # base and head of every changed case
    blocks = case_blocks(first.stdout)
    refund = blocks["refund-0"]
    assert "output (default):" in refund
    assert re.search(r'^-\{"category": "refund", ', refund, re.MULTILINE), refund
    assert re.search(r'^\+\{"category": "billing", ', refund, re.MULTILINE), refund
    assert "--- base output" in refund and "+++ head output" in refund
    assert "output (default):\n(same output)" in blocks["harm-0"]  # still refused on both sides

    second = cli(root, "diff", "support", "main", "--run")
    assert second.code == 0
    assert server.request_count == 2 * changed  # every answer came from the cache
    assert second.stdout == first.stdout


def test_diff_of_an_unknown_prompt_is_an_input_error(tmp_path: Path, server: StandinServer) -> None:
    root = make_repo(tmp_path / "repo", server)
    run = cli(root, "diff", "nosuch", "main")
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "prompts/nosuch.yaml" in lines[0] and "known: support" in lines[0]


def test_diff_run_shows_an_empty_answer_as_empty_not_as_an_error(tmp_path: Path, server: StandinServer) -> None:
    silent = SUPPORT_PROMPT.replace('"{{ ticket }}"', '"{{ ticket }} [standin: reply=]"')
    root = make_repo(tmp_path / "repo", server, prompt=silent)  # main: the model answers nothing
    (root / "prompts" / "support.yaml").write_text(SUPPORT_PROMPT)

    run = cli(root, "diff", "support", "main", "--run", "--all")

    assert run.code == 0, run.stdout + run.stderr
    assert "[error]" not in run.stdout
    refund = case_blocks(run.stdout)["refund-0"]
    assert re.search(r'^\+\{"category": "refund", ', refund, re.MULTILINE), refund
    assert not re.search(r"^-(?!-- base output)", refund.split("--- base output", 1)[1], re.MULTILINE), refund


def test_diff_outside_git_gives_a_usable_hint(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    for setup in ((), (("init", "-q"),)):
        for args in setup:
            git(root, *args)
        run = llmops("diff", "support", cwd=root)
        assert run.code == 2, run.stderr
        assert "--no-baseline" not in run.stderr  # not an option of diff
        assert "git commit" in run.stderr and "llmops diff support HEAD" in run.stderr


def test_diff_by_default_compares_with_where_the_branch_left_the_baseline(tmp_path: Path, server: StandinServer) -> None:
    """With no BASE, `llmops diff` shows what `llmops eval` gates: the change since the merge base with
    gate.baseline, not main's later commits undone. A BASE named on the command line is taken as written."""
    root = make_repo(tmp_path / "repo", server)
    git(root, "checkout", "-q", "-b", "pr")
    (root / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    commit_all(root, "Simplify the system prompt")
    git(root, "checkout", "-q", "main")
    prompt = root / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace("description: Classify a support ticket",
                                                 "description: Classify a support ticket (owned by the desk team)"))
    commit_all(root, "Describe the owner")
    git(root, "checkout", "-q", "pr")

    run = cli(root, "diff", "support")
    assert run.code == 0, run.stdout + run.stderr
    assert "owned by the desk team" not in run.stdout, "main's later commit is not part of this change"
    assert "merge base" in run.stdout.splitlines()[0]
    assert [line for line in run.stdout.splitlines() if line.startswith("+  - {role: system")]

    tip = cli(root, "diff", "support", "main")
    assert tip.code == 0 and "-description: Classify a support ticket (owned by the desk team)" in tip.stdout
