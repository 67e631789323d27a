"""The llmops files an import produces: their text (llmops.yaml, prompts, suite, cases), writing
them under the output folder, and `llmops check` on the result."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmops_cli.errors import InputError

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.cases import Case
    from llmops_cli.importers.promptfoo.handlers import Spec
    from llmops_cli.importers.promptfoo.importer import Importer
    from llmops_cli.importers.promptfoo.prompts import Prompt
    from llmops_cli.importers.promptfoo.providers import Model


def render_files(imp: Importer, suite: str, description: str, prompts: list[Prompt], models: list[Model],
                 cases: list[Case], suite_asserts: list[Spec], repeat: int, options: Mapping[str, Any]) -> dict[str, str]:
    """The text of every file to write, by path relative to the output folder."""
    params = [m.params for m in models]
    shared = params[0] if all(p == params[0] for p in params) else None
    for prompt in prompts:
        prompt.params = {**(shared or {}), **prompt.params}
    if shared is None:
        imp.note("providers", "providers have different settings: each model keeps its own params")
    for model in models:
        model.params = {} if shared is not None else model.params

    files: dict[str, str] = {"llmops.yaml": _config_yaml(imp, models, options)}
    offered = _offered_tools(imp, models, files)
    for prompt in prompts:
        files[f"prompts/{prompt.name}.yaml"] = _dump({"description": f"imported from promptfoo: {prompt.source}",
                                                      "model": "default",
                                                      **({"params": prompt.params} if prompt.params else {}),
                                                      **offered,
                                                      "messages": prompt.messages})
        imp.mapped[f"{prompt.source} -> prompts/{prompt.name}.yaml ({len(prompt.messages)} message"
                   f"{'s' if len(prompt.messages) != 1 else ''})"] = None
    thresholds = _thresholds(imp, len(cases), repeat, f"evals/{suite}/suite.yaml")
    suite_doc: dict[str, Any] = {"description": description}
    names = [p.name for p in prompts]
    suite_doc.update({"prompt": names[0]} if len(names) == 1 else {"prompts": names})
    suite_doc.update({"models": [m.alias for m in models], "cases": "cases.jsonl"})
    if repeat > 1:
        suite_doc["repeat"] = repeat
    if suite_asserts:
        suite_doc["assert"] = suite_asserts
    suite_doc["thresholds"] = thresholds
    files[f"evals/{suite}/suite.yaml"] = _dump(suite_doc)
    files[f"evals/{suite}/cases.jsonl"] = "".join(_json_line(c.spec) for c in cases)
    imp.mapped[f"tests -> evals/{suite}/cases.jsonl ({len(cases)} cases); defaultTest.assert -> "
               f"evals/{suite}/suite.yaml assert ({len(suite_asserts)})"] = None
    if len(names) > 1:
        imp.mapped[f"{len(names)} prompts -> suite prompts: [{', '.join(names)}] (compared side by side)"] = None
    for pair, count in sorted(imp.type_counts.items()):
        imp.mapped[f"assert {pair} (x{count})"] = None
    return files


def _offered_tools(imp: Importer, models: list[Model], files: dict[str, str]) -> dict[str, Any]:
    """The first provider's tools as tools/<name>.yaml files, and the `tools`/`tool_choice` keys every
    prompt gets (llmops offers tools from the prompt, so every model is tested with the same ones)."""
    first = models[0]
    for model in models[1:]:
        if [t.name for t in model.tools] != [t.name for t in first.tools] or model.tool_choice != first.tool_choice:
            imp.note("providers", f"{model.alias}'s tools differ from the first provider's; llmops offers tools from "
                                  "the prompt, so every model is tested with the first provider's tools")
    for tool in first.tools:
        files[f"tools/{tool.name}.yaml"] = _dump(tool.document())
        imp.mapped[f"providers[0].config.tools {tool.name} -> tools/{tool.name}.yaml"] = None
    keys: dict[str, Any] = {"tools": [t.name for t in first.tools]} if first.tools else {}
    if first.tools and first.tool_choice is not None:
        keys["tool_choice"] = first.tool_choice
    return keys


def _json_line(value: Any) -> str:
    """One JSON line; the characters `str.splitlines` breaks on (and JSON leaves raw) are escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.translate({0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}) + "\n"


def write_files(files: Mapping[str, str], out: Path, force: bool) -> None:
    """Write `files` under `out`; raises InputError, writing nothing, when one exists and not `force`."""
    existing = [rel for rel in files if (out / rel).exists()]
    if existing and not force:
        raise InputError([f"{out / rel}: already exists; use --force to overwrite" for rel in existing])
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def check_problems(out: Path) -> list[str]:
    """`llmops check` on the written project: its problems, or [] when it passes."""
    from llmops_cli.commands.check import check

    try:
        check(out)
    except InputError as error:
        return [str(p) for p in error.problems]
    return []


def _config_yaml(imp: Importer, models: list[Model], options: Mapping[str, Any]) -> str:
    entries: dict[str, Any] = {}
    for m in [*models, *imp.graders]:
        extra = {k: v for k, v in (("api_base", m.api_base), ("api_key_env", m.api_key_env),
                                   ("params", {**m.settings, **m.params} or None)) if v is not None}
        entries[m.alias] = {"model": m.model, **extra} if extra else m.model
    doc: dict[str, Any] = {"version": 1, "models": entries}
    if imp.judge_model:
        doc["judge_model"] = imp.judge_model
    if imp.embedding_model:
        doc["embedding_model"] = imp.embedding_model
    if imp.needs_python:
        doc["allow_python"] = True
        imp.note("allow_python", "set to true because the promptfoo config runs python assertions", "llmops.yaml")
    limits = {}
    if isinstance(options.get("maxConcurrency"), int) and options["maxConcurrency"] > 0:
        limits["concurrency"] = options["maxConcurrency"]
    if isinstance(options.get("timeoutMs"), (int, float)) and options["timeoutMs"] > 0:
        limits["timeout_s"] = options["timeoutMs"] / 1000
    if limits:
        doc["limits"] = limits
    header = f"# imported from {imp.label} by `llmops import promptfoo`; API keys come only from the environment\n"
    return header + _dump(doc)


def _thresholds(imp: Importer, n_cases: int, repeat: int, suite_file: str) -> dict[str, Any]:
    found: dict[str, Any] = {"correctness": {"min": 1.0}}
    imp.note("thresholds.correctness", "min 1.0 mirrors promptfoo failing a run on any failed test; lower it "
                                       "or gate on max_drop against the baseline instead", suite_file)
    if imp.latency_ms:
        ms = max(v for v, _, _ in imp.latency_ms)
        found["latency_max_s"] = {"max": ms / 1000}
        _scope_note(imp, "latency", imp.latency_ms, f"{ms:g} ms per call -> thresholds.latency_max_s max "
                                                    f"{ms / 1000:g} (every answered call)")
    if imp.cost:
        per_call = max(v for v, _, _ in imp.cost)
        total = round(per_call * n_cases * repeat, 10)
        found["cost_usd"] = {"max": total}
        _scope_note(imp, "cost", imp.cost, f"${per_call:g} per call -> thresholds.cost_usd max ${total:g} (the "
                                           f"suite total: {n_cases} cases x {repeat}; llmops has no per-call cost "
                                           "limit)")
    return found


def _scope_note(imp: Importer, kind: str, values: list[tuple[float, str, str]], message: str) -> None:
    scopes = {s for _, s, _ in values}
    distinct = {v for v, _, _ in values}
    if "every case" not in scopes:
        message += "; it now applies to every case, not only " + ", ".join(sorted(scopes))
    if len(distinct) > 1:
        message += f"; the largest of {len(distinct)} different limits was kept"
    imp.note(values[0][2], f"{kind} {message}")


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as `|` blocks, keys in the order written."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
