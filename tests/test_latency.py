"""What latency measures: the model's time on the wire, with queueing stored apart.

Real litellm over real HTTP to the stand-in. Nothing here asserts how fast the machine is: each
check is a fact of ordering (the server waits at least latency_ms; a call cannot take a slot
before one frees; an interval the event loop spent blocked before the request was sent is not
part of the request's time).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from conftest import FAKE_KEY, write_project
from test_runner import plan, run, spec_for

from llmops_cli._standin import StandinServer
from llmops_cli.providers import Outcome, Provider

BLOCKED_S = 0.3


def test_latency_leaves_out_time_the_event_loop_spent_before_sending(server: StandinServer) -> None:
    """Another task holds the event loop after the call is scheduled but before its request is sent
    (asyncio runs ready tasks in order, so the blocker runs first): that wait is client queueing,
    not the model's latency, so the latency and the blocked time both fit in the call's wall time."""
    server.configure(latency_ms=50)
    provider = Provider(timeout_s=10, retries=0, secrets=[FAKE_KEY])
    messages = [{"role": "user", "content": "What is 12 + 30?"}]

    async def blocker() -> None:
        time.sleep(BLOCKED_S)  # holds the loop, as litellm's CPU work for other calls does

    async def both() -> tuple[Outcome, float]:
        started = time.perf_counter()
        outcome, _ = await asyncio.gather(provider.complete(spec_for(server), messages, {}), blocker())
        return outcome, time.perf_counter() - started

    outcome, wall = asyncio.run(both())
    assert outcome.answer is not None and outcome.answer.text == "42"
    assert outcome.answer.latency_s >= 0.05, "the server waited 50 ms before answering"
    assert outcome.answer.latency_s + BLOCKED_S <= wall, "the blocked time before sending is not latency"


def test_latency_includes_the_servers_whole_wait(server: StandinServer) -> None:
    server.configure(latency_ms=200)
    outcome = asyncio.run(Provider(timeout_s=10, retries=0, secrets=[FAKE_KEY]).complete(
        spec_for(server), [{"role": "user", "content": "hello"}], {}))
    assert outcome.answer is not None and outcome.answer.latency_s >= 0.2


def many_cases(count: int) -> str:
    return "".join(json.dumps({"id": f"c{i}", "vars": {"product": "Acme", "ticket": f"refund order {i}"}}) + "\n"
                   for i in range(count))


def test_queue_time_is_stored_apart_from_latency(tmp_path: Path, server: StandinServer) -> None:
    """24 calls through 8 slots at 50 ms each: the 16 that did not get a slot at once waited for one
    to free (at least one call's 50 ms), and that wait is queue_s, not latency_s."""
    server.configure(latency_ms=50)
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(24))
    project, calls = plan(root)
    outcome, store = run(root, calls, project, concurrency=8, timeout_s=20.0)
    try:
        assert outcome.progress.done == 24 and outcome.progress.errors == 0
        records = list(store.results("run-1"))
        assert len(records) == 24 and all(r.latency_s is not None and r.latency_s >= 0.05 for r in records)
        assert all(r.queue_s is not None and r.queue_s >= 0 for r in records)
        assert sum(1 for r in records if r.queue_s is not None and r.queue_s >= 0.05) >= 16
        rows = store.db.execute("SELECT case_id, latency_s, queue_s FROM results WHERE run_id = 'run-1'").fetchall()
        assert {case: (lat, q) for case, lat, q in rows} == {r.case_id: (r.latency_s, r.queue_s) for r in records}
    finally:
        store.close()


def test_a_cached_answer_keeps_its_original_latency(tmp_path: Path, server: StandinServer) -> None:
    server.configure(latency_ms=200)
    root = write_project(tmp_path / "p", server.base_url, cases=many_cases(3))
    project, calls = plan(root)
    _, store = run(root, calls, project)
    first = {r.case_id: r.latency_s for r in store.results("run-1")}
    store.close()
    server.configure(latency_ms=0)
    again, store = run(root, calls, project, run_id="run-2")
    try:
        assert again.progress.cached == 3
        second = list(store.results("run-2"))
        assert all(r.cached and r.latency_s == first[r.case_id] and r.latency_s >= 0.2 for r in second)
        assert all(r.queue_s is None for r in second), "nothing was sent, so nothing waited for a slot"
    finally:
        store.close()
