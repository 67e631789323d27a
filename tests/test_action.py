"""The composite GitHub Action: action.yml and the step scripts in .github/scripts/.

The scripts run here with bash as the runner would run them: real shallow git clones of a
project repository, the real CLI against the stand-in model, GITHUB_OUTPUT /
GITHUB_STEP_SUMMARY / RUNNER_TEMP in temp files, and a local fake of GitHub's REST API
(127.0.0.1) for the PR comment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from conftest import FAKE_KEY, GIT_ENV, REPO, SUPPORT_PROMPT, git, write_project

from llmops_cli._standin import StandinServer

SCRIPTS = REPO / ".github" / "scripts"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="the action's steps are bash scripts; no bash here")

WORSE_PROMPT = SUPPORT_PROMPT.replace("Classify the ticket as refund, bug or other. ", "Classify the ticket. ")
TOKEN = "ghs_FAKE-token-0123456789"
MARKER = "<!-- llmops-report -->"


# ---- helpers -----------------------------------------------------------------------------------

@dataclass
class Step:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def run_step(script: str, cwd: Path, runner: Path, env: dict[str, str] | None = None) -> Step:
    """Run one step script like the runner: fresh GITHUB_OUTPUT, shared step summary and temp."""
    runner.mkdir(parents=True, exist_ok=True)
    output = runner / "output"
    output.write_text("")
    summary = runner / "summary.md"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "LLMOPS_", "GIT_"))}
    full = {**base, **GIT_ENV, "CI": "true", "STANDIN_KEY": FAKE_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(runner / "temp"), "LLMOPS_PYTHON": sys.executable, **(env or {})}
    (runner / "temp").mkdir(exist_ok=True)
    assert BASH
    done = subprocess.run([BASH, str(SCRIPTS / script)], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return Step(done.returncode, done.stdout, done.stderr, outputs, summary.read_text() if summary.exists() else "")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer) -> Path:
    """The GitHub side: main with a good prompt; `worse` drops the labels; `docs` changes no prompt."""
    standin.reset()
    standin.configure(latency_ms=0, noise=0.0)
    repo = write_project(tmp_path_factory.mktemp("action") / "upstream", standin.base_url)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "support triage suite")
    git(repo, "checkout", "-q", "-b", "worse")
    (repo / "prompts" / "support.yaml").write_text(WORSE_PROMPT)
    git(repo, "commit", "-q", "-am", "shorter prompt")
    git(repo, "checkout", "-q", "-b", "docs", "main")
    (repo / "README.md").write_text("# shop\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "docs")
    git(repo, "checkout", "-q", "main")
    return repo


def pr_checkout(upstream: Path, branch: str, dest: Path) -> Path:
    """What actions/checkout leaves for a PR: a depth-1 clone of the head, no base branch."""
    git(upstream.parent, "clone", "-q", "--depth", "1", "--branch", branch, upstream.as_uri(), str(dest))
    assert subprocess.run(["git", "rev-parse", "--verify", "--quiet", "origin/main"], cwd=dest,
                          capture_output=True).returncode != 0
    return dest


@dataclass
class PullRequest:
    checkout: Path
    runner: Path
    step: Step


# Each eval that calls the model pays litellm's import (seconds), so the module runs the two
# pull requests once and the tests below read their outcome; reruns in the same checkout are
# answered by its response cache.

@pytest.fixture(scope="module")
def worse_pr(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> PullRequest:
    """A PR whose prompt drops the labels: the eval step as a plain script (exit code = llmops')."""
    root = tmp_path_factory.mktemp("worse-pr")
    work = pr_checkout(upstream, "worse", root / "checkout")
    return PullRequest(work, root / "runner", run_step("llmops-eval.sh", work, root / "runner", {"GITHUB_BASE_REF": "main"}))


@pytest.fixture(scope="module")
def docs_pr(upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> PullRequest:
    """A PR that changes no prompt, run the way action.yml runs the step (exit deferred)."""
    root = tmp_path_factory.mktemp("docs-pr")
    work = pr_checkout(upstream, "docs", root / "checkout")
    env = {"GITHUB_BASE_REF": "main", "LLMOPS_DEFER_EXIT": "true", "LLMOPS_SUITES": "support", "LLMOPS_FORMAT": "json",
           "LLMOPS_ARGS": "--filter 'refund-*' --concurrency 2"}
    return PullRequest(work, root / "runner", run_step("llmops-eval.sh", work, root / "runner", env))


# ---- action.yml and the workflow ---------------------------------------------------------------

def _expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expressions(value)
    elif isinstance(node, str):
        yield from re.findall(r"\$\{\{(.*?)\}\}", node, re.S)


def test_action_yml_is_a_composite_action_whose_expressions_resolve() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    assert {"suites", "baseline", "args", "python-version", "llmops-version", "github-token", "working-directory",
            "cache", "format"} <= inputs
    assert action["inputs"]["python-version"]["default"] == "3.11"
    assert {"exit-code", "report-dir", "gate"} <= set(action["outputs"])
    steps = action["runs"]["steps"]
    ids = {s["id"] for s in steps if "id" in s}
    expressions = list(_expressions(action))
    expressions += [s["if"] for s in steps if "if" in s]  # `if:` may omit ${{ }}
    used_inputs = {m for e in expressions for m in re.findall(r"\binputs\.([A-Za-z0-9_-]+)", e)}
    assert used_inputs and used_inputs <= inputs, used_inputs - inputs
    assert inputs <= used_inputs, f"declared but unused: {inputs - used_inputs}"
    used_steps = {m for e in expressions for m in re.findall(r"\bsteps\.([A-Za-z0-9_-]+)\.outputs", e)}
    assert used_steps <= ids, used_steps - ids
    for step in steps:
        assert "uses" in step or step.get("shell") == "bash", step
        for script in re.findall(r"\.github/scripts/([\w.-]+)", step.get("run", "")):
            assert (SCRIPTS / script).is_file(), script
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/setup-python", "actions/cache", "actions/upload-artifact"]


def test_ci_workflow_runs_the_tests_and_the_example_through_the_action() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    jobs = workflow["jobs"]
    assert any("make test" in s.get("run", "") for s in jobs["test"]["steps"])
    assert any("chromium" in s.get("run", "") for s in jobs["test"]["steps"])
    example = jobs["llmops-example"]["steps"]
    assert any(s.get("uses") == "./" for s in example)
    start = next(s["run"] for s in example if "llmops_cli._standin" in s.get("run", ""))
    assert "--port 0" in start and "LLMOPS_STANDIN_URL=" in start  # never a fixed port: another process may hold it


def test_scripts_are_valid_bash() -> None:
    assert BASH
    for script in SCRIPTS.glob("*.sh"):
        done = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"


# ---- the eval step -----------------------------------------------------------------------------

def test_eval_step_fetches_the_base_branch_and_fails_a_worse_prompt(worse_pr: PullRequest) -> None:
    step = worse_pr.step
    assert step.code == 1, step.stdout + step.stderr
    assert step.outputs["exit-code"] == "1"
    assert step.outputs["gate"] == "failed"
    assert step.outputs["baseline"] == "origin/main"
    report = Path(step.outputs["report-dir"])
    assert report == worse_pr.runner / "temp" / "llmops-report"
    for name in ("report.md", "results.json", "junit.xml", "report.html"):
        assert (report / name).is_file(), name
    doc = json.loads((report / "results.json").read_text())
    assert doc["run"]["baseline"]["ref"] == "origin/main"
    assert {r["case_id"] for g in doc["groups"] for r in g["regressions"]}
    # llmops wrote the step summary itself; the script added nothing of its own.
    assert step.summary.count("## llmops eval") == 1 and "❌ failed" in step.summary
    assert "fetching" in step.stderr
    git(worse_pr.checkout, "rev-parse", "--verify", "origin/main")  # the shallow clone now has the base


def test_eval_step_passes_an_unchanged_prompt_and_defers_the_exit(docs_pr: PullRequest) -> None:
    step = docs_pr.step
    assert step.code == 0, step.stdout + step.stderr
    assert step.outputs["exit-code"] == "0" and step.outputs["gate"] == "passed"
    report = Path(step.outputs["report-dir"])
    assert sorted(p.name for p in report.iterdir()) == ["report.md", "results.json"]  # md is always added
    doc = json.loads((report / "results.json").read_text())
    assert {c["case_id"] for g in doc["groups"] for c in g["cases"]} == {"refund-0", "refund-1"}  # quoted --filter
    assert doc["run"]["options"]["concurrency"] == 2 and doc["run"]["options"]["suites"] == ["support"]


def test_eval_step_without_a_pr_uses_the_configured_baseline(worse_pr: PullRequest, tmp_path: Path) -> None:
    work = worse_pr.checkout
    config = work / "llmops.yaml"
    original = config.read_text()
    config.write_text(original.replace("baseline: main", "baseline: origin/main"))
    try:
        step = run_step("llmops-eval.sh", work, tmp_path / "runner")
        assert step.outputs["baseline"] == "origin/main", step.stderr
        assert step.code == 1 and step.outputs["gate"] == "failed"

        # baseline: none, with the exit deferred as in the action: the step passes, the output carries it.
        step = run_step("llmops-eval.sh", work, tmp_path / "runner", {"LLMOPS_BASELINE": "none", "LLMOPS_DEFER_EXIT": "true"})
        assert step.outputs["baseline"] == "none" and "--no-baseline" in step.stderr
        assert step.code == 0 and step.outputs["exit-code"] == "1"  # the worse prompt misses its thresholds alone too
        doc = json.loads((Path(step.outputs["report-dir"]) / "results.json").read_text())
        assert doc["run"]["baseline"] is None
    finally:
        config.write_text(original)


def test_eval_step_invalid_input_annotates_the_file(upstream: Path, tmp_path: Path) -> None:
    work = pr_checkout(upstream, "docs", tmp_path / "pr")
    prompt = work / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text().replace("{{ product }}", "{{ product "))
    step = run_step("llmops-eval.sh", work, tmp_path / "runner", {"GITHUB_BASE_REF": "main", "GITHUB_ACTIONS": "true"})
    assert step.code == 2
    assert step.outputs["exit-code"] == "2" and step.outputs["gate"] == "error"
    assert re.search(r"^::error file=prompts/support\.yaml,line=\d+,title=llmops::template syntax error", step.stdout, re.M), \
        step.stdout
    assert "could not run (exit 2)" in step.summary and "prompts/support.yaml" in step.summary
    # llmops' own output is fenced off from workflow-command parsing.
    token = re.search(r"^::stop-commands::(\S+)$", step.stdout, re.M)
    assert token and f"::{token[1]}::" in step.stdout


def test_eval_step_on_a_pull_request_gives_no_key_to_a_new_endpoint(upstream: Path, tmp_path: Path,
                                                                    standin: StandinServer) -> None:
    """A PR that points the model at a host of its choosing (another origin) stops with exit 2 on
    llmops.yaml before anything is sent, unless the workflow sets allow-new-endpoints."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["inputs"]["allow-new-endpoints"]["default"] == "false"
    (eval_step,) = [s for s in action["runs"]["steps"] if s.get("id") == "eval"]
    assert eval_step["env"]["LLMOPS_ALLOW_NEW_ENDPOINTS"] == "${{ inputs.allow-new-endpoints }}"
    with StandinServer() as elsewhere:
        git(upstream, "checkout", "-q", "-b", "new-endpoint", "main")
        try:
            config = upstream / "llmops.yaml"
            config.write_text(config.read_text().replace(standin.base_url, elsewhere.base_url))
            git(upstream, "commit", "-qam", "use another host")
        finally:
            git(upstream, "checkout", "-q", "main")
        work = pr_checkout(upstream, "new-endpoint", tmp_path / "pr")
        env = {"GITHUB_BASE_REF": "main", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_ACTIONS": "true"}
        step = run_step("llmops-eval.sh", work, tmp_path / "runner", env)
        assert step.code == 2 and step.outputs["gate"] == "error", step.stdout + step.stderr
        assert re.search(r"^::error file=llmops\.yaml,line=3,title=llmops::model 'default' would send", step.stdout,
                         re.M), step.stdout
        assert elsewhere.stats()["requests"] == 0
        allowed = run_step("llmops-eval.sh", work, tmp_path / "runner2", {**env, "LLMOPS_ALLOW_NEW_ENDPOINTS": "true"})
        assert allowed.code == 0, allowed.stdout + allowed.stderr
        assert elsewhere.stats()["chat"] > 0


def test_eval_step_refuses_unsplittable_args(tmp_path: Path) -> None:
    step = run_step("llmops-eval.sh", tmp_path, tmp_path / "runner",
                    {"LLMOPS_ARGS": "--filter 'refund-*", "LLMOPS_DEFER_EXIT": "true", "LLMOPS_BASELINE": "none"})
    assert step.code == 0 and step.outputs["exit-code"] == "2" and step.outputs["gate"] == "error"
    assert "::error title=llmops::args: cannot split" in step.stdout


@pytest.mark.parametrize(("code", "expected"), [("0", 0), ("1", 1), ("2", 2), ("3", 3), ("", 3)])
def test_gate_step_propagates_the_exit_code(tmp_path: Path, code: str, expected: int) -> None:
    step = run_step("llmops-gate.sh", tmp_path, tmp_path / "runner", {"LLMOPS_EXIT_CODE": code, "LLMOPS_GATE": "failed"})
    assert step.code == expected
    assert ("::error" in step.stdout) == (expected != 0)


def test_install_step_resolves_the_spec(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'calls'}\n")
    fake.chmod(0o755)
    for spec in ("", "0.2.0", "v0.3.1", "llmops-cli>=0.2", "git+https://example.invalid/llmops@v1"):
        step = run_step("llmops-install.sh", tmp_path, tmp_path / "runner",
                        {"LLMOPS_SPEC": spec, "LLMOPS_ACTION_PATH": "/actions/llmops", "LLMOPS_PYTHON": str(fake)})
        assert step.code == 0, step.stderr
    calls = [line.rsplit(" ", 1)[1] for line in (tmp_path / "calls").read_text().splitlines()]
    assert calls == ["/actions/llmops", "llmops-cli==0.2.0", "llmops-cli==0.3.1", "llmops-cli>=0.2",
                     "git+https://example.invalid/llmops@v1"]


def test_cache_key_follows_prompts_and_suites_only(project: Path, tmp_path: Path) -> None:
    def key() -> dict[str, str]:
        step = run_step("llmops-cache-key.sh", project, tmp_path / "runner", {"RUNNER_OS": "Linux"})
        assert step.code == 0, step.stderr
        return step.outputs

    first = key()
    assert first["key"].startswith(first["restore-prefix"]) and first["restore-prefix"].startswith("llmops-v1-Linux-")
    (project / ".llmops").mkdir()
    (project / ".llmops" / "llmops.db").write_text("x")
    (project / "README.md").write_text("docs")
    assert key() == first
    prompt = project / "prompts" / "support.yaml"
    prompt.write_text(prompt.read_text() + "# tweak\n")
    second = key()
    assert second["key"] != first["key"] and second["restore-prefix"] == first["restore-prefix"]


# ---- the comment step against a fake GitHub API ------------------------------------------------

@dataclass
class FakeGitHub:
    """Issue comments of one repository, as GitHub's REST API serves them (paginated)."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str | None, str]] = field(default_factory=list)  # method, path, auth, body
    fail_writes: int | None = None
    next_id: int = 1000
    LIMIT = 65536  # GitHub refuses a longer body (UTF-16 code units) with 422

    def add(self, body: str, user: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": user},
                   "html_url": f"https://github.test/acme/shop/pull/7#issuecomment-{self.next_id}"}
        self.comments.append(comment)
        return comment


def _handler(api: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> dict[str, Any] | None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            api.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
            return json.loads(body) if body else None

        def do_GET(self) -> None:
            self._record()
            url = urlparse(self.path)
            if url.path != "/repos/acme/shop/issues/7/comments":
                return self._reply(404, {"message": "Not Found"})
            query = parse_qs(url.query)
            per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            self._reply(200, api.comments[(page - 1) * per_page:page * per_page])

        def _refuse(self, payload: dict[str, Any] | None) -> bool:
            if api.fail_writes:
                self._reply(api.fail_writes, {"message": "Resource not accessible by integration"})
                return True
            if payload and len(payload["body"].encode("utf-16-le")) // 2 > api.LIMIT:
                self._reply(422, {"message": "Validation Failed", "errors": [
                    {"resource": "IssueComment", "code": "custom", "field": "body",
                     "message": "body is too long (maximum is 65536 characters)"}]})
                return True
            return False

        def do_POST(self) -> None:
            payload = self._record()
            if self._refuse(payload):
                return
            if urlparse(self.path).path != "/repos/acme/shop/issues/7/comments" or not payload:
                return self._reply(404, {"message": "Not Found"})
            self._reply(201, api.add(payload["body"], user="github-actions[bot]"))

        def do_PATCH(self) -> None:
            payload = self._record()
            if self._refuse(payload):
                return
            match = re.fullmatch(r"/repos/acme/shop/issues/comments/(\d+)", urlparse(self.path).path)
            comment = next((c for c in api.comments if match and c["id"] == int(match[1])), None)
            if comment is None or not payload:
                return self._reply(404, {"message": "Not Found"})
            comment["body"] = payload["body"]
            self._reply(200, comment)

    return Handler


@pytest.fixture()
def github_api() -> Iterator[tuple[FakeGitHub, str]]:
    api = FakeGitHub()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def comment_env(api_url: str, tmp_path: Path, step: Step) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    return {"LLMOPS_GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api_url, "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": "4242", "LLMOPS_REPORT_DIR": step.outputs["report-dir"],
            "LLMOPS_EXIT_CODE": step.outputs["exit-code"], "LLMOPS_GATE": step.outputs["gate"]}


def test_comment_is_posted_once_then_updated_in_place(worse_pr: PullRequest, docs_pr: PullRequest, tmp_path: Path,
                                                      github_api: tuple[FakeGitHub, str]) -> None:
    api, url = github_api
    for i in range(105):  # our comment will sit on page 2 of the listing
        api.add(f"unrelated review comment {i}")
    failed = worse_pr.step
    first = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", comment_env(url, tmp_path, failed))
    assert first.code == 0, first.stdout + first.stderr
    assert [(m, urlparse(p).path) for m, p, _, _ in api.requests][-1] == ("POST", "/repos/acme/shop/issues/7/comments")
    ours = [c for c in api.comments if MARKER in c["body"]]
    assert len(ours) == 1 and len(api.comments) == 106
    body = ours[0]["body"]
    assert body.startswith(MARKER) and "❌ failed" in body and "Regressions" in body
    assert "https://github.test/acme/shop/actions/runs/4242" in body
    assert first.outputs["comment-url"] == ours[0]["html_url"]
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in api.requests)
    assert TOKEN not in first.stdout + first.stderr

    # The next push changes no prompt: the same comment is updated, no second one appears.
    api.requests.clear()
    second = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", comment_env(url, tmp_path, docs_pr.step))
    assert second.code == 0, second.stdout + second.stderr
    methods = [(m, urlparse(p).path) for m, p, _, _ in api.requests]
    assert ("PATCH", f"/repos/acme/shop/issues/comments/{ours[0]['id']}") in methods
    assert not any(m == "POST" for m, _ in methods)
    assert len(api.comments) == 106 and len([c for c in api.comments if MARKER in c["body"]]) == 1
    assert "✅ passed" in ours[0]["body"] and "❌ failed" not in ours[0]["body"]
    assert all(c["body"].startswith("unrelated") for c in api.comments if c is not ours[0])


def test_comment_step_reports_invalid_input_and_never_fails_the_job(tmp_path: Path,
                                                                   github_api: tuple[FakeGitHub, str]) -> None:
    api, url = github_api
    no_report = Step(2, "", "", {"report-dir": str(tmp_path / "missing"), "exit-code": "2", "gate": "error"}, "")
    env = comment_env(url, tmp_path, no_report)
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", env)
    assert done.code == 0, done.stderr
    assert len(api.comments) == 1 and "could not run (exit 2)" in api.comments[0]["body"]

    api.fail_writes = 403  # a token without pull-requests: write, on a branch of this repository
    api.comments.clear()
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", env)
    assert done.code == 0 and "::warning" in done.stdout and "HTTP 403" in done.stdout
    assert "fork" not in done.stdout and "pull-requests: write" in done.stdout

    fork = tmp_path / "fork-event.json"  # a fork's read-only token
    fork.write_text(json.dumps({"pull_request": {"number": 7, "head": {"repo": {"full_name": "mallory/shop", "fork": True}},
                                                 "base": {"repo": {"full_name": "acme/shop", "fork": False}}}}))
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", {**env, "GITHUB_EVENT_PATH": str(fork)})
    assert done.code == 0 and "HTTP 403" in done.stdout and "fork gets a read-only token" in done.stdout

    api.fail_writes = 422  # GitHub refused the body itself: not a token problem, even from a fork
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", {**env, "GITHUB_EVENT_PATH": str(fork)})
    assert done.code == 0 and "::warning" in done.stdout and "HTTP 422" in done.stdout
    assert "fork" not in done.stdout and "read-only" not in done.stdout
    api.fail_writes = None

    api.requests.clear()
    for event in ({"GITHUB_EVENT_NAME": "push"}, {"LLMOPS_GITHUB_TOKEN": ""}):
        done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", {**env, **event})
        assert done.code == 0
    assert api.requests == []


def test_comment_is_trimmed_to_githubs_limit(tmp_path: Path, github_api: tuple[FakeGitHub, str]) -> None:
    api, url = github_api
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("## llmops eval: ❌ failed\n\n" + "x" * 200_000)
    step = Step(1, "", "", {"report-dir": str(report), "exit-code": "1", "gate": "failed"}, "")
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", comment_env(url, tmp_path, step))
    assert done.code == 0, done.stderr
    body = api.comments[0]["body"]
    assert len(body) <= 65536 and "report trimmed" in body and body.startswith(MARKER)


def _big_report() -> str:
    """A failing report far over the limit, in report.md's real shape: sections of failing cases,
    each with its output in a <details> fence; the outputs hold astral characters (two UTF-16
    units each) and backtick runs (longer fences)."""
    import documents

    from llmops_cli.report import markdown

    out = ["## llmops eval: ❌ failed", ""]
    for group in range(6):
        out += [f"### support · support · model{group}", "", "#### Failing cases (25)", ""]
        for i in range(25):
            case = documents.case(case_id=f"case-{group}-{i}", score=0.0, passed=False, runs=(documents.call(
                passed=False, output="😀" * 500 + " ```` ",
                assertions=[{"type": "equals", "passed": False, "message": "expected ok"}]),))
            out += markdown._failing_case(case)
    return "\n".join(out) + "\n"


def test_comment_is_trimmed_on_structure_as_github_counts(tmp_path: Path, github_api: tuple[FakeGitHub, str]) -> None:
    from markdown_check import github_markdown, live_markup

    api, url = github_api
    report = tmp_path / "report"
    report.mkdir()
    text = _big_report()
    (report / "report.md").write_text(text)
    assert len(text) > 65536 and len(text.encode("utf-16-le")) // 2 > 2 * 65536
    step = Step(1, "", "", {"report-dir": str(report), "exit-code": "1", "gate": "failed"}, "")
    artifact = "https://github.test/acme/shop/actions/runs/4242/artifacts/99"
    env = {**comment_env(url, tmp_path, step), "LLMOPS_ARTIFACT_URL": artifact}
    done = run_step("llmops-comment.sh", tmp_path, tmp_path / "runner", env)
    assert done.code == 0 and "::warning" not in done.stdout, done.stdout
    (comment,) = api.comments
    body = comment["body"]
    assert len(body.encode("utf-16-le")) // 2 + body.count("\n") <= 65536, "GitHub's count, newlines as CRLF"
    assert body.startswith(MARKER) and "### support · support · model0" in body and "report trimmed" in body
    assert "### support · support · model5" not in body
    run_url = "https://github.test/acme/shop/actions/runs/4242"
    assert live_markup(body, our_links=(run_url, artifact)) == [], "no fence or <details> is left open"
    links = [t.attrGet("href") for block in github_markdown().parse(body) for t in block.children or []
             if t.type == "link_open"]
    assert links.count(artifact) == 2 and run_url in links, "the trim note and footer link the full report"
    kept = body.split(MARKER + "\n", 1)[1].split("\n… report trimmed", 1)[0]
    assert text.startswith(kept) and kept.endswith("</details>\n"), "cut between whole cases"


def _comment_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("llmops_comment", SCRIPTS / "llmops_comment.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_trim_inside_one_huge_block_closes_what_is_open() -> None:
    from markdown_check import live_markup

    comment = _comment_module()
    assert comment.github_length("a😀\n") == 5  # 1 + 2 UTF-16 units + the newline as CRLF
    report = "## head\n\n<details><summary>output</summary>\n\n`````\n" + "```\n<img src=x>\n" * 5000 + "`````\n</details>\n"
    text, left_out = comment.trim(report, 20_000)
    assert left_out and comment.github_length(text) <= 20_000
    assert text.endswith("```\n`````\n</details>\n") or text.endswith("<img src=x>\n`````\n</details>\n")
    assert live_markup(text + "\nafter [ours](https://ours.test)\n", our_links=("https://ours.test",)) == []
    assert comment.trim("short\n", 100) == ("short\n", 0)


def test_failed_post_message_and_fork_detection() -> None:
    comment = _comment_module()
    assert comment.message('{"message": "Validation Failed", "errors": [{"message": "body is\\ntoo long"}]}') \
        == "Validation Failed; body is too long"
    assert comment.message("<html>bad gateway</html>") == ""
    assert "::" not in comment.message('{"message": "x\\n::add-mask::y"}')
    same = {"pull_request": {"head": {"repo": {"full_name": "acme/shop", "fork": False}},
                             "base": {"repo": {"full_name": "acme/shop"}}}}
    fork = {"pull_request": {"head": {"repo": {"full_name": "bob/shop", "fork": True}},
                             "base": {"repo": {"full_name": "acme/shop"}}}}
    gone = {"pull_request": {"head": {"repo": None}, "base": {"repo": {"full_name": "acme/shop"}}}}
    assert [comment.is_fork(e) for e in (same, fork, gone, {})] == [False, True, True, False]
