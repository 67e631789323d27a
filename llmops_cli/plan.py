"""Planning a run: every (suite x prompt x model x case x repeat) call, rendered and keyed.

The cache key is a hash of the model, its endpoint, the params and the rendered messages (and
the sample index for repeat > 0), so any change to what the model would see is a new call and
anything unchanged — an untouched baseline, a rerun — is free.

Model-graded assertions (judge, similarity) are checked here too: one with no grader model
(neither its `model` nor llmops.yaml's `judge_model` / `embedding_model`), an unknown alias, or a
faithfulness `context_var` the case lacks is an input problem (exit 2) before anything is sent.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_cli.agent import AgentSpec
from llmops_cli.cases import Case, canonical_json, sha256_text
from llmops_cli.config import MAX_REPEAT, Assertion, ModelSpec, ProjectConfig, Suite, did_you_mean
from llmops_cli.errors import InputError, Problems
from llmops_cli.project import Project
from llmops_cli.render import RenderError, render_case
from llmops_cli.scoring.graders import GraderModels, grader_problems
from llmops_cli.scoring.refusal import refusal_phrases
from llmops_cli.scoring.score import ScoreContext, applicable
from llmops_cli.tooldefs import request_params


@dataclass(frozen=True, slots=True)
class PlannedCall:
    side: str
    suite: str
    prompt: str
    model: ModelSpec
    case: Case
    repeat: int
    messages: list[dict[str, Any]]
    params: Mapping[str, Any]
    key: str
    ctx: ScoreContext
    agent: AgentSpec | None = None  # the case runs as an agent loop; `key` then names the whole loop
    first_key: str = ""  # the loop's first request (its own cache key); "" when not a loop

    @property
    def request_key(self) -> str:
        """The cache key of the first (or only) request this call sends."""
        return self.first_key or self.key


@dataclass(frozen=True)
class Selection:
    """Which part of the project to run; the same selection applies to head and baseline."""

    suites: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    repeat: int | None = None
    filter: str | None = None
    shard: tuple[int, int] | None = None
    auto_repeat: bool = False  # `--repeat auto`: every suite adaptive (adaptive.py); first runs only here


def request_key(spec: ModelSpec, params: Mapping[str, Any], messages: list[dict[str, Any]], sample: int) -> str:
    request: dict[str, Any] = {"model": spec.model, "api_base": spec.api_base, "params": dict(params),
                               "messages": messages}
    if spec.extra:  # a model alias's own params change what it answers (only when set: older keys stay valid)
        request["model_params"] = dict(spec.extra)
    if sample:
        request["sample"] = sample
    return sha256_text(canonical_json(request))


def loop_key(first: str, agent: AgentSpec) -> str:
    """What names a whole agent loop: its first request plus the recorded results and step bound, so
    two cases that send the same first request but record different results are never merged."""
    rules = [[r.name, r.args, r.result] for r in agent.rules]
    return sha256_text(canonical_json({"loop": first, "rules": rules, "max_steps": agent.max_steps}))


def parse_repeat(text: str | None) -> int | None:
    """`--repeat k` (None for `auto` or when not given: see Selection.auto_repeat)."""
    if text is None or text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_REPEAT:
        raise InputError(f"--repeat {text[:40]!r}: use a number of runs per case from 1 to {MAX_REPEAT:,}, or auto")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: use i/n, e.g. 1/4") from None
    if not 1 <= index <= count:
        raise InputError(f"--shard {text!r}: i must be between 1 and n")
    return index, count


def in_shard(case_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable slice by case id, so a case lands in the same shard at head and baseline."""
    if shard is None:
        return True
    digest = int(hashlib.sha256(case_id.encode()).hexdigest()[:12], 16)
    return digest % shard[1] == shard[0] - 1


def matches(case: Case, pattern: str | None) -> bool:
    """`--filter`: a glob on the case id, or `tag:NAME`."""
    if not pattern:
        return True
    if pattern.startswith("tag:"):
        return pattern[4:] in case.tags
    return fnmatch.fnmatchcase(case.id, pattern)


_ADHOC = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.:@/+-]+")


def resolve_model(models: Mapping[str, ModelSpec], name: str) -> ModelSpec | None:
    """An alias of llmops.yaml, or an ad-hoc litellm model string for `--model` (`openai/gpt-4o`: a provider
    prefix tells it apart, since aliases cannot hold '/'); it uses the provider's usual key variable."""
    if name in models:
        return models[name]
    return ModelSpec(alias=name, model=name) if _ADHOC.fullmatch(name) else None


def is_adhoc(models: Mapping[str, ModelSpec], name: str) -> bool:
    return name not in models and resolve_model(models, name) is not None


def suite_models(project: Project, suite: Suite, wanted: Sequence[str]) -> list[ModelSpec]:
    if not wanted:
        return [project.config.models[m] for m in suite.models]
    specs = [resolve_model(project.config.models, m) for m in wanted]
    unknown = [m for m, spec in zip(wanted, specs, strict=True) if spec is None]
    if unknown:
        hint = did_you_mean(unknown[0], project.config.models)
        raise InputError(f"--model {unknown[0]!r}: not a model alias in llmops.yaml{hint}, "
                         f"nor a litellm model string such as openai/gpt-4o-mini; known: {', '.join(project.config.models)}")
    return [spec for spec in specs if spec is not None]


def grader_models(config: ProjectConfig) -> GraderModels:
    return GraderModels(config.models, {"judge_model": config.judge_model, "embedding_model": config.embedding_model})


def _check_graders(asserts: Sequence[Assertion], models: GraderModels, problems: Problems) -> None:
    """A suite's grader assertions: each needs a model it can resolve."""
    for assertion in asserts:
        for message in grader_problems(assertion, models, None):
            problems.add(assertion.file, assertion.line, message)


def plan_calls(project: Project, side: str, selection: Selection) -> list[PlannedCall]:
    """Render and key every call; every render failure is a problem (exit 2)."""
    problems = Problems()
    calls: list[PlannedCall] = []
    phrases = refusal_phrases(project.config.refusal)
    graders = grader_models(project.config)
    for suite in project.suites.values():
        if selection.suites and suite.name not in selection.suites:
            continue
        models = suite_models(project, suite, selection.models)
        repeat = 1 if selection.auto_repeat else selection.repeat or suite.repeat  # auto: first runs only here
        _check_graders(suite.asserts, graders, problems)
        for prompt_name in suite.prompts:
            prompt = project.prompts[prompt_name]
            tools = project.prompt_tools(prompt_name)
            ctx = ScoreContext(suite.asserts, prompt.schema, phrases, project.config.allow_python, graders,
                               {t.name: t.parameters for t in tools})
            compiled = project.compiled[prompt_name]
            params = {**prompt.params, **request_params(tools, prompt.tool_choice)}  # one copy for every call
            for case in project.cases.get(suite.name, ()):
                if not (matches(case, selection.filter) and in_shard(case.id, selection.shard)):
                    continue
                if prompt_name == suite.prompts[0]:
                    _check_case_graders(case, applicable(case.asserts, case.expect_refusal, ctx), graders, problems,
                                        suite.cases_path)
                try:
                    messages = render_case(compiled, case.vars, case.messages)
                except RenderError as exc:
                    where = f"{prompt.path}:{exc.line}: " if exc.line else ""
                    problems.add(suite.cases_path, case.line, f"case {case.id!r}: {where}{exc.message}")
                    continue
                agent = AgentSpec(case.tool_results, suite.max_steps) if case.tool_results is not None else None
                for spec in models:
                    for sample in range(repeat):
                        first = request_key(spec, params, messages, sample)
                        key = loop_key(first, agent) if agent else first
                        calls.append(PlannedCall(side, suite.name, prompt_name, spec, case, sample, messages, params,
                                                 key, ctx, agent, first if agent else ""))
    problems.raise_if_any()
    return calls


def _check_case_graders(case: Case, asserts: Sequence[Assertion], models: GraderModels, problems: Problems,
                        cases_path: str) -> None:
    """A case's own grader assertions (no model, unknown alias) and every applicable one's context_var."""
    own = {id(a) for a in case.asserts}
    for assertion in asserts:
        messages = grader_problems(assertion, models, case.vars)
        if id(assertion) not in own:  # a suite assertion: its model was checked once; only the case's vars here
            messages = [m for m in messages if "context_var" in m]
        for message in messages:
            problems.add(cases_path, case.line, f"case {case.id!r}: {message}")


def grader_config_problems(project: Project) -> Problems:
    """Every model-graded assertion that cannot run, in every suite (for `llmops check`, which plans nothing)."""
    problems = Problems()
    graders = grader_models(project.config)
    phrases = refusal_phrases(project.config.refusal)
    for suite in project.suites.values():
        _check_graders(suite.asserts, graders, problems)
        ctx = ScoreContext(suite.asserts, None, phrases, project.config.allow_python, graders)
        for case in project.cases.get(suite.name, ()):
            _check_case_graders(case, applicable(case.asserts, case.expect_refusal, ctx), graders, problems,
                                suite.cases_path)
    return problems
