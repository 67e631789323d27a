"""Tests for llmops_cli.gitref on real git repositories built with the git CLI in tmp_path."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from llmops_cli import gitref
from llmops_cli.errors import InputError
from llmops_cli.gitref import changed_by, file_log, head_commit, is_dirty, merge_base, open_baseline, open_ref

_clock = itertools.count()


@pytest.fixture(autouse=True)
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Identity and isolation for both the git CLI here and gitpython in the module."""
    for key, value in {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
                       "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
                       "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                       "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(key, raising=False)


def git(cwd: Path, *args: str, **env: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **env}).stdout.strip()


def write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def commit(root: Path, message: str, files: Mapping[str, str | bytes] | None = None, **env: str) -> str:
    write(root, files or {})
    git(root, "add", "-A")
    date = f"2024-01-0{next(_clock) % 9 + 1}T12:00:00+00:00"
    git(root, "commit", "-q", "-m", message, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, **env)
    return git(root, "rev-parse", "HEAD")


def init(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    return root


BASE = {"llmops.yaml": "version: 1\n", "prompts/greet.yaml": "template: one\n",
        "evals/basic/suite.yaml": "prompts: [greet]\n", "evals/basic/cases.jsonl": '{"id": "a"}\n'}


@dataclass(frozen=True)
class Made:
    root: Path
    c1: str
    c2: str


@pytest.fixture
def repo(tmp_path: Path) -> Made:
    """main: c1 (tag v1, branch old) -> c2 (greet edited, suite `extra` added)."""
    root = init(tmp_path / "repo")
    c1 = commit(root, "first", BASE)
    git(root, "tag", "v1")
    git(root, "branch", "old")
    c2 = commit(root, "edit greet, add extra", {"prompts/greet.yaml": "template: two\n",
                                                "evals/extra/suite.yaml": "prompts: [greet]\n"})
    return Made(root, c1, c2)


@pytest.mark.parametrize("ref", ["v1", "old", "HEAD~1", "main~1", "c1-short", "c1"])
def test_reads_the_older_commit_at_every_kind_of_ref(repo: Made, ref: str) -> None:
    ref = {"c1": repo.c1, "c1-short": repo.c1[:8]}.get(ref, ref)
    src = open_ref(repo.root, ref)
    assert src.commit == repo.c1 and ref in src.label
    assert src.read_text("prompts/greet.yaml") == "template: one\n"
    assert src.read_text("llmops.yaml") == "version: 1\n"
    src.close()


@pytest.mark.parametrize("ref", ["HEAD", "main"])
def test_reads_head(repo: Made, ref: str) -> None:
    src = open_ref(repo.root, ref)
    assert src.commit == repo.c2 == head_commit(repo.root)
    assert src.read_text("prompts/greet.yaml") == "template: two\n"


def test_listing_and_missing_paths(repo: Made) -> None:
    old, new = open_ref(repo.root, "v1"), open_ref(repo.root, "HEAD")
    assert old.list_dir("evals") == ["basic"]  # `extra` was added later
    assert new.list_dir("evals") == ["basic", "extra"]
    assert new.list_dir("") == new.list_dir(".") == ["evals", "llmops.yaml", "prompts"]
    assert old.read_text("evals/extra/suite.yaml") is None
    assert new.read_text("nope.yaml") is None and new.read_text("prompts/nope/x") is None
    assert new.read_text("evals") is None  # a folder is not a file
    assert new.list_dir("llmops.yaml") == [] and new.list_dir("missing") == []
    assert new.read_text("../outside") is None and new.list_dir("/etc") == []


def test_binary_large_and_symlinked_files(repo: Made, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo.root
    os.symlink("greet.yaml", root / "prompts" / "alias.yaml")
    commit(root, "binary and link", {"prompts/logo.yaml": b"\x89PNG\x00\x01", "prompts/bom.yaml": b"\xef\xbb\xbfa: 1\n"})
    src = open_ref(root, "HEAD")
    with pytest.raises(UnicodeError, match="binary"):
        src.read_text("prompts/logo.yaml")
    assert src.read_text("prompts/bom.yaml") == "a: 1\n"
    assert src.read_text("prompts/alias.yaml") == "template: two\n"
    monkeypatch.setattr(gitref, "MAX_FILE_BYTES", 4)
    with pytest.raises(UnicodeError, match="larger than"):
        src.read_text("llmops.yaml")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_never_touches_work_tree_index_or_git_dir(repo: Made) -> None:
    root = repo.root
    write(root, {"prompts/greet.yaml": "template: uncommitted\n", "evals/new/suite.yaml": "x: 1\n"})
    write(root, {"evals/basic/cases.jsonl": '{"id": "staged"}\n'})
    git(root, "add", "evals/basic/cases.jsonl")
    status = git(root, "status", "--porcelain")
    os.utime(root / "llmops.yaml", (978307200, 978307200))  # stale stat data: a refresh would rewrite the index
    before = snapshot(root)
    assert any(name.startswith(".git") for name in before) and ".git/index" in before

    for ref in ("HEAD", "v1", "HEAD~1"):
        src = open_ref(root, ref)
        assert src.read_text("prompts/greet.yaml") in ("template: one\n", "template: two\n")
        src.list_dir("evals")
        src.close()
    assert is_dirty(root, ["prompts"]) and is_dirty(root, ["evals"]) and not is_dirty(root, ["llmops.yaml"])
    head_commit(root), file_log(root, "prompts/greet.yaml"), changed_by(root, "prompts/greet.yaml", "v1", "HEAD")
    merge_base(root, "old", "main")

    assert snapshot(root) == before  # work tree, index and everything under .git, byte for byte
    assert git(root, "status", "--porcelain") == status
    assert (root / ".git" / "index").read_bytes() != before[".git/index"]  # ...whereas plain status rewrites it


def test_is_dirty(repo: Made, tmp_path: Path) -> None:
    root = repo.root
    assert not is_dirty(root, ["prompts", "evals", "llmops.yaml"]) and not is_dirty(root, [])
    write(root, {"evals/basic/cases.jsonl": "changed\n"})
    assert is_dirty(root, ["evals"]) and is_dirty(root, ["evals/basic/cases.jsonl"]) and not is_dirty(root, ["prompts"])
    git(root, "add", "-A")
    assert is_dirty(root, ["evals"])  # staged counts too
    write(root, {"prompts/new.yaml": "x\n"})
    assert is_dirty(root, ["prompts"])  # untracked counts too
    write(root, {".gitignore": "*.log\n"})
    git(root, "commit", "-qam", "ignore logs")
    write(root, {"llmops.log": "x\n"})
    assert not is_dirty(root, ["llmops.log"])
    assert not is_dirty(tmp_path / "elsewhere", ["prompts"])


def test_project_in_a_subfolder(tmp_path: Path) -> None:
    root = init(tmp_path / "mono")
    commit(root, "one", {"README.md": "top\n", **{f"ml/{k}": v for k, v in BASE.items()}})
    commit(root, "two", {"ml/prompts/greet.yaml": "template: two\n"})
    project = root / "ml"
    src = open_ref(project, "HEAD~1")
    assert src.read_text("prompts/greet.yaml") == "template: one\n"
    assert src.list_dir("") == ["evals", "llmops.yaml", "prompts"]
    assert src.read_text("README.md") is None and src.read_text("../README.md") == "top\n"
    assert [c.subject for c in file_log(project, "prompts/greet.yaml")] == ["two", "one"]
    write(root, {"README.md": "edited\n"})
    assert not is_dirty(project, ["."]) and is_dirty(root, ["."])
    write(project, {"prompts/greet.yaml": "x\n"})
    assert is_dirty(project, ["prompts"])
    assert head_commit(project) == git(root, "rev-parse", "HEAD")


def test_remote_tracking_refs(repo: Made, tmp_path: Path) -> None:
    root = repo.root
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "remote", "add", "origin", origin.as_uri())
    git(root, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", origin.as_uri(), str(other))
    commit(other, "on origin", {"prompts/greet.yaml": "template: remote\n"})
    git(other, "push", "-q", "origin", "main", "main:dev")
    git(root, "fetch", "-q", "origin")
    assert open_ref(root, "origin/main").read_text("prompts/greet.yaml") == "template: remote\n"
    assert open_ref(root, "main").read_text("prompts/greet.yaml") == "template: two\n"  # local branch wins
    dev = open_ref(root, "dev")  # no local `dev`: falls back to the only remote that has it
    assert dev.label.startswith("git ref origin/dev") and dev.read_text("prompts/greet.yaml") == "template: remote\n"
    with pytest.raises(InputError, match=r"fetch it with `git fetch origin gone`"):
        open_ref(root, "origin/gone")


def one_line_error(project: Path, ref: str) -> str:
    with pytest.raises(InputError) as caught:
        open_ref(project, ref)
    message = str(caught.value)
    assert len(caught.value.problems) == 1 and "\n" not in message
    return message


def test_unknown_ref(repo: Made) -> None:
    message = one_line_error(repo.root, "nope")
    assert "unknown git ref 'nope'" in message and "known branches: main, old" in message
    assert "'deadbeef'" in one_line_error(repo.root, "deadbeef")
    assert "invalid git ref '--output=x'" in one_line_error(repo.root, "--output=x")
    with pytest.raises(InputError, match="'nope'"):
        merge_base(repo.root, "nope", "main")
    with pytest.raises(InputError, match="'nope'"):
        changed_by(repo.root, "llmops.yaml", "main", "nope")


def test_shallow_clone_names_the_fetch_command_that_fixes_it(repo: Made, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.root.as_uri(), str(shallow))
    message = one_line_error(shallow, "HEAD~1")
    assert "shallow clone" in message and "`git fetch --deepen=50 origin`" in message
    assert "fetch-depth: 0" in message
    message = one_line_error(shallow, "origin/old")
    assert "`git fetch origin old:refs/remotes/origin/old --depth=50`" in message
    assert "git fetch --unshallow origin" in one_line_error(shallow, repo.c1[:10])

    git(shallow, "fetch", "-q", "--deepen=50", "origin")  # the suggested commands do fix it
    assert open_ref(shallow, "HEAD~1").commit == repo.c1
    git(shallow, "fetch", "-q", "origin", "old:refs/remotes/origin/old", "--depth=50")
    assert open_ref(shallow, "origin/old").read_text("prompts/greet.yaml") == "template: one\n"


def test_outside_git_and_before_the_first_commit(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write(plain, BASE)
    message = one_line_error(plain, "main")
    assert "not a git repository" in message and "--no-baseline" in message
    empty = init(tmp_path / "empty")
    write(empty, BASE)
    assert "no commits yet" in one_line_error(empty, "HEAD")
    for project in (plain, empty):
        assert head_commit(project) is None
        assert file_log(project, "prompts/greet.yaml") == []
        assert changed_by(project, "prompts/greet.yaml", "main", "HEAD") == []
        assert merge_base(project, "main", "HEAD") is None
    assert not is_dirty(plain, ["prompts"]) and is_dirty(empty, ["prompts"])


def test_file_log_order_fields_and_renames(repo: Made) -> None:
    root = repo.root
    c3 = commit(root, "greet by bob", {"prompts/greet.yaml": "template: three\n"}, GIT_AUTHOR_NAME="Bob Ünicode")
    git(root, "mv", "prompts/greet.yaml", "prompts/hello.yaml")
    c4 = commit(root, "rename greet to hello")
    log = file_log(root, "prompts/hello.yaml")
    assert [c.sha for c in log] == [c4, c3, repo.c2, repo.c1]  # newest first, across the rename
    latest = log[1]
    assert latest.short == c3[: len(latest.short)] and len(latest.short) >= 7
    assert latest.author == "Bob Ünicode" and latest.subject == "greet by bob"
    assert datetime.fromisoformat(latest.date).tzinfo is not None
    assert [c.sha for c in file_log(root, "prompts/hello.yaml", limit=2)] == [c4, c3]
    assert file_log(root, "prompts/never.yaml") == []


def test_changed_by_and_merge_base(repo: Made) -> None:
    root = repo.root
    c3 = commit(root, "cases by bob", {"evals/basic/cases.jsonl": '{"id": "b"}\n'}, GIT_AUTHOR_NAME="Bob")
    assert [c.sha for c in changed_by(root, "prompts/greet.yaml", "v1", "HEAD")] == [repo.c2]
    who = changed_by(root, "evals/basic/cases.jsonl", "old", "main")
    assert [(c.author, c.sha, c.subject) for c in who] == [("Bob", c3, "cases by bob")]
    assert changed_by(root, "llmops.yaml", "v1", "HEAD") == []
    git(root, "checkout", "-q", "-b", "side", "old")
    side = commit(root, "side work", {"notes.txt": "x\n"})
    assert merge_base(root, "side", "main") == repo.c1
    assert merge_base(root, "main", side[:9]) == repo.c1
    git(root, "checkout", "-q", "--orphan", "unrelated")
    commit(root, "unrelated root", {"x.txt": "x\n"})
    assert merge_base(root, "unrelated", "main") is None


def test_import_is_cheap() -> None:
    code = "import sys, llmops_cli.gitref; print('git' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_baseline_of_a_branch_is_its_merge_base_with_the_ref(repo: Made, tmp_path: Path) -> None:
    """`--baseline main` on a branch compares with where the branch left main, not main's tip."""
    git(repo.root, "checkout", "-q", "-b", "pr", repo.c1)
    pr = commit(repo.root, "work on the branch", {"README.md": "pr\n"})
    for ref in ("main", "main...HEAD", "main...", f"main...{pr}"):
        source = open_baseline(repo.root, ref)
        assert source.commit == repo.c1, ref
        assert source.read_text("prompts/greet.yaml") == "template: one\n"
        assert "merge base" in source.label and repo.c1[:7] in source.label and repo.c2[:7] in source.label
        source.close()
    on_main = open_baseline(repo.root, "HEAD~1")  # an ancestor is its own merge base
    assert on_main.commit == repo.c1 and "merge base" not in on_main.label
    on_main.close()
    git(repo.root, "checkout", "-q", "main")
    tip = open_baseline(repo.root, "main")
    assert tip.commit == repo.c2
    tip.close()
    with pytest.raises(InputError, match="'nosuch'"):
        open_baseline(repo.root, "nosuch...HEAD")

    unrelated = init(tmp_path / "unrelated")
    commit(unrelated, "one", BASE)
    git(unrelated, "checkout", "-q", "--orphan", "other")
    commit(unrelated, "two", {**BASE, "README.md": "x\n"})
    with pytest.raises(InputError, match="no common history"):
        open_baseline(unrelated, "main")


def test_shallow_clone_without_the_merge_base_names_the_fetch_command(repo: Made, tmp_path: Path) -> None:
    git(repo.root, "checkout", "-q", "-b", "pr", repo.c1)
    commit(repo.root, "work on the branch", {"README.md": "pr\n"})
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch", repo.root.as_uri(), str(shallow))
    git(shallow, "checkout", "-q", "pr")
    with pytest.raises(InputError) as caught:
        open_baseline(shallow, "origin/main")
    message = str(caught.value)
    assert "merge base" in message and "shallow clone" in message and "git fetch" in message
    git(shallow, "fetch", "-q", "--unshallow", "origin")
    assert open_baseline(shallow, "origin/main").commit == repo.c1
