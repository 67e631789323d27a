"""The PR comment of the llmops action: its body, trimmed to GitHub's limit on structure, and
what to say when GitHub refuses it. Standard library only (the runner's python runs it).

    python llmops_comment.py body OUT.json    # env: LLMOPS_REPORT_DIR, LLMOPS_EXIT_CODE, LLMOPS_GATE,
                                              #      LLMOPS_MARKER, LLMOPS_RUN_URL, LLMOPS_ARTIFACT_URL
    python llmops_comment.py fork EVENT.json  # prints "fork" when the PR comes from another repository
    python llmops_comment.py message RESPONSE # GitHub's error message, on one short line

GitHub refuses a comment body over 65,536 characters, counted as UTF-16 code units (an emoji is
two) after newlines become CRLF; a cut made by Python characters can still be refused, and one
made mid-report can leave a code fence or a <details> open so the rest of the comment, our
footer included, renders as code. So the body is measured as GitHub counts it (conservatively) and
cut only between lines outside any fence or <details>, preferring the start of a section; if the
only cut that fits is inside one, what is open there is closed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIMIT = 65_536
MARGIN = 512  # kept free: GitHub's own counting is not documented to the character
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r" {0,3}#{1,6}(?: |$)")


def github_length(text: str) -> int:
    """Characters as GitHub counts them, rounded up: UTF-16 code units, each newline as CRLF."""
    return len(text.encode("utf-16-le")) // 2 + text.count("\n")


@dataclass(frozen=True)
class State:
    """What is open after a line: a code fence (its closing run) and <details> depth."""

    fence: str = ""
    details: int = 0

    @property
    def closed(self) -> bool:
        return not self.fence and not self.details

    def closers(self) -> list[str]:
        return ([self.fence] if self.fence else []) + ["</details>"] * self.details


def _next(state: State, line: str) -> State:
    match = _FENCE.match(line)
    if state.fence:
        closes = match and match[1][0] == state.fence[0] and len(match[1]) >= len(state.fence) \
            and not line[match.end():].strip()
        return State("", state.details) if closes else state
    if match and not (match[1][0] == "`" and "`" in line[match.end():]):
        return State(match[1], state.details)
    depth = state.details + len(re.findall(r"<details\b", line)) - line.count("</details>")
    return State("", max(depth, 0))


def trim(report: str, budget: int) -> tuple[str, int]:
    """The longest structural prefix of `report` within `budget` (GitHub length), closed, and the
    number of its lines left out (0: nothing trimmed)."""
    if github_length(report) <= budget:
        return report, 0
    lines = report.split("\n")  # Markdown's lines; str.splitlines() would also split at \x1c, U+2028...
    if lines[-1] == "":
        lines.pop()
    states = [State()]
    for line in lines:
        states.append(_next(states[-1], line))
    used = [0]
    for line in lines:
        used.append(used[-1] + github_length(line + "\n"))

    def cost(k: int) -> int:
        return used[k] + sum(github_length(c + "\n") for c in states[k].closers())

    fits = max((k for k in range(len(lines) + 1) if cost(k) <= budget), default=0)
    safe = [k for k in range(fits + 1) if states[k].closed]
    sections = [k for k in safe if k < len(lines) and _HEADING.match(lines[k])]
    cut = fits
    for candidates in (sections, safe):  # whole sections if that keeps most of what fits
        if candidates and used[candidates[-1]] * 2 >= used[fits]:
            cut = candidates[-1]
            while cut and states[cut - 1].closed and (not lines[cut - 1].strip() or _HEADING.match(lines[cut - 1])):
                cut -= 1  # no heading left without its section
            break
    kept = lines[:cut] + states[cut].closers()
    return "\n".join(kept) + "\n", len(lines) - cut


def body(env: dict[str, str]) -> str:
    report = Path(env.get("LLMOPS_REPORT_DIR", "")) / "report.md"
    code, gate = env.get("LLMOPS_EXIT_CODE", "?"), env.get("LLMOPS_GATE", "")
    run_url, artifact_url = env.get("LLMOPS_RUN_URL", ""), env.get("LLMOPS_ARTIFACT_URL", "")
    if report.is_file():
        text = report.read_text(encoding="utf-8")
    else:
        text = (f"## llmops eval: ⚠️ could not run (exit {code})\n\n"
                "llmops stopped before writing a report (invalid input?): the problems are in the job log.\n")
    full = f"[full report]({artifact_url}) (HTML, JSON, JUnit)" if artifact_url else \
        "the full report (HTML, JSON, JUnit) is in its artifacts" if run_url else "the full report is in the job's artifacts"
    footer = "\n---\n" + (f"[Workflow run]({run_url}) · " if run_url else "") + f"{full} · gate `{gate or 'unknown'}`, exit {code}\n"
    head = env.get("LLMOPS_MARKER", "") + "\n"
    note = ("\n… report trimmed to fit GitHub's limit on a comment ({n} more lines not shown); "
            + (f"see the [full report]({artifact_url}).\n" if artifact_url else
               f"the full report is in the [workflow run]({run_url})'s artifacts.\n" if run_url else
               "the full report is in the job's artifacts.\n"))
    budget = LIMIT - MARGIN - github_length(head + footer + note.format(n=10**6))
    text, left_out = trim(text, budget)
    return head + text + (note.format(n=left_out) if left_out else "") + footer


def is_fork(event: dict[str, Any]) -> bool:
    """A pull request whose head lives in another repository (GitHub gives those a read-only token)."""
    pr = event.get("pull_request")
    if not isinstance(pr, dict):
        return False
    head: dict[str, Any] = pr.get("head") if isinstance(pr.get("head"), dict) else {}
    base: dict[str, Any] = pr.get("base") if isinstance(pr.get("base"), dict) else {}
    head_repo, base_repo = head.get("repo"), base.get("repo")
    if not isinstance(head_repo, dict):
        return "repo" in head and head_repo is None  # the fork was deleted
    if head_repo.get("fork"):
        return True
    return isinstance(base_repo, dict) and head_repo.get("full_name") != base_repo.get("full_name")


def message(response: str) -> str:
    """GitHub's error message on one line of at most 200 characters ('' when there is none)."""
    try:
        data = json.loads(response)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("message") or "")]
    parts += [str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
              for e in data.get("errors") or [] if e]
    text = " ".join("; ".join(p for p in parts if p).split())
    return text.replace("::", ": :")[:200]


def main(argv: list[str]) -> int:
    command, path = argv[1], Path(argv[2])
    if command == "body":
        path.write_text(json.dumps({"body": body(dict(os.environ))}), encoding="utf-8")
    elif command == "fork":
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            event = {}
        print("fork" if isinstance(event, dict) and is_fork(event) else "", end="")
    elif command == "message":
        print(message(path.read_text(encoding="utf-8", errors="replace")), end="")
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
