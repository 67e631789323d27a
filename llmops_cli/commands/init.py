"""`llmops init`: scaffold a project that passes `llmops check` at once."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError, Problems

GITIGNORE_ENTRY = ".llmops/"
TEMPLATE_PROMPT, TEMPLATE_CARRIER = "support", "ticket"  # the example prompt, and its variable the attacks sit in
NEUTRAL = {"product": "Acme"}  # values for a retargeted prompt's other variables (else "example")
# `init --standin`: the example's model and gate lines, rewritten for the bundled stand-in server.
STANDIN_LINES = {
    "  default: openai/gpt-4o-mini": "  default: {model: openai/gpt-4o-mini, api_base_env: LLMOPS_STANDIN_URL}  "
                                     "# the local stand-in: run `llmops standin`, export the line it prints",
    "gate: {baseline: origin/main, alpha: 0.05}": "gate: {baseline: main, alpha: 0.05}",
}


def _template_files(kind: str = "project") -> list[tuple[str, str]]:
    root = resources.files("llmops_cli") / "templates" / kind
    found: list[tuple[str, str]] = []

    def walk(node: object, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):  # type: ignore[attr-defined]
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            else:
                found.append((rel, child.read_text(encoding="utf-8")))

    walk(root, "")
    return found


def init(root: Path, force: bool = False, redteam: bool = False, prompt: str = "support", standin: bool = False) -> list[str]:
    """Write the example project (or, with redteam in an existing project, only a red-team
    suite for `prompt`); returns the paths written. Never overwrites without force.

    `standin` points the example at the bundled stand-in server, so a first run needs no key."""
    files = [] if redteam and (root / "llmops.yaml").exists() else _template_files()
    if standin:
        files = [(rel, _for_standin(text) if rel == "llmops.yaml" else text) for rel, text in files]
    if redteam:
        files += [(f"evals/redteam/{rel}", _redteam_file(root, rel, text, prompt)) for rel, text in _template_files("redteam")]
    existing = [rel for rel, _ in files if (root / rel).exists()]
    if existing and not force:
        raise InputError([f"{rel}: already exists; use --force to overwrite" for rel in existing])
    written = []
    for rel, text in files:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(rel)
    if _ensure_gitignore(root / ".gitignore"):
        written.append(".gitignore")
    return written


def _redteam_file(root: Path, rel: str, text: str, prompt: str) -> str:
    if rel == "suite.yaml":
        return text.replace("{{PROMPT}}", prompt)
    path = root / "prompts" / f"{prompt}.yaml"
    if not path.is_file():
        if prompt == TEMPLATE_PROMPT:
            return text  # written beside it from the same template: its variables are the cases' own
        raise InputError(f"prompts/{prompt}.yaml: no such prompt; --prompt names the prompt the red-team suite attacks")
    return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in _retarget(path, prompt, text))


def _retarget(path: Path, prompt: str, cases_text: str) -> list[dict[str, Any]]:
    """The starter attacks, carried by the variable the prompt's last user message reads last (where a user's
    words go); the prompt's other variables get neutral values so every case renders."""
    from llmops_cli.config import parse_prompt
    from llmops_cli.render import template_variables

    problems = Problems()
    parsed = parse_prompt(prompt, path.read_text(encoding="utf-8"), f"prompts/{prompt}.yaml", {}, problems)
    problems.raise_if_any()
    assert parsed is not None
    every = list(dict.fromkeys(v for m in parsed.messages for v in template_variables(m.content)))
    users = [template_variables(m.content) for m in parsed.messages if m.role == "user"]
    carrier = next((names[-1] for names in reversed(users) if names), every[-1] if every else None)
    if carrier is None:
        raise InputError(f"prompts/{prompt}.yaml: the prompt reads no variable, so a case cannot carry an attack; "
                         "give its user message a variable such as {{ question }}")
    cases = []
    for line in cases_text.split("\n"):
        if line.strip():
            case = json.loads(line)
            attack = case["vars"][TEMPLATE_CARRIER]
            case["vars"] = {name: (attack if name == carrier else NEUTRAL.get(name, "example")) for name in every}
            cases.append(case)
    return cases


def _for_standin(config: str) -> str:
    for line, replacement in STANDIN_LINES.items():
        if line not in config.splitlines():
            raise AssertionError(f"the llmops.yaml template lost its line {line!r}")  # a packaging bug, not input
        config = config.replace(line, replacement, 1)
    return config


def _ensure_gitignore(path: Path) -> bool:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if GITIGNORE_ENTRY in lines or ".llmops" in lines:
        return False
    lines.append(GITIGNORE_ENTRY)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True
