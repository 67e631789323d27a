"""A whole promptfoo config -> the text of every llmops file, one step per part of the config."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from llmops_cli.errors import InputError
from llmops_cli.importers.promptfoo.cases import build_cases, default_test, fill_missing_vars
from llmops_cli.importers.promptfoo.names import slug
from llmops_cli.importers.promptfoo.prompts import load_prompts
from llmops_cli.importers.promptfoo.providers import default_graders, load_providers, pin_graders
from llmops_cli.importers.promptfoo.refs import resolve_refs
from llmops_cli.importers.promptfoo.summary import grouped
from llmops_cli.importers.promptfoo.templates import adapt_prompts, load_vars, renderable
from llmops_cli.importers.promptfoo.write import render_files
from llmops_cli.yamlfile import YamlError, load_yaml, plain

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def convert(imp: Importer, suite_name: str | None) -> tuple[dict[str, str], str]:
    """(the text of every file by path relative to the output folder, the suite name); what was
    mapped, noted and left unconverted is recorded on `imp`. Raises InputError on bad input."""
    if not imp.path.is_file():
        raise InputError(f"{imp.label}: not found; pass the path of a promptfoo config (promptfooconfig.yaml)")
    if imp.path.suffix in (".js", ".ts", ".cjs", ".mjs"):
        raise InputError(f"{imp.label}: a JavaScript config cannot be read; export it as YAML first")
    try:
        data = plain(load_yaml(imp.path.read_text(encoding="utf-8-sig"), yaml12=True))
    except YamlError as exc:
        where = f"{imp.label}:{exc.line}" if exc.line else imp.label
        raise InputError(f"{where}: {exc.message}; a promptfoo config must be YAML or JSON") from None
    except (OSError, UnicodeError) as exc:
        raise InputError(f"{imp.label}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{imp.label}: top level must be a mapping with prompts, providers and tests")
    data = resolve_refs(imp, data)
    if not data.get("prompts"):
        raise InputError(f"{imp.label}: no 'prompts'; a promptfoo config lists the prompts to test, "
                         "e.g. prompts: [file://prompt.txt]")
    suite = suite_name or slug(str(data.get("description") or ""), 40) or "promptfoo"
    if not _NAME.fullmatch(suite):
        raise InputError(f"--suite {suite!r}: use letters, digits, '_', '.' or '-'")
    for key in ("scenarios", "nunjucksFilters", "extensions", "derivedMetrics", "redteam", "env"):
        if key in data:
            advice = {"env": "llmops reads keys only from the environment; export them",
                      "scenarios": "expand them into tests",
                      "nunjucksFilters": "JavaScript filters; a prompt that uses one is listed"}.get(key, "no llmops equivalent")
            imp.skip(key, f"not converted: {advice}")

    listed = len(imp.unconverted)
    prompts = adapt_prompts(imp, load_prompts(imp, data["prompts"]), data.get("nunjucksFilters"))
    if not prompts:
        reasons = grouped(list(imp.unconverted)[listed:])
        raise InputError([*reasons, f"{imp.label}: prompts: none of the prompts could be converted "
                                    f"({_above(reasons)}); "
                                    "add a text or chat prompt"])
    models = imp.models = load_providers(imp, data.get("providers", data.get("targets")))
    default = default_test(imp, data.get("defaultTest"))
    options = imp.mapping("evaluateOptions", data.get("evaluateOptions"))
    wanted = options.get("repeat")
    repeat = wanted if isinstance(wanted, int) and wanted > 1 else 1
    default_graders(imp, imp.mapping("defaultTest.options", default.get("options")).get("provider")
                    or imp.mapping("commandLineOptions", data.get("commandLineOptions")).get("grader"))
    listed = len(imp.unconverted)
    cases, suite_asserts = build_cases(imp, data.get("tests"), default)
    pin_graders(imp)
    cases = load_vars(imp, prompts, cases)
    fill_missing_vars(imp, prompts, cases)
    cases = renderable(imp, prompts, cases)
    if not cases:
        reasons = grouped(list(imp.unconverted)[listed:])
        raise InputError([*reasons, f"{imp.label}: tests: no test could be converted ({_above(reasons)}); export "
                                    "the tests as YAML or CSV and import again"])

    files = render_files(imp, suite, str(data.get("description") or f"imported from {imp.label}"), prompts, models,
                         cases, suite_asserts, repeat, options)
    if imp.metrics:
        imp.note("assert", f"metric names ({', '.join(sorted(imp.metrics))}) dropped: llmops reports each "
                           "assertion and the suite's metrics")
    for ref, where in imp.python_files.items():
        if not (imp.out / ref).is_file():
            imp.note(where, f"copy {imp.shown(ref)} to {imp.out / ref}: llmops imports python assertions "
                            "from the project root")
    return files, suite


def _above(reasons: list[str]) -> str:
    return "no reason recorded" if not reasons else "the reason above" if len(reasons) == 1 else "the reasons above"
