"""The provider and the runner, in process: real litellm over real HTTP to the stand-in.

Each fault is checked against the stand-in's own request counter, so `attempts` is proven to be
the number of requests really sent. Backoff is shortened (a module constant of ours, not litellm)
so retries cost milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY, case_lines, write_project

from llmops_cli import providers, runner
from llmops_cli._standin import StandinServer
from llmops_cli.config import ModelSpec
from llmops_cli.plan import PlannedCall, Selection, plan_calls
from llmops_cli.project import load_project
from llmops_cli.providers import Outcome, Provider, backoff_delay, secrets_in_use
from llmops_cli.redact import Redactor
from llmops_cli.runner import RunLimits, Runner, RunOutcome
from llmops_cli.source import WorkTree
from llmops_cli.store import Store


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "BACKOFF_BASE_S", 0.01)


@pytest.fixture(scope="module")
def provider() -> Provider:
    return Provider(timeout_s=0.5, retries=2, secrets=[FAKE_KEY])


def spec_for(server: StandinServer) -> ModelSpec:
    return ModelSpec("default", "openai/gpt-4o-mini", server.base_url, "STANDIN_KEY")


def complete(provider: Provider, server: StandinServer, text: str) -> Outcome:
    return asyncio.run(provider.complete(spec_for(server), [{"role": "user", "content": text}], {}))


# --- provider: retries, classification, attempts == requests sent ----------------------------


@pytest.mark.parametrize(("directive", "attempts", "error_class"), [
    ("fault=429, times=2, retry_after=0.1", 3, None),
    ("fault=429, times=1, retry_after=none", 2, None),  # no Retry-After: jittered backoff
    ("fault=500, times=1", 2, None),
    ("fault=502, times=1", 2, None),
    ("fault=503, times=2", 3, None),
    ("fault=timeout, sleep_s=3, times=1", 2, None),
    ("fault=malformed, times=1", 2, None),
    ("fault=reset, times=1", 2, None),
    ("fault=empty_choices, times=1", 2, None),
    ("fault=500", 3, "server_error"),
    ("fault=429, retry_after=0.05", 3, "rate_limit"),
    ("fault=timeout, sleep_s=3", 3, "timeout"),
    ("fault=malformed", 3, "malformed_response"),
    ("fault=reset", 3, "connection"),
    ("fault=empty_choices", 3, "empty_choices"),
    ("bogus_key=1", 1, "bad_request"),  # a 400 is not retried
    ("fault=401", 1, "auth"),  # a bad key is not retried either
    ("fault=403", 1, "auth"),
])
def test_faults_are_retried_classified_and_counted(provider: Provider, server: StandinServer, directive: str,
                                                   attempts: int, error_class: str | None) -> None:
    outcome = complete(provider, server, f"What is 12 + 30? [standin: {directive}]")
    assert outcome.attempts == attempts
    assert server.stats()["chat"] == attempts, "every attempt is one real request, and every request is counted"
    if error_class is None:
        assert outcome.failure is None and outcome.answer is not None and outcome.answer.text == "42"
    else:
        assert outcome.answer is None and outcome.failure is not None
        assert outcome.failure.error_class == error_class
        assert FAKE_KEY not in outcome.failure.message


def test_retry_after_is_read_from_the_429(provider: Provider, server: StandinServer) -> None:
    outcome = complete(provider, server, "hi [standin: fault=429, retry_after=0.05]")
    assert outcome.failure is not None and outcome.failure.retry_after == pytest.approx(0.05)


def test_content_filter_is_an_answer_not_an_error(provider: Provider, server: StandinServer) -> None:
    outcome = complete(provider, server, "hi [standin: fault=content_filter]")
    assert outcome.failure is None and outcome.attempts == 1
    assert outcome.answer is not None and outcome.answer.finish_reason == "content_filter" and outcome.answer.text == ""


def test_backoff_delay() -> None:
    assert backoff_delay(1, 0.1) == 0.1, "Retry-After wins"
    assert backoff_delay(1, 10_000) == providers.RETRY_AFTER_CAP_S
    assert backoff_delay(1, -5) == 0.0
    for attempt in range(1, 12):
        assert 0 <= backoff_delay(attempt, None) <= providers.BACKOFF_CAP_S


def test_secrets_in_use_reads_the_environment(server: StandinServer) -> None:
    assert FAKE_KEY in secrets_in_use({"default": spec_for(server)})


# --- runner: records, cache, dedup, budget ---------------------------------------------------


PLAIN_KEY = "Plain0Key1Value2Without3Any4Format5"  # a key in use that matches no known key format


def test_error_text_is_scrubbed_before_it_is_cut(server: StandinServer) -> None:
    """The provider quotes the key back in its error; wherever the 300-character cut falls, no part
    of it may survive (the stand-in names an unknown directive key in its 400)."""
    provider = Provider(timeout_s=2, retries=0, secrets=[PLAIN_KEY])
    fragments = {PLAIN_KEY[i:i + 6] for i in range(len(PLAIN_KEY) - 5)}
    for pad in range(150, 260, 5):
        outcome = complete(provider, server, f"[standin: {'p' * pad}{PLAIN_KEY}=1]")
        assert outcome.failure is not None and outcome.failure.error_class == "bad_request"
        message = outcome.failure.message
        assert len(message) <= 400, len(message)
        assert not [f for f in fragments if f in message], f"pad {pad}: part of the key survived: {message}"


def test_a_redirect_to_another_origin_is_not_followed(server: StandinServer) -> None:
    """Prompts and keys go only where llmops.yaml says: a 307 to another origin (here a second
    server on another port) is refused, not followed; a redirect on the same origin still works."""
    provider = Provider(timeout_s=2, retries=2, secrets=[FAKE_KEY])
    with StandinServer() as elsewhere:
        target = f"{elsewhere.base_url}/chat/completions"
        outcome = complete(provider, server, f"[standin: fault=redirect, location={target}] the private prompt")
        assert elsewhere.stats()["requests"] == 0, "the redirect was followed"
    assert outcome.answer is None and outcome.failure is not None
    assert outcome.failure.error_class == "redirect" and outcome.attempts == 1, outcome.failure
    assert "another origin" in outcome.failure.message
    same = complete(provider, server, "[standin: fault=redirect, times=1, location=/v1/chat/completions] hello")
    assert same.answer is not None and same.answer.text.startswith("Stand-in answer"), same.failure


def test_litellms_own_handlers_do_not_follow_a_redirect_to_another_origin(server: StandinServer) -> None:
    """litellm calls Anthropic (and Gemini, Mistral, ...) through its own httpx handler, which follows
    redirects wherever they point, with the body (the prompts) and the provider's key header (`x-api-key`
    is not dropped across origins as `Authorization` is). Here `anthropic/` reaches the stand-in (the URL
    fragment swallows the `/v1/messages` litellm appends), which answers 307 to a second server."""
    provider = Provider(timeout_s=5, retries=0, secrets=[FAKE_KEY])
    spec = ModelSpec("claude", "anthropic/claude-3-5-haiku-latest", f"{server.base_url}/chat/completions#",
                     "STANDIN_KEY")
    with StandinServer() as elsewhere:
        target = f"{elsewhere.base_url}/chat/completions"
        messages = [{"role": "user", "content": f"[standin: fault=redirect, location={target}] the private prompt"}]
        outcome = asyncio.run(provider.complete(spec, messages, {"max_tokens": 20}))
        assert elsewhere.stats()["requests"] == 0, "the redirect was followed"
    assert server.stats()["requests"] == 1, "the call reached the stand-in as an Anthropic request"
    assert outcome.answer is None and outcome.failure is not None
    assert outcome.failure.error_class == "redirect" and "another origin" in outcome.failure.message


def plan(root: Path) -> tuple[Any, list[PlannedCall]]:
    project = load_project(WorkTree(root))
    return project, plan_calls(project, "head", Selection())


def run(root: Path, calls: list[PlannedCall], project: Any, run_id: str = "run-1", **limits: Any) -> tuple[
        RunOutcome, Store]:
    store = Store(root)
    store.start_run(run_id, run_id, {})
    redactor = Redactor(project.config.redact, secrets_in_use(project.config.models))
    settings = {"concurrency": 4, "timeout_s": 2.0, "retries": 2, **limits}
    return Runner(store, run_id, RunLimits(**settings), redactor).run(calls, set()), store


def test_runner_records_every_call_and_caches_only_answers(tmp_path: Path, server: StandinServer) -> None:
    extra = [{"id": "down", "vars": {"product": "Acme", "ticket": "refund [standin: fault=500]"}}]
    root = write_project(tmp_path / "p", server.base_url, cases=case_lines(extra))
    project, calls = plan(root)
    outcome, store = run(root, calls, project)
    try:
        assert outcome.stopped is None and outcome.progress.done == 7 and outcome.progress.errors == 1
        records = {r.case_id: r for r in store.results("run-1")}
        assert set(records) == {c.case.id for c in calls}
        assert all(r.passed and r.ok and r.attempts == 1 and not r.cached for k, r in records.items() if k != "down")
        down = records["down"]
        assert not down.ok and not down.passed and down.error_class == "server_error" and down.attempts == 3
        cached = store.cache_get_many([c.key for c in calls])
        assert len(cached) == 6 and next(c.key for c in calls if c.case.id == "down") not in cached
        assert server.stats()["chat"] == 6 + 3
        # a second run of the same plan is served from the cache except the error, which is retried
        before = server.stats()["chat"]
        again, store2 = run(root, calls, project, run_id="run-2")
        store2.close()
        assert again.progress.cached == 6 and server.stats()["chat"] - before == 3
    finally:
        store.close()


def test_personal_data_in_error_text_is_redacted_before_it_is_cut(tmp_path: Path, server: StandinServer) -> None:
    """The provider quotes the request back in its error (the stand-in's 400 names a bad directive value).
    Wherever the 300-character cut falls inside an email address, no part of it may be stored: every
    redaction rule runs on the whole text before it is cut, not only the key formats."""
    email = "jane.doe@example.com"
    cases = "".join(json.dumps({"id": f"pad-{pad}", "vars": {"product": "Acme",
                                                             "ticket": f"[standin: times={'p' * pad}{email}]"}}) + "\n"
                    for pad in range(190, 230))
    root = write_project(tmp_path / "p", server.base_url, cases=cases, config_extra="redact: [email]\n")
    project, calls = plan(root)
    outcome, store = run(root, calls, project, retries=0, max_consecutive_errors=1000)
    try:
        records = list(store.results("run-1"))
        assert len(records) == 40 and all(r.error_class == "bad_request" for r in records)
        assert any("[email]" in (r.error or "") for r in records), "the email was quoted in full somewhere"
        for r in records:
            assert "jane" not in (r.error or ""), f"{r.case_id}: part of the address survived: {r.error}"
    finally:
        store.close()
    for path in (root / ".llmops").iterdir():
        assert b"jane" not in path.read_bytes(), path.name


def test_identical_requests_are_sent_once(tmp_path: Path, server: StandinServer) -> None:
    same = {"product": "Acme", "ticket": "I want my money back"}
    cases = "".join(json.dumps({"id": f"twin-{i}", "vars": same}) + "\n" for i in range(3))
    root = write_project(tmp_path / "p", server.base_url, cases=cases)
    project, calls = plan(root)
    outcome, store = run(root, calls, project)
    try:
        assert len({c.key for c in calls}) == 1 and outcome.progress.done == 3
        assert server.stats()["chat"] == 1
        assert sorted(r.case_id for r in store.results("run-1")) == ["twin-0", "twin-1", "twin-2"]
    finally:
        store.close()


def test_error_streak_stops_scheduling(tmp_path: Path, server: StandinServer) -> None:
    cases = "".join(json.dumps({"id": f"c{i}", "vars": {"product": "A", "ticket": f"t{i} [standin: fault=503]"}}) + "\n"
                    for i in range(8))
    root = write_project(tmp_path / "p", server.base_url, cases=cases)
    project, calls = plan(root)
    outcome, store = run(root, calls, project, concurrency=1, retries=0, max_consecutive_errors=3)
    try:
        assert outcome.stopped is not None and "3 calls in a row failed" in outcome.stopped
        assert len(list(store.results("run-1"))) == 3 and server.stats()["chat"] == 3
    finally:
        store.close()


def priced_project(root: Path, server: StandinServer) -> Path:
    """About $0.012 a call (60 tokens at $0.0002), so $0.05 buys 3 or 4 of the 6 cases."""
    priced = ("models:\n  default: {model: openai/gpt-4o-mini, api_base: '%s', api_key_env: STANDIN_KEY,"
              " input_cost_per_token: 0.0002, output_cost_per_token: 0.0002}\n".replace("%s", server.base_url))
    write_project(root, server.base_url)
    text = (root / "llmops.yaml").read_text()
    (root / "llmops.yaml").write_text(text.split("models:")[0] + priced + "limits:" + text.split("limits:")[1])
    return root


def test_budget_stops_scheduling(tmp_path: Path, server: StandinServer) -> None:
    root = priced_project(tmp_path / "p", server)
    project, calls = plan(root)
    outcome, store = run(root, calls, project, concurrency=1, max_cost_usd=0.05)
    try:
        assert outcome.stopped is not None and "budget" in outcome.stopped
        done = list(store.results("run-1"))
        assert 2 <= len(done) < 6 and server.stats()["chat"] == len(done)
        assert sum(r.cost_usd or 0 for r in done) <= 0.05, "stopped before the next call would pass the budget"
    finally:
        store.close()


def test_a_resumed_run_keeps_its_budget(tmp_path: Path, server: StandinServer) -> None:
    """Resuming (same run, completed calls skipped) must not grant a fresh max_cost_usd."""
    root = priced_project(tmp_path / "p", server)
    project, calls = plan(root)
    first, store = run(root, calls, project, concurrency=1, max_cost_usd=0.05)
    try:
        assert first.stopped is not None
        done = {identity(r) for r in store.results("run-1")}
        spent = sum(r.cost_usd or 0 for r in store.results("run-1"))
        sent = server.stats()["chat"]
        redactor = Redactor(project.config.redact, secrets_in_use(project.config.models))
        limits = RunLimits(concurrency=1, timeout_s=2.0, retries=2, max_cost_usd=0.05)
        again = Runner(store, "run-1", limits, redactor).run(calls, done)
        assert again.stopped is not None and "budget" in again.stopped
        assert server.stats()["chat"] == sent, "the budget was already spent: nothing more is sent"
        assert sum(r.cost_usd or 0 for r in store.results("run-1")) == pytest.approx(spent)
    finally:
        store.close()


def test_a_budget_is_not_kept_with_an_unknown_price(tmp_path: Path, server: StandinServer) -> None:
    """A model whose price nobody knows (not in litellm's table, none in llmops.yaml) would count $0 against
    max_cost_usd: the budget would never stop anything. The run stops at the first such answer and says which
    model needs a price; without a budget the unknown price stops nothing."""
    root = write_project(tmp_path / "p", server.base_url)
    config = root / "llmops.yaml"
    config.write_text(config.read_text().replace("openai/gpt-4o-mini", "openai/our-own-finetune"))
    project, calls = plan(root)
    outcome, store = run(root, calls, project, concurrency=1, max_cost_usd=0.05)
    try:
        assert outcome.stopped is not None, "the run went on spending an unknown amount"
        assert "max_cost_usd $0.05 cannot be kept" in outcome.stopped and "'default'" in outcome.stopped
        assert "input_cost_per_token" in outcome.stopped
        assert len(list(store.results("run-1"))) == 1 and server.stats()["chat"] == 1
    finally:
        store.close()
    free, store = run(root, calls, project, run_id="run-2", concurrency=1)
    try:
        assert free.stopped is None and len(list(store.results("run-2"))) == 6
    finally:
        store.close()


def identity(record: Any) -> tuple[str, str, str, str, str, int]:
    return (record.side, record.suite, record.prompt, record.model, record.case_id, record.repeat)


def test_offline_serves_only_the_cache(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url)
    project, calls = plan(root)
    run(root, calls[:4], project)[1].close()
    before = server.stats()["chat"]
    outcome, store = run(root, calls, project, run_id="run-2", offline=True)
    try:
        assert server.stats()["chat"] == before
        assert sorted(c.case.id for c in outcome.misses) == sorted(c.case.id for c in calls[4:])
        assert sorted(r.case_id for r in store.results("run-2")) == sorted(c.case.id for c in calls[:4])
    finally:
        store.close()


def test_cached_answers_are_served_a_chunk_at_a_time(tmp_path: Path, server: StandinServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm run reads cached answers and writes their records a chunk at a time (a 100k-case run never holds
    them all): no call is lost or reordered at a chunk's edge, in chunks that mix hits and misses."""
    monkeypatch.setattr(runner, "CACHED_CHUNK", 2)
    root = write_project(tmp_path / "p", server.base_url)
    project, calls = plan(root)
    cached = calls[1::2]
    run(root, cached, project)[1].close()
    outcome, store = run(root, calls, project, run_id="run-2", offline=True)
    try:
        assert len(calls) > 2 * runner.CACHED_CHUNK and outcome.progress.cached == len(cached)
        assert [c.case.id for c in outcome.misses] == [c.case.id for c in calls[0::2]]
        assert [r.case_id for r in store.results("run-2")] == [c.case.id for c in cached]
    finally:
        store.close()


def test_a_key_echoed_by_the_model_is_not_stored(tmp_path: Path, server: StandinServer) -> None:
    cases = json.dumps({"id": "echo", "vars": {"product": "Acme", "ticket": f"[standin: reply=my key is {FAKE_KEY}]"}})
    root = write_project(tmp_path / "p", server.base_url, cases=cases + "\n")
    project, calls = plan(root)
    outcome, store = run(root, calls, project)
    try:
        (record,) = list(store.results("run-1"))
        assert record.output == "my key is [key]"
        assert all(FAKE_KEY not in m["content"] for m in record.messages)
        (answer,) = store.cache_get_many([calls[0].key]).values()
        assert FAKE_KEY not in answer.text
    finally:
        store.close()
    for path in (root / ".llmops").iterdir():
        assert FAKE_KEY.encode() not in path.read_bytes(), path.name


# --- provider: whole-call deadline and answer size -------------------------------------------


def test_timeout_bounds_the_whole_call_not_the_gap_between_bytes(server: StandinServer) -> None:
    """Each byte comes within the read timeout, but the body takes minutes: the call must end at timeout_s."""
    slow = Provider(timeout_s=2, retries=0, secrets=[FAKE_KEY])
    messages = [{"role": "user", "content": "hi [standin: fault=drip, drip_s=1]"}]

    async def call() -> Outcome:  # the outer bound only keeps a broken deadline from hanging the suite
        return await asyncio.wait_for(slow.complete(spec_for(server), messages, {}), 60)

    outcome = asyncio.run(call())
    assert outcome.answer is None and outcome.failure is not None
    assert outcome.failure.error_class == "timeout"
    assert outcome.attempts == 1 and server.stats()["chat"] == 1


def test_an_answer_over_the_size_cap_is_an_oversize_error(provider: Provider, server: StandinServer) -> None:
    outcome = complete(provider, server, "hi [standin: fault=huge, size_mb=5]")
    assert outcome.answer is None and outcome.failure is not None
    assert outcome.failure.error_class == "oversize" and "4 MB" in outcome.failure.message
    assert outcome.attempts == 1 and server.stats()["chat"] == 1, "an oversize answer is not asked for again"
    fits = complete(provider, server, "hi [standin: fault=huge, size_mb=1]")
    assert fits.answer is not None and len(fits.answer.text) == 1024 * 1024
