"""Running a plan: serve from the cache, call the rest with bounded concurrency, record each.

Every finished call is scored, redacted and committed at once, so an interrupt or a crash
loses nothing completed and the same command resumes where it stopped. New calls stop being
scheduled when the budget would be passed or errors come in a run (a broken provider must
not burn the budget); the run is then incomplete, never silently short.

Model-graded assertions (judge, similarity) need a second call once the answer is known: the
worker that got the answer (from the provider or the cache) sends the grader requests itself —
cache first, then the provider with the same retries, inside the same concurrency slot — and
scores the case only when every verdict is in. Each grader call is recorded as its own traced
row and summarised in the case's record. A grader that fails or answers unreadable JSON makes
the case an error (`judge_server_error`, `judge_malformed`, ...): never a pass. Grader answers
that parse are cached; failures are not, so a rerun asks again. A run whose answers and verdicts
are all cached still never imports litellm; `--offline` treats a missing verdict as a miss.

A sent call's wait for a slot (from when it was ready to send until a worker took it) is stored as
`queue_s`, apart from its latency, which the HTTP client measures on the wire (httpclient.py).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmops_cli.agent import Loop, call_dict
from llmops_cli.config import Limits, ModelSpec
from llmops_cli.plan import PlannedCall, request_key
from llmops_cli.providers import CallFailure, Outcome, Provider, check_credentials
from llmops_cli.redact import Redactor, scrub_keys
from llmops_cli.scoring.graders import GraderRequest, GraderResult, grader_kinds, requests_for, resolve_model, settle
from llmops_cli.scoring.score import applicable, score_answer, worth_grading
from llmops_cli.scoring.tools import args_problem
from llmops_cli.store import CachedAnswer, CallId, CallRecord, GraderRole, Store, ToolCall

WAIT_POLL_S = 0.2
CACHED_CHUNK = 2000  # calls served from the cache per read and write
_UNSENT_CALL = r"coroutine '[^']*(completion|embedding)[^']*' was never awaited"
_GRADED = frozenset(grader_kinds())  # assertion types that need a grader call


@dataclass(frozen=True)
class RunLimits:
    concurrency: int = 16
    timeout_s: float = 60.0
    retries: int = 4
    max_cost_usd: float | None = None
    max_consecutive_errors: int = 25
    use_cache: bool = True
    offline: bool = False

    @classmethod
    def from_config(cls, limits: Limits, **overrides: Any) -> RunLimits:
        """The project's limits (llmops.yaml), with any command-line overrides."""
        base = cls(concurrency=limits.concurrency, timeout_s=limits.timeout_s, retries=limits.retries,
                   max_cost_usd=limits.max_cost_usd, max_consecutive_errors=limits.max_consecutive_errors)
        return replace(base, **overrides)


@dataclass
class Progress:
    total: int
    done: int = 0
    cached: int = 0
    errors: int = 0
    shared: int = 0  # calls answered by an identical request of this run (sent once)
    spent_usd: float | None = 0.0  # None (unknown) once an answer paid for has no price


@dataclass
class RunOutcome:
    progress: Progress
    misses: list[PlannedCall] = field(default_factory=list)  # offline: not in cache
    stopped: str | None = None  # why scheduling stopped early, if it did


def identity(call: PlannedCall) -> CallId:
    """The call id a planned call is recorded under (a resumed run skips the ids it holds)."""
    return CallId(call.side, call.suite, call.prompt, call.model.alias, call.case.id, call.repeat)


def grader_requests(call: PlannedCall, answer: CachedAnswer) -> list[GraderRequest]:
    """The grader calls this answer needs (none for an empty answer or an unwanted refusal)."""
    asserts = applicable(call.case.asserts, call.case.expect_refusal, call.ctx)
    if not any(a.type in _GRADED for a in asserts):
        return []
    if not worth_grading(answer.text, answer.finish_reason, call.case.expect_refusal, call.ctx):
        return []
    return requests_for(answer.text, asserts, call.case.vars, call.ctx.graders)


def grader_specs(call: PlannedCall) -> list[ModelSpec]:
    """Every grader model a call may use (to check their keys before anything is sent)."""
    asserts = applicable(call.case.asserts, call.case.expect_refusal, call.ctx)
    return [resolve_model(a, call.ctx.graders) for a in asserts if a.type in _GRADED]


def build_record(call: PlannedCall, answer: CachedAnswer | None, *, redactor: Redactor, failure: CallFailure | None = None,
                 attempts: int = 0, cached: bool = False, graded: Sequence[GraderResult] = (),
                 loop: Loop | None = None) -> CallRecord:
    """Score the raw answer (with its grader verdicts), then redact what gets written. A failed
    grader call makes the record an error: the answer is kept, the case is never a pass. An agent
    loop's record holds the whole conversation, each step, and the answer of its last step."""
    record = CallRecord(
        side=call.side, suite=call.suite, prompt=call.prompt, model=call.model.alias, model_id=call.model.model,
        case_id=call.case.id, repeat=call.repeat, key=call.key,
        messages=redactor.messages(loop.messages if loop is not None else call.messages),
        attempts=attempts, cached=cached, expect_refusal=call.case.expect_refusal, tags=list(call.case.tags),
        case_hash=call.case.hash)
    if loop is not None:
        record.steps = [_redacted_step(s.summary(), redactor, call.ctx.tools) for s in loop.steps]
    if answer is None:
        record.error = redactor.text(failure.message if failure else "no answer")
        record.error_class = failure.error_class if failure else "unknown"
        return record
    grades = {g.request.index: g.grade for g in graded if g.grade is not None}
    tool_steps = [s.answer.tool_calls for s in loop.steps] if loop is not None else [answer.tool_calls]
    score = score_answer(answer.text, answer.finish_reason, call.case.vars, call.case.asserts,
                         call.case.expect_refusal, call.ctx, grades, tool_steps,
                         loop is not None and loop.exhausted)
    record.output = redactor.text(answer.text)
    record.tool_calls = [_redacted_call(call_dict(c), redactor, call.ctx.tools) for c in answer.tool_calls]
    record.finish_reason = answer.finish_reason
    record.latency_s, record.tokens_in, record.tokens_out = answer.latency_s, answer.tokens_in, answer.tokens_out
    record.cost_usd = answer.cost_usd
    record.passed, record.refused, record.empty = score.passed, score.refused, score.empty
    record.schema_valid = score.schema_valid
    record.assertions = [{**a, "message": redactor.text(a["message"])} for a in score.assertions]
    record.graders = [g.summary(redactor.text) for g in graded]
    failed = next((g for g in graded if not g.ok), None)
    if failed is not None:
        r = failed.request
        record.error = redactor.text(f"{r.kind} ({r.version}, model {r.model.alias}) failed: {failed.error} "
                                     f"(attempts: {failed.attempts})")
        record.error_class = failed.error_class
        record.passed = False
    return record


def _redacted_call(call: dict[str, Any], redactor: Redactor, tools: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A tool call as stored: arguments redacted, `valid` judged on the raw ones (tool_args_validity)."""
    valid = args_problem(ToolCall(call["id"], call["name"], call["arguments"]), tools) is None
    return {**call, "arguments": redactor.text(call["arguments"]), "valid": valid}


def _redacted_step(step: dict[str, Any], redactor: Redactor, tools: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {**step, "text": redactor.text(step["text"]), "tool_results": [redactor.text(r) for r in step["tool_results"]],
            "tool_calls": [_redacted_call(c, redactor, tools) for c in step["tool_calls"]]}


def grader_record(call: PlannedCall, graded: GraderResult, redactor: Redactor) -> CallRecord:
    """The traced row of one grader call: what was sent to the grader model and what it said."""
    r, answer = graded.request, graded.answer
    record = CallRecord(
        side=call.side, grader=GraderRole(r.kind, call.model.alias, r.index), suite=call.suite, prompt=call.prompt,
        model=r.model.alias, model_id=r.model.model, case_id=call.case.id, repeat=call.repeat, key=r.key,
        messages=redactor.messages(r.messages), attempts=graded.attempts, cached=graded.cached,
        expect_refusal=call.case.expect_refusal, tags=list(call.case.tags), case_hash=call.case.hash)
    if answer is not None:
        record.output = redactor.text(answer.text if r.endpoint == "chat" else
                                      (graded.grade.reason if graded.grade else "unreadable embeddings"))
        record.finish_reason = answer.finish_reason
        record.latency_s, record.tokens_in, record.tokens_out = answer.latency_s, answer.tokens_in, answer.tokens_out
        record.cost_usd = answer.cost_usd
        record.passed = graded.ok
    if not graded.ok:
        record.error, record.error_class = redactor.text(graded.error or "grader failed"), graded.error_class
    return record


Job = tuple[list[PlannedCall], CachedAnswer | None]  # calls sharing one request; the answer when only grading is left
Queued = tuple[Job, float]  # and when it was ready to send (perf_counter): its wait for a slot is stored as queue_s


class Runner:
    def __init__(self, store: Store, run_id: str, limits: RunLimits, redactor: Redactor,
                 on_progress: Callable[[Progress], None] = lambda p: None, redact_cache: bool = False) -> None:
        self.store, self.run_id, self.limits, self.redactor = store, run_id, limits, redactor
        self.redact_cache = redact_cache  # rerun: answers to production inputs echo personal data
        self.on_progress = on_progress
        self._graders: dict[str, asyncio.Task[GraderResult]] = {}  # one call per grader request in a run

    def run(self, calls: Sequence[PlannedCall], done: set[CallId]) -> RunOutcome:
        """Run every call not in `done` (already recorded in this run)."""
        todo = [c for c in calls if identity(c) not in done]
        progress = Progress(total=len(calls), done=len(calls) - len(todo))
        self.on_progress(progress)
        todo, grading = self._serve_cached(todo, progress)
        if self.limits.offline:
            return RunOutcome(progress, misses=todo + [c for group, _ in grading for c in group])
        if not todo and not grading:
            return RunOutcome(progress)
        self._writer = _Writer(self.store.path, self.run_id)
        try:
            with warnings.catch_warnings():
                # litellm runs the start of each call in a worker thread that hands back the request's coroutine;
                # a call cancelled by Ctrl-C or SIGTERM at that moment drops it unsent. That is a clean cancel,
                # not a bug worth a warning on the way out.
                warnings.filterwarnings("ignore", message=_UNSENT_CALL, category=RuntimeWarning)
                return asyncio.run(self._call_all(todo, grading, progress))
        finally:
            self._writer.close()
            self.store.release(self.run_id)

    def _claim(self, keys: list[str]) -> set[str]:
        """Requests this run may call; another live process calling the same request is waited for."""
        if not self.limits.use_cache:
            return set(keys)
        stale_after = self.limits.timeout_s * (self.limits.retries + 1) + 120
        return self.store.claim(keys, self.run_id, stale_after)

    def _serve_cached(self, todo: list[PlannedCall], progress: Progress) -> tuple[list[PlannedCall], list[Job]]:
        """Record every call answered by the cache (verdicts included); return the calls still to send, and
        the cached answers whose grader verdicts are not cached yet. A chunk of calls at a time: a warm
        100k-case run never holds every cached answer and record at once."""
        if not self.limits.use_cache:
            return todo, []
        left: list[PlannedCall] = []
        grading: list[Job] = []
        for start in range(0, len(todo), CACHED_CHUNK):
            unanswered, ungraded = self._serve_cached_chunk(todo[start:start + CACHED_CHUNK], progress)
            left += unanswered
            grading += ungraded
        return left, grading

    def _serve_cached_chunk(self, todo: list[PlannedCall], progress: Progress) -> tuple[list[PlannedCall], list[Job]]:
        loops = {id(c): self._cached_loop(c) for c in todo if c.agent is not None}
        hits = self.store.cache_get_many(sorted({c.key for c in todo if c.agent is None}))
        hits.update({c.key: loops[id(c)].final() for c in todo if id(c) in loops and loops[id(c)].done})
        needs = {id(c): grader_requests(c, hits[c.key]) for c in todo if c.key in hits}
        verdicts = self.store.cache_get_many(sorted({r.key for reqs in needs.values() for r in reqs}))
        records: list[CallRecord] = []
        grading: list[Job] = []
        for call in todo:
            if call.key not in hits:
                continue
            requests = needs[id(call)]
            if any(r.key not in verdicts for r in requests):
                grading.append(([call], hits[call.key]))
                continue
            graded = [settle(r, verdicts[r.key], cached=True) for r in requests]
            records += [grader_record(call, g, self.redactor) for g in graded]
            records.append(build_record(call, hits[call.key], redactor=self.redactor, cached=True, graded=graded,
                                        loop=loops.get(id(call))))
        self.store.record_many(self.run_id, records)
        served = [r for r in records if r.grader is None]
        progress.done += len(served)
        progress.cached += len(served)
        progress.errors += sum(1 for r in served if not r.ok)
        self.on_progress(progress)
        return [c for c in todo if c.key not in hits], grading

    def _cached_loop(self, call: PlannedCall) -> Loop:
        """An agent loop as far as the cache answers its steps (all of them when the loop is done)."""
        loop = self._new_loop(call)
        while not loop.done:
            key = _step_key(call, loop)
            hit = self.store.cache_get_many([key]).get(key) if self.limits.use_cache else None
            if hit is None:
                break
            loop.take(key, hit, True)
        return loop

    @staticmethod
    def _new_loop(call: PlannedCall) -> Loop:
        assert call.agent is not None
        return Loop(call.messages, call.agent)

    async def _run_loop(self, call: PlannedCall, provider: Provider, state: _Budget) -> tuple[Loop, Outcome]:
        """Each step from the cache, else sent and cached at once (before the next step is sent), so a
        run killed mid-loop resumes at the step it was on. A failed step ends the loop as an error."""
        loop, attempts = self._cached_loop(call), 0
        while not loop.done:
            key = _step_key(call, loop)
            result = await provider.complete(call.model, loop.messages, call.params)
            state.settle(call.model.alias, result)
            attempts += result.attempts
            if result.answer is None:
                return loop, Outcome(None, result.failure, attempts)
            kept = self._cacheable(result.answer)
            if self.limits.use_cache:
                self.store.cache_put(key, call.model.model, kept, self.run_id)
            loop.take(key, kept, False)
        return loop, Outcome(loop.final(), None, attempts)

    async def _call_all(self, todo: list[PlannedCall], grading: list[Job], progress: Progress) -> RunOutcome:
        self._graders = {}  # tasks belong to this event loop
        # A model or grader without its key is an input error before anything is sent.
        check_credentials([*(c.model for c in todo), *(s for c in [*todo, *(c for g, _ in grading for c in g)]
                                                       for s in grader_specs(c))])
        provider = Provider(self.limits.timeout_s, self.limits.retries, self.redactor.secrets, redactor=self.redactor)
        groups: dict[str, list[PlannedCall]] = {}
        for call in todo:
            groups.setdefault(call.key, []).append(call)
        queue: asyncio.Queue[Queued] = asyncio.Queue()
        for job in grading:
            queue.put_nowait((job, time.perf_counter()))
        waiting = set(groups) - self._claim(list(groups))
        for key, group in groups.items():
            if key not in waiting:
                queue.put_nowait(((group, None), time.perf_counter()))
        state = _Budget(self.limits)
        # A resumed run keeps its budget: what it already paid for (answers, grader calls) counts against max_cost_usd.
        for model, cost in self.store.paid_calls(self.run_id):
            state.settle_spent(model, cost)
        outcome = RunOutcome(progress)

        async def worker() -> None:
            while not queue.empty():
                if outcome.stopped is None:
                    outcome.stopped = state.stop_reason()
                if outcome.stopped is not None:
                    return
                (group, cached), ready_at = queue.get_nowait()
                waited = time.perf_counter() - ready_at
                state.in_flight += 1
                loop: Loop | None = None
                try:
                    if group[0].agent is not None:
                        loop, result = (await self._run_loop(group[0], provider, state) if cached is None
                                        else (self._cached_loop(group[0]), Outcome(cached, None, attempts=0)))
                    elif cached is None:
                        result = await provider.complete(group[0].model, group[0].messages, group[0].params)
                        state.settle(group[0].model.alias, result)
                    else:
                        result = Outcome(cached, None, attempts=0)
                    graded = await self._grade(group, result.answer, cached is None and loop is None, provider, state)
                finally:
                    state.in_flight -= 1
                self._finish(group, result, graded, progress, state, cached=cached is not None,
                             queue_s=None if cached is not None else waited, loop=loop)

        try:
            while True:
                workers = [asyncio.create_task(worker()) for _ in range(min(self.limits.concurrency, queue.qsize()))]
                await asyncio.gather(*workers)
                if not waiting or outcome.stopped:
                    return outcome
                waiting = await self._collect_others(waiting, groups, queue, progress)
        finally:
            await provider.aclose()

    async def _grade(self, group: list[PlannedCall], answer: CachedAnswer | None, fresh: bool, provider: Provider,
                     state: _Budget) -> list[list[GraderResult]]:
        """Every grader verdict each call of the group needs, in call order."""
        if answer is None:
            return [[] for _ in group]
        needs = [grader_requests(call, answer) for call in group]
        if fresh and any(needs):  # the answer is paid for: keep it even if grading is interrupted
            self.store.cache_put(group[0].key, group[0].model.model, self._cacheable(answer), self.run_id)
        return [[await self._grader_call(r, provider, state) for r in requests] for requests in needs]

    async def _grader_call(self, request: GraderRequest, provider: Provider, state: _Budget) -> GraderResult:
        """Cache, then one provider call per distinct request in this run (later askers share it)."""
        if self.limits.use_cache:
            hit = self.store.cache_get_many([request.key]).get(request.key)
            if hit is not None:
                return settle(request, hit, cached=True)
        if request.key in self._graders:
            shared = await self._graders[request.key]
            return replace(shared, request=request, attempts=0, cached=True) if shared.answer else shared
        task = asyncio.ensure_future(self._send_grader(request, provider, state))
        self._graders[request.key] = task
        return await task

    async def _send_grader(self, request: GraderRequest, provider: Provider, state: _Budget) -> GraderResult:
        if request.endpoint == "embedding":
            outcome = await provider.embed(request.model, [m["content"] for m in request.messages])
        else:
            outcome = await provider.complete(request.model, request.messages, request.params)
        state.settle(request.model.alias, outcome)
        failure = outcome.failure
        return settle(request, outcome.answer, failure_class=failure.error_class if failure else None,
                      failure=failure.message if failure else None, attempts=outcome.attempts)

    async def _collect_others(self, waiting: set[str], groups: dict[str, list[PlannedCall]],
                              queue: asyncio.Queue[Queued], progress: Progress) -> set[str]:
        """Wait for requests another process is calling: take its cached answers, and take over
        the claims it drops (it died or gave up), queueing those for our own workers."""
        while waiting:
            await asyncio.sleep(WAIT_POLL_S)
            pending = [c for key in sorted(waiting) for c in groups[key]]
            left, grading = self._serve_cached(pending, progress)
            for job in grading:
                queue.put_nowait((job, time.perf_counter()))
            still = {c.key for c in left}
            taken = self._claim(sorted(still)) if still else set()
            for key in taken:
                queue.put_nowait(((groups[key], None), time.perf_counter()))
            waiting = still - taken
            if taken or grading:
                break
        return waiting

    def _cacheable(self, answer: CachedAnswer) -> CachedAnswer:
        """Key values in use are scrubbed first: a model that echoes its key must not put the key in the store.
        With `redact_cache` the whole answer is redacted (a rerun compares redacted answers anyway)."""
        clean: Callable[[str], str] = (self.redactor.text if self.redact_cache
                                       else lambda text: scrub_keys(text, self.redactor.secrets))
        return replace(answer, text=clean(answer.text),
                       tool_calls=tuple(replace(c, arguments=clean(c.arguments)) for c in answer.tool_calls))

    def _finish(self, group: list[PlannedCall], result: Outcome, graded: list[list[GraderResult]],
                progress: Progress, state: _Budget, *, cached: bool, queue_s: float | None,
                loop: Loop | None = None) -> None:
        """Record one finished job; `queue_s` is how long a sent request waited for a slot (None: nothing sent).
        An agent loop's steps are cached as they come, never its summed answer."""
        answer = result.answer
        attempts = 0 if cached else result.attempts
        records = [build_record(call, answer, redactor=self.redactor, failure=result.failure,
                                attempts=attempts if index == 0 else 0, cached=cached, graded=verdicts, loop=loop)
                   for index, (call, verdicts) in enumerate(zip(group, graded, strict=True))]
        for record in records[1:]:  # one request was sent (or read) for the whole group
            record.shared = True
        for record in records:
            record.queue_s = queue_s
        # The raw answer is cached once per request (an error never is, so a rerun retries it); so is each grader
        # answer that could be read (an unreadable verdict is an error, asked again on a rerun).
        cacheable = self._cacheable(answer) if answer and not cached and loop is None else None
        for index, (call, record, verdicts) in enumerate(zip(group, records, graded, strict=True)):
            for g in verdicts:
                keep = self._cacheable(g.answer) if g.ok and g.answer is not None and not g.cached else None
                self._writer.put(grader_record(call, g, self.redactor), keep)
            self._writer.put(record, cacheable if index == 0 else None)
        state.settle_streak(any(not r.ok for r in records))
        failed = sum(1 for r in records if not r.ok)
        progress.done += len(records)
        progress.cached += 1 if cached else 0
        progress.shared += len(records) - 1
        progress.errors += failed
        paid = ([answer] if answer and not cached else []) + [g.answer for v in graded for g in v
                                                               if g.answer and not g.cached]
        known = [a.cost_usd for a in paid]
        if progress.spent_usd is not None:
            progress.spent_usd = None if None in known else progress.spent_usd + sum(c for c in known if c is not None)
        self.on_progress(progress)


class _Writer:
    """One thread, with its own connection, commits finished calls as they come, so SQLite's
    work (which releases the GIL) overlaps the event loop's instead of stalling it. Whatever is
    queued when it wakes is committed in one transaction; on close it drains the queue first,
    so an interrupt loses nothing that finished."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.run_id = run_id
        self.store = Store(path.parent.parent)
        self.queue: queue.SimpleQueue[tuple[CallRecord, CachedAnswer | None] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="llmops-writer", daemon=True)
        self.thread.start()

    def put(self, record: CallRecord, answer: CachedAnswer | None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((record, answer))

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            items = [item for item in batch if item is not None]
            if items and self.error is None:
                try:
                    self.store.record_batch(self.run_id, items)
                except BaseException:  # noqa: BLE001 - one bad item must not take the batch's good ones with it
                    self._one_by_one(items)
            if len(items) < len(batch):
                return

    def _one_by_one(self, items: list[tuple[CallRecord, CachedAnswer | None]]) -> None:
        """Keep every item that can be written; the first failure is handed to the run's thread on
        the next put/close, which stops the run (incomplete, resumable)."""
        for item in items:
            try:
                self.store.record_batch(self.run_id, [item])
            except BaseException as exc:  # noqa: BLE001
                self.error = self.error or exc

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.store.close()
        if self.error is not None:
            raise self.error


def _step_key(call: PlannedCall, loop: Loop) -> str:
    """The cache key of a loop's next request: the first one's, then one over the grown conversation."""
    return call.request_key if not loop.steps else request_key(call.model, call.params, loop.messages, call.repeat)


class _Budget:
    """Decides when to stop scheduling: spent + in-flight estimate over budget, or an error streak.
    Grader calls are paid for like any call, so they count against the budget too."""

    def __init__(self, limits: RunLimits) -> None:
        self.limits = limits
        self.spent = 0.0
        self.completed = 0
        self.in_flight = 0
        self.streak = 0
        self.unpriced: set[str] = set()  # models that answered at a price nobody knows

    def settle_streak(self, failed: bool) -> None:
        """A case that ended in an error (its call or its grader) extends the streak; any other ends it."""
        self.streak = self.streak + 1 if failed else 0

    def settle(self, model: str, outcome: Outcome) -> None:
        """A call just made: paid for when it was answered."""
        self.settle_spent(model, outcome.answer.cost_usd if outcome.answer else None, answered=outcome.answer is not None)

    def settle_spent(self, model: str, cost_usd: float | None, *, answered: bool = True) -> None:
        """A call paid for (now, or earlier in a resumed run); a failed call costs nothing."""
        if answered:
            self.completed += 1
            self.spent += cost_usd or 0.0
            if cost_usd is None:
                self.unpriced.add(model)

    def stop_reason(self) -> str | None:
        if self.streak >= self.limits.max_consecutive_errors:
            return f"{self.streak} calls in a row failed; stopped sending new calls"
        limit = self.limits.max_cost_usd
        if limit is not None and self.unpriced:  # counted as $0, the budget would never stop anything
            models = ", ".join(repr(m) for m in sorted(self.unpriced))
            return (f"max_cost_usd ${limit:g} cannot be kept: the price of model {models} is unknown; stopped sending "
                    "new calls (give it input_cost_per_token and output_cost_per_token in llmops.yaml, 0 for a free "
                    "local model)")
        if limit is not None and self.completed:
            estimate = self.spent / self.completed
            if self.spent + estimate * (self.in_flight + 1) > limit:
                return f"budget: ${self.spent:.4f} spent, next calls would pass max_cost_usd ${limit:g}"
        return None
