"""Hostile names and model output cannot put live markup into what a reviewer reads.

A pull request controls case ids, tags, suite and prompt names, model ids, templates, and (through
the model) every output and every assertion message that quotes one. The project below carries a
corpus of payloads in each of those places and runs a real eval against its main branch (real git,
real litellm over HTTP to the stand-in, which answers with the payloads); report.md, the step
summary and junit.xml are then read by real parsers: markdown-it-py configured like GitHub, and
junitparser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import documents
import pytest
from conftest import config_yaml, git, llmops, write_project
from junitparser import JUnitXml
from markdown_check import code_text, github_markdown, live_markup

from llmops_cli._standin import StandinServer
from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
from llmops_cli.report import junit
from llmops_cli.report.mdsafe import cell, inline

# Payloads the stand-in can answer literally (a `reply=` runs to the first `]`).
REPLIES = [
    '<img src="https://evil.test/pixel.png">',
    "</details><details open><summary>pwned</summary>",
    "@octocat and @acme/security please approve",
    "<script>alert(1)</script><!-- hidden",
    "``` ```` ` fences and | pipes | in a row",
    "<https://evil.test/autolink> www.evil.test https://evil.test/bare",
    "fixes #1 &lt;img src=x&gt; <b onmouseover=x>hover</b>",
    "\ufffe\uffff\x01 not XML",
]
LAYOUT = {"``` ```` ` fences and | pipes | in a row", "\ufffe\uffff\x01 not XML"}  # breaks layout or XML, not markup
# Payloads holding `]`, echoed back by the stand-in's plain-text rule (its first 12 words).
ECHOES = [
    "[click](https://evil.test/phish) ![pixel](https://evil.test/p.png)",
    "[ref] [ref]: https://evil.test/defined",
    "<img\nsrc=x>\n</details>\n@octocat",
]
ID_PAYLOADS = ["<img src=x>", "</details>", "@octocat", "[x](https://evil.test)", "a`b``c", "p|q", "#1",
               "![i](https://evil.test/i.png)", "line\nbreak\r<b>", "ctl\x01\x1b[31m"]
SUITE_NAME = "evil<img src=x>@octocat"
PROMPT_NAME = "p[x](https:evil.test)"

BASE_PROMPT = """description: echoes
model: default
messages:
  - {role: system, content: "Repeat the user text."}
  - {role: user, content: "{{ ticket }} [standin: reply=ok]"}
"""
HEAD_PROMPT = BASE_PROMPT.replace(" [standin: reply=ok]", "")


def hostile_cases(extra: bool) -> str:
    tickets = [f"[standin: reply={p}]" for p in REPLIES] + ECHOES
    cases = [{"id": f"{ID_PAYLOADS[i % len(ID_PAYLOADS)]}-{i}", "vars": {"ticket": ticket}, "tags": ["<b>@octocat</b>"],
              "assert": [{"type": "equals", "value": "ok"}]} for i, ticket in enumerate(tickets)]
    if extra:  # added at the head: listed as a golden-set change, by its hostile id
        cases.append({"id": "</details><img src=x>@octocat", "vars": {"ticket": "[standin: reply=ok]"},
                      "assert": [{"type": "equals", "value": "ok"}]})
    return "".join(json.dumps(c) + "\n" for c in cases)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer, module_env: None) -> Iterator[EvalResult]:
    standin.configure(latency_ms=0, noise=0.0)
    folder = tmp_path_factory.mktemp("hostile")
    root = folder / "proj"
    suite = root / "evals" / SUITE_NAME
    suite.mkdir(parents=True)
    (root / "prompts").mkdir()
    model = "{model: 'openai/<img src=x>@octocat', api_base: '" + standin.base_url + "', api_key_env: STANDIN_KEY}"
    (root / "llmops.yaml").write_text(config_yaml(standin.base_url).replace(
        "models:\n", f"models:\n  www.evil.test: {model}\n"))
    (root / "prompts" / f"{PROMPT_NAME}.yaml").write_text(BASE_PROMPT)
    (suite / "suite.yaml").write_text(json.dumps({"prompt": PROMPT_NAME, "models": ["www.evil.test"],
                                                  "thresholds": {"correctness": {"min": 0.9, "max_drop": 0.0}}}))
    (suite / "cases.jsonl").write_text(hostile_cases(extra=False))
    (root / ".gitignore").write_text(".llmops/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "<img src=x> @octocat [x](https://evil.test)")
    (root / "prompts" / f"{PROMPT_NAME}.yaml").write_text(HEAD_PROMPT)
    (suite / "cases.jsonl").write_text(hostile_cases(extra=True))
    summary = folder / "summary.md"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITHUB_STEP_SUMMARY", str(summary))
        result = evaluate(root, EvalOptions(baseline="main", formats=("md", "json", "junit", "html")))
    assert isinstance(result, EvalResult)
    yield result


def test_the_hostile_run_reaches_every_part_of_the_report(hostile: EvalResult) -> None:
    """The corpus really is in the report: regressions with outputs, failing messages, golden changes."""
    assert hostile.exit_code == 1
    (group,) = hostile.document.to_json()["groups"]
    assert group["suite"] == SUITE_NAME and group["prompt"] == PROMPT_NAME
    assert len(group["regressions"]) == len(REPLIES) + len(ECHOES)
    outputs = {r["head_output"] for r in group["regressions"]}
    assert set(REPLIES) <= outputs
    assert hostile.document.to_json()["suites"][SUITE_NAME]["golden_changes"]["added"] == ["</details><img src=x>@octocat"]
    report = (hostile.report_dir / "report.md").read_text()
    shown = code_text(report)
    for payload in [*REPLIES, SUITE_NAME, PROMPT_NAME, "www.evil.test", "openai/<img src=x>@octocat",
                    "</details><img src=x>@octocat", "p|q-5"]:
        assert payload in shown, f"{payload!r} is shown as code"


def test_report_md_has_no_live_markup_from_the_run(hostile: EvalResult) -> None:
    report = (hostile.report_dir / "report.md").read_text()
    assert live_markup(report) == []


def test_step_summary_has_no_live_markup_from_the_run(hostile: EvalResult) -> None:
    summary = (hostile.report_dir.parents[3] / "summary.md").read_text()
    assert SUITE_NAME in code_text(summary)
    assert live_markup(summary) == []


def test_junit_of_the_hostile_run_parses(hostile: EvalResult) -> None:
    xml = JUnitXml.fromfile(str(hostile.report_dir / "junit.xml"))
    names = {case.name for suite in xml for case in suite}
    assert {"</details>-1", "@octocat-2", "ctl[31m-9"} <= names
    texts = {result.text for suite in xml for case in suite for result in case.result}
    assert " not XML" in texts, "U+FFFE, U+FFFF and \\x01 are dropped from the output"


def test_the_checker_sees_what_github_would_render() -> None:
    """The checks can fail: each payload as raw prose is caught."""
    for payload in [*REPLIES, *ECHOES]:
        if payload in LAYOUT:
            continue
        assert live_markup(f"- {payload}\n"), payload
    assert live_markup("<details><summary>prompt and output</summary>\n\n```\n<img src=x>\n```\n</details>\n") == []


def test_rerun_md_has_no_live_markup(tmp_path: Path, server: StandinServer) -> None:
    """`llmops rerun` over traces whose ids, logged and new outputs carry the payloads."""
    root = write_project(tmp_path / "p", server.base_url)
    traces = [{"id": f"{ID_PAYLOADS[i % len(ID_PAYLOADS)]}-{i}",
               "messages": [{"role": "user", "content": f"[standin: reply={payload}]"}],
               "response": {"choices": [{"message": {"content": ECHOES[i % len(ECHOES)]}}]}}
              for i, payload in enumerate(REPLIES)]
    (tmp_path / "traces.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    run = llmops("rerun", str(tmp_path / "traces.jsonl"), "--prompt", "support", "--model", "default",
                 "--out", str(tmp_path / "out"), cwd=root)
    assert run.code == 0, run.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert json.loads((tmp_path / "out" / "results.json").read_text())["metrics"]["changed"] == len(REPLIES)
    shown = code_text(report)
    assert all(payload in shown for payload in REPLIES[:3]) and ECHOES[0] in shown
    assert live_markup(report) == []


# --- junit.xml: XML 1.0 cannot carry every character a case id or an output holds ------------

FORBIDDEN = "\x00\x01\x08\x0b\x0c\x1b\ud800\udfff\ufffe\uffff"


def test_junit_drops_every_character_xml_forbids_everywhere(tmp_path: Path) -> None:
    run = dict(passed=False, error=None, error_class=None, latency_s=0.1, output=f"out{FORBIDDEN}put",
               assertions=[{"type": "equals", "passed": False, "message": f"got {FORBIDDEN}"}])
    errored = {**run, "error": f"boom{FORBIDDEN}", "error_class": f"server{FORBIDDEN}"}
    doc = documents.document(documents.group(
        suite=f"su{FORBIDDEN}ite", prompt=f"p{FORBIDDEN}", model=f"m{FORBIDDEN}",
        cases=(documents.case(case_id=f"id{FORBIDDEN}1", passed=False, runs=(documents.call(**run),)),
               documents.case(case_id=f"id{FORBIDDEN}2", passed=False, runs=(documents.call(**errored),))),
        thresholds=[{"metric": "correctness", "bound": "min", "value": 0.0, "limit": 1.0, "passed": False,
                     "note": f"n{FORBIDDEN}"}]), run_id=f"run{FORBIDDEN}")
    path = tmp_path / "junit.xml"
    path.write_text(junit.render(doc), encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    assert suite.name == "suite/p@m"
    cases = {case.name: case for case in suite}
    assert set(cases) == {"id1", "id2", "correctness min"}
    assert cases["id1"].classname == "suite.m"
    assert cases["id1"].result[0].text == "output" and cases["id1"].result[0].message == "equals: got "
    assert cases["id2"].result[0].type == "server" and cases["id2"].result[0].message == "boom"
    assert "\t\n\r" in junit._clean("\t\n\r"), "the whitespace XML allows is kept"


@pytest.mark.parametrize(("value", "shown"), [
    ("refund-001", "refund-001"),
    ("support x default: correctness 0.7 breaks min 0.9", "support x default: correctness 0.7 breaks min 0.9"),
    ("snake_case", "snake_case"),
    ("_emphasis_", "`_emphasis_`"),
    ("---", "`---`"),
    ("passed :white_check_mark:", "`passed :white_check_mark:`"),
    ("evil.test", "`evil.test`"),
    ("GH-12", "`GH-12`"),
    ("deadbeef1", "`deadbeef1`"),
    ("a`b", "``a`b``"),
    ("`", "`` ` ``"),
    ("two\nlines\r\nhere", "two lines here"),
    ("bidi\u202eevil", "bidievil"),  # an override that would reverse what follows is dropped
    ("", ""),
])
def test_inline_shows_plain_words_as_they_are_and_the_rest_as_code(value: str, shown: str) -> None:
    assert inline(value) == shown
    assert live_markup(f"- {inline(value)}\n") == []


def test_cell_escapes_pipes_even_in_code() -> None:
    table = f"| a | b |\n|---|---|\n| {cell('x|y')} | {cell('p`|`q')} |\n"
    assert "<td><code>x|y</code></td><td><code>p`|`q</code></td>" in github_markdown().render(table).replace("\n", "")
