"""Rendering prompt templates for a case, in Jinja's sandbox.

Prompts arrive in pull requests, so templates are untrusted code: they render in a
`SandboxedEnvironment` with no globals, and `StrictUndefined` turns a missing variable into an
error naming the prompt file, the message and the case instead of a silently empty string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from llmops_cli.config import Prompt

RenderedMessages = list[dict[str, str]]


class RenderError(Exception):
    """A template that cannot render; `line` is in the prompt file when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # no cycler/joiner/namespace/lipsum: nothing to walk from
    env.globals["range"] = env.globals.get("range", range)
    return env


_ENV = _environment()


@dataclass(frozen=True)
class CompiledPrompt:
    prompt: Prompt
    templates: tuple[Any, ...]

    def render(self, variables: Mapping[str, Any]) -> RenderedMessages:
        """Rendered messages; raises RenderError naming the message index."""
        messages = []
        for index, (message, template) in enumerate(zip(self.prompt.messages, self.templates)):
            try:
                content = template.render(variables)
            except UndefinedError as exc:
                raise RenderError(message.line, f"messages[{index}] uses an undefined variable: {exc.message}; "
                                  "add it to the case's vars") from None
            except SecurityError as exc:
                raise RenderError(message.line, f"messages[{index}] was refused by the template sandbox: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - any template runtime error is the user's input
                raise RenderError(message.line, f"messages[{index}] failed to render: {type(exc).__name__}: {exc}") from None
            messages.append({"role": message.role, "content": content})
        return messages


def compile_prompt(prompt: Prompt) -> CompiledPrompt:
    """Compile every message once; raises RenderError on a syntax error."""
    templates = []
    for index, message in enumerate(prompt.messages):
        try:
            templates.append(_ENV.from_string(message.content))
        except TemplateSyntaxError as exc:
            line = message.line + (exc.lineno - 1 if exc.lineno else 0)
            raise RenderError(line, f"template syntax error in messages[{index}]: {exc.message}") from None
    return CompiledPrompt(prompt=prompt, templates=tuple(templates))
