"""The import summary a person reads: repeated lines grouped, each section capped, so even a
config with thousands of tests prints at most about one screen (the full list is one flag away)."""

from __future__ import annotations

import re

SECTION_LINES = 14   # lines shown per section before "... and N more"
_INDEX = re.compile(r"\[\d+\]|\bline \d+")


def grouped(lines: list[str]) -> list[str]:
    """`file: where: message` lines that differ only by a test index or CSV line -> one line each,
    naming the first three places and how many more (in the order they were found)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for line in lines:
        parts = line.split(": ", 2)
        if len(parts) < 3:
            groups.setdefault((line,), []).append(line)
            continue
        file, where, message = parts
        groups.setdefault((file, _INDEX.sub("#", where), message), []).append(where)
    shown = []
    for key, places in groups.items():
        if len(key) == 1 or len(places) == 1:
            shown.append(key[0] if len(key) == 1 else f"{key[0]}: {places[0]}: {key[2]}")
            continue
        more = f" and {len(places) - 3} more" if len(places) > 3 else ""
        shown.append(f"{key[0]}: {', '.join(places[:3])}{more}: {key[2]}")
    return shown


def capped(lines: list[str], limit: int = SECTION_LINES) -> list[str]:
    """At most `limit` lines, the last saying how many were left out."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit - 1], f"... and {len(lines) - limit + 1} more (--all lists every line)"]
