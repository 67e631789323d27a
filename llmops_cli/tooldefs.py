"""Tool definitions (`tools/<name>.yaml`): what a prompt offers the model to call.

A tool is a versioned file like a prompt: `description` and `parameters`, a JSON Schema checked as
a schema when the project loads (file:line problems, exit 2). It is sent in the OpenAI function
format, which litellm maps to every other provider's, and its canonical form is part of each
request's cache key and of its prompt's version, so editing a tool is a new prompt version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops_cli.config import Fields, parse_yaml_file
from llmops_cli.errors import Problems
from llmops_cli.yamlfile import LineDict, LineList, plain

TOOLS_DIR = "tools"
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what OpenAI accepts as a function name
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    description: str
    parameters: Mapping[str, Any]
    text: str = ""  # the file as written, for diffs in reports

    def openai(self) -> dict[str, Any]:
        """The OpenAI `tools` entry, the provider-neutral format litellm translates."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": dict(self.parameters)}}


def parse_tool(name: str, text: str, path: str, problems: Problems) -> Tool | None:
    data = parse_yaml_file(text, path, problems)
    if data is None:
        return None
    if not TOOL_NAME.fullmatch(name):
        problems.add(path, 1, f"tool name {name!r} (the file name) must be 1-64 letters, digits, '_' or '-'")
        return None
    fields = Fields(data, path, problems, "tool")
    fields.only(("description", "parameters"))
    description = fields.get("description", str, "", required=True)
    parameters = fields.get("parameters", dict, None, required=True)
    if not isinstance(parameters, LineDict):
        return None
    line = data.value_line_of("parameters")
    before = len(problems.items)
    check_schema(parameters, path, line, "parameters", problems)
    if len(problems.items) == before and parameters.get("type") != "object":
        problems.add(path, line, "parameters must be a JSON Schema of type: object (the tool's named arguments), "
                                 "e.g. {type: object, properties: {country: {type: string}}}")
    if len(problems.items) != before or not description:
        return None
    return Tool(name=name, path=path, description=description, parameters=plain(parameters), text=text)


def check_schema(schema: Any, path: str, line: int, what: str, problems: Problems) -> None:
    """A JSON Schema that is itself valid, else one problem naming where inside it the error is."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(plain(schema)).check_schema(plain(schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "schema"
        problems.add(path, _line_inside(schema, list(exc.path), line), f"{what} is not a valid JSON Schema at {where}: "
                                                                       f"{exc.message}")


def _line_inside(node: Any, keys: list[Any], line: int) -> int:
    """The line of the key a schema error points at, followed through the parsed YAML (else `line`)."""
    for key in keys:
        if isinstance(node, LineDict) and key in node:
            line, node = node.line_of(key), node[key]
        elif isinstance(node, LineList) and isinstance(key, int) and key < len(node):
            line, node = node.line_of(key), node[key]
        else:
            break
    return line


def request_params(tools: Sequence[Tool], tool_choice: str | None) -> dict[str, Any]:
    """`tools` and `tool_choice` as ordinary request parameters (none when the prompt offers no tool)."""
    if not tools:
        return {}
    params: dict[str, Any] = {"tools": [tool.openai() for tool in tools]}
    if tool_choice is not None:
        params["tool_choice"] = (tool_choice if tool_choice in TOOL_CHOICES
                                 else {"type": "function", "function": {"name": tool_choice}})
    return params
