"""Nunjucks prompt templates -> templates llmops's Jinja sandbox renders for every written case.

promptfoo renders with Nunjucks plus its own `load` filter (JSON.parse) and any JavaScript
filters a config adds (`nunjucksFilters`). Where Jinja has an equivalent the template is
rewritten (`dump` -> `tojson`; `x | load` -> a var `x_loaded` holding the parsed value, since a
sandboxed Jinja template cannot parse JSON); where it has none the prompt is not converted, with
the reason. Every case is then rendered with llmops's own renderer, so the import never writes a
prompt or a case that `llmops check` would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_cli.config import Message
from llmops_cli.config import Prompt as LlmopsPrompt
from llmops_cli.render import CompiledPrompt, RenderError, compile_prompt

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.cases import Case
    from llmops_cli.importers.promptfoo.importer import Importer
    from llmops_cli.importers.promptfoo.prompts import Prompt

_LOAD = re.compile(r"\b([A-Za-z_]\w*)\s*\|\s*load\b")
_DUMP = re.compile(r"\|\s*dump\b(?!\s*\()")
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)   # only template code is rewritten, never prose
_FILTER = re.compile(r"No filter named '([^']+)'")


def _rename_loads(content: str, loads: dict[str, str]) -> str:
    """`x | load` becomes a variable of its own (`x_loaded`), filled with x parsed; `loads` records each twin."""
    def twin(match: re.Match[str]) -> str:
        return loads.setdefault(match.group(1), f"{match.group(1)}_loaded")

    return _TAG.sub(lambda tag: _LOAD.sub(twin, tag.group(0)), content)


def adapt_prompts(imp: Importer, prompts: list[Prompt], filters: Any) -> list[Prompt]:
    """The prompts rewritten for Jinja; a prompt that still would not compile is listed, not kept."""
    custom = filters if isinstance(filters, dict) else {}
    kept = []
    for prompt in prompts:
        for message in prompt.messages:
            content = _TAG.sub(lambda tag: _DUMP.sub("| tojson", tag.group(0)), message["content"])
            if content != message["content"]:
                imp.note(prompt.where, "the Nunjucks filter dump -> Jinja tojson (same JSON; <, > and & are written "
                                       "as \\u escapes)")
            content = _rename_loads(content, prompt.loads)
            message["content"] = content
        try:
            compile_prompt(_llmops_prompt(prompt))
        except RenderError as exc:
            found = _FILTER.search(exc.message)
            if found and found.group(1) in custom:
                reason = (f"uses the filter {found.group(1)!r} (nunjucksFilters: {custom[found.group(1)]}, "
                          "JavaScript), which llmops templates (Jinja) do not have; rewrite that part with Jinja "
                          "filters (upper, lower, replace, ...) and import again")
            elif found:
                reason = (f"uses the filter {found.group(1)!r}, which llmops templates (Jinja) do not have; rewrite "
                          "that part with Jinja filters and import again")
            else:
                reason = f"not valid in llmops templates (Jinja): {exc.message}; rewrite the Nunjucks-only part"
            imp.skip(prompt.where, reason)
            continue
        kept.append(prompt)
    return kept


def load_vars(imp: Importer, prompts: list[Prompt], cases: list[Case]) -> list[Case]:
    """Give each case the parsed value of every var a prompt reads through `load`; a case whose
    value is not JSON would fail in promptfoo too: it is listed, not written."""
    loads = {name: new for prompt in prompts for name, new in prompt.loads.items()}
    kept = []
    for case in cases:
        variables = case.spec["vars"]
        try:
            for name, new in sorted(loads.items()):
                if new in variables:
                    raise ValueError(f"var {new!r} already exists; rename it")
                if name in variables:
                    value = variables[name]
                    variables[new] = json.loads(value) if isinstance(value, str) else value
        except ValueError as exc:
            message = str(exc) if not isinstance(exc, json.JSONDecodeError) else f"var {name!r} is not JSON ({exc.msg})"
            imp.skip(case.where, f"not converted: {message}, which its prompt parses with the load filter",
                     case.file)
            continue
        kept.append(case)
    return kept


def renderable(imp: Importer, prompts: list[Prompt], cases: list[Case]) -> list[Case]:
    """The cases every prompt renders with llmops's renderer; the others are listed, not written."""
    compiled = [(p, compile_prompt(_llmops_prompt(p))) for p in prompts]
    kept = []
    for case in cases:
        problem = _first_problem(compiled, case.spec["vars"])
        if problem:
            imp.skip(case.where, f"not converted: {problem}", case.file)
            continue
        kept.append(case)
    return kept


def _first_problem(compiled: list[tuple[Prompt, CompiledPrompt]], variables: Mapping[str, Any]) -> str | None:
    for prompt, template in compiled:
        try:
            template.render(variables)
        except RenderError as exc:
            return f"prompt {prompt.name} cannot render it ({exc.message})"
    return None


def _llmops_prompt(prompt: Prompt) -> LlmopsPrompt:
    messages = tuple(Message(m["role"], m["content"], 1) for m in prompt.messages)
    return LlmopsPrompt(name=prompt.name, path=f"prompts/{prompt.name}.yaml", model="default", messages=messages)
