"""Bad input never gets a traceback: one `error: FILE[:LINE]: what to do` line per problem, exit 2.

The corpus in tests/corpus/ is data: each YAML file takes the valid project of conftest's
`write_project`, corrupts it, runs real CLI commands in a subprocess and says what stderr
must contain. Keys of a corpus entry (all optional but `about` and `expect`):

  about:    one line saying what is wrong
  files:    path -> full new content ('{base_url}' is the stand-in's URL); null deletes the file
  replace:  path -> [[old, new], ...] substitutions in the base file (each `old` must occur)
  append:   path -> text added at the end of the file
  encoding: path -> codec used to write that file (default utf-8), for latin-1 and friends
  before:   commands that must succeed before the corruption, e.g. [[lock]]
  run:      commands to run after it (default [[check]]); every one must give the result below
  env:      environment overrides for those commands
  exit:     expected exit code (default 2)
  lines:    exact number of `error:` lines (default 1)
  lineless: true when a problem has no line to point at (a missing or empty file, an option);
            otherwise every line must start `error: FILE:LINE: ` or `error: --option `
  expect:   substrings that must all appear in stderr (file:line, case id, what to do)
  absent:   substrings that must not appear anywhere (e.g. a key value)

Files outside `.llmops/` must be byte-for-byte unchanged by a failing command: bad input never
costs the user what is already stored.

Speed: ~150 CLI runs at ~0.3 s of interpreter start-up each would take a minute, so the corpus
runs through one helper process that imports the CLI once and forks a fresh child per command;
the child calls the real entry point `llmops_cli.cli.main()` with its own argv, cwd, environment
and stdout/stderr files, exactly as the `llmops` script does. The tests that need a cold start
(imports, the model) use conftest's plain `llmops()` subprocess.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Run, case_lines, git, llmops, write_project

CORPUS = Path(__file__).parent / "corpus"
ENTRIES = sorted(CORPUS.glob("*.yaml"))
MAX_LINE = 400
# Where a problem is: a project file and line, or a command-line option; `lineless` entries may omit the line.
FILES = r"(?:llmops\.yaml|llmops\.lock|prompts/[\w.-]+|evals(?:/[\w.-]+)*)"
WHERE = re.compile(rf"^error: (?:{FILES}:\d+: |--[\w-]+ )")
WHERE_LINELESS = re.compile(rf"^error: (?:{FILES}(?::\d+)?: |--[\w-]+ )")


def load_entry(path: Path) -> dict[str, Any]:
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    known = {"about", "files", "replace", "append", "encoding", "before", "run", "env", "exit", "lines", "lineless",
             "expect", "absent"}
    assert isinstance(entry, dict) and set(entry) <= known, f"{path.name}: unknown keys {set(entry) - known}"
    assert entry.get("about") and (entry.get("expect") or entry.get("exit") == 0), f"{path.name}: needs about and expect"
    return entry


def corrupt(root: Path, entry: dict[str, Any], base_url: str) -> None:
    encodings = entry.get("encoding") or {}
    texts: dict[str, str | None] = {}
    for path, content in (entry.get("files") or {}).items():
        texts[path] = None if content is None else content.replace("{base_url}", base_url)

    def current(path: str) -> str:
        return (texts[path] or "") if path in texts else (root / path).read_text(encoding="utf-8")

    for path, pairs in (entry.get("replace") or {}).items():
        text = current(path)
        for old, new in pairs:
            assert old in text, f"replace: {old!r} not in {path}"
            text = text.replace(old, new)
        texts[path] = text
    for path, extra in (entry.get("append") or {}).items():
        texts[path] = current(path) + extra
    for path, text in texts.items():
        file = root / path
        if text is None:
            file.unlink()
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(text.encode(encodings.get(path, "utf-8")))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".llmops" not in p.relative_to(root).parts}


def assert_clean_failure(run: Run, code: int, label: str) -> list[str]:
    """The contract for any failure: exit code, `error:` lines only, no traceback, short lines."""
    output = run.stdout + run.stderr
    assert "Traceback" not in output, f"{label}: traceback\n{output}"
    assert run.code == code, f"{label}: exit {run.code}, expected {code}\n{output}"
    lines = [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("eval: ")]  # progress
    assert lines, f"{label}: no message on stderr\nstdout: {run.stdout}"
    for line in lines:
        assert line.startswith("error: "), f"{label}: stderr line without 'error: ': {line!r}"
        assert len(line) <= MAX_LINE, f"{label}: {len(line)}-char line: {line[:200]}..."
    for line in output.splitlines():
        assert len(line) <= MAX_LINE, f"{label}: {len(line)}-char output line: {line[:200]}..."
    return lines


HELPER = r"""
import json, os, signal, sys, traceback
for name in ("llmops_cli.cli", "llmops_cli.commands.check", "llmops_cli.commands.lock", "llmops_cli.commands.eval",
             "llmops_cli.plan", "llmops_cli.report", "llmops_cli.progress", "jsonschema", "jinja2.sandbox"):
    try:
        __import__(name)
    except Exception:  # then the child imports it itself, and the test sees whatever that prints
        pass
try:  # warm what the first command imports lazily (typer's parameter machinery, rich's printing)
    import contextlib, io
    from llmops_cli.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        sys.argv = ["llmops", "check", "--project", os.path.join(os.devnull, "none")]
        main()
except BaseException:
    pass
channel = sys.stdout
for request in sys.stdin:
    req = json.loads(request)
    channel.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(handle, fd)
                os.close(handle)
            sys.stdin = open(os.devnull)
            sys.argv = ["llmops", *req["args"]]
            signal.alarm(req["timeout"])
            from llmops_cli.cli import main
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, (int, type(None))):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    channel.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    channel.flush()
"""


class ForkedCli:
    """Runs `llmops ARGS` as a fresh child of a warm helper process (see the module docstring)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.helper = subprocess.Popen([sys.executable, "-c", HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, cwd=scratch)

    def __call__(self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 30) -> Run:
        assert self.helper.stdin is not None and self.helper.stdout is not None
        out, err = self.scratch / "stdout", self.scratch / "stderr"
        request = {"args": list(args), "cwd": str(cwd), "env": {**os.environ, **(env or {})}, "timeout": timeout,
                   "stdout": str(out), "stderr": str(err)}
        self.helper.stdin.write(json.dumps(request) + "\n")
        self.helper.stdin.flush()
        reply = self.helper.stdout.readline()
        assert reply, "the CLI helper process died"
        return Run(json.loads(reply)["code"], out.read_text(errors="replace"), err.read_text(errors="replace"))

    def close(self) -> None:
        assert self.helper.stdin is not None
        self.helper.stdin.close()
        self.helper.wait(timeout=30)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Any:
    runner = ForkedCli(tmp_path_factory.mktemp("cli"))
    yield runner
    runner.close()


@pytest.mark.parametrize("path", ENTRIES, ids=[p.stem for p in ENTRIES])
def test_corpus(path: Path, tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    entry = load_entry(path)
    root = write_project(tmp_path / "proj", server.base_url)
    for command in entry.get("before") or []:
        done = cli(*command, cwd=root)
        assert done.code == 0, f"before {command}: {done.stderr}"
    corrupt(root, entry, server.base_url)
    env = {k: str(v) for k, v in (entry.get("env") or {}).items()}
    expected_code = entry.get("exit", 2)
    for command in entry.get("run") or [["check"]]:
        label = f"{path.stem}: llmops {' '.join(command)}"
        before = snapshot(root)
        run = cli(*command, cwd=root, env=env, timeout=30)  # a hang fails here; speed is measured in bench/
        if expected_code == 0:
            assert run.code == 0 and "error" not in run.stderr, f"{label}: exit {run.code}\n{run.stderr}"
            continue
        lines = assert_clean_failure(run, expected_code, label)
        where = WHERE_LINELESS if entry.get("lineless") else WHERE
        for line in lines:
            assert where.match(line), f"{label}: line does not start with FILE:LINE or --option: {line!r}"
        assert len(lines) == entry.get("lines", 1), f"{label}: expected {entry.get('lines', 1)} lines, got\n" + "\n".join(lines)
        for needle in entry.get("expect") or []:
            assert needle in run.stderr, f"{label}: {needle!r} not in\n{run.stderr}"
        for needle in entry.get("absent") or []:
            assert needle not in run.stdout + run.stderr, f"{label}: {needle!r} leaked"
        assert snapshot(root) == before, f"{label}: a failing command changed project files"


def test_corpus_is_big_enough() -> None:
    assert len(ENTRIES) >= 40
    for path in ENTRIES:
        load_entry(path)


def test_ten_megabyte_case_line_is_refused_quickly(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    big = {"id": "big-1", "vars": {"product": "Acme", "ticket": "x" * (10 * 1024 * 1024)}}
    (root / "evals/support/cases.jsonl").write_text(case_lines() + json.dumps(big) + "\n")
    for command in (["check"], ["eval", "--no-baseline"], ["lock"]):
        run = cli(*command, cwd=root)
        lines = assert_clean_failure(run, 2, f"llmops {' '.join(command)}")
        assert len(lines) == 1 and lines[0].startswith("error: evals/support/cases.jsonl:7: case is larger than 8 MB")
    assert not (root / "llmops.lock").exists()


def test_json_nested_past_the_recursion_limit(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    deep = '{"id": "deep-1", "vars": {"ticket": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    (root / "evals/support/cases.jsonl").write_text(case_lines() + deep + "\n")
    lines = assert_clean_failure(cli("check", cwd=root), 2, "llmops check")
    assert lines == ["error: evals/support/cases.jsonl:7: invalid JSON: nested too deeply; each line must be one JSON object"]


def test_no_project_here(tmp_path: Path, cli: ForkedCli) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["check"], ["lock"], ["eval", "--no-baseline"]):
        lines = assert_clean_failure(cli(*command, cwd=empty), 2, f"llmops {' '.join(command)}")
        assert len(lines) == 1 and lines[0].startswith("error: llmops.yaml: not found") and "llmops init" in lines[0]
    assert list(empty.iterdir()) == []


def _store_rows(root: Path) -> tuple[list[tuple[str, str]], int, int]:
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        runs = db.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
        results = db.execute("SELECT count(*) FROM results").fetchone()[0]
        cache = db.execute("SELECT count(*) FROM cache").fetchone()[0]
    finally:
        db.close()
    return runs, results, cache


def test_unwritable_out_keeps_the_run_and_bad_input_keeps_the_store(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    (root / "blocker").write_text("a file, so nothing can be created under it (even as root)\n")
    run = llmops("eval", "--no-baseline", "--out", "blocker/reports", cwd=root)
    lines = assert_clean_failure(run, 3, "llmops eval --out blocker/reports")
    assert len(lines) == 1 and "blocker/reports" in lines[0] and "results are stored" in lines[0]
    runs, results, cache = _store_rows(root)
    assert len(runs) == 1 and runs[0][1] == "complete" and runs[0][0] in lines[0]
    assert results == 6 and cache == 6

    (root / "llmops.yaml").write_text((root / "llmops.yaml").read_text() + "colour: blue\n")
    for command in (["eval", "--no-baseline"], ["lock"], ["check"]):
        assert_clean_failure(cli(*command, cwd=root), 2, f"llmops {' '.join(command)}")
    assert _store_rows(root) == (runs, results, cache)


PROBE = """import atexit, sys
atexit.register(lambda: sys.stderr.write("heavy: " + ",".join(m for m in ("litellm", "pandas") if m in sys.modules) + "\\n"))
sys.argv = ["llmops", *sys.argv[1:]]
from llmops_cli.cli import main
main()
"""


@pytest.mark.parametrize("args", [["--help"], ["check"], ["check", "--project", "broken"], ["lock"]],
                         ids=["help", "check", "check-bad-input", "lock"])
def test_fast_commands_do_not_import_litellm_or_pandas(args: list[str], tmp_path: Path, server: Any) -> None:
    write_project(tmp_path, server.base_url)
    write_project(tmp_path / "broken", server.base_url, suite="prompt: nosuch\n")
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "heavy: ", done.stderr


def test_bad_baseline_ref(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "golden sets")
    for ref in ("nosuch-ref", "HEAD~5", "--upload-pack=touch pwned"):
        run = cli("eval", "--baseline", ref, cwd=root)
        lines = assert_clean_failure(run, 2, f"llmops eval --baseline {ref}")
        assert len(lines) == 1 and repr(ref) in lines[0], lines
    assert not (root / "pwned").exists()


@pytest.mark.parametrize(("args", "named"), [(["eval", "--no-baseline", "--repeat", "0"], "--repeat"),
                                              (["eval", "--no-baseline", "--concurrency", "many"], "--concurrency"),
                                              (["eval", "--colour"], "--colour"), (["evaluate"], "evaluate")])
def test_usage_errors_use_the_error_line_format(args: list[str], named: str, tmp_path: Path, server: Any,
                                                cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    lines = assert_clean_failure(cli(*args, cwd=root), 2, f"llmops {' '.join(args)}")
    assert len(lines) == 1 and named in lines[0], lines


def test_filter_matching_nothing_is_an_input_error(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    run = cli("eval", "--no-baseline", "--dry-run", "--filter", "no-such-case-*", cwd=root)
    lines = assert_clean_failure(run, 2, "llmops eval --filter no-such-case-*")
    assert "--filter" in lines[0]


def test_render_budgets_are_per_case_and_undone_afterwards() -> None:
    """The memory cap is lifted after each case, big legitimate inputs still render, and a bomb in one
    prompt does not spoil another."""
    import resource

    from llmops_cli.config import Message, Prompt
    from llmops_cli.render import RenderError, compile_prompt

    def prompt(content: str) -> Any:
        return compile_prompt(Prompt("p", "prompts/p.yaml", "default", (Message("user", content, 6),)))

    before = resource.getrlimit(resource.RLIMIT_AS)
    bomb, plain = prompt("{{ ticket|replace('', ticket) }}"), prompt("{{ ticket }}|{{ ticket|upper }}")
    with pytest.raises(RenderError, match="needs more than 200 MB"):
        bomb.render({"ticket": "x" * 100_000})
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    big = "y" * (7 * 1024 * 1024)
    for _ in range(3):
        assert len(plain.render({"ticket": big})[0]["content"]) == 2 * len(big) + 1
    assert resource.getrlimit(resource.RLIMIT_AS) == before


def test_symlinks_out_of_the_repository_are_refused(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    """A golden set linked to /etc/passwd (or a prompts folder linked elsewhere) is never read: in the work
    tree, and at a git ref, where git keeps the link as a blob (mode 120000) holding its target."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"id": "stolen-1", "vars": {"product": "SECRET-VALUE", "ticket": "x"}}\n')
    root = write_project(tmp_path / "proj", server.base_url)
    git(root, "init", "-q", "-b", "main")
    cases = root / "evals/support/cases.jsonl"
    cases.unlink()
    cases.symlink_to(outside / "secret.jsonl")
    for command in (["check"], ["lock"], ["eval", "--no-baseline"]):
        lines = assert_clean_failure(cli(*command, cwd=root), 2, f"llmops {' '.join(command)}")
        assert len(lines) == 1 and lines[0].startswith("error: evals/support/cases.jsonl: is a symlink to"), lines
        assert "outside the repository" in lines[0] and "SECRET-VALUE" not in lines[0]
    assert not (root / "llmops.lock").exists() and not (root / ".llmops").exists()

    cases.unlink()
    cases.symlink_to("../../../outside/secret.jsonl")  # relative, and still outside
    git(root, "add", "-A")
    git(root, "commit", "-qm", "cases linked out of the repository")
    cases.unlink()
    cases.write_text(case_lines())
    run = cli("diff", "support", "HEAD", cwd=root)
    lines = assert_clean_failure(run, 2, "llmops diff support HEAD")
    assert lines == ["error: evals/support/cases.jsonl: is a symlink to '../../../outside/secret.jsonl', outside the "
                     "repository; llmops reads only files inside the repository: copy the file in instead"]

    prompts = root / "prompts"
    (outside / "support.yaml").write_text((prompts / "support.yaml").read_text())
    (prompts / "support.yaml").unlink()
    prompts.rmdir()
    prompts.symlink_to(outside)
    lines = assert_clean_failure(cli("check", cwd=root), 2, "llmops check")
    assert lines[0].startswith("error: prompts: is a symlink to") and "outside the repository" in lines[0], lines


def test_a_symlink_inside_the_repository_is_followed(tmp_path: Path, server: Any, cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    git(root, "init", "-q", "-b", "main")
    shared = root / "shared"
    shared.mkdir()
    (root / "evals/support/cases.jsonl").rename(shared / "cases.jsonl")
    (root / "evals/support/cases.jsonl").symlink_to("../../shared/cases.jsonl")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "shared cases")
    run = cli("check", cwd=root)
    assert run.code == 0, run.stderr
    run = cli("diff", "support", "HEAD", cwd=root)
    assert run.code == 0, run.stderr


def test_a_report_cut_short_by_a_full_disk_leaves_the_previous_one_whole(tmp_path: Path, server: Any) -> None:
    """Reports are written to a temporary file and renamed: a write that fails half-way (here the file size
    limit, as a full disk would) keeps the last complete results.json and leaves no temporary file."""
    import resource

    many = [{"id": f"more-{i}", "vars": {"product": "Acme", "ticket": f"Order {i} never arrived, please refund it"}}
            for i in range(200)]  # a results.json well over the store's own small writes
    root = write_project(tmp_path / "proj", server.base_url, cases=case_lines(many))
    first = llmops("eval", "--no-baseline", "--out", "out", cwd=root)
    assert first.code in (0, 1), first.stderr
    results = root / "out" / "results.json"
    whole = results.read_bytes()
    run_id = json.loads(whole)["run"]["id"]
    limit = len(whole) // 2

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "llmops_cli", "report", run_id, "--out", "out", "--format", "json"],
                          cwd=root, capture_output=True, text=True, timeout=120, preexec_fn=small_files)
    lines = assert_clean_failure(Run(done.returncode, done.stdout, done.stderr), 3, "llmops report under a size limit")
    assert "cannot write the report" in lines[0], lines
    assert results.read_bytes() == whole
    assert sorted(p.name for p in (root / "out").iterdir()) == ["junit.xml", "report.md", "results.json"]


def _damage_store(root: Path, how: str) -> None:
    store = root / ".llmops"
    if how == "a file instead of the folder":
        store.write_text("not a folder\n")
    elif how == "garbage":
        store.mkdir()
        (store / "llmops.db").write_bytes(os.urandom(5000))
    else:  # a real store cut in half, as a crashed copy or a full disk can leave it
        done = llmops("eval", "--no-baseline", cwd=root)
        assert done.code == 0, done.stderr
        for extra in store.glob("llmops.db-*"):
            extra.unlink()
        db = store / "llmops.db"
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])


@pytest.mark.parametrize("how", ["a file instead of the folder", "garbage", "truncated"])
def test_an_unusable_store_says_what_is_wrong_and_is_kept(how: str, tmp_path: Path, server: Any,
                                                         cli: ForkedCli) -> None:
    root = write_project(tmp_path / "proj", server.base_url)
    _damage_store(root, how)
    target = root / ".llmops" if how.startswith("a file") else root / ".llmops" / "llmops.db"
    before = target.read_bytes()
    for command in (["eval", "--no-baseline"], ["runs"], ["stats"]):
        lines = assert_clean_failure(cli(*command, cwd=root), 3, f"llmops {' '.join(command)} ({how})")
        assert len(lines) == 1 and lines[0].startswith(f"error: {target}: "), lines
        assert "move it aside" in lines[0] and "internal error" not in lines[0], lines
        assert target.read_bytes() == before, "the store is never deleted or rewritten"


def test_a_full_disk_stops_the_run_without_losing_the_store(tmp_path: Path, server: Any) -> None:
    import resource

    many = [{"id": f"more-{i}", "vars": {"product": "Acme", "ticket": f"Order {i} never arrived"}} for i in range(300)]
    root = write_project(tmp_path / "proj", server.base_url, cases=case_lines(many))

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (96 * 1024, 96 * 1024))

    done = subprocess.run([sys.executable, "-m", "llmops_cli", "eval", "--no-baseline"], cwd=root, capture_output=True,
                          text=True, timeout=300, preexec_fn=small_files)
    lines = assert_clean_failure(Run(done.returncode, done.stdout, done.stderr), 3, "llmops eval on a full disk")
    assert "the disk is full" in lines[-1] and str(root / ".llmops" / "llmops.db") in lines[-1], lines
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    again = llmops("eval", "--no-baseline", cwd=root)
    assert again.code in (0, 1) and "error:" not in again.stderr, again.stderr
