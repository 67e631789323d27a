"""The consoles the CLI prints to: results on stdout, problems and progress on stderr."""

from __future__ import annotations

import sys

from rich.console import Console

# emoji=False: user text such as `sagemaker:llama:x` must print as written, never as an emoji
console = Console(highlight=False, soft_wrap=True, emoji=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_diff(target: Console, diff: str) -> None:
    """A unified diff, coloured by line prefix (no padding, so it copies cleanly)."""
    for line in diff.splitlines():
        style = ("bold" if line.startswith(("+++", "---")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else None)
        target.print(line, style=style, markup=False, highlight=False)
