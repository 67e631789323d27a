"""The two clients of an OpenAI route store the same records.

An `openai/...` model is called directly (direct.py: one JSON POST, failures raised as the openai
SDK raises them); `client: litellm` sends the same alias through litellm (and so through the SDK).
The same fault suite runs through both, through the real CLI over real HTTP to the stand-in, and
every stored field is compared: each result record (error class,
message, attempts, tokens, cost, finish reason, output, scoring) and each cached answer (tool calls
included). Only what a clock decides (latency, queueing) may differ. `-X importtime` shows which
run imported litellm: the direct one must import neither it nor the openai SDK.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY, config_yaml, write_project

from llmops_cli import providers
from llmops_cli._standin import StandinServer
from llmops_cli.config import ModelSpec
from llmops_cli.direct import direct_route
from llmops_cli.providers import Outcome, Provider

TEXT_PROMPT = """description: Answer briefly
model: default
params: {temperature: 0, max_tokens: 10}
messages:
  - {role: user, content: "{{ ticket }}"}
"""
SUITE = "prompt: support\nmodels: [default]\n"
# Every kind of answer and failure an OpenAI-compatible endpoint gives, each its own case (port 9: nothing listens).
FAULTS = {
    "plain": "What is the capital of France?",
    "rate-limited-then-ok": "[standin: fault=429, times=1, retry_after=0.05] Refund please",
    "rate-limited": "[standin: fault=429, retry_after=0.05] Refund please",
    "server-error": "[standin: fault=500] Refund please",
    "bad-gateway": "[standin: fault=502, times=1] Refund please",
    "timeout": "[standin: fault=timeout, sleep_s=8] Refund please",
    "malformed": "[standin: fault=malformed] Refund please",
    "reset": "[standin: fault=reset] Refund please",
    "empty-choices": "[standin: fault=empty_choices] Refund please",
    "content-filter": "[standin: fault=content_filter] Refund please",
    "negative-usage": "[standin: prompt_tokens=-5] Refund please",
    "absurd-usage": "[standin: prompt_tokens=99999999999] Refund please",
    "huge-usage": "[standin: prompt_tokens=123456] Refund please",
    "unauthorised": "[standin: fault=401] Refund please",
    "forbidden": "[standin: fault=403] Refund please",
    "cut-off": "[standin: reply=one two three four five six seven eight nine ten eleven twelve] Go",
    "tool-call": "[standin: tool_call=lookup_order] Where is order 42?",
    "same-origin-redirect": "[standin: fault=redirect, times=1, location=/v1/chat/completions] Refund please",
    "cross-origin-redirect": "[standin: fault=redirect, location=http://127.0.0.1:9/v1/chat/completions] Refund",
    "oversize": "[standin: fault=huge, size_mb=5] Refund please",
}
LIMITS = "limits: {concurrency: 4, timeout_s: 6, retries: 1, max_consecutive_errors: 1000}\n"


def _cases() -> str:
    return "".join(json.dumps({"id": case_id, "vars": {"ticket": text},
                               "assert": [{"type": "contains", "value": "Paris"}]}) + "\n"
                   for case_id, text in FAULTS.items())


def _project(root: Path, base_url: str, client: str | None) -> Path:
    write_project(root, base_url, prompt=TEXT_PROMPT, suite=SUITE, cases=_cases())
    config = config_yaml(base_url).replace("limits: {concurrency: 8, timeout_s: 5, retries: 2}\n", LIMITS)
    if client is not None:
        config = config.replace("api_key_env: STANDIN_KEY}", f"api_key_env: STANDIN_KEY, client: {client}}}")
    (root / "llmops.yaml").write_text(config)
    return root


def _eval(root: Path) -> tuple[int, set[str]]:
    """`llmops eval` in a fresh interpreter; its exit code and the top-level packages it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmops_cli", "eval", "--no-baseline"],
                          cwd=root, capture_output=True, text=True, timeout=180, env=dict(os.environ))
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    return done.returncode, imported


def _stored(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every result record by case id and every cached answer by key, minus what a clock decides."""
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        results = {}
        for case_id, raw, output in db.execute("SELECT r.case_id, r.record, o.text FROM results r"
                                               " LEFT JOIN outputs o ON o.hash = r.output_hash"):
            record = json.loads(raw)  # the output is kept once, in `outputs`
            if output is not None:
                record["output"] = json.loads(output)
            for timed in ("latency_s", "queue_s"):
                record.pop(timed, None)
            results[case_id] = record
        cache = {}
        for key, raw, text in db.execute("SELECT c.key, c.response, o.text FROM cache c"
                                         " LEFT JOIN outputs o ON o.hash = c.output_hash"):
            answer = json.loads(raw)
            if text is not None:
                answer["text"] = json.loads(text)
            answer.pop("latency_s", None)
            cache[key] = answer
    finally:
        db.close()
    return results, cache


def test_both_clients_store_the_same_records(tmp_path: Path, server: StandinServer) -> None:
    direct = _project(tmp_path / "direct", server.base_url, None)
    code_direct, imported_direct = _eval(direct)
    server.reset()  # `times=1` counts attempts per request: the second run starts from zero too
    via_litellm = _project(tmp_path / "litellm", server.base_url, "litellm")
    code_litellm, imported_litellm = _eval(via_litellm)

    assert not {"litellm", "openai"} & imported_direct, "the direct path imported litellm or the openai SDK"
    assert "litellm" in imported_litellm, "client: litellm must send the calls through litellm"
    assert code_direct == code_litellm == 3, "errors over the tolerance: incomplete, on both paths"
    results_direct, cache_direct = _stored(direct)
    results_litellm, cache_litellm = _stored(via_litellm)
    assert set(results_direct) == set(FAULTS)
    for case_id in FAULTS:
        assert results_direct[case_id] == results_litellm[case_id], case_id
    assert cache_direct == cache_litellm

    # The suite really exercised each outcome (the comparison above is not between two empty runs).
    by_case = results_direct
    assert by_case["plain"]["passed"] and by_case["plain"]["cost_usd"] > 0 and by_case["plain"]["attempts"] == 1
    expected_errors = {"rate-limited": "rate_limit", "server-error": "server_error", "timeout": "timeout",
                       "malformed": "malformed_response", "reset": "connection", "empty-choices": "empty_choices",
                       "negative-usage": "malformed_response", "absurd-usage": "malformed_response",
                       "unauthorised": "auth", "forbidden": "auth", "cross-origin-redirect": "redirect",
                       "oversize": "oversize"}
    for case_id, error_class in expected_errors.items():
        assert by_case[case_id]["error_class"] == error_class, case_id
        assert by_case[case_id]["attempts"] == (1 if error_class in ("auth", "redirect", "oversize") else 2), case_id
    assert by_case["same-origin-redirect"]["error"] is None and by_case["same-origin-redirect"]["attempts"] == 1
    assert by_case["rate-limited-then-ok"]["attempts"] == by_case["bad-gateway"]["attempts"] == 2
    assert by_case["content-filter"]["finish_reason"] == "content_filter" and by_case["content-filter"]["error"] is None
    assert by_case["huge-usage"]["tokens_in"] == 123456
    assert by_case["cut-off"]["finish_reason"] == "length"
    assert by_case["cut-off"]["output"] == "one two three four five six seven eight "
    calls = [a["tool_calls"] for a in cache_direct.values() if a.get("tool_calls")]
    assert calls == [[{"id": calls[0][0]["id"], "name": "lookup_order",
                       "arguments": json.dumps({"text": "Where is order 42?"})}]]
    assert by_case["tool-call"]["finish_reason"] == "tool_calls"


@pytest.fixture()
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "BACKOFF_BASE_S", 0.01)


def _outcome(provider: Provider, spec: ModelSpec, params: dict[str, Any]) -> Outcome:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    outcome = asyncio.run(provider.complete(spec, messages, params))
    answer = replace(outcome.answer, latency_s=0.0) if outcome.answer else None
    return replace(outcome, answer=answer)


def test_request_params_reach_the_endpoint_alike(server: StandinServer, fast_backoff: None) -> None:
    """Parameters the SDK names (max_tokens, tools, tool_choice, response_format) and ones it does not
    (a provider's own, sent in the body by litellm) give the same answer on both paths."""
    spec = ModelSpec("default", "openai/gpt-4o-mini", server.base_url, "STANDIN_KEY")
    assert direct_route(spec) and not direct_route(replace(spec, client="litellm"))
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    answers = {}
    cases: dict[str, dict[str, Any]] = {"cut": {"max_tokens": 1}, "json": {"response_format": {"type": "json_object"}},
                                        "tools": {"tools": [tool], "tool_choice": "auto"},
                                        "own": {"top_k": 3, "temperature": 0}}
    for name, params in cases.items():
        direct = _outcome(Provider(5, 1, [FAKE_KEY]), spec, params)
        litellm = _outcome(Provider(5, 1, [FAKE_KEY]), replace(spec, client="litellm"), params)
        assert direct == litellm, params
        answers[name] = direct.answer
    assert answers["cut"] is not None and (answers["cut"].text, answers["cut"].finish_reason) == ("Pari", "length")
    assert answers["json"] is not None and json.loads(answers["json"].text) == {"answer": "Paris"}
    assert answers["own"] is not None and answers["own"].text == "Paris"


@pytest.mark.parametrize(("model", "client", "direct"), [
    ("openai/gpt-4o-mini", "auto", True),
    ("openai/my-local-model", "auto", True),
    ("openai/o3-mini", "auto", False),  # litellm rewrites max_tokens and drops temperature for reasoning models
    ("openai/gpt-5-mini", "auto", False),
    ("anthropic/claude-3-5-haiku-latest", "auto", False),
    ("hosted_vllm/meta/llama", "openai", True),
    ("openai/gpt-4o-mini", "litellm", False),
])
def test_route(model: str, client: str, direct: bool) -> None:
    assert direct_route(ModelSpec("m", model, "http://127.0.0.1:1/v1", client=client)) is direct
