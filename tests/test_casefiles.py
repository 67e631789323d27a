"""Golden sets as JSONL, YAML or CSV, and variables read from files: same validation, same hashes, same lock."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import TICKETS, case_lines, git, llmops, results_json, write_project

from llmops_cli._standin import StandinServer
from llmops_cli.casefiles import read_csv, read_jsonl
from llmops_cli.errors import Problems

YAML_SUITE = "prompt: support\nmodels: [default]\ncases: cases.yaml\nassert: [{type: schema}]\n"


def _lock_hashes(root: Path) -> dict[str, str]:
    return json.loads((root / "llmops.lock").read_text())["suites"]["support"]["case_hashes"]


def test_yaml_and_csv_golden_sets_run_and_hash_like_jsonl(tmp_path: Path, server: StandinServer) -> None:
    jsonl = write_project(tmp_path / "jsonl", server.base_url)
    assert llmops("lock", cwd=jsonl).code == 0
    cases = [json.loads(line) for line in case_lines().splitlines()]

    as_yaml = write_project(tmp_path / "yaml", server.base_url, suite=YAML_SUITE, cases="")
    (as_yaml / "evals" / "support" / "cases.jsonl").unlink()
    (as_yaml / "evals" / "support" / "cases.yaml").write_text(yaml.safe_dump(cases, sort_keys=False))
    as_csv = write_project(tmp_path / "csv", server.base_url, suite=YAML_SUITE.replace("cases.yaml", "cases.csv"), cases="")
    (as_csv / "evals" / "support" / "cases.jsonl").unlink()
    rows = ["id,product,ticket,assert"] + [
        f'{c["id"]},{c["vars"]["product"]},"{c["vars"]["ticket"]}","{json.dumps(c["assert"]).replace(chr(34), chr(34) * 2)}"'
        for c in cases]
    (as_csv / "evals" / "support" / "cases.csv").write_text("\n".join(rows) + "\n")

    for root in (as_yaml, as_csv):
        assert llmops("lock", cwd=root).code == 0
        assert _lock_hashes(root) == _lock_hashes(jsonl)  # a case is the same case whatever file holds it
        run = llmops("eval", "--no-baseline", cwd=root)
        assert run.code == 0, run.stdout + run.stderr
        assert [len(g["cases"]) for g in results_json(root)["groups"]] == [len(TICKETS)]


def test_yaml_block_scalars_keep_multi_line_inputs(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, suite=YAML_SUITE, cases="")
    (root / "evals" / "support" / "cases.yaml").write_text(
        "- id: multi\n  vars:\n    product: Acme\n    ticket: |\n      Line one.\n      I want my money back.\n"
        "  assert: [{type: json_field, path: category, equals: refund}]\n")
    assert llmops("check", cwd=root).code == 0
    run = llmops("eval", "--no-baseline", cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    (case,) = results_json(root)["groups"][0]["cases"]
    assert "Line one.\nI want my money back." in json.dumps(case, ensure_ascii=False).replace("\\n", "\n")


def test_variables_from_files_render_hash_and_are_read_at_the_ref(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases=json.dumps(
        {"id": "from-file", "vars": {"product": "Acme", "ticket": {"file": "inputs/ticket.txt"}},
         "assert": [{"type": "json_field", "path": "category", "equals": "refund"}]}) + "\n")
    inputs = root / "evals" / "support" / "inputs"
    inputs.mkdir()
    (inputs / "ticket.txt").write_text("Dear support,\nI want my money back.\n")
    git(root, "init", "-q", "-b", "main")
    assert llmops("lock", cwd=root).code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "golden set with a file input")
    run = llmops("eval", "--no-baseline", cwd=root)
    assert run.code == 0, run.stdout + run.stderr

    (inputs / "ticket.txt").write_text("Dear support,\nthe app crashes.\n")  # editing the file edits the case
    check = llmops("check", cwd=root)
    assert check.code == 2 and "golden set differs" in check.stderr and "from-file" in check.stderr
    diff = llmops("diff", "support", "HEAD", cwd=root)  # HEAD reads the file as committed, the work tree as edited
    assert diff.code == 0, diff.stderr
    assert "support/from-file: changed" in diff.stdout
    assert "-I want my money back.\n+the app crashes." in diff.stdout


def test_bad_file_variables_and_csv_rows_name_file_and_line(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases="".join(json.dumps(c) + "\n" for c in [
        {"id": "outside", "vars": {"product": "Acme", "ticket": {"file": "../../../llmops.yaml"}}},
        {"id": "missing", "vars": {"product": "Acme", "ticket": {"file": "inputs/none.txt"}}}]))
    run = llmops("check", cwd=root)
    assert run.code == 2
    assert ("evals/support/cases.jsonl:1: case 'outside': vars.ticket: file '../../../llmops.yaml' is outside the project"
            in run.stderr)
    assert "evals/support/cases.jsonl:2: case 'missing': vars.ticket: file evals/support/inputs/none.txt not found" in run.stderr

    problems = Problems()
    rows = list(read_csv('id,ticket,expect_refusal\nc1,"a, b",true\nc2,x\nc3,y,maybe\n', "cases.csv", problems))
    assert [n for n, _ in rows] == [2] and rows[0][1]["expect_refusal"] is True and rows[0][1]["vars"] == {"ticket": "a, b"}
    assert [str(p) for p in problems.items] == ["cases.csv:3: 2 cells but 3 columns; quote cells that hold commas",
                                                "cases.csv:4: expect_refusal must be true or false, got 'maybe'"]


def test_jsonl_lines_end_at_newline_only() -> None:
    problems = Problems()
    text = json.dumps({"id": "sep", "vars": {"t": "a\u2028b\u2029c\x85d"}}, ensure_ascii=False) + "\n"
    (number, obj), = read_jsonl(text, "cases.jsonl", problems)
    assert not problems.items and number == 1 and obj["vars"]["t"] == "a\u2028b\u2029c\x85d"


def test_lock_refuses_cases_that_do_not_render(tmp_path: Path, server: StandinServer) -> None:
    cases = json.dumps({"id": "no-ticket", "vars": {"product": "Acme"}}) + "\n"
    root = write_project(tmp_path / "p", server.base_url, cases=cases)
    run = llmops("lock", cwd=root)
    assert run.code == 2
    assert "evals/support/cases.jsonl:1: case 'no-ticket'" in run.stderr
    assert not (root / "llmops.lock").exists()
