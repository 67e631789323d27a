"""Shared fixtures: a real stand-in model server, real temp projects, the real CLI.

Every model call in the tests goes through real litellm over real HTTP to the stand-in;
git behaviour uses real repositories; the store is real SQLite in a temp dir.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmops_cli._standin import StandinServer

REPO = Path(__file__).resolve().parent.parent
GIT_ENV = {"GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.test",
           "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.test"}
FAKE_KEY = "sk-llmops-test-FAKEKEY-0123456789abcdef"
ENV = {"STANDIN_KEY": FAKE_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


@pytest.fixture(scope="session")
def standin() -> Iterator[StandinServer]:
    with StandinServer(latency_ms=0) as server:
        yield server


@pytest.fixture()
def server(standin: StandinServer) -> StandinServer:
    """The session's stand-in, with counters and per-request attempt memory reset."""
    standin.reset()
    standin.configure(latency_ms=0, noise=0.0)
    return standin


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("STANDIN_KEY", FAKE_KEY)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the stand-in is local, never behind a proxy
    monkeypatch.setenv("LLMOPS_PROGRESS_EVERY_S", "3600")  # progress lines only at the end: stderr independent of speed
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def module_env() -> Iterator[None]:
    """Module fixtures run before the autouse per-test environment; give them the same one."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.delenv("CI", raising=False)
        yield


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def llmops(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run the real CLI in a subprocess (fresh interpreter, like a user)."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run([sys.executable, "-m", "llmops_cli", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    return Run(done.returncode, done.stdout, done.stderr)


def kill_when(command: list[str], cwd: Path, ready: Callable[[], bool], *, env: dict[str, str] | None = None,
              within_s: float = 90) -> None:
    """Start `command` and SIGKILL it (no cleanup, as a crash or an OOM kill) once `ready()` holds; fails
    when the command ends first or `ready` never holds within `within_s`."""
    proc = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + within_s
        while not ready():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the moment to kill never came"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def config_yaml(base_url: str, extra: str = "") -> str:
    return (f"version: 1\nmodels:\n  default: {{model: openai/gpt-4o-mini, api_base: '{base_url}', api_key_env: STANDIN_KEY}}\n"
            f"limits: {{concurrency: 8, timeout_s: 5, retries: 2}}\ngate: {{baseline: main}}\n{extra}")


SUPPORT_PROMPT = """description: Classify a support ticket
model: default
params: {temperature: 0}
messages:
  - {role: system, content: "You are the support desk of {{ product }}. Classify the ticket as refund, bug or other. \
Answer in JSON with keys category and reply."}
  - {role: user, content: "{{ ticket }}"}
output:
  schema: {type: object, required: [category, reply], properties: {category: {enum: [refund, bug, other]}, reply: {type: string}}}
"""

SUITE = """prompt: support
models: [default]
assert: [{type: schema}]
thresholds:
  correctness: {min: 0.8, max_drop: 0.0}
  schema_validity: {min: 1.0}
"""

TICKETS = [("refund", "I want my money back"), ("refund", "Please refund my order"), ("bug", "The app crashes on start"),
           ("bug", "Export is broken"), ("other", "Do you have a dark mode?"), ("other", "Where is your office?")]


def case_lines(extra: list[dict[str, Any]] | None = None) -> str:
    cases = [{"id": f"{label}-{i}", "vars": {"product": "Acme", "ticket": text},
              "assert": [{"type": "json_field", "path": "category", "equals": label}]}
             for i, (label, text) in enumerate(TICKETS)]
    cases += extra or []
    return "".join(json.dumps(c) + "\n" for c in cases)


def write_project(root: Path, base_url: str, *, prompt: str = SUPPORT_PROMPT, suite: str = SUITE,
                  cases: str | None = None, config_extra: str = "") -> Path:
    """A small valid project pointed at the stand-in."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "support").mkdir(parents=True, exist_ok=True)
    (root / "llmops.yaml").write_text(config_yaml(base_url, config_extra))
    (root / "prompts" / "support.yaml").write_text(prompt)
    (root / "evals" / "support" / "suite.yaml").write_text(suite)
    (root / "evals" / "support" / "cases.jsonl").write_text(cases if cases is not None else case_lines())
    (root / ".gitignore").write_text(".llmops/\n")
    return root


@pytest.fixture()
def project(tmp_path: Path, server: StandinServer) -> Path:
    return write_project(tmp_path / "proj", server.base_url)


def results_json(root: Path) -> dict[str, Any]:
    reports = sorted((root / ".llmops" / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(reports[-1].read_text())


@pytest.fixture(scope="session", autouse=True)
def _every_junit_parses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every junit.xml any test wrote (in process, through the CLI or the action) is read by a real
    JUnit parser at the end of the session: CI systems reject a malformed one outright."""
    yield
    from junitparser import JUnitXml

    broken = []
    for path in tmp_path_factory.getbasetemp().rglob("junit.xml"):
        try:
            JUnitXml.fromfile(str(path))
        except Exception as exc:  # any parser error is the finding
            broken.append(f"{path}: {exc}")
    assert not broken, "junit.xml not well-formed:\n" + "\n".join(broken)
