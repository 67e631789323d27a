"""Project files as they are at a git ref, read from git objects, plus a little lineage.

`llmops eval --baseline REF` runs the baseline's prompts, suites, cases and lock without a
checkout: a PR job, or a developer with uncommitted edits, must never see the work tree, index
or stash touched. So files come from the blobs of `repo.commit(sha).tree`, refs are resolved
with `git rev-parse`, and every git command runs with `--no-optional-locks`, because a plain
`git status` or `git diff` (and so gitpython's `is_dirty`) rewrites `.git/index` whenever it
refreshes stale stat data. gitpython is imported inside functions so importing this is cheap.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError
from llmops_cli.source import MAX_FILE_BYTES, OutsideRepository, decode

if TYPE_CHECKING:
    from git import Repo

DEPTH = 50  # used in the fetch commands suggested for shallow clones
_LOG_FORMAT = "--format=%H%x1f%h%x1f%aI%x1f%an%x1f%s"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    short: str
    date: str  # author date, strict ISO 8601
    author: str
    subject: str


def _open(project_root: Path) -> tuple[Repo, str] | None:
    """The repository holding `project_root` and the root's repo-relative prefix ("" at top)."""
    from git import InvalidGitRepositoryError, NoSuchPathError, Repo

    try:
        repo = Repo(project_root, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        return None
    try:
        top = Path(repo.working_tree_dir or "").resolve()
        prefix = Path(project_root).resolve().relative_to(top).as_posix() if repo.working_tree_dir else None
    except ValueError:  # e.g. a folder inside .git
        prefix = None
    if prefix is None:
        repo.close()
        return None
    return repo, "" if prefix == "." else prefix


def _git(repo: Repo, *args: str) -> tuple[int, str]:
    """Run read-only git from the top of the work tree; (exit status, stdout), never raises."""
    result: Any = repo.git.execute(["git", "--no-optional-locks", "--literal-pathspecs", *args],
                                   with_extended_output=True, with_exceptions=False)
    status, out, err = result
    if status not in (0, 1) and "dubious ownership" in err:  # common in CI containers
        raise InputError(f"git refuses {repo.working_tree_dir}: {err.strip().splitlines()[-1]}")
    return int(status or 0), str(out)


def _rel(prefix: str, path: str) -> str | None:
    """Project-relative path -> repo-relative ("" is the top); None when it leaves the repo."""
    joined = posixpath.normpath(posixpath.join(prefix, path))
    if joined.startswith("/") or joined == ".." or joined.startswith("../"):
        return None
    return "" if joined == "." else joined


def _rev(repo: Repo, ref: str) -> str | None:
    status, out = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return out.strip() if status == 0 and out.strip() else None


def _no_commits(repo: Repo) -> bool:
    return _rev(repo, "HEAD") is None and not _git(repo, "for-each-ref", "--count=1")[1].strip()


def _resolve(repo: Repo, ref: str) -> tuple[str, str]:
    """(full sha, the name that resolved), or InputError with one actionable line."""
    if not ref or ref.startswith("-"):  # never let a ref be read as an option
        raise InputError(f"invalid git ref {ref!r}")
    if sha := _rev(repo, ref):
        return sha, ref
    remotes = sorted((r.name for r in repo.remotes), key=lambda name: name != "origin")
    if re.fullmatch(r"[\w.-]+(/[\w.-]+)*", ref):  # `main` in CI often exists only as origin/main
        found = [(sha, f"{r}/{ref}") for r in remotes if (sha := _rev(repo, f"{r}/{ref}"))]
        if len(found) == 1:
            return found[0]
    if _no_commits(repo):
        raise InputError(f"unknown git ref {ref!r}: the repository has no commits yet; commit first or use --no-baseline")
    base = re.split(r"[~^@:]", ref, maxsplit=1)[0]
    owner = next((r for r in remotes if base.startswith(f"{r}/")), None)
    remote, branch = (owner, base[len(owner) + 1:]) if owner else (remotes[0] if remotes else "origin", base)
    if (Path(repo.common_dir) / "shallow").is_file():
        if base and _rev(repo, base):  # the name is here, its history is not
            cmd = f"git fetch --deepen={DEPTH} {remote}"
        elif re.fullmatch(r"[0-9a-fA-F]{4,40}", base):
            cmd = f"git fetch --unshallow {remote}"
        else:
            cmd = f"git fetch {remote} {branch}:refs/remotes/{remote}/{branch} --depth={DEPTH}"
        raise InputError(f"git ref {ref!r} is not in this shallow clone; run `{cmd}` (or `git fetch --unshallow`), "
                         "or set `fetch-depth: 0` on actions/checkout")
    refs = _git(repo, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes")[1].split()
    names = [r.split("/", 2)[2] for r in refs if not r.endswith("/HEAD")]
    known = (", ".join(names[:10]) + (", ..." if len(names) > 10 else "")) or "none"
    hint = f"; fetch it with `git fetch {remote} {branch}`" if owner else ""
    raise InputError(f"unknown git ref {ref!r}{hint}; known branches: {known}")


class GitRefSource:
    """The project as committed at one ref (a `Source`); never touches the work tree or index."""

    def __init__(self, repo: Repo, prefix: str, ref: str, sha: str) -> None:
        self.repo, self.prefix, self.ref, self.commit = repo, prefix, ref, sha
        self.label = f"git ref {ref} ({sha[:7]})"
        self._tree = repo.commit(sha).tree

    def _lookup(self, path: str) -> Any:
        """The blob, tree or submodule at a project-relative path, or None."""
        from git import Blob

        rel = _rel(self.prefix, path)
        for _ in range(8):  # follow symlinked files (mode 120000) as the work tree does
            if rel is None:
                return None
            try:
                item = self._tree.join(rel) if rel else self._tree
            except KeyError:
                return None
            if not isinstance(item, Blob) or item.mode != Blob.link_mode:
                return item
            target = item.data_stream.read(4096).decode("utf-8", "surrogateescape")
            rel = _rel(posixpath.dirname(rel), target)
            if rel is None:  # git keeps a symlink as a blob of its target; one out of the repository is refused
                raise OutsideRepository(target)
        return None

    def read_text(self, path: str) -> str | None:
        from git import Blob

        item = self._lookup(path)
        if not isinstance(item, Blob):
            return None
        if item.size > MAX_FILE_BYTES:
            raise UnicodeError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return decode(item.data_stream.read())

    def list_dir(self, path: str) -> list[str]:
        from git import Tree

        item = self._lookup(path)
        return sorted(child.name for child in item) if isinstance(item, Tree) else []

    def close(self) -> None:
        """Stop gitpython's helper processes (also done when garbage-collected)."""
        self.repo.close()


def history_problem(project_root: Path) -> str | None:
    """Why no ref can be read here ("not a git repository", "no commits yet"), or None; callers add their remedy."""
    opened = _open(project_root)
    if opened is None:
        return "not a git repository"
    try:
        return "the repository has no commits yet" if _no_commits(opened[0]) else None
    finally:
        opened[0].close()


def open_ref(project_root: Path, ref: str) -> GitRefSource:
    """The project at `ref`: branch, origin/branch, tag, HEAD~1, full or short sha."""
    opened = _open(project_root)
    if opened is None:
        raise InputError(f"{project_root}: not a git repository; run inside a git checkout or use --no-baseline")
    repo, prefix = opened
    try:
        sha, name = _resolve(repo, ref)
        return GitRefSource(repo, prefix, name, sha)
    except BaseException:
        repo.close()
        raise


def open_baseline(project_root: Path, ref: str) -> GitRefSource:
    """The project where this branch left `ref`: the merge base of `ref` and HEAD.

    Comparing a branch with the tip of main would blame the PR for everything merged into main
    since it branched; `git diff main...HEAD` compares with the merge base, and so does this.
    `A...B` names both sides (an empty side is HEAD). When `ref` is an ancestor of HEAD the
    merge base is `ref` itself. The label says which commit was used and why.
    """
    opened = _open(project_root)
    if opened is None:
        raise InputError(f"{project_root}: not a git repository; run inside a git checkout or use --no-baseline")
    repo, prefix = opened
    try:
        left, dots, right = ref.partition("...")
        left, right = (left or "HEAD", right or "HEAD") if dots else (ref, "HEAD")
        tip, name = _resolve(repo, left)
        other = _resolve(repo, right)[0]
        status, out = _git(repo, "merge-base", tip, other)
        base = out.strip()
        if status != 0 or not base:
            if (Path(repo.common_dir) / "shallow").is_file():
                raise InputError(f"no merge base of {name} and {right} in this shallow clone; run "
                                 f"`git fetch --deepen={DEPTH}` (or `git fetch --unshallow`), or set `fetch-depth: 0` "
                                 "on actions/checkout")
            raise InputError(f"{name} and {right} have no common history, so there is no merge base to compare "
                             f"with; pass --baseline with a commit of this branch's history")
        source = GitRefSource(repo, prefix, ref, base)
        if base != tip:
            source.label = (f"git ref {ref}: merge base {base[:7]} of {name} ({tip[:7]}) and {right}; "
                            f"later commits on {name} are not part of this change")
        return source
    except BaseException:
        repo.close()
        raise


def renamed_paths(project_root: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """Files under `paths` (project-relative) that git's rename detection sees moved between
    `commit` and the index (staged or committed moves; the index is compared, never refreshed, so
    git never rewrites it): old path -> new path, project-relative.

    {} outside git, or when git cannot tell (an unknown commit)."""
    opened = _open(project_root)
    if opened is None:
        return {}
    with opened[0] as repo:
        prefix = opened[1]
        specs = [rel or "." for p in paths if (rel := _rel(prefix, p)) is not None]
        if not specs:
            return {}
        status, out = _git(repo, "diff", "--cached", "-M", "--name-status", "-z", commit, "--", *specs)
        if status != 0:
            return {}
        fields, moves = out.split("\0"), {}
        index = 0
        while index < len(fields) and fields[index]:
            kind = fields[index]
            if kind.startswith(("R", "C")) and index + 2 < len(fields):
                old, new = fields[index + 1], fields[index + 2]
                if kind.startswith("R"):
                    moves[_unprefixed(prefix, old)] = _unprefixed(prefix, new)
                index += 3
            else:
                index += 2
        return moves


def _unprefixed(prefix: str, path: str) -> str:
    """Repo-relative -> project-relative."""
    return path[len(prefix) + 1:] if prefix and path.startswith(prefix + "/") else path


def head_commit(project_root: Path) -> str | None:
    """Full sha of HEAD; None outside git or before the first commit."""
    opened = _open(project_root)
    if opened is None:
        return None
    with opened[0] as repo:
        return _rev(repo, "HEAD")


def is_dirty(project_root: Path, paths: list[str]) -> bool:
    """Whether `paths` (project-relative) have staged, unstaged or untracked (not ignored) changes.

    Outside git nothing is dirty (head_commit() is None there); an empty list is clean.
    """
    opened = _open(project_root)
    if opened is None:
        return False
    with opened[0] as repo:
        specs = [rel or "." for p in paths if (rel := _rel(opened[1], p)) is not None]
        status, out = _git(repo, "status", "--porcelain", "-unormal", "--", *specs) if specs else (0, "")
        return status != 0 or bool(out.strip())


def _log(repo: Repo, *args: str) -> list[CommitInfo]:
    status, out = _git(repo, "log", _LOG_FORMAT, *args)
    return [CommitInfo(*line.split("\x1f", 4)) for line in out.splitlines() if line] if status == 0 else []


def file_log(project_root: Path, path: str, limit: int = 50) -> list[CommitInfo]:
    """Commits up to HEAD that touched `path` (project-relative), newest first, across renames."""
    opened = _open(project_root)
    if opened is None or (rel := _rel(opened[1], path)) is None:
        return []
    with opened[0] as repo:
        return _log(repo, "--follow", f"--max-count={max(limit, 0)}", "HEAD", "--", rel or ".")


def changed_by(project_root: Path, path: str, ref_a: str, ref_b: str, limit: int = 50) -> list[CommitInfo]:
    """Commits in `ref_a..ref_b` touching `path`, newest first: [0] changed it last.

    [] outside git, before the first commit, or for a path outside the repository; an unknown
    ref raises InputError (with the fetch command in a shallow clone).
    """
    opened = _open(project_root)
    if opened is None or (rel := _rel(opened[1], path)) is None:
        return []
    with opened[0] as repo:
        if _no_commits(repo):
            return []
        a, b = _resolve(repo, ref_a)[0], _resolve(repo, ref_b)[0]
        return _log(repo, f"--max-count={max(limit, 0)}", f"{a}..{b}", "--", rel or ".")


def merge_base(project_root: Path, ref_a: str, ref_b: str) -> str | None:
    """Best common ancestor; None outside git, before the first commit, or when there is none
    (a shallow clone may hide it). An unknown ref raises InputError."""
    opened = _open(project_root)
    if opened is None:
        return None
    with opened[0] as repo:
        if _no_commits(repo):
            return None
        status, out = _git(repo, "merge-base", _resolve(repo, ref_a)[0], _resolve(repo, ref_b)[0])
        return out.strip() if status == 0 and out.strip() else None
