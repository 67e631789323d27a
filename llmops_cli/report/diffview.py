"""Unified diffs trimmed for a person to read, around the change.

A rendered prompt is often one long line (a system message of a thousand characters), so cutting
a diff at N characters from its start keeps the unchanged head of the `-` line and loses the
change and the whole `+` line. Here every changed line keeps a window around the point where it
differs from its counterpart on the other side, context lines keep their start, and when the
whole is still too long context goes first: the `-` and `+` lines are what a reviewer needs.
results.json keeps the full diff.
"""

from __future__ import annotations

import difflib

ELLIPSIS = "…"


def trim_diff(diff: str, width: int = 160, budget: int = 2000) -> str:
    """`diff` with each line at most about `width` characters and the whole about `budget`."""
    lines = diff.split("\n")
    changed = _changed_flags(lines)
    starts = _change_starts(lines, changed)
    shown = [_window(line, starts.get(i, 0), width if changed[i] else width // 2) for i, line in enumerate(lines)]
    if sum(len(line) + 1 for line in shown) <= budget:
        return "\n".join(shown)
    # context goes first
    kept = [(line, flag) for line, flag in zip(shown, changed, strict=True) if flag or not line.startswith(" ")]
    out: list[str] = []
    used = 0
    for n, (line, _) in enumerate(kept):
        if used + len(line) + 1 > budget and out:
            rest = sum(1 for _, other in kept[n:] if other)
            out.append(f"{ELLIPSIS} {rest} more changed lines in results.json")
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _changed_flags(lines: list[str]) -> list[bool]:
    """Which lines are `-`/`+` lines of a hunk (the `---`/`+++` file headers come before the first `@@`)."""
    flags, in_hunk = [], False
    for line in lines:
        in_hunk = in_hunk or line.startswith("@@")
        flags.append(in_hunk and line.startswith(("-", "+")))
    return flags


def _change_starts(lines: list[str], changed: list[bool]) -> dict[int, int]:
    """Line index -> where that changed line starts to differ from its counterpart (the i-th `-` line
    of a block pairs with the i-th `+` line after it)."""
    starts: dict[int, int] = {}
    i = 0
    while i < len(lines):
        if not changed[i]:
            i += 1
            continue
        minus = []
        while i < len(lines) and changed[i] and lines[i].startswith("-"):
            minus.append(i)
            i += 1
        plus = []
        while i < len(lines) and changed[i] and lines[i].startswith("+"):
            plus.append(i)
            i += 1
        for a, b in zip(minus, plus, strict=False):  # a run of deletions pairs with the additions after it
            start = _common_prefix(lines[a][1:], lines[b][1:])
            starts[a] = starts[b] = start
    return starts


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):  # up to the shorter line
        if x != y:
            break
        n += 1
    return n


def _window(line: str, start: int, width: int) -> str:
    """The line's marker and up to `width` characters of its text, beginning a little before `start`."""
    marker, text = line[:1], line[1:]
    if len(text) <= width + width // 4:  # a line a little over is easier to read whole than cut
        return line
    begin = max(0, min(start - width // 4, len(text) - width))
    piece = text[begin:begin + width]
    return marker + (ELLIPSIS if begin else "") + piece + (ELLIPSIS if begin + width < len(text) else "")


def file_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """The unified diff of a file's two texts (a prompt template, a tool definition), as git shows it."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), old_label, new_label))
