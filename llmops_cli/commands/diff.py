"""`llmops diff PROMPT [BASE] [HEAD]`: what a prompt change does to every case that uses it.

First the template diff, then the rendered-message diff per case; with `--run`, both sides
are also sent to the model (through the cache) and the outputs diffed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from llmops_cli.errors import InputError
from llmops_cli.gate import messages_diff
from llmops_cli.plan import PlannedCall, Selection, plan_calls
from llmops_cli.project import Project, load_project
from llmops_cli.render import RenderError, render_case
from llmops_cli.report.diffview import file_diff
from llmops_cli.source import Source, WorkTree
from llmops_cli.store import CallRecord

WORK_TREE = "WORKTREE"


@dataclass
class CaseDiff:
    suite: str
    case_id: str
    status: str  # changed | unchanged | only-base | only-head | error
    diff: str = ""
    outputs: dict[str, str] = field(default_factory=dict)  # "model: base/head" -> output diff


@dataclass
class PromptDiff:
    prompt: str
    base_label: str
    head_label: str
    template_diff: str
    cases: list[CaseDiff]


def open_side(root: Path, ref: str | None, *, merge_base: bool = False) -> Source:
    """The project at `ref` (None: the work tree); with `merge_base`, where HEAD's branch left `ref`."""
    if ref is None or ref == WORK_TREE:
        return WorkTree(root)
    from llmops_cli import gitref

    return gitref.open_baseline(root, ref) if merge_base else gitref.open_ref(root, ref)


def _load(root: Path, ref: str | None, *, merge_base: bool = False) -> tuple[Project, str]:
    """The project at a side, and the label that says which commit it is."""
    source = open_side(root, ref, merge_base=merge_base)
    label = getattr(source, "label", None) if merge_base else None
    try:
        return load_project(source), label or str(ref)  # reads every file it needs now
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()  # a git ref's repository handle keeps `git cat-file` helpers running


def diff_prompt(root: Path, name: str, base_ref: str | None, head_ref: str | None) -> tuple[PromptDiff, Project, Project]:
    from llmops_cli import gitref

    if problem := gitref.history_problem(root):
        raise InputError(f"{root}: {problem}; `llmops diff` compares a prompt between git commits (or a commit and the "
                         "work tree): commit the project first (git init; git add -A; git commit), then edit and run "
                         f"`llmops diff {name} HEAD`")
    head, _ = _load(root, head_ref)
    # No BASE: what `llmops eval` gates, the change since this branch left gate.baseline (its merge base);
    # a BASE named on the command line is taken as written, as `git diff BASE` does (`A...B` for a merge base).
    defaulted = base_ref is None
    base_ref = base_ref or head.config.gate.baseline
    merge_base = "..." in base_ref or (defaulted and head_ref is None)
    base, base_label = _load(root, base_ref, merge_base=merge_base)
    if name not in head.prompts and name not in base.prompts:
        raise InputError(f"prompts/{name}.yaml: no such prompt at {base_ref} or {head_ref or 'the work tree'}; "
                         f"known: {', '.join(sorted(head.prompts))}")
    base_text = base.prompts[name].text if name in base.prompts else ""
    head_text = head.prompts[name].text if name in head.prompts else ""
    path = f"prompts/{name}.yaml"
    template = file_diff(base_text, head_text, f"a/{path} ({base_ref})", f"b/{path} ({head_ref or 'work tree'})")
    template += _tool_diffs(name, base, head, str(base_ref), head_ref or "work tree")
    cases: list[CaseDiff] = []
    for suite_name, suite in head.suites.items():
        if name not in suite.prompts:
            continue
        base_cases = {c.id: c for c in base.cases.get(suite_name, ())} if name in base.prompts else {}
        for case in head.cases.get(suite_name, ()):
            cases.append(_case_diff(suite_name, case.id, base, head, name, base_cases.get(case.id), case))
        head_ids = {c.id for c in head.cases.get(suite_name, ())}
        cases += [CaseDiff(suite_name, cid, "only-base") for cid in base_cases if cid not in head_ids]
    return PromptDiff(name, base_label if merge_base else str(base_ref), head_ref or "work tree", template, cases), base, head


def _case_diff(suite: str, case_id: str, base: Project, head: Project, name: str, base_case: object,
               head_case: object) -> CaseDiff:
    if base_case is None or name not in base.compiled:
        return CaseDiff(suite, case_id, "only-head")
    try:
        old = render_case(base.compiled[name], base_case.vars, base_case.messages)  # type: ignore[attr-defined]
        new = render_case(head.compiled[name], head_case.vars, head_case.messages)  # type: ignore[attr-defined]
    except RenderError as exc:
        return CaseDiff(suite, case_id, "error", exc.message)
    diff = messages_diff(old, new)
    if not diff and _offered(base, name) != _offered(head, name):
        diff = "(same messages; the tool definitions offered changed)"
    return CaseDiff(suite, case_id, "changed" if diff else "unchanged", diff)


def _offered(project: Project, name: str) -> list[str]:
    """A prompt's tool definitions as written (a tool edit changes what the model is offered)."""
    return [t.text for t in project.prompt_tools(name)] if name in project.prompts else []


def _tool_diffs(name: str, base: Project, head: Project, base_label: str, head_label: str) -> str:
    """The diff of every tool definition the prompt offers at either ref, like the template's."""
    names = sorted({t.name for p in (base, head) if name in p.prompts for t in p.prompt_tools(name)})
    out = []
    for tool in names:
        old = base.tools[tool].text if tool in base.tools else ""
        new = head.tools[tool].text if tool in head.tools else ""
        path = f"tools/{tool}.yaml"
        out.append(file_diff(old, new, f"a/{path} ({base_label})", f"b/{path} ({head_label})"))
    return "".join(out)


def run_both(root: Path, result: PromptDiff, base: Project, head: Project, *, base_named: bool,
             allow_new_endpoints: bool = False) -> None:
    """Call the model on both sides of every changed case (cache first) and diff the outputs.

    On a pull request only the llmops.yaml of a base ref named on the command line is trusted (the default
    base, gate.baseline, is read from the pull request's own llmops.yaml): a model of either side whose
    endpoint it does not use gets no key (trust.py)."""
    from llmops_cli.lifecycle import Run, RunStart
    from llmops_cli.providers import secrets_in_use
    from llmops_cli.redact import Redactor
    from llmops_cli.runner import RunLimits, Runner
    from llmops_cli.store import Store
    from llmops_cli.trust import guard_pull_request

    suites = tuple(sorted({c.suite for c in result.cases if c.status == "changed"}))
    if not suites:
        return
    wanted = {(c.suite, c.case_id) for c in result.cases if c.status == "changed"}
    calls: list[PlannedCall] = []
    for side, project in (("base", base), ("head", head)):
        selection = Selection(tuple(s for s in suites if s in project.suites), repeat=1)
        calls += [c for c in plan_calls(project, side, selection)
                  if c.prompt == result.prompt and (c.suite, c.case.id) in wanted]
    trusted = base.config.models.values() if base_named else ()
    guard_pull_request([*head.config.models.values(), *base.config.models.values()], trusted,  # graders too
                       result.base_label if base_named else None, allow_new_endpoints)
    redactor = Redactor(head.config.redact, secrets_in_use(head.config.models))
    with Store(root) as store, Run.begin(store, RunStart("diff", {"suites": {}})) as run:
        Runner(store, run.id, RunLimits.from_config(head.config.limits), redactor).run(calls, set())
        records = {(r.side, r.suite, r.case_id, r.model): r for r in store.results(run.id) if r.grader is None}
        run.finish("complete", {})
    for case in result.cases:
        for (side, suite, case_id, model), record in records.items():
            if side != "head" or (suite, case_id) != (case.suite, case.case_id):
                continue
            before = records.get(("base", suite, case_id, model))
            old = _shown(before) if before else ""
            new = _shown(record)
            case.outputs[model] = "\n".join(difflib.unified_diff(old.splitlines(), new.splitlines(), "base output",
                                                                 "head output", lineterm="")) or "(same output)"


def _shown(record: CallRecord) -> str:
    """The output as diffed: an empty answer is "", only a failed call is an error."""
    return (record.output or "") if record.ok else f"[error] {record.error}"
