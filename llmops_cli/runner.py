"""Running a plan: serve from the cache, call the rest with bounded concurrency, record each.

Every finished call is scored, redacted and committed at once, so an interrupt or a crash
loses nothing completed and the same command resumes where it stopped. New calls stop being
scheduled when the budget would be passed or errors come in a run (a broken provider must
not burn the budget); the run is then incomplete, never silently short.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from llmops_cli.plan import PlannedCall
from llmops_cli.providers import CallFailure, Outcome, Provider, scrub
from llmops_cli.redact import Redactor
from llmops_cli.scoring.score import score_answer
from llmops_cli.store import CachedAnswer, CallRecord, Store


WAIT_POLL_S = 0.2


@dataclass(frozen=True)
class RunLimits:
    concurrency: int = 16
    timeout_s: float = 60.0
    retries: int = 4
    max_cost_usd: float | None = None
    max_consecutive_errors: int = 25
    use_cache: bool = True
    offline: bool = False


@dataclass
class Progress:
    total: int
    done: int = 0
    cached: int = 0
    errors: int = 0
    spent_usd: float = 0.0


@dataclass
class RunOutcome:
    progress: Progress
    misses: list[PlannedCall] = field(default_factory=list)  # offline: not in cache
    stopped: str | None = None  # why scheduling stopped early, if it did


def identity(call: PlannedCall) -> tuple[str, str, str, str, str, int]:
    return (call.side, call.suite, call.prompt, call.model.alias, call.case.id, call.repeat)


def build_record(call: PlannedCall, answer: CachedAnswer | None, outcome_error: CallFailure | None, attempts: int,
                 cached: bool, redactor: Redactor) -> CallRecord:
    """Score the raw answer, then redact what gets written."""
    record = CallRecord(
        side=call.side, suite=call.suite, prompt=call.prompt, model=call.model.alias, model_id=call.model.model,
        case_id=call.case.id, repeat=call.repeat, key=call.key, messages=redactor.messages(call.messages),
        attempts=attempts, cached=cached, expect_refusal=call.case.expect_refusal, tags=list(call.case.tags),
        case_hash=call.case.hash)
    if answer is None:
        record.error = redactor.text(outcome_error.message if outcome_error else "no answer")
        record.error_class = outcome_error.error_class if outcome_error else "unknown"
        return record
    score = score_answer(answer.text, answer.finish_reason, call.case.vars, call.case.asserts,
                         call.case.expect_refusal, call.ctx)
    record.output = redactor.text(answer.text)
    record.finish_reason = answer.finish_reason
    record.latency_s, record.tokens_in, record.tokens_out = answer.latency_s, answer.tokens_in, answer.tokens_out
    record.cost_usd = answer.cost_usd
    record.passed, record.refused, record.empty = score.passed, score.refused, score.empty
    record.schema_valid = score.schema_valid
    record.assertions = [{**a, "message": redactor.text(a["message"])} for a in score.assertions]
    return record


class Runner:
    def __init__(self, store: Store, run_id: str, limits: RunLimits, redactor: Redactor,
                 on_progress: Callable[[Progress], None] = lambda p: None) -> None:
        self.store, self.run_id, self.limits, self.redactor = store, run_id, limits, redactor
        self.on_progress = on_progress

    def run(self, calls: Sequence[PlannedCall], done: set[tuple[str, str, str, str, str, int]]) -> RunOutcome:
        """Run every call not in `done` (already recorded in this run)."""
        todo = [c for c in calls if identity(c) not in done]
        progress = Progress(total=len(calls), done=len(calls) - len(todo))
        self.on_progress(progress)
        todo = self._serve_cached(todo, progress)
        if self.limits.offline or not todo:
            return RunOutcome(progress, misses=todo if self.limits.offline else [])
        try:
            return asyncio.run(self._call_all(todo, progress))
        finally:
            self.store.release(self.run_id)

    def _claim(self, keys: list[str]) -> set[str]:
        """Requests this run may call; another live process calling the same request is waited for."""
        if not self.limits.use_cache:
            return set(keys)
        stale_after = self.limits.timeout_s * (self.limits.retries + 1) + 120
        return self.store.claim(keys, self.run_id, stale_after)

    def _serve_cached(self, todo: list[PlannedCall], progress: Progress) -> list[PlannedCall]:
        if not self.limits.use_cache:
            return todo
        hits = self.store.cache_get_many(sorted({c.key for c in todo}))
        records = [build_record(c, hits[c.key], None, 0, True, self.redactor) for c in todo if c.key in hits]
        self.store.record_many(self.run_id, records)
        progress.done += len(records)
        progress.cached += len(records)
        self.on_progress(progress)
        return [c for c in todo if c.key not in hits]

    async def _call_all(self, todo: list[PlannedCall], progress: Progress) -> RunOutcome:
        provider = Provider(self.limits.timeout_s, self.limits.retries, self.redactor.secrets)
        groups: dict[str, list[PlannedCall]] = {}
        for call in todo:
            groups.setdefault(call.key, []).append(call)
        queue: asyncio.Queue[list[PlannedCall]] = asyncio.Queue()
        waiting = set(groups) - self._claim(list(groups))
        for key, group in groups.items():
            if key not in waiting:
                queue.put_nowait(group)
        state = _Budget(self.limits)
        # A resumed run keeps its budget: what it already paid for counts against max_cost_usd.
        for record in self.store.results(self.run_id):
            if record.ok and not record.cached:
                state.settle_spent(record.cost_usd)
        outcome = RunOutcome(progress)

        async def worker() -> None:
            while not queue.empty():
                if outcome.stopped is None:
                    outcome.stopped = state.stop_reason()
                if outcome.stopped is not None:
                    return
                group = queue.get_nowait()
                state.in_flight += 1
                try:
                    result = await provider.complete(group[0].model, group[0].messages, group[0].params)
                finally:
                    state.in_flight -= 1
                self._finish(group, result, progress, state)

        while True:
            workers = [asyncio.create_task(worker()) for _ in range(min(self.limits.concurrency, queue.qsize()))]
            await asyncio.gather(*workers)
            if not waiting or outcome.stopped:
                return outcome
            waiting = await self._collect_others(waiting, groups, queue, progress)

    async def _collect_others(self, waiting: set[str], groups: dict[str, list[PlannedCall]],
                              queue: asyncio.Queue[list[PlannedCall]], progress: Progress) -> set[str]:
        """Wait for requests another process is calling: take its cached answers, and take over
        the claims it drops (it died or gave up), queueing those for our own workers."""
        while waiting:
            await asyncio.sleep(WAIT_POLL_S)
            pending = [c for key in sorted(waiting) for c in groups[key]]
            still = {c.key for c in self._serve_cached(pending, progress)}
            taken = self._claim(sorted(still)) if still else set()
            for key in taken:
                queue.put_nowait(groups[key])
            waiting = still - taken
            if taken:
                break
        return waiting

    def _finish(self, group: list[PlannedCall], result: Outcome, progress: Progress, state: "_Budget") -> None:
        answer = result.answer
        records = [build_record(call, answer, result.failure, result.attempts, False, self.redactor) for call in group]
        # The raw answer is cached once per request (an error never is, so a rerun retries it); key values in use
        # are scrubbed from it first: a model that echoes its key must not put the key in the store.
        cacheable = replace(answer, text=scrub(answer.text, self.redactor.secrets)) if answer else None
        for index, record in enumerate(records):
            self.store.record(self.run_id, record, cacheable if index == 0 else None)
        state.settle(answer)
        progress.done += len(records)
        progress.errors += 0 if answer else len(records)
        progress.spent_usd += (answer.cost_usd or 0.0) if answer else 0.0
        self.on_progress(progress)


class _Budget:
    """Decides when to stop scheduling: spent + in-flight estimate over budget, or an error streak."""

    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self.spent = 0.0
        self.completed = 0
        self.in_flight = 0
        self.streak = 0

    def settle(self, answer: CachedAnswer | None) -> None:
        if answer is None:
            self.streak += 1
            return
        self.streak = 0
        self.settle_spent(answer.cost_usd)

    def settle_spent(self, cost_usd: float | None) -> None:
        """A call already paid for (earlier in a resumed run)."""
        self.completed += 1
        self.spent += cost_usd or 0.0

    def stop_reason(self) -> str | None:
        if self.streak >= self.limits.max_consecutive_errors:
            return f"{self.streak} calls in a row failed; stopped sending new calls"
        limit = self.limits.max_cost_usd
        if limit is not None and self.completed:
            estimate = self.spent / self.completed
            if self.spent + estimate * (self.in_flight + 1) > limit:
                return f"budget: ${self.spent:.4f} spent, next calls would pass max_cost_usd ${limit:g}"
        return None
