"""promptfoo prompts (inline text, text files, chat JSON/YAML) -> llmops prompts (lists of messages)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.importers.promptfoo.importer import CODE_FILES
from llmops_cli.importers.promptfoo.names import slug, unique
from llmops_cli.importers.promptfoo.providers import convert_params

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

ROLES = ("system", "user", "assistant")
_TEXT_PARTS = ("text", "input_text")   # content parts that are plain text (Chat Completions, Responses)
_PATHLIKE = re.compile(r"[^\s{}]+\.(txt|md|j2|json|jsonl|ya?ml|py|js|ts|cjs|mjs|csv|tsv|xlsx)(:\w+)?")


@dataclass
class Prompt:
    name: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    source: str
    where: str = ""                                          # prompts[i] in the config
    loads: dict[str, str] = field(default_factory=dict)      # var read through `| load` -> its parsed twin


def load_prompts(imp: Importer, raw: Any) -> list[Prompt]:
    """`prompts` -> one Prompt per prompt that converts; the others are listed as skipped."""
    if isinstance(raw, dict) and not ({"id", "raw"} & raw.keys()):
        raw = [{"id": k, "label": v} for k, v in raw.items()]  # legacy {path: label}
    items = raw if isinstance(raw, list) else [raw]
    found: list[Prompt] = []
    taken: set[str] = set()
    for index, item in enumerate(items):
        where = f"prompts[{index}]"
        label = None
        config: Any = {}
        if isinstance(item, dict):
            label, config = item.get("label"), item.get("config") or {}
            text = item.get("raw")
            ref = item.get("id") if text is None else None
            if ref is None and text is None:
                imp.skip(where, "needs 'raw' (the prompt text) or 'id' (a file://); skipped")
                continue
            if isinstance(ref, str) and not _is_file(ref):   # promptfoo reads an id that is no path as text
                ref, text = None, ref
        elif isinstance(item, str):
            ref, text = (item, None) if _is_file(item) else (None, item)
        else:
            imp.skip(where, "must be a string or a mapping with raw/id; skipped")
            continue
        params = convert_params(imp, where, config if isinstance(config, dict) else {}, "config")
        chunks: list[tuple[str | None, Any, int, int]] = []  # (file, body, part, parts in that file)
        if ref is not None:
            ref = str(ref).removeprefix("file://")
            for one in imp.expand(where, ref):
                parts = prompt_file(imp, where, one)
                chunks += [(one, part, n, len(parts)) for n, part in enumerate(parts)]
        else:
            chunks = [(None, text, 0, 1)]
        for file_ref, body, n, in_file in chunks:
            stem = Path(file_ref.split(":")[0]).stem if file_ref else "prompt"
            base = slug(str(label)) if label else (slug(stem) or "prompt")
            if in_file > 1:
                base = f"{base}-{n + 1}"
            elif not file_ref and not label and len(items) > 1:
                base = f"{base}-{index + 1}"
            name = unique(base, taken)
            converted = messages(imp, where, body)
            if converted is None:
                continue
            source = f"{where} {file_ref}" if file_ref else f"{where} (inline)"
            found.append(Prompt(name, converted, dict(params), source, where))
    return found


def prompt_file(imp: Importer, where: str, ref: str) -> list[Any]:
    """One file's prompts: text chunks, or parsed chat lists."""
    if ref.split(":")[0].endswith(CODE_FILES):
        imp.skip(where, f"{ref} is a prompt function; llmops prompts are templates: render it once and save "
                        "the template as a .txt or chat .json file")
        return []
    if ref.endswith(".jsonl"):
        return list(imp.data(where, ref))
    if ref.endswith((".yaml", ".yml")):
        return [imp.data(where, ref)]
    text = imp.read(where, ref)
    if ref.endswith(".json"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            imp.skip(where, f"{ref} is a chat prompt built by a template (JSON only once rendered); write its "
                            "messages out as a JSON list of {role, content}")
            return []
    parts = re.split(r"(?m)^---[ \t]*$", text)
    return [p.strip() for p in parts if p.strip()]


def messages(imp: Importer, where: str, body: Any) -> list[dict[str, str]] | None:
    """A prompt body (text, or a chat list as JSON text or parsed) -> llmops messages; None when skipped."""
    if isinstance(body, str):
        stripped = body.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            try:
                body = json.loads(stripped)
            except json.JSONDecodeError:
                if "{{" in stripped or "{%" in stripped:
                    imp.skip(where, "a chat prompt built by a template (it is JSON only once rendered); "
                                    "write its messages out as a JSON list of {role, content}")
                    return None
        if isinstance(body, str):
            return [{"role": "user", "content": body.strip()}]
    if not isinstance(body, list) or not body:
        imp.skip(where, "not a text prompt nor a list of {role, content} messages; skipped")
        return None
    found = []
    for n, message in enumerate(body):
        message = message if isinstance(message, dict) else {}
        content = message.get("content")
        if isinstance(content, list) and message.get("role") in ROLES:
            parts = [_part(part) for part in content]
            other = next((kind for kind, text in parts if kind not in _TEXT_PARTS or text is None), None)
            if other is not None or not parts:
                imp.skip(where, f"message {n} has a {other or 'empty'!r} part; llmops prompts are text only: "
                                "skipped the prompt")
                return None
            if len(parts) > 1:
                imp.note(where, f"message {n}: its {len(parts)} text parts are joined into one text, one per line")
            content = "\n".join(str(text) for _, text in parts)
        if not (message.get("role") in ROLES and isinstance(content, str)):
            imp.skip(where, f"message {n} is not {{role: system|user|assistant, content: text}} "
                            "(llmops prompts are text only); skipped the prompt")
            return None
        found.append({"role": message["role"], "content": content})
    return found


def _part(part: Any) -> tuple[str, str | None]:
    """(kind, text) of one content part, in the shapes providers use: OpenAI and Anthropic
    `{type, text}`, Bedrock `{text}` / `{image}`, Adaline `{modality, value}`."""
    if not isinstance(part, dict) or not part:
        return type(part).__name__, None
    kind = part.get("type") or part.get("modality") or next(iter(part))
    text = part.get("text", part.get("value") if part.get("modality") == "text" else None)
    return str(kind), text if isinstance(text, str) else None


def _is_file(text: str) -> bool:
    """promptfoo reads a prompt string as a file when it is file:// or names an existing file."""
    if text.startswith("file://"):
        return True
    return "\n" not in text and bool(_PATHLIKE.fullmatch(text.strip()))
