"""The local store, `.llmops/llmops.db`: response cache, runs, and one traced row per call.

Data model: `cache` maps a request fingerprint (model, params, rendered messages) to the raw
answer, so an unchanged baseline or a rerun costs nothing. `runs` records what ran (git
commit, options, the suite config it was judged by). `results` holds every call of every run
with its scores: it is the trace log (messages and output are redacted before they are
written) and the only input reports are rendered from. A grader call (an LLM judge, an
embedding) is a row of its own, marked by its typed `grader` (kind, the model under test, the
assertion index; columns `grader_kind`, `grader_for`, `grader_index`, empty for the call under
test), and is summarised in its case's record (`graders`) so metrics keep grading apart from the
model's cost. An answer's text is kept once, in `outputs` under the hash of its JSON form: the cache
entry (the raw answer, key values scrubbed, so a cached answer scores like a fresh one) and each result
(the redacted output) refer to it, so the two share one copy whenever redaction changes nothing.
Each result commits as its call finishes, so an interrupted run loses no completed call. A report reads
a run back one side x suite x prompt x model group at a time (`result_groups`, `results_of`). Schema
changes are numbered migrations appended to MIGRATIONS; `_llmops_migrations` records which ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

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


def _m007_grader_columns(db: sqlite3.Connection) -> None:
    """A grader call was told apart by its side, spelled `<kind>:<side>:<model under test>:<index>`; typed
    columns say it now. They join the row's key (a judge may share the alias of the model it grades), and
    SQLite cannot change a key in place, so the table is rebuilt, rows in their order."""
    kept = ("run_id, side, suite, prompt, model, case_id, repeat, key, created_at, record, model_id, error_class, cached,"
            " latency_s, cost_usd, tokens_in, tokens_out, queue_s")  # the columns of migrations 1-6
    _script(db, f"""
        CREATE TABLE results_v7 (
            run_id TEXT NOT NULL REFERENCES runs(id), side TEXT NOT NULL, suite TEXT NOT NULL,
            prompt TEXT NOT NULL, model TEXT NOT NULL, case_id TEXT NOT NULL, repeat INTEGER NOT NULL,
            grader_kind TEXT NOT NULL DEFAULT '', grader_for TEXT NOT NULL DEFAULT '',
            grader_index INTEGER NOT NULL DEFAULT -1,
            key TEXT NOT NULL, created_at REAL NOT NULL, record TEXT NOT NULL, model_id TEXT, error_class TEXT,
            cached INTEGER, latency_s REAL, cost_usd REAL, tokens_in INTEGER, tokens_out INTEGER, queue_s REAL,
            PRIMARY KEY (run_id, side, suite, prompt, model, case_id, repeat, grader_kind, grader_for, grader_index));
        INSERT INTO results_v7 ({kept}) SELECT {kept} FROM results ORDER BY rowid;
        DROP TABLE results;
        ALTER TABLE results_v7 RENAME TO results;
        CREATE INDEX results_created ON results(created_at)
    """)
    rows = db.execute("SELECT rowid, side, record FROM results WHERE side LIKE '%:%'").fetchall()
    for rowid, side, record in rows:
        try:
            kind, real_side, rest = str(side).split(":", 2)
            graded, index = rest.rsplit(":", 1)
            data = json.loads(record)
            data["side"], data["grader"] = real_side, {"kind": kind, "graded": graded, "index": int(index)}
        except ValueError:  # the whole migration rolls back: the store stays as it was
            raise sqlite3.DatabaseError(f"results row {rowid} is malformed (side {side!r})") from None
        db.execute("UPDATE results SET side = ?, grader_kind = ?, grader_for = ?, grader_index = ?, record = ?"
                   " WHERE rowid = ?", (real_side, kind, graded, int(index), json.dumps(data), rowid))


def _m008_outputs(db: sqlite3.Connection) -> None:
    """An answer's text is kept once, in `outputs` under its hash, and referenced by its cache entry and by
    every result that shows it (a 4 MB answer was stored twice: raw in the cache, again in the record).
    Older rows keep their text inline and read as before."""
    _script(db, """
        CREATE TABLE outputs (hash TEXT PRIMARY KEY, text TEXT NOT NULL);
        ALTER TABLE cache ADD COLUMN output_hash TEXT;
        ALTER TABLE results ADD COLUMN output_hash TEXT
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial, _m002_result_columns, _m003_inflight,
                                                          _m004_run_owner, _m005_run_kind, _m006_queue_time,
                                                          _m007_grader_columns, _m008_outputs]
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
    def from_json(cls, raw: str, text: str | None = None) -> CachedAnswer:
        """Read a cached answer, its `text` kept apart in `outputs` (older entries hold it inline); entries
        written before tool calls existed have none."""
        data = json.loads(raw)
        if text is not None:
            data["text"] = text
        calls = tuple(ToolCall(**c) for c in data.pop("tool_calls", None) or ())
        return cls(**data, tool_calls=calls)


class CallId(NamedTuple):
    """Which call of a run a record is: a run holds one record per call id (and per grader call on it)."""

    side: str  # "head" | "base"
    suite: str
    prompt: str
    model: str  # alias
    case_id: str
    repeat: int


@dataclass(frozen=True)
class GraderRole:
    """Marks a record as a grader call (a judge's or an embedding model's), not a call of the model under
    test: the assertion at `index` of the case's applicable assertions, grading model `graded`'s answer."""

    kind: str  # the assertion type: "judge", "similarity"
    graded: str  # alias of the model under test
    index: int


@dataclass(slots=True)
class CallRecord:
    """One call of a run, scored. Stored as JSON in `results.record`. Slotted: a report of a 100k-case run
    holds a group's records at once, and an instance dict would double each record's size."""

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
    graders: list[dict[str, Any]] = field(default_factory=list)  # grader calls (judge, similarity) behind the verdict
    shared: bool = False  # answered by an identical request sent once in this run: neither sent nor cached
    queue_s: float | None = None  # waited for a concurrency slot before sending; None when nothing was sent
    grader: GraderRole | None = None  # set on a grader call's own record; None for the call under test
    tool_calls: list[dict[str, str]] = field(default_factory=list)  # of the final answer: {id, name, arguments}
    steps: list[dict[str, Any]] = field(default_factory=list)  # an agent loop's model calls (agent.Step.summary)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def call_id(self) -> CallId:
        return CallId(self.side, self.suite, self.prompt, self.model, self.case_id, self.repeat)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        """A record from its stored JSON; records written before grader calls were typed name their
        summaries `aux`."""
        if "aux" in data:
            data["graders"] = data.pop("aux")
        grader = data.pop("grader", None)
        return cls(**data, grader=GraderRole(**grader) if grader else None)


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


SideGroup = tuple[str, str, str, str]  # side, suite, prompt, model alias


def group_records(records: Iterable[CallRecord]) -> dict[SideGroup, list[CallRecord]]:
    """The runs of the cases by side and suite x prompt x model; a grader call's own row is left out
    (it is summarised in the record it graded, and is not a run of a case)."""
    groups: dict[SideGroup, list[CallRecord]] = {}
    for r in records:
        if r.grader is None:
            groups.setdefault((r.side, r.suite, r.prompt, r.model), []).append(r)
    return groups


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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # cache -----------------------------------------------------------------
    def cache_get_many(self, keys: Sequence[str]) -> dict[str, CachedAnswer]:
        found: dict[str, CachedAnswer] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT c.key, c.response, o.text FROM cache c LEFT JOIN outputs o"
                                   f" ON o.hash = c.output_hash WHERE c.key IN ({marks})", chunk)
            for key, response, text in rows:
                found[key] = CachedAnswer.from_json(response, json.loads(text) if text is not None else None)
        return found

    def cached_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these requests the cache answers (their answers are not read)."""
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
            self._insert_cache([(key, model_id, answer)], time.time())
            self.db.execute("DELETE FROM inflight WHERE key = ? AND owner = ?", (key, owner))

    # runs ------------------------------------------------------------------
    def start_run(self, run_id: str, plan_hash: str, config: dict[str, Any], *, git_commit: str | None = None,
                  git_dirty: bool = False, baseline_ref: str | None = None, baseline_commit: str | None = None,
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
            self._insert_cache([(r.key, r.model_id, a) for r, a in items if a is not None], now)
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
            answered = self.cached_keys(keys)
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

    def _insert_cache(self, entries: Sequence[tuple[str, str, CachedAnswer]], now: float) -> None:
        """Cache entries (key, model id, answer); the answer's text goes to `outputs`."""
        rows = []
        for key, model_id, answer in entries:
            response = asdict(answer)
            rows.append((key, model_id, json.dumps({k: v for k, v in response.items() if k != "text"}), now,
                         self._put_output(answer.text)))
        self.db.executemany("INSERT OR REPLACE INTO cache (key, model, response, created_at, output_hash)"
                            " VALUES (?, ?, ?, ?, ?)", rows)

    def _put_output(self, text: str) -> str:
        """Keep a text once, under the hash of its JSON form (JSON escapes what SQLite text cannot hold, such
        as a lone surrogate a provider may send); the hash is what rows refer to."""
        encoded = json.dumps(text)
        digest = hashlib.sha256(encoded.encode()).hexdigest()  # store sits below cases.py: no import of it
        self.db.execute("INSERT OR IGNORE INTO outputs (hash, text) VALUES (?, ?)", (digest, encoded))
        return digest

    def _insert_results(self, run_id: str, records: Sequence[CallRecord]) -> None:
        now = time.time()
        rows = []
        for r in records:
            data = record_dict(r)
            output_hash = self._put_output(data.pop("output")) if r.output is not None else None
            rows.append((run_id, r.side, r.suite, r.prompt, r.model, r.case_id, r.repeat, r.key, now, json.dumps(data),
                         r.model_id, r.error_class, int(r.cached), r.latency_s, r.cost_usd, r.tokens_in, r.tokens_out,
                         r.queue_s, *_grader_columns(r.grader), output_hash))
        self.db.executemany(
            f"INSERT OR REPLACE INTO results ({_RESULT_COLUMNS}, grader_kind, grader_for, grader_index, output_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

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
        """Every record of a run (grader calls' rows included), in the order they were written."""
        rows = self.db.execute("SELECT r.record, o.text FROM results r LEFT JOIN outputs o ON o.hash = r.output_hash"
                               " WHERE r.run_id = ? ORDER BY r.rowid", (run_id,))
        return _records(rows)

    def paid_calls(self, run_id: str) -> list[tuple[str, float | None]]:
        """(model, cost) of each answered call the run sent itself (cache hits left out), from the columns: a
        resumed run's budget, without decoding the records it just wrote (older rows hold the output inline)."""
        return self.db.execute(
            "SELECT model, cost_usd FROM results WHERE run_id = ? AND cached = 0"
            " AND (output_hash IS NOT NULL OR json_extract(record, '$.output') IS NOT NULL)", (run_id,)).fetchall()

    def result_groups(self, run_id: str) -> dict[SideGroup, list[int]]:
        """The rows of a run's calls by side and suite x prompt x model, each group in the order written, grader
        calls' rows left out (as `group_records` does): row ids only, read from the key's index, so a report
        reads its records one group at a time (`results_of`) instead of a 100k-case run's all at once."""
        groups: dict[SideGroup, list[int]] = {}
        for rowid, side, suite, prompt, model in self.db.execute(
                "SELECT rowid, side, suite, prompt, model FROM results WHERE run_id = ? AND grader_kind = ''", (run_id,)):
            groups.setdefault((side, suite, prompt, model), []).append(rowid)
        for rows in groups.values():
            rows.sort()
        return groups

    def call_ids(self, run_id: str) -> Iterator[CallId]:
        """Which calls a run recorded (grader calls left out), from the key columns alone: no record is read."""
        rows = self.db.execute("SELECT side, suite, prompt, model, case_id, repeat FROM results WHERE run_id = ?"
                               " AND grader_kind = ''", (run_id,))
        return (CallId(*row) for row in rows)

    def results_of(self, rows: Sequence[int]) -> Iterator[CallRecord]:
        """The records of these rows (ids from `result_groups`), in that order, read a chunk at a time; equal small
        objects in them are shared, so they are for reading only."""
        return _records(self._rows_of(rows), share_objects=True)

    def _rows_of(self, rows: Sequence[int]) -> Iterator[tuple[str, str | None]]:
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found = {rowid: (record, output) for rowid, record, output in self.db.execute(
                f"SELECT r.rowid, r.record, o.text FROM results r LEFT JOIN outputs o ON o.hash = r.output_hash"
                f" WHERE r.rowid IN ({marks})", chunk)}
            yield from (found[rowid] for rowid in chunk)

    def result_rows_since(self, since: float) -> list[tuple[Any, ...]]:
        """Flat rows for `stats`: (created_at, suite, prompt, model, model_id, error_class, cached, shared, latency,
        cost, tokens_in, tokens_out)."""
        return self.db.execute(
            "SELECT created_at, suite, prompt, model, model_id, error_class, cached,"
            " COALESCE(json_extract(record, '$.shared'), 0), latency_s, cost_usd, tokens_in, tokens_out"
            " FROM results WHERE created_at >= ?", (since,)).fetchall()


def _records(rows: Iterable[tuple[str, str | None]], share_objects: bool = False) -> Iterator[CallRecord]:
    """Records from their stored JSON and their output's (kept once in `outputs`; older rows hold it inline).
    With `share_objects`, equal small flat objects (a system message, an assertion's verdict, a tool call) are one
    instance across records: for readers that never change a record (judging a 100k-case run)."""
    memo: dict[str, str] = {}  # one copy of each repeated string (system prompts, model names, verdicts)
    objects: dict[tuple[tuple[str, type, object], ...], dict[str, Any]] = {}

    def shared(obj: dict[str, Any]) -> dict[str, Any]:
        if len(memo) > MEMO_STRINGS:  # most strings are unique (keys, outputs): the memo stays small
            memo.clear()
        for k, v in obj.items():
            if type(v) is str and len(v) < 4096:
                obj[k] = memo.setdefault(v, v)
        if share_objects and len(obj) <= SHARED_OBJECT_KEYS and all(type(v) in _FLAT for v in obj.values()):
            if len(objects) > MEMO_STRINGS:
                objects.clear()
            return objects.setdefault(tuple((k, type(v), v) for k, v in obj.items()), obj)  # 1 and True differ
        return obj

    for record, output in rows:
        data = json.loads(record, object_hook=shared)
        if output is not None:
            data["output"] = json.loads(output)
        yield CallRecord.from_dict(data)


def record_dict(record: CallRecord) -> dict[str, Any]:
    """A record as JSON-ready data; its fields are already plain JSON values (but the grader mark), so no
    deep copy (dataclasses.asdict) is needed: this runs once per stored call."""
    data = {name: getattr(record, name) for name in _RECORD_FIELDS}
    data["grader"] = asdict(record.grader) if record.grader is not None else None
    return data


def _grader_columns(grader: GraderRole | None) -> tuple[str, str, int]:
    """The key columns of a grader call; the call under test has none ('', '', -1: SQLite keys need values)."""
    return (grader.kind, grader.graded, grader.index) if grader is not None else ("", "", -1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


MAX_LISTED_MATCHES = 10
MEMO_STRINGS = 20000  # distinct strings (and objects) a read keeps to share; cleared when passed
SHARED_OBJECT_KEYS = 4  # a message, a verdict, a tool call: a record itself has many more keys
_FLAT = frozenset({str, int, float, bool, type(None)})
_RECORD_FIELDS = tuple(f.name for f in fields(CallRecord))
_RESULT_COLUMNS = ("run_id, side, suite, prompt, model, case_id, repeat, key, created_at, record, model_id, error_class,"
                   " cached, latency_s, cost_usd, tokens_in, tokens_out, queue_s")
_RUN_COLUMNS = ("id, created_at, finished_at, status, git_commit, git_dirty, baseline_ref, baseline_commit, config,"
                " summary, kind")


def _run_row(row: tuple[Any, ...]) -> RunRow:
    return RunRow(id=row[0], created_at=row[1], finished_at=row[2], status=row[3], git_commit=row[4],
                  git_dirty=bool(row[5]), baseline_ref=row[6], baseline_commit=row[7], config=json.loads(row[8]),
                  summary=json.loads(row[9]) if row[9] else None, kind=row[10])
