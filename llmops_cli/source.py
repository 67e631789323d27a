"""Where project files are read from: the work tree, or a git ref (see gitref.py).

Loading goes through this small protocol so the same validation serves `check` on the work
tree and the baseline of `eval --baseline REF`, which never touches the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Source(Protocol):
    """Read-only view of a project tree; paths are POSIX, relative to the project root.

    `label` and `commit` are read-only here, so a source whose commit is always known (a git ref:
    `str`) satisfies the protocol as well as the work tree (`str | None`)."""

    @property
    def label(self) -> str:
        """How messages name this source ("work tree", "git ref main (abc1234)")."""
        ...

    @property
    def commit(self) -> str | None:
        """The commit the files come from, when there is one."""
        ...

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
        if not _inside(file.resolve(), self._boundary()):
            raise OutsideRepository(os.readlink(_first_link(self.root, path)))
        if file.stat().st_size > MAX_FILE_BYTES:
            raise NotText(None, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; keep big inputs out of the project files")
        return decode(file.read_bytes())

    def list_dir(self, path: str) -> list[str]:
        folder = self.root / path
        if not folder.is_dir():
            return []
        if not _inside(folder.resolve(), self._boundary()):
            raise OutsideRepository(os.readlink(_first_link(self.root, path)))
        return sorted(p.name for p in folder.iterdir())


    def _boundary(self) -> Path:
        """The repository holding the project (the nearest folder with .git), else the project."""
        root = self.root.resolve()
        return next((folder for folder in (root, *root.parents) if (folder / ".git").exists()), root)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _first_link(root: Path, path: str) -> Path:
    """The first symlink on the way from the project root to `path` (the one to name)."""
    current = root
    for part in Path(path).parts:
        current = current / part
        if current.is_symlink():
            return current
    return current


class OutsideRepository(OSError):
    """A symlink in the project that leads out of the repository: a pull request could point a
    golden set at /etc/passwd or a CI secret file, so it is refused, never followed."""

    def __init__(self, target: str) -> None:
        super().__init__(f"is a symlink to {target!r}, outside the repository; llmops reads only files inside "
                         "the repository: copy the file in instead")
        self.message = str(self.args[0])


class NotText(UnicodeError):
    """A file that is not UTF-8 text; `line` is where the first bad byte is."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); binary or other encodings raise NotText with a line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise NotText(1, "the file is UTF-16 (as PowerShell's `>` writes); save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise NotText(data.count(b"\n", 0, nul) + 1, "binary content (a NUL byte); this must be a UTF-8 text file")
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM, as some Windows editors write
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NotText(line, f"byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8 "
                            "(it looks like latin-1 or another legacy encoding)") from None
