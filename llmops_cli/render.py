"""Rendering prompt templates for a case, in Jinja's sandbox.

Prompts arrive in pull requests, so templates are untrusted code: they render in a
`SandboxedEnvironment` with no globals but the sandbox's bounded `range`, and `StrictUndefined`
turns a missing variable into an error naming the prompt file, the message and the case instead
of a silently empty string. On top of Jinja's sandbox: double-underscore names and
include/import/extends are refused when the prompt loads (one error at the template's line, not
one per case), `*` and `**` cannot build huge values, calls and range() items are counted so a
template cannot compute for hours, and a rendered message is capped in size.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError, safe_range

from llmops_cli.config import Prompt

RenderedMessages = list[dict[str, str]]
MAX_RENDER_CHARS = 16 * 1024 * 1024  # one rendered message; a case may carry a few MB of input
MAX_POWER_BITS = 4096
MAX_STEPS = 200_000  # calls plus range() items while rendering one message: no template runs for hours
_steps: ContextVar[list[int]] = ContextVar("llmops_render_steps")


class RenderError(Exception):
    """A template that cannot render; `line` is in the prompt file when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _spend(steps: int) -> None:
    budget = _steps.get(None)
    if budget is not None:
        budget[0] -= steps
        if budget[0] < 0:
            raise SecurityError(f"the template takes more than {MAX_STEPS:,} steps (loops and calls) for one message")


def _bounded_range(*args: int) -> range:
    numbers = safe_range(*args)  # the sandbox's range refuses more than MAX_RANGE numbers at once
    _spend(len(numbers))
    return numbers


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus limits on what a template may allocate or compute."""

    intercepted_binops = frozenset({"*", "**"})

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _spend(1)
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_RENDER_CHARS:
                    raise SecurityError(f"'*' would build a value too large (over {MAX_RENDER_CHARS:,} items)")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) \
                and right * max(abs(left), 1).bit_length() > MAX_POWER_BITS:
            raise SecurityError("'**' would build a number too large")
        return super().call_binop(context, operator, left, right)


def _environment() -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # no cycler/joiner/namespace/lipsum: nothing to walk from
    env.globals["range"] = _bounded_range  # builtin range is unbounded; this one counts against MAX_STEPS
    return env


_ENV = _environment()


@dataclass(frozen=True)
class CompiledPrompt:
    prompt: Prompt
    templates: tuple[Any, ...]

    def render(self, variables: Mapping[str, Any], missing_hint: str = "add it to the case's vars") -> RenderedMessages:
        """Rendered messages; raises RenderError naming the message index. `missing_hint` tells where a
        missing variable should come from (a golden case, or a production trace for rerun)."""
        messages = []
        for index, (message, template) in enumerate(zip(self.prompt.messages, self.templates)):
            try:
                content = _render(template, variables)
            except UndefinedError as exc:
                raise RenderError(message.line, f"messages[{index}] uses an undefined variable: {exc.message}; "
                                  f"{missing_hint}") from None
            except SecurityError as exc:
                raise RenderError(message.line, f"messages[{index}] was refused by the template sandbox: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - any template runtime error is the user's input
                raise RenderError(message.line, f"messages[{index}] failed to render: {type(exc).__name__}: {exc}") from None
            messages.append({"role": message.role, "content": content})
        return messages


def _render(template: Any, variables: Mapping[str, Any]) -> str:
    parts, size = [], 0
    token = _steps.set([MAX_STEPS])
    try:
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_RENDER_CHARS:
                raise SecurityError(f"the rendered message is larger than {MAX_RENDER_CHARS:,} characters")
            parts.append(chunk)
    finally:
        _steps.reset(token)
    return "".join(parts)


def compile_prompt(prompt: Prompt) -> CompiledPrompt:
    """Compile every message once; raises RenderError on a syntax error or a refused construct."""
    templates = []
    for index, message in enumerate(prompt.messages):
        try:
            ast = _ENV.parse(message.content)
            _refuse_unsafe(ast, index, message.line)
            templates.append(_ENV.from_string(ast))
        except TemplateSyntaxError as exc:
            line = message.line + (exc.lineno - 1 if exc.lineno else 0)
            raise RenderError(line, f"template syntax error in messages[{index}]: {exc.message}") from None
    return CompiledPrompt(prompt=prompt, templates=tuple(templates))


def _refuse_unsafe(ast: nodes.Template, index: int, first_line: int) -> None:
    """Refuse what the sandbox would refuse anyway, once, at the template's line."""
    found = list(ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Include, nodes.Import,
                               nodes.FromImport, nodes.Extends)))
    for node in reversed(found):  # innermost first: `a.__class__.__mro__` names __class__
        line = first_line + node.lineno - 1
        if isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            raise RenderError(line, f"messages[{index}] uses include/import/extends; a prompt is one self-contained "
                                    "template, put the text in the message")
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args and isinstance(node.args[0], nodes.Const):
            name = node.args[0].value
        else:
            continue
        if isinstance(name, str) and name.startswith("__"):
            raise RenderError(line, f"messages[{index}] reads {name!r}; templates may not touch Python internals "
                                    "(double-underscore names are refused by the sandbox), use the case's vars")


def template_variables(content: str) -> list[str]:
    """The variables one message template reads from a case, in order of first use (for scaffolding cases)."""
    from jinja2 import meta

    ast = _ENV.parse(content)
    undeclared = meta.find_undeclared_variables(ast)
    names = [n.name for n in ast.find_all(nodes.Name) if n.ctx == "load" and n.name in undeclared]
    return list(dict.fromkeys(names))
