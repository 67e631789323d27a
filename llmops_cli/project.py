"""A whole project (config, prompts, suites, golden cases, lock) loaded from one Source.

Loading collects every problem of every file before raising, so a user fixes all of them in
one pass; the same loader serves the work tree and a baseline git ref.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmops_cli.cases import Case, canonical_json, parse_cases, sha256_text
from llmops_cli.config import (
    CONFIG_FILE,
    EVALS_DIR,
    PROMPTS_DIR,
    ProjectConfig,
    Prompt,
    Suite,
    did_you_mean,
    parse_config,
    parse_prompt,
    parse_suite,
)
from llmops_cli.errors import InputError, Problem, Problems
from llmops_cli.lock import LOCK_FILE, CaseChanges, LockError, case_hashes, diff_cases, parse_lock
from llmops_cli.render import CompiledPrompt, RenderError, compile_prompt, render_case
from llmops_cli.scoring.registry import validate_assertion
from llmops_cli.source import NotText, OutsideRepository, Source
from llmops_cli.tooldefs import TOOLS_DIR, Tool, parse_tool


@dataclass(frozen=True)
class Project:
    source: Source
    config: ProjectConfig
    prompts: Mapping[str, Prompt]
    suites: Mapping[str, Suite]
    cases: Mapping[str, Sequence[Case]]
    lock: Mapping[str, Mapping[str, str]] | None
    compiled: Mapping[str, CompiledPrompt] = field(default_factory=dict)
    tools: Mapping[str, Tool] = field(default_factory=dict)

    def lock_changes(self, suite: str) -> CaseChanges | None:
        """How a suite's golden set differs from llmops.lock (None: no lock entry)."""
        if self.lock is None or suite not in self.lock:
            return None
        return diff_cases(self.lock[suite], case_hashes(self.cases[suite]))

    def prompt_tools(self, name: str) -> list[Tool]:
        """The tools a prompt offers, in its order."""
        return [self.tools[t] for t in self.prompts[name].tools if t in self.tools]

    def prompt_version(self, name: str) -> str:
        """A prompt's identity: its file and the files of the tools it offers (a tool edit is a new version)."""
        return prompt_version(self.prompts[name].text, [t.text for t in self.prompt_tools(name)])


def prompt_version(prompt_text: str, tool_texts: Sequence[str]) -> str:
    """The version of a prompt file with the tool files it offers (a prompt without tools: its file's hash)."""
    return sha256_text(prompt_text) if not tool_texts else sha256_text(canonical_json([prompt_text, *tool_texts]))


def _read(source: Source, path: str, problems: Problems) -> str | None:
    try:
        return source.read_text(path)
    except NotText as exc:
        problems.add(path, exc.line, exc.message)
    except OutsideRepository as exc:
        problems.add(path, None, exc.message)
    except UnicodeError as exc:
        problems.add(path, None, f"cannot read as UTF-8 text ({exc}); save it as UTF-8")
    except OSError as exc:
        problems.add(path, None, f"cannot read: {exc.strerror or exc}")
    return None


def _list(source: Source, path: str, problems: Problems) -> list[str]:
    try:
        return source.list_dir(path)
    except OutsideRepository as exc:
        problems.add(path, None, exc.message)
        return []


def load_project(source: Source, only_suites: Sequence[str] = (), read_lock: bool = True) -> Project:
    """Load and validate everything; raise InputError listing every problem."""
    problems = Problems()
    text = _read(source, CONFIG_FILE, problems)
    if text is None and not problems:
        raise InputError(f"{CONFIG_FILE}: not found in {source.label}; run `llmops init` to create a project")
    parsed = parse_config(text, problems) if text is not None else None
    if parsed is None and not problems:
        raise InputError(f"{CONFIG_FILE}: could not be read")
    # A config that does not parse is already a problem; keep checking the other files against an empty
    # model list (alias checks are skipped) so one run still shows every problem.
    config = parsed or ProjectConfig(models={})
    tools, broken_tools = _load_folder(source, TOOLS_DIR, problems,
                                       lambda name, text, path: parse_tool(name, text, path, problems))
    offered = {*tools, *broken_tools}
    prompts, broken = _load_folder(source, PROMPTS_DIR, problems, lambda name, text, path: parse_prompt(
        name, text, path, config.models, problems, offered))
    suites = _load_suites(source, config, prompts, broken, problems, only_suites)
    cases = {}
    for name, suite in suites.items():
        cases_text = _read(source, suite.cases_path, problems)
        if cases_text is None:
            if not any(p.file == suite.cases_path for p in problems.items):
                problems.add(suite.path, suite.line_of_cases or None,
                             f"cases file {suite.cases_path} not found; create it (one JSON object a line) "
                             "or point 'cases:' at it")
            continue
        cases[name] = parse_cases(cases_text, suite.cases_path, problems, validate_assertion,
                                  expect_refusal_default=suite.kind == "redteam",
                                  read=lambda path: _read(source, path, problems))
    _check_suite_needs(suites, prompts, parsed, problems)
    _check_tool_names(suites, prompts, cases, problems)
    compiled = _compile(prompts, problems)
    lock = _load_lock(source, problems) if read_lock else None
    _clip(problems).raise_if_any()
    return Project(source, config, prompts, suites, cases, lock, compiled, tools)


MAX_MESSAGE = 300


def _clip(problems: Problems) -> Problems:
    """Keep each problem one readable line even when it quotes a huge key or value from the user's file."""
    for index, problem in enumerate(problems.items):
        text = " ".join(problem.message.split()) if "\n" in problem.message else problem.message
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE * 2 // 3] + " … " + text[-MAX_MESSAGE // 3:]
        if text != problem.message:
            problems.items[index] = Problem(problem.file, problem.line, text)
    return problems


T = TypeVar("T")


def _load_folder(source: Source, folder: str, problems: Problems,
                 parse: Callable[[str, str, str], T | None]) -> tuple[dict[str, T], set[str]]:
    """Each `<folder>/<name>.yaml` parsed by `parse(name, text, path)`: what loaded, and the names of the
    files that did not (their problems are recorded), so later checks can skip what is already reported."""
    loaded: dict[str, T] = {}
    broken: set[str] = set()
    for file_name in _list(source, folder, problems):
        if not file_name.endswith((".yaml", ".yml")):
            continue
        path = f"{folder}/{file_name}"
        text = _read(source, path, problems)
        name = file_name.rsplit(".", 1)[0]
        item = parse(name, text, path) if text is not None else None
        if item is not None:
            loaded[name] = item
        else:
            broken.add(name)
    return loaded, broken


def _load_suites(source: Source, config: ProjectConfig, prompts: Mapping[str, Prompt], broken: set[str],
                 problems: Problems, only: Sequence[str]) -> dict[str, Suite]:
    suites = {}
    available = [n for n in _list(source, EVALS_DIR, problems)
                 if "suite.yaml" in _list(source, f"{EVALS_DIR}/{n}", problems)]
    for wanted in only:
        if wanted not in available:
            problems.add(EVALS_DIR, None, f"unknown suite {wanted!r}; known: {', '.join(available) or 'none'}")
    for name in available:
        if only and name not in only:
            continue
        path = f"{EVALS_DIR}/{name}/suite.yaml"
        text = _read(source, path, problems)
        if text is not None:
            suite = parse_suite(name, text, path, problems, prompts, config.models, validate_assertion, broken)
            if suite is not None:
                suites[name] = suite
    return suites


def _check_suite_needs(suites: Mapping[str, Suite], prompts: Mapping[str, Prompt], config: ProjectConfig | None,
                       problems: Problems) -> None:
    """Cross-file rules: a schema assertion needs a schema somewhere; python needs opt-in."""
    for suite in suites.values():
        for assertion in suite.asserts:
            if assertion.type == "schema" and "schema" not in assertion.spec:
                for name in suite.prompts:
                    if name in prompts and prompts[name].schema is None:
                        problems.add(suite.path, assertion.line,
                                     f"schema assertion but {prompts[name].path} declares no output.schema; "
                                     "add one there or drop the assertion")
            if assertion.type == "python" and config is not None and not config.allow_python:
                problems.add(suite.path, assertion.line,
                             "python assertions run repository code; enable them with allow_python: true in llmops.yaml")


TOOL_ASSERTIONS = ("tool_call", "no_tool_call", "tool_sequence")


def _check_tool_names(suites: Mapping[str, Suite], prompts: Mapping[str, Prompt], cases: Mapping[str, Sequence[Case]],
                      problems: Problems) -> None:
    """A tool assertion or a recorded result naming a tool no prompt of the suite offers is a typo that would
    pass (no_tool_call) or fail forever: a problem at its line."""
    for name, suite in suites.items():
        offered = {t for p in suite.prompts if p in prompts for t in prompts[p].tools}
        where = f"the tools of prompt {', '.join(suite.prompts)}: {', '.join(sorted(offered)) or 'none'}"
        for assertion in [*suite.asserts, *(a for c in cases.get(name, ()) for a in c.asserts)]:
            if assertion.type in TOOL_ASSERTIONS:
                named = assertion.spec.get("names") or [assertion.spec.get("name")]
                for tool in (t for t in named if isinstance(t, str) and t not in offered):
                    problems.add(assertion.file, assertion.line, f"{assertion.type} names tool {tool!r}"
                                 f"{did_you_mean(tool, offered)}, which is not among {where}")
        for case in cases.get(name, ()):
            for tool in sorted({r.name for r in case.tool_results or ()} - offered):
                problems.add(suite.cases_path, case.line, f"case {case.id!r}: tool_results names tool {tool!r}"
                             f"{did_you_mean(tool, offered)}, which is not among {where}")


def _compile(prompts: Mapping[str, Prompt], problems: Problems) -> dict[str, CompiledPrompt]:
    compiled = {}
    for name, prompt in prompts.items():
        try:
            compiled[name] = compile_prompt(prompt)
        except RenderError as exc:
            problems.add(prompt.path, exc.line, exc.message)
    return compiled


def _load_lock(source: Source, problems: Problems) -> dict[str, dict[str, str]] | None:
    text = _read(source, LOCK_FILE, problems)
    if text is None:
        return None
    try:
        return parse_lock(text)
    except LockError as exc:
        problems.add(LOCK_FILE, exc.line, exc.message)
        return None


def iter_renders(project: Project, suite: Suite) -> Iterator[tuple[Case, str, list[dict[str, Any]] | RenderError]]:
    """Every (case, prompt name, rendered messages or the error) of a suite."""
    for case in project.cases.get(suite.name, ()):
        for prompt_name in suite.prompts:
            compiled = project.compiled[prompt_name]
            try:
                yield case, prompt_name, render_case(compiled, case.vars, case.messages)
            except RenderError as exc:
                yield case, prompt_name, exc


def render_problems(project: Project) -> Problems:
    """Render every case of every suite; each failure names the cases file, line and case id."""
    problems = Problems()
    for suite in project.suites.values():
        for case, prompt_name, result in iter_renders(project, suite):
            if isinstance(result, RenderError):
                path = project.prompts[prompt_name].path
                where = f"{path}:{result.line}: " if result.line else "" if result.message.startswith("the case") \
                    else f"{path}: "
                problems.add(suite.cases_path, case.line, f"case {case.id!r}: {where}{result.message}")
    return _clip(problems)


def lock_problems(project: Project) -> Problems:
    """Golden sets that no longer match llmops.lock (a missing lock file is allowed)."""
    problems = Problems()
    if project.lock is None:
        return problems
    for name, suite in project.suites.items():
        if name not in project.cases:
            continue
        changes = project.lock_changes(name)
        if changes is None:
            problems.add(suite.cases_path, None, f"suite {name!r} is not in {LOCK_FILE}; run `llmops lock` and commit it")
        elif changes:
            changed = set(changes.edited + changes.added)
            line = next((case.line for case in project.cases[name] if case.id in changed), None)
            problems.add(suite.cases_path, line, f"golden set differs from {LOCK_FILE}: {changes.describe()}; "
                                                 "if intended, run `llmops lock` and commit llmops.lock")
    return _clip(problems)
