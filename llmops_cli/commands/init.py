"""`llmops init`: scaffold a project that passes `llmops check` at once."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from llmops_cli.errors import InputError

GITIGNORE_ENTRY = ".llmops/"
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
        files += [(f"evals/redteam/{rel}", text.replace("{{PROMPT}}", prompt)) for rel, text in _template_files("redteam")]
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
