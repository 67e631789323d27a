"""Where project files are read from: the work tree, or a git ref (see gitref.py).

Loading goes through this small protocol so the same validation serves `check` on the work
tree and the baseline of `eval --baseline REF`, which never touches the checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class Source(Protocol):
    """Read-only view of a project tree; paths are POSIX, relative to the project root."""

    label: str
    commit: str | None

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when it does not exist."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Names of entries directly under `path` (files and folders), sorted; [] if absent."""
        ...


MAX_FILE_BYTES = 64 * 1024 * 1024


class WorkTree:
    """The project as it is on disk."""

    def __init__(self, root: Path, commit: str | None = None) -> None:
        self.root = root
        self.label = "work tree"
        self.commit = commit

    def read_text(self, path: str) -> str | None:
        file = self.root / path
        if not file.is_file():
            return None
        if file.stat().st_size > MAX_FILE_BYTES:
            raise UnicodeError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return decode(file.read_bytes())

    def list_dir(self, path: str) -> list[str]:
        folder = self.root / path
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); binary or other encodings raise UnicodeError."""
    if b"\x00" in data:
        raise UnicodeError("binary file (contains NUL bytes)")
    text = data.decode("utf-8-sig")
    return text
