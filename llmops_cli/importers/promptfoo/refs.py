"""Local JSON references in a promptfoo config (`$ref: '#/assertionTemplates/x'`), resolved the
way promptfoo's config loader dereferences them: the mapping is replaced by what it points to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.importers.promptfoo.importer import Skip
from llmops_cli.yamlfile import MAX_VALUES

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

MAX_REF_DEPTH = 32   # a $ref chain longer than this is a cycle or a mistake


def resolve_refs(imp: Importer, data: Any) -> Any:
    """`data` with every local `$ref` replaced; one pointing nowhere, in a cycle, or expanding the
    config past the size llmops reads YAML to, is bad input."""
    budget = [MAX_VALUES]

    def walk(value: Any, where: str, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise imp.fail(where, f"$refs expand the config to more than {MAX_VALUES:,} values; refusing it "
                                  "(write the values out)")
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#"):
                if depth >= MAX_REF_DEPTH:
                    raise imp.fail(where, f"$ref {ref!r} leads through more than {MAX_REF_DEPTH} references "
                                          "(a cycle?); point it at the value itself")
                try:
                    target = _pointer(data, ref)
                except Skip as missing:
                    raise imp.fail(where, f"$ref {ref!r} points to nothing in the config ({missing}); "
                                          "fix the reference") from None
                return walk(target, where, depth + 1)
            return {k: v if _kept(where, k) else walk(v, f"{where}.{k}" if where else str(k), depth)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{n}]", depth) for n, v in enumerate(value)]
        return value

    return walk(data, "", 0)


def _kept(where: str, key: Any) -> bool:
    """promptfoo leaves a provider's tool and function schemas as written (their `$ref`s are
    the schema's own), and so does the import."""
    return key in ("tools", "functions") and where.startswith(("providers", "targets"))


def _pointer(data: Any, ref: str) -> Any:
    """Follow a JSON pointer (`#/a/b/0`, with ~1 for / and ~0 for ~)."""
    node = data
    for raw in [p for p in ref[1:].split("/") if p]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Skip(f"no {part!r}")
    return node
