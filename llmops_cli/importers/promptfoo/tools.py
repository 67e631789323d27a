"""promptfoo provider `tools` / `tool_choice` -> llmops `tools/<name>.yaml` and a prompt's `tools:`.

promptfoo keeps tools on a provider; llmops offers them from a prompt. The first provider's tools
are offered by every imported prompt (so every model is tested with them); another provider
with different tools is listed. OpenAI's `{type: function, function: {...}}` and Anthropic's
`{name, description, input_schema}` shapes convert; a tool whose schema llmops would refuse is
skipped with the reason, so an import never writes a tool `llmops check` rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import Problems
from llmops_cli.tooldefs import TOOL_CHOICES, TOOL_NAME, check_schema

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer


@dataclass(frozen=True)
class ImportedTool:
    name: str
    description: str
    parameters: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {"description": self.description, "parameters": self.parameters}


def convert_tools(imp: Importer, where: str, raw: Any) -> list[ImportedTool]:
    """A provider's `tools` list -> the tools llmops can offer; each one that cannot convert is listed."""
    if not isinstance(raw, list):
        imp.skip(where, "tools must be a list of tool definitions (a file:// reference is not read); skipped")
        return []
    tools: list[ImportedTool] = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) and isinstance(item.get("function"), dict) else item
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            imp.skip(f"{where}[{index}]", "not a function tool ({type: function, function: {name, parameters}}); "
                                         "skipped")
            continue
        name = function["name"]
        parameters = function.get("parameters", function.get("input_schema", {"type": "object", "properties": {}}))
        problems = Problems()
        check_schema(parameters, "tool", 0, "parameters", problems)
        if not TOOL_NAME.fullmatch(name) or problems or not isinstance(parameters, dict) \
                or parameters.get("type") != "object":
            why = problems.items[0].message if problems else "its name or parameters (a JSON Schema of type object)"
            imp.skip(f"{where}[{index}]", f"tool {name!r}: {why}; skipped")
            continue
        tools.append(ImportedTool(name, str(function.get("description") or name), parameters))
    return tools


def convert_tool_choice(imp: Importer, where: str, raw: Any, tools: list[ImportedTool]) -> str | None:
    """OpenAI's or Anthropic's `tool_choice` -> auto, none, required or a tool's name."""
    if raw is None:
        return None
    names = {t.name for t in tools}
    choice: Any = raw
    if isinstance(raw, dict):
        kind = raw.get("type")
        function: dict[str, Any] = raw["function"] if isinstance(raw.get("function"), dict) else {}
        choice = {"any": "required", "auto": "auto", "none": "none"}.get(str(kind)) or function.get("name") or raw.get("name")
    if choice in TOOL_CHOICES or choice in names:
        return str(choice)
    imp.skip(where, f"tool_choice {raw!r} names no converted tool; dropped (the model chooses)")
    return None
