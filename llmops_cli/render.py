"""Rendering prompt templates for a case, in Jinja's sandbox.

Prompts arrive in pull requests, so templates are untrusted code: they render in a
`SandboxedEnvironment` with no globals but the sandbox's bounded `range`, and `StrictUndefined`
turns a missing variable into an error naming the prompt file, the message and the case instead
of a silently empty string. On top of Jinja's sandbox: double-underscore names and
include/import/extends are refused when the prompt loads (one error at the template's line, not
one per case), `*` and `**` cannot build huge values, and a rendered message is capped in size.

A template must also end: calls, filter calls, range() items and every `for` iteration are
counted against MAX_STEPS per message, each case has RENDER_SECONDS of wall time, and while a case
renders the process may grow its address space by at most RENDER_MEMORY_BYTES (RLIMIT_AS, where
the platform has it), which catches every way of building a huge value (`center(3000000000)`,
`replace('', s)` nested, `'%0999999999d' % 1`, ...) without listing them. A prompt that runs out
of time on one case is not rendered again for the others: that would cost the same time each.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment, safe_range

from llmops_cli.config import Message, Prompt

RenderedMessages = list[dict[str, str]]
MAX_RENDER_CHARS = 16 * 1024 * 1024  # one rendered message; a case may carry a few MB of input
MAX_POWER_BITS = 4096
MAX_STEPS = 200_000  # calls, filters, range() items and loop iterations while rendering one message
RENDER_SECONDS = 2.0  # wall time for all the messages of one case
RENDER_MEMORY_BYTES = 200 * 1024 * 1024  # address space one case may add while it renders
_steps: ContextVar[list[int]] = ContextVar("llmops_render_steps")
_deadline: ContextVar[float] = ContextVar("llmops_render_deadline")
_COUNTED = "llmops_counted"  # the filter every `for` iterates through (see compile_prompt)


class RenderError(Exception):
    """A template that cannot render; `line` is in the prompt file when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class OutOfTime(SecurityError):
    """The case's wall-time budget ran out; the prompt is not rendered again in this process."""


def _spend(steps: int) -> None:
    budget = _steps.get(None)
    if budget is not None:
        budget[0] -= steps
        if budget[0] < 0:
            raise SecurityError(f"the template takes more than {MAX_STEPS:,} steps (loops and calls) for one message")
        if (steps > 1 or budget[0] & 255 == 0) and time.monotonic() > _deadline.get(float("inf")):  # every 256 steps
            raise OutOfTime(f"the template takes more than {RENDER_SECONDS:g} s to render one case")


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    """What a `for` loop iterates: one step per item, so nested loops over a long string stop."""
    for item in items:
        _spend(1)
        yield item


def _counting(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that spends a step per call (`map` and `select` call filters once per item)."""
    @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marker
    def counted(*args: Any, **kwargs: Any) -> Any:
        _spend(1)
        return function(*args, **kwargs)
    return counted


def _bounded_range(*args: int) -> range:
    numbers = safe_range(*args)  # the sandbox's range refuses more than MAX_RANGE numbers at once
    _spend(len(numbers))
    return numbers


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, plus limits on what a template may allocate or compute."""

    intercepted_binops = frozenset({"*", "**"})

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
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
    env.filters = {name: _counting(f) for name, f in env.filters.items()}
    env.filters[_COUNTED] = _counted
    return env


_ENV = _environment()


@dataclass(frozen=True)
class CompiledPrompt:
    prompt: Prompt
    templates: tuple[Any, ...]
    _out_of_time: list[RenderError] = field(default_factory=list, compare=False, repr=False)

    def render(self, variables: Mapping[str, Any], missing_hint: str = "add it to the case's vars") -> RenderedMessages:
        """Rendered messages; raises RenderError naming the message index. `missing_hint` tells where a
        missing variable should come from (a golden case, or a production trace for rerun)."""
        if self._out_of_time:
            raise self._out_of_time[0]
        token = _deadline.set(time.monotonic() + RENDER_SECONDS)
        try:
            with _memory_capped():
                return self._render_all(variables, missing_hint)
        finally:
            _deadline.reset(token)

    def _render_all(self, variables: Mapping[str, Any], missing_hint: str) -> RenderedMessages:
        messages = []
        for index, (message, template) in enumerate(zip(self.prompt.messages, self.templates, strict=True)):
            try:
                content = _render(template, variables)
            except OutOfTime as exc:
                error = RenderError(message.line, f"messages[{index}] was refused by the template sandbox: {exc}")
                self._out_of_time.append(error)
                raise error from None
            except MemoryError:
                raise RenderError(message.line, f"messages[{index}] needs more than "
                                  f"{RENDER_MEMORY_BYTES // (1024 * 1024)} MB to render; the template builds a "
                                  "value too large") from None
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


_statm: list[int] = []  # [pid, fd]: /proc/self/statm kept open (opening it costs more than a render)


def _address_space_size() -> int:
    """The process's virtual size in bytes (what RLIMIT_AS limits); OSError where /proc is missing."""
    if not _statm or _statm[0] != os.getpid():  # a forked child must read its own file
        _statm[:] = [os.getpid(), os.open("/proc/self/statm", os.O_RDONLY)]
    return int(os.pread(_statm[1], 64, 0).split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def _memory_capped() -> Iterator[None]:
    """Let the process grow by at most RENDER_MEMORY_BYTES while a case renders; a template that
    builds more gets a MemoryError instead of the machine's memory. No-op where RLIMIT_AS is missing."""
    try:
        import resource

        size = _address_space_size()
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = size + RENDER_MEMORY_BYTES
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        if soft != resource.RLIM_INFINITY and soft <= cap:
            yield  # already tighter than ours
            return
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError, IndexError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def compile_prompt(prompt: Prompt) -> CompiledPrompt:
    """Compile every message once; raises RenderError on a syntax error or a refused construct."""
    templates = []
    for index, message in enumerate(prompt.messages):
        try:
            ast = _ENV.parse(message.content)
            _refuse_unsafe(ast, index, message.line)
            for loop in ast.find_all(nodes.For):  # every iteration spends a step (see _counted)
                loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
            # Jinja folds constant expressions while compiling ('a'|center(3000000000) runs here), under
            # the same budgets as a render; a fold that fails is left to fail again when it renders.
            steps, deadline = _steps.set([MAX_STEPS]), _deadline.set(time.monotonic() + RENDER_SECONDS)
            try:
                with _memory_capped():
                    templates.append(_ENV.from_string(ast))
            finally:
                _steps.reset(steps)
                _deadline.reset(deadline)
        except TemplateSyntaxError as exc:
            line = message.line + (exc.lineno - 1 if exc.lineno else 0)
            raise RenderError(line, f"template syntax error in messages[{index}]: {exc.message}") from None
    return CompiledPrompt(prompt=prompt, templates=tuple(templates))


def render_case(compiled: CompiledPrompt, variables: Mapping[str, Any],
                turns: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """The prompt's messages, then a case's own conversation turns: each turn's content is a template
    rendered with the case's vars in the same sandbox (a case comes from a pull request too)."""
    messages: list[dict[str, Any]] = list(compiled.render(variables))
    turns = list(turns)
    if not turns:
        return messages
    texts = Prompt(name="case", path="case", model="",
                   messages=tuple(Message(str(t["role"]), t.get("content") or "", 0) for t in turns))
    try:
        rendered = compile_prompt(texts).render(variables)
    except RenderError as exc:
        raise RenderError(None, f"the case's {exc.message}") from None
    return messages + [{**t, "content": r["content"] if t.get("content") is not None else None}
                       for t, r in zip(turns, rendered, strict=True)]


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
