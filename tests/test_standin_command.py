"""`llmops standin` and `llmops init --standin`: the first hour with no API key and no source reading."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, llmops

KEY_VARIABLES = ("OPENAI_API_KEY", "STANDIN_KEY", "LLMOPS_STANDIN_KEY", "LLMOPS_STANDIN_URL")


def _without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}


@pytest.fixture()
def standin_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`llmops standin` as a user starts it: a real process on a free port, its URL read from stdout."""
    process = subprocess.Popen([sys.executable, "-m", "llmops_cli", "standin", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=_without_keys())
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_standin_prints_its_url_serves_and_stops_on_sigterm(standin_process: tuple[subprocess.Popen[str], str]) -> None:
    process, url = standin_process
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1") and not url.endswith(":8765/v1")
    with urllib.request.urlopen(f"{url}/models", timeout=10) as response:
        assert "gpt-4o-mini" in [m["id"] for m in json.loads(response.read())["data"]]
    request = urllib.request.Request(f"{url}/chat/completions", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model": "gpt-4o-mini", "messages": [
                                         {"role": "user", "content": "What is 12 + 30?"}]}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "42" in json.loads(response.read())["choices"][0]["message"]["content"]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert process.stderr is not None
    assert f"export LLMOPS_STANDIN_URL={url}" in process.stderr.read()


def test_standin_help_documents_the_rules() -> None:
    run = llmops("standin", "--help", cwd=Path.cwd())
    assert run.code == 0
    for words in ("LLMOPS_STANDIN_URL", "[standin: reply=TEXT]", "fault=429", "docs/standin.md", "--latency-ms"):
        assert words in run.stdout, words


def test_first_hour_init_standin_eval_fails_then_passes_with_no_key(
        tmp_path: Path, standin_process: tuple[subprocess.Popen[str], str]) -> None:
    _, url = standin_process
    repo = tmp_path / "newcomer"
    repo.mkdir()
    env = {**_without_keys(), "LLMOPS_STANDIN_URL": url}
    git(repo, "init", "-q", "-b", "main")
    init = subprocess.run([sys.executable, "-m", "llmops_cli", "init", "--standin"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    assert "llmops standin" in init.stdout
    config = (repo / "llmops.yaml").read_text()
    assert "api_base_env: LLMOPS_STANDIN_URL" in config and "127.0.0.1" not in config

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "llmops_cli", *args], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=120)

    assert cli("check").returncode == 0
    assert cli("lock").returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "example project")
    first = cli("eval", "--no-baseline")
    assert first.returncode == 0, first.stdout + first.stderr

    git(repo, "switch", "-q", "-c", "shorter")
    prompt = repo / "prompts" / "support.yaml"
    good = prompt.read_text()
    worse = re.sub(r"into one category:\s*refund, bug or other\.", "and", good)
    assert worse != good
    prompt.write_text(worse)
    git(repo, "commit", "-q", "-am", "shorter prompt")
    failing = cli("eval")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "regress" in failing.stdout.lower()

    prompt.write_text(good)
    git(repo, "commit", "-q", "-am", "put the labels back")
    passing = cli("eval")
    assert passing.returncode == 0, passing.stdout + passing.stderr


def test_a_missing_endpoint_variable_is_exit_2_naming_it(tmp_path: Path) -> None:
    repo = tmp_path / "p"
    repo.mkdir()
    assert llmops("init", "--standin", cwd=repo).code == 0
    run = subprocess.run([sys.executable, "-m", "llmops_cli", "eval", "--no-baseline"], cwd=repo, env=_without_keys(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "LLMOPS_STANDIN_URL" in run.stderr and "llmops standin" in run.stderr
    assert "Traceback" not in run.stderr


def test_api_base_and_api_base_env_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "llmops.yaml").write_text(
        "version: 1\nmodels:\n  default: {model: openai/x, api_base: 'http://127.0.0.1:1/v1', api_base_env: URL}\n")
    run = llmops("check", cwd=tmp_path)
    assert run.code == 2
    assert "llmops.yaml:3:" in run.stderr and "keep one" in run.stderr
