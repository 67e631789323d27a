"""The local store, `.llmops/llmops.db`: response cache, runs, and one traced row per call.

Data model: `cache` maps a request fingerprint (model, params, rendered messages) to the raw
answer, so an unchanged baseline or a rerun costs nothing. `runs` records what ran (git
commit, options, the suite config it was judged by). `results` holds every call of every run
with its scores: it is the trace log (messages and output are redacted before they are
written) and the only input reports are rendered from. A grader call (an LLM judge, an
embedding) is a row of its own, side `<kind>:<side>:<model under test>:<assertion index>`, and
is summarised in its case's record (`aux`) so metrics keep grading apart from the model's cost. Each result commits as its call
finishes, so an interrupted run loses no completed call. Schema changes are numbered
migrations appended to MIGRATIONS; `_llmops_migrations` records which ran.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from llmops_cli.errors import IncompleteError, InputError

STORE_DIR = ".llmops"
DB_FILE = "llmops.db"


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one: executescript would commit the migration's transaction."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_initial(db: sqlite3.Connection) -> None:
    _script(db, """
        CREATE TABLE cache (
            key TEXT PRIMARY KEY, model TEXT NOT NULL, response TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, created_at REAL NOT NULL, finished_at REAL, status TEXT NOT NULL,
            plan_hash TEXT, git_commit TEXT, git_dirty INTEGER, baseline_ref TEXT, baseline_commit TEXT,
            config TEXT NOT NULL, summary TEXT);
        CREATE INDEX runs_plan ON runs(plan_hash, created_at);
        CREATE TABLE results (
            run_id TEXT NOT NULL REFERENCES runs(id), side TEXT NOT NULL, suite TEXT NOT NULL,
            prompt TEXT NOT NULL, model TEXT NOT NULL, case_id TEXT NOT NULL, repeat INTEGER NOT NULL,
            key TEXT NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL,
            PRIMARY KEY (run_id, side, suite, prompt, model, case_id, repeat));
    """)


def _m002_result_columns(db: sqlite3.Connection) -> None:
    """Columns `stats` aggregates over, so it need not parse every record."""
    _script(db, """
        ALTER TABLE results ADD COLUMN model_id TEXT;
        ALTER TABLE results ADD COLUMN error_class TEXT;
        ALTER TABLE results ADD COLUMN cached INTEGER;
        ALTER TABLE results ADD COLUMN latency_s REAL;
        ALTER TABLE results ADD COLUMN cost_usd REAL;
        ALTER TABLE results ADD COLUMN tokens_in INTEGER;
        ALTER TABLE results ADD COLUMN tokens_out INTEGER;
        CREATE INDEX results_created ON results(created_at);
    """)


def _m003_inflight(db: sqlite3.Connection) -> None:
    """Requests another process is calling now, so a second process waits for its answer."""
    _script(db, """
        CREATE TABLE inflight (key TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL,
                               host TEXT NOT NULL, started_at REAL NOT NULL);
    """)


def _m004_run_owner(db: sqlite3.Connection) -> None:
    """Which process runs a run, so a rerun resumes only runs whose process is gone."""
    _script(db, """
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN host TEXT;
    """)


def _m005_run_kind(db: sqlite3.Connection) -> None:
    """What made a run (eval, rerun, diff), so each is listed and shown as what it is; older
    runs take the kind their config named."""
    _script(db, """
        ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'eval';
        UPDATE runs SET kind = json_extract(config, '$.kind') WHERE json_extract(config, '$.kind') IN ('rerun', 'diff')
    """)


def _m006_queue_time(db: sqlite3.Connection) -> None:
    """How long a call waited for a concurrency slot, kept apart from its latency; older rows have none."""
    _script(db, """
        ALTER TABLE results ADD COLUMN queue_s REAL;
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial, _m002_result_columns, _m003_inflight,
                                                          _m004_run_owner, _m005_run_kind, _m006_queue_time]
RUN_KINDS = ("eval", "rerun", "diff")


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for, as the OpenAI format carries it: `arguments` is the model's raw
    text (it may not even be JSON, which is what `tool_args_schema` checks)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class CachedAnswer:
    """What a provider answered; enough to score again and to report cost and latency."""

    text: str
    finish_reason: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    latency_s: float
    tool_calls: tuple[ToolCall, ...] = ()

    @classmethod
    def from_json(cls, raw: str) -> CachedAnswer:
        """Read a cached answer; entries written before tool calls existed have none."""
        data = json.loads(raw)
        calls = tuple(ToolCall(**c) for c in data.pop("tool_calls", None) or ())
        return cls(**data, tool_calls=calls)


@dataclass
class CallRecord:
    """One call of a run, scored. Stored as JSON in `results.record`."""

    side: str
    suite: str
    prompt: str
    model: str
    model_id: str
    case_id: str
    repeat: int
    key: str
    messages: list[dict[str, Any]]
    output: str | None = None
    error: str | None = None
    error_class: str | None = None
    attempts: int = 0
    cached: bool = False
    finish_reason: str | None = None
    latency_s: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    passed: bool = False
    refused: bool = False
    empty: bool = False
    schema_valid: bool | None = None
    expect_refusal: bool = False
    tags: list[str] = field(default_factory=list)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    case_hash: str = ""
    aux: list[dict[str, Any]] = field(default_factory=list)  # grader calls (judge, similarity) behind the verdict
    shared: bool = False  # answered by an identical request sent once in this run: neither sent nor cached
    queue_s: float | None = None  # waited for a concurrency slot before sending; None when nothing was sent
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # of the final answer: {id, name, arguments}
    steps: list[dict[str, Any]] = field(default_factory=list)  # an agent loop's model calls (agent.Step.summary)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RunRow:
    id: str
    created_at: float
    finished_at: float | None
    status: str
    git_commit: str | None
    git_dirty: bool
    baseline_ref: str | None
    baseline_commit: str | None
    config: dict[str, Any]
    summary: dict[str, Any] | None
    kind: str = "eval"


class StoreError(IncompleteError):
    """The store cannot be opened or written: said with its path and what to do, never repaired by
    deleting it (it holds the paid-for cache and every past run)."""


_opened: list[Path] = []  # the store this process uses, for errors raised far from the Store object


def store_error(exc: BaseException, path: Path | None = None) -> StoreError:
    """What is wrong with the store at `path` (default: the one this process opened), and the remedy."""
    path = path or (_opened[-1] if _opened else Path(STORE_DIR) / DB_FILE)
    folder, text = path.parent, str(exc).lower()
    if folder.exists() and not folder.is_dir():
        return StoreError(f"{folder}: is a file, not the store folder; move it aside (rename it to {folder.name}.old) "
                          "and rerun")
    if "not a database" in text or "malformed" in text or "encrypted" in text:
        what = "is damaged (not a readable SQLite database: corrupt or truncated)"
        remedy = f"move it aside (rename it to {path.name}.broken) and rerun; a new store starts empty"
    elif "readonly" in text or "read-only" in text or isinstance(exc, PermissionError) or "unable to open" in text:
        what = "cannot be written (a read-only file or folder, or no permission)"
        remedy = f"make {folder.name} writable, or move it aside (rename it to {folder.name}.old), and rerun"
    elif "full" in text or "disk i/o" in text or "too large" in text:
        what = "could not be written: the disk is full (or the file may grow no larger)"
        remedy = "free some space and rerun; completed calls are kept and the run resumes"
    else:
        what = f"failed ({type(exc).__name__}: {str(exc)[:100]})"
        remedy = f"if it persists, move it aside (rename it to {path.name}.old) and rerun"
    return StoreError(f"{path}: the store {what}; {remedy}")


class Store:
    """SQLite in WAL mode with a busy timeout, so two processes can share it safely."""

    def __init__(self, root: Path) -> None:
        folder = root / STORE_DIR
        self.path = folder / DB_FILE
        _opened.append(self.path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self._set_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise store_error(exc, self.path) from None

    def _set_wal(self) -> None:
        """Switching to WAL needs a moment alone with the file; SQLite does not wait for it on
        its own, so two processes opening a new store at once retry briefly."""
        for attempt in range(100):
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS _llmops_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        done = {row[0] for row in self.db.execute("SELECT name FROM _llmops_migrations")}
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            with self._transaction():  # another process may have migrated meanwhile: check inside the lock
                if not self.db.execute("SELECT 1 FROM _llmops_migrations WHERE name = ?",
                                       (migration.__name__,)).fetchone():
                    migration(self.db)
                    self.db.execute("INSERT INTO _llmops_migrations VALUES (?, ?)", (migration.__name__, time.time()))

    def close(self) -> None:
        self.db.close()

    # cache -----------------------------------------------------------------
    def cache_get_many(self, keys: Sequence[str]) -> dict[str, CachedAnswer]:
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, response in self.db.execute(f"SELECT key, response FROM cache WHERE key IN ({marks})", chunk):
                found[key] = CachedAnswer.from_json(response)
        return found

    def _cached_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(key for (key,) in self.db.execute(f"SELECT key FROM cache WHERE key IN ({marks})", chunk))
        return found

    def cache_put(self, key: str, model_id: str, answer: CachedAnswer, owner: str) -> None:
        """Keep a paid answer before it can be scored (a graded answer waits for its grader), and
        drop the request's in-flight claim so a waiting process takes it from here."""
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)",
                            (key, model_id, json.dumps(asdict(answer)), time.time()))
            self.db.execute("DELETE FROM inflight WHERE key = ? AND owner = ?", (key, owner))

    # runs ------------------------------------------------------------------
    def start_run(self, run_id: str, plan_hash: str, config: dict[str, Any], git_commit: str | None,
                  git_dirty: bool, baseline_ref: str | None = None, baseline_commit: str | None = None,
                  kind: str = "eval") -> None:
        if kind not in RUN_KINDS:
            raise ValueError(f"run kind {kind!r} is not one of {RUN_KINDS}")
        self.db.execute(
            "INSERT INTO runs (id, created_at, status, plan_hash, git_commit, git_dirty, baseline_ref, baseline_commit,"
            " config, pid, host, kind) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, time.time(), plan_hash, git_commit, int(git_dirty), baseline_ref, baseline_commit,
             json.dumps(config), os.getpid(), socket.gethostname(), kind))

    def resume_run(self, plan_hash: str) -> str | None:
        """Take over the newest unfinished run of exactly this plan, to continue it instead of
        starting over: an incomplete one, or one whose process died (never a live one)."""
        with self._transaction():
            row = self.db.execute("SELECT id, status, pid, host FROM runs WHERE plan_hash = ? ORDER BY created_at DESC"
                                  " LIMIT 1", (plan_hash,)).fetchone()
            if not row or row[1] not in ("running", "incomplete"):
                return None
            run_id, status, pid, host = row
            if status == "running" and (host != socket.gethostname() or pid is None or _alive(pid)):
                return None
            self.db.execute("UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, host = ? WHERE id = ?",
                            (os.getpid(), socket.gethostname(), run_id))
            return str(run_id)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        self.db.execute("UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                        (status, time.time(), json.dumps(summary), run_id))

    def get_run(self, run_id: str) -> RunRow | None:
        """A run by its id or a unique prefix of it; an ambiguous prefix is an input error listing the matches
        (never a guess: `show` or `report` of the wrong run would be worse than none)."""
        rows = (self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchall()
                or self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created_at DESC "
                                   f"LIMIT {MAX_LISTED_MATCHES + 1}", (len(run_id), run_id)).fetchall())
        if len(rows) > 1:
            ids = [str(row[0]) for row in rows[:MAX_LISTED_MATCHES]] + (["..."] if len(rows) > MAX_LISTED_MATCHES else [])
            raise InputError(f"run id prefix {run_id!r} matches several runs: {', '.join(ids)}; give more of the id")
        return _run_row(rows[0]) if rows else None

    def list_runs(self, limit: int = 20, kinds: Sequence[str] = RUN_KINDS) -> list[RunRow]:
        marks = ",".join("?" * len(kinds))
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind IN ({marks}) ORDER BY created_at DESC"
                               " LIMIT ?", (*kinds, limit))
        return [_run_row(row) for row in rows]

    # results ---------------------------------------------------------------
    def record(self, run_id: str, record: CallRecord, answer: CachedAnswer | None = None) -> None:
        """Write one scored call (and its raw answer to the cache) in one transaction."""
        self.record_batch(run_id, [(record, answer)])

    def record_batch(self, run_id: str, items: Sequence[tuple[CallRecord, CachedAnswer | None]]) -> None:
        """Write scored calls and their raw answers in one transaction; each request's in-flight
        claim goes with it, so a waiting process sees the answer at once."""
        now = time.time()
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)",
                                [(r.key, r.model_id, json.dumps(asdict(a)), now) for r, a in items if a is not None])
            self._insert_results(run_id, [r for r, _ in items])
            self.db.executemany("DELETE FROM inflight WHERE key = ? AND owner = ?", [(r.key, run_id) for r, _ in items])

    # in-flight claims ------------------------------------------------------
    def claim(self, keys: Sequence[str], owner: str, stale_after_s: float) -> set[str]:
        """Claim requests to call; returns the keys this owner holds. A claim by a process that
        died, or older than `stale_after_s`, is taken over. A request answered since the caller
        last looked at the cache is never claimed: another process may have called it, stored
        the answer and dropped its claim in between, and the caller takes it from the cache."""
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self._transaction():
            answered = self._cached_keys(keys)
            keys = [key for key in keys if key not in answered]
            self.db.executemany("INSERT OR IGNORE INTO inflight VALUES (?, ?, ?, ?, ?)",
                                [(key, owner, pid, host, now) for key in keys])
            held: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(f"SELECT key, owner, pid, host, started_at FROM inflight WHERE key IN ({marks})",
                                       chunk).fetchall()
                for key, holder, holder_pid, holder_host, started in rows:
                    if holder == owner:
                        held.add(key)
                    elif now - started > stale_after_s or (holder_host == host and not _alive(holder_pid)):
                        self.db.execute("UPDATE inflight SET owner = ?, pid = ?, host = ?, started_at = ? WHERE key = ?",
                                        (owner, pid, host, now, key))
                        held.add(key)
        return held

    def release(self, owner: str) -> None:
        """Drop every claim left by this owner (calls it never made: budget stop, interrupt)."""
        self.db.execute("DELETE FROM inflight WHERE owner = ?", (owner,))

    def record_many(self, run_id: str, records: Sequence[CallRecord]) -> None:
        """Write many scored calls in one transaction (cache hits: nothing new to lose)."""
        if records:
            with self._transaction():
                self._insert_results(run_id, records)

    def _insert_results(self, run_id: str, records: Sequence[CallRecord]) -> None:
        now = time.time()
        self.db.executemany(
            "INSERT OR REPLACE INTO results (run_id, side, suite, prompt, model, case_id, repeat, key, created_at,"
            " record, model_id, error_class, cached, latency_s, cost_usd, tokens_in, tokens_out, queue_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, r.side, r.suite, r.prompt, r.model, r.case_id, r.repeat, r.key, now, json.dumps(record_dict(r)),
              r.model_id, r.error_class, int(r.cached), r.latency_s, r.cost_usd, r.tokens_in, r.tokens_out, r.queue_s)
             for r in records])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def results(self, run_id: str) -> Iterator[CallRecord]:
        rows = self.db.execute("SELECT record FROM results WHERE run_id = ? ORDER BY rowid", (run_id,))
        memo: dict[str, str] = {}  # one copy of each repeated string (system prompts, model names, verdicts)

        def shared(obj: dict[str, Any]) -> dict[str, Any]:
            for k, v in obj.items():
                if type(v) is str and len(v) < 4096:
                    obj[k] = memo.setdefault(v, v)
            return obj

        for (record,) in rows:
            yield CallRecord(**json.loads(record, object_hook=shared))

    def result_rows_since(self, since: float) -> list[tuple[Any, ...]]:
        """Flat rows for `stats`: (created_at, suite, prompt, model, model_id, error_class, cached, latency, cost,
        tokens_in, tokens_out)."""
        return self.db.execute(
            "SELECT created_at, suite, prompt, model, model_id, error_class, cached, latency_s, cost_usd, tokens_in,"
            " tokens_out FROM results WHERE created_at >= ?", (since,)).fetchall()


def record_dict(record: CallRecord) -> dict[str, Any]:
    """A record as JSON-ready data; its fields are already plain JSON values, so no deep copy
    (dataclasses.asdict) is needed: this runs once per stored call."""
    return dict(vars(record))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


MAX_LISTED_MATCHES = 10
_RUN_COLUMNS = ("id, created_at, finished_at, status, git_commit, git_dirty, baseline_ref, baseline_commit, config,"
                " summary, kind")


def _run_row(row: tuple[Any, ...]) -> RunRow:
    return RunRow(id=row[0], created_at=row[1], finished_at=row[2], status=row[3], git_commit=row[4],
                  git_dirty=bool(row[5]), baseline_ref=row[6], baseline_commit=row[7], config=json.loads(row[8]),
                  summary=json.loads(row[9]) if row[9] else None, kind=row[10])
