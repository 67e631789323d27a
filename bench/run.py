"""llmops benchmarks: one command, every figure measured in the same run on this machine.

    make bench                                  # = .venv/bin/python bench/run.py (full, ~15-20 min)
    .venv/bin/python bench/run.py --quick       # ~5 min (plus a one-off promptfoo install)
    .venv/bin/python bench/run.py --sizes 100,1000 --no-promptfoo --no-readme

Starts the stand-in OpenAI server (`python -m llmops_cli._standin`) as a subprocess at a fixed
latency, generates projects in a temp dir, and measures whole processes (wall, CPU, peak RSS,
see measure.py): `llmops eval` cold and warm, a raw litellm loop, promptfoo, start-up commands,
100k-case memory. Writes the results between the bench markers of bench/README.md (and all
raw figures as JSON to --json). See bench/README.md for what each row means and the targets.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

from genproject import KEY_ENV, KEY_VALUE, write_project, write_promptfoo  # noqa: E402
from measure import Measurement, measure  # noqa: E402

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.test",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.test"}
HEAVY = ("litellm", "openai", "aiohttp", "httpx", "pandas", "numpy", "git", "jsonschema", "jinja2", "pydantic")
TIMEOUT = 900.0
LOOP_TARGET = 0.6  # cold llmops at 50 ms over the raw litellm loop: the direct openai client must beat litellm


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- the stand-in server -------------------------------------------------------------------

class Standin:
    """`python -m llmops_cli._standin --port 0 --latency-ms X` as a subprocess; the base URL it prints."""

    def __init__(self, latency_ms: float) -> None:
        self.latency_ms = latency_ms
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Standin:
        self.proc = subprocess.Popen([sys.executable, "-m", "llmops_cli._standin", "--port", "0",
                                      "--latency-ms", str(self.latency_ms)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.proc.kill()
            raise SystemExit(f"the stand-in server did not start (printed {line!r})")
        self.url = line
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- environment, commands -----------------------------------------------------------------

LLMOPS_SRC: str | None = None  # --llmops-src: measure another copy of llmops_cli (A/B experiments)


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "GITHUB_STEP_SUMMARY", "PYTHONPATH", "LLMOPS_BENCH_MODULES")}
    if LLMOPS_SRC:
        env["PYTHONPATH"] = LLMOPS_SRC
    env.update(GIT_ENV)
    env[KEY_ENV] = KEY_VALUE
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # llmops sets it too; the raw loop must not fetch prices either
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def llmops_cmd() -> list[str]:
    script = Path(sys.executable).parent / "llmops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmops_cli"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=bench_env())


def make_project(root: Path, n: int, url: str, concurrency: int) -> Path:
    """A committed, locked llmops project with n cases (as a user's repository would be)."""
    if root.exists():
        shutil.rmtree(root)
    write_project(root, n, url, concurrency)
    git(root, "init", "-q", "-b", "main")
    run = subprocess.run([*llmops_cmd(), "lock"], cwd=root, env=bench_env(), capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"llmops lock failed in {root}: {run.stderr.strip()}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench project")
    return root


def fresh_store(root: Path) -> None:
    shutil.rmtree(root / ".llmops", ignore_errors=True)


def eval_quality(root: Path) -> dict[str, Any]:
    """The newest run's metrics, from the store's run summary (not results.json: 100 MB at 100k cases)."""
    import sqlite3

    db = root / ".llmops" / "llmops.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT id, summary FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
    finally:
        con.close()
    if not row or not row[1]:
        return {}
    groups = json.loads(row[1]).get("groups") or []
    if not groups:
        return {"run": row[0]}
    m = groups[0]["metrics"]
    return {"run": row[0], "calls": m.get("calls"), "correctness": m.get("correctness"), "errors": m.get("errors"),
            "cached_calls": m.get("cached_calls")}


# ---- results -----------------------------------------------------------------------------

@dataclass
class Row:
    key: str            # stable id, e.g. "llmops_cold_50ms_1000"
    label: str          # what it is, for the raw table
    n: int | None
    m: Measurement | None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.m is not None and self.m.rc == 0 and not self.m.timed_out

    def to_dict(self) -> dict[str, Any]:
        d = {"key": self.key, "label": self.label, "n": self.n, "note": self.note, "extra": self.extra}
        if self.m is not None:
            d.update({k: v for k, v in self.m.to_dict().items() if k not in ("stdout_tail", "extra")})
        return d


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rows: dict[str, Row] = {}
        self.notes: list[str] = []
        self.env = bench_env()
        self.promptfoo: list[str] | None = None
        self.promptfoo_version = ""
        self.cold_sizes: list[int] = list(args.size_list)
        self.warm_sizes: list[int] = []
        self.check_n: int = args.check_n

    def add(self, row: Row) -> Row:
        self.rows[row.key] = row
        m = row.m
        if m is None:
            log(f"{row.label}: skipped ({row.note})")
        else:
            status = "ok" if row.ok else f"FAILED rc={m.rc}{' (timeout)' if m.timed_out else ''}"
            log(f"{row.label}: {m.wall_s:.2f} s wall, {m.cpu_s:.2f} s cpu, {m.max_rss_mb:.0f} MB, {status}"
                + (f" {row.extra}" if row.extra else ""))
            if not row.ok:
                log("  stderr: " + m.stderr_tail[-800:].replace("\n", "\n  "))
        return row

    def run(self, key: str, label: str, n: int | None, cmd: list[str], cwd: Path | None = None,
            modules: bool = False, env: dict[str, str] | None = None, before: Callable[[], None] | None = None,
            after: Callable[[Measurement], dict[str, Any]] | None = None, repeat: int = 1) -> Row:
        """Measure cmd `repeat` times (fresh state via `before`), keep the fastest successful run."""
        tries: list[Row] = []
        for _ in range(max(1, repeat)):
            if before:
                before()
            mod_file = self.work / f"modules-{key}.json" if modules else None
            m = measure(cmd, cwd=cwd, env=env or self.env, timeout=TIMEOUT, modules_file=mod_file)
            extra = after(m) if after and m.rc == 0 else {}
            if m.modules is not None:
                extra["heavy_imports"] = [x for x in m.modules if x in HEAVY]
            tries.append(Row(key, label, n, m, extra=extra))
        good = [r for r in tries if r.ok] or tries
        best = min(good, key=lambda r: r.m.wall_s if r.m else 1e9)
        if len(tries) > 1:
            best.extra["walls"] = [r.m.wall_s for r in tries if r.m]
        return self.add(best)

    # -- the parts ---------------------------------------------------------------------------

    def cold_comparison(self, server: Standin, n: int, tag: str, promptfoo: bool, warm_promptfoo: bool) -> Path:
        """llmops cold, the raw litellm loop and promptfoo on the same n cases against one server."""
        a = self.args
        root = make_project(self.work / f"p{tag}-{n}", n, server.url, a.concurrency)
        eval_cmd = [*llmops_cmd(), "eval", "--no-baseline", "--no-cache", "--concurrency", str(a.concurrency)]
        repeat = a.repeat if n <= a.repeat_max_n else 1
        loop_cmd = [sys.executable, str(BENCH / "litellm_loop.py"), str(root / "requests.jsonl"), server.url,
                    "--concurrency", str(a.concurrency)]
        for i in range(repeat):  # interleaved, so load from elsewhere hits both alike
            self.run(f"llmops_cold_{tag}_{n}#{i}", f"llmops eval cold, {tag}, N={n}", n, eval_cmd, cwd=root,
                     before=lambda: fresh_store(root), after=lambda m: eval_quality(root), modules=True)
            self.run(f"litellm_loop_{tag}_{n}#{i}", f"raw litellm loop, {tag}, N={n}", n, loop_cmd, cwd=root,
                     after=lambda m: json.loads(m.stdout_tail.strip().splitlines()[-1]))
        for kind in ("llmops_cold", "litellm_loop"):
            self._keep_best(f"{kind}_{tag}_{n}", repeat)
        self.rows[f"ideal_{tag}_{n}"] = Row(f"ideal_{tag}_{n}", f"ideal ceil(N/{a.concurrency}) x latency, {tag}, N={n}",
                                            n, None, extra={"wall_s": math.ceil(n / a.concurrency) * server.latency_ms / 1000})
        if promptfoo:
            self.promptfoo_runs(server, n, tag, warm_promptfoo)
        return root

    def _keep_best(self, key: str, repeat: int) -> None:
        tries = [self.rows.pop(f"{key}#{i}") for i in range(repeat) if f"{key}#{i}" in self.rows]
        good = [r for r in tries if r.ok] or tries
        best = min(good, key=lambda r: r.m.wall_s if r.m else 1e9)
        best.key = key
        if repeat > 1:
            best.extra["walls"] = [r.m.wall_s for r in tries if r.m]
        self.rows[key] = best

    def promptfoo_runs(self, server: Standin, n: int, tag: str, warm: bool) -> None:
        if self.promptfoo is None:
            return
        folder = write_promptfoo(self.work / f"pf{tag}-{n}", n, server.url)
        env = {**self.env, "PROMPTFOO_CONFIG_DIR": str(folder / "home"), "PROMPTFOO_CACHE_PATH": str(folder / "cache"),
               "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
               "PROMPTFOO_DISABLE_REMOTE_GENERATION": "true", "PROMPTFOO_CACHE_ENABLED": "true"}
        cmd = [*self.promptfoo, "eval", "-c", "promptfooconfig.yaml", "-j", str(self.args.concurrency),
               "--no-progress-bar", "--no-table", "-o", "out.json"]

        def reset() -> None:
            for sub in ("home", "cache"):
                shutil.rmtree(folder / sub, ignore_errors=True)
            (folder / "out.json").unlink(missing_ok=True)

        def stats(m: Measurement) -> dict[str, Any]:
            try:
                s = json.loads((folder / "out.json").read_text())["results"]["stats"]
                return {"successes": s.get("successes"), "failures": s.get("failures"), "errors": s.get("errors"),
                        "cached_tokens": (s.get("tokenUsage") or {}).get("cached")}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return {"parse_error": str(exc)}

        self.run(f"promptfoo_cold_{tag}_{n}", f"promptfoo {self.promptfoo_version} cold, {tag}, N={n}", n, cmd,
                 cwd=folder, env=env, before=reset, after=stats)
        if warm:
            self.run(f"promptfoo_warm_{tag}_{n}", f"promptfoo {self.promptfoo_version} warm cache, {tag}, N={n}", n,
                     cmd, cwd=folder, env=env, after=stats)

    def warm_runs(self, root: Path, n: int, seeded: bool) -> None:
        """Every answer cached: `eval` (cache on) and `eval --offline` must not import litellm."""
        note = "cache seeded by bench/seed.py" if seeded else "cache filled by the cold run"
        base = [*llmops_cmd(), "eval", "--no-baseline", "--concurrency", str(self.args.concurrency)]
        row = self.run(f"llmops_warm_{n}", f"llmops eval warm cache, N={n}", n, base, cwd=root, modules=True,
                       after=lambda m: eval_quality(root), repeat=self.args.repeat)
        row.note = note
        row = self.run(f"llmops_offline_{n}", f"llmops eval --offline, N={n}", n, [*base, "--offline"], cwd=root,
                       modules=True, after=lambda m: eval_quality(root), repeat=self.args.repeat)
        row.note = note

    def seed(self, root: Path) -> dict[str, Any]:
        done = subprocess.run([sys.executable, str(BENCH / "seed.py"), str(root)], env=self.env, capture_output=True,
                              text=True, cwd=REPO)
        if done.returncode != 0:
            raise RuntimeError(f"seeding {root} failed: {done.stderr.strip()[-500:]}")
        info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return info

    def startup(self, check_root: Path, n: int) -> None:
        r = self.args.repeat_startup
        self.run("help", "llmops --help", None, [*llmops_cmd(), "--help"], modules=True, repeat=r)
        self.run("import", 'python -c "import llmops_cli"', None, [sys.executable, "-c", "import llmops_cli"],
                 modules=True, repeat=r)
        self.run(f"check_{n}", f"llmops check, N={n}", n, [*llmops_cmd(), "check"], cwd=check_root, modules=True,
                 repeat=r)

    def big(self, n: int) -> None:
        """Peak RSS at n cases: --dry-run (render + plan), then a stored n-result run re-rendered."""
        root = make_project(self.work / f"pbig-{n}", n, "http://127.0.0.1:9/v1", self.args.concurrency)
        self.run(f"dry_run_{n}", f"llmops eval --dry-run, N={n}", n,
                 [*llmops_cmd(), "eval", "--no-baseline", "--dry-run"], cwd=root, modules=True)
        try:
            info = self.seed(root)
        except RuntimeError as exc:
            self.notes.append(f"100k report rows skipped: {exc}")
            return
        log(f"seeded {info['rows']} cache rows in {info['seconds']} s")
        row = self.run(f"llmops_warm_{n}", f"llmops eval warm cache (stores the run), N={n}", n,
                       [*llmops_cmd(), "eval", "--no-baseline"], cwd=root, modules=True, after=lambda m: eval_quality(root))
        row.note = "cache seeded by bench/seed.py"
        run_id = row.extra.get("run")
        if not run_id:
            self.notes.append(f"no stored {n}-case run to re-render")
            return
        self.run(f"report_{n}", f"llmops report RUN (md,json,junit,html), N={n}", n,
                 [*llmops_cmd(), "report", run_id, "--out", str(self.work / "report-out")], cwd=root, modules=True)

    def install_promptfoo(self) -> None:
        a = self.args
        if a.no_promptfoo:
            self.notes.append("promptfoo: skipped (--no-promptfoo)")
            return
        npx = shutil.which("npx")
        if npx and not a.promptfoo_dir:  # already installed (global or npx cache): no download, no install
            offline = subprocess.run([npx, "--no-install", "promptfoo", "--version"], capture_output=True, text=True,
                                     env={**self.env, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1"})
            if offline.returncode == 0 and offline.stdout.strip():
                self.promptfoo = [npx, "--no-install", "promptfoo"]
                self.promptfoo_version = offline.stdout.strip().splitlines()[-1]
                log(f"promptfoo {self.promptfoo_version} through npx (already installed)")
                return
        npm = shutil.which("npm")
        if not npm:
            self.notes.append("promptfoo: skipped, npm is not installed")
            return
        prefix = Path(a.promptfoo_dir or Path(tempfile.gettempdir()) / f"llmops-bench-promptfoo-{a.promptfoo_version}")
        binary = prefix / "node_modules" / ".bin" / "promptfoo"
        if not binary.exists():
            log(f"installing promptfoo@{a.promptfoo_version} into {prefix} (npm, a few minutes, once)")
            prefix.mkdir(parents=True, exist_ok=True)
            done = subprocess.run([npm, "install", "--prefix", str(prefix), f"promptfoo@{a.promptfoo_version}",
                                   "--no-audit", "--no-fund", "--loglevel=error"], capture_output=True, text=True)
            if done.returncode != 0 or not binary.exists():
                self.notes.append(f"promptfoo: skipped, npm install failed: {done.stderr.strip()[-300:]}")
                return
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                 env={**self.env, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1"})
        if version.returncode != 0:
            self.notes.append(f"promptfoo: skipped, it does not run here: {version.stderr.strip()[-300:]}")
            return
        self.promptfoo = [str(binary)]
        self.promptfoo_version = version.stdout.strip().splitlines()[-1]
        log(f"promptfoo {self.promptfoo_version} at {binary}")


# ---- machine, report -------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    from importlib import metadata

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        kb = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "llmops_cli"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    node = shutil.which("node")
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "litellm": version("litellm"), "llmops": version("llmops-cli"),
            "commit": commit + (" + uncommitted changes in llmops_cli/" if dirty else ""),
            "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else "none",
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "platform": platform.platform(), "llmops_src": LLMOPS_SRC or "installed"}


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def fmt_x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


class Report:
    def __init__(self, bench: Bench, info: dict[str, Any], load: tuple[float, float], elapsed: float) -> None:
        self.b, self.info, self.load, self.elapsed = bench, info, load, elapsed
        self.misses: list[str] = []
        self._rows: list[str] = []

    def wall(self, key: str) -> float | None:
        row = self.b.rows.get(key)
        if row is None:
            return None
        if row.m is None:
            return row.extra.get("wall_s")
        return row.m.wall_s if row.ok else None

    def rss(self, key: str) -> float | None:
        row = self.b.rows.get(key)
        return row.m.max_rss_mb if row and row.ok and row.m else None

    def target(self, label: str, value: float | None, limit: float, unit: str = "x") -> str:
        if value is None:
            return "n/a"
        ok = value <= limit
        if not ok:
            self.misses.append(f"{label}: {value:.2f}{unit} (target <= {limit:g}{unit})")
        return "ok" if ok else "**MISS**"

    def cpu_ratio(self, a: str, b: str) -> str:
        x, y = self.b.rows.get(a), self.b.rows.get(b)
        if not (x and y and x.ok and y.ok and x.m and y.m and y.m.cpu_s):
            return "-"
        return fmt_x(x.m.cpu_s / y.m.cpu_s)

    def ratio(self, a: str, b: str) -> float | None:
        x, y = self.wall(a), self.wall(b)
        return x / y if x is not None and y else None

    def imported(self, key: str, module: str = "litellm") -> bool | None:
        row = self.b.rows.get(key)
        if not row or not row.m or row.m.modules is None:
            return None
        return module in row.m.modules

    def no_litellm_row(self, measure: str, key: str) -> None:
        """A run whose models are all OpenAI routes (the stand-in is one) must not import litellm."""
        imp = self.imported(key)
        self._rows.append(f"| {measure} | {'-' if imp is None else ('**yes**' if imp else 'no')} | - | - | - | never | "
                          f"{'n/a' if imp is None else ('**MISS**' if imp else 'ok')} |")
        if imp:
            self.misses.append(f"{measure} the process imported litellm")

    def cold_memory(self, row: Callable[..., None]) -> None:
        """Peak RSS of a cold run at --cold-big-n, and the straight line through it and the N=1,000 run
        carried to --big-n (a cold 100k run sends 100k calls: many minutes of a shared 2-core machine)."""
        n, small, big = self.b.args.cold_big_n, 1000, self.b.args.big_n
        key, ref = f"llmops_cold_{self.b.args.latency_ms:g}ms_{n}", f"llmops_cold_{self.b.args.latency_ms:g}ms_{small}"
        rss, rss_small = self.rss(key), self.rss(ref)
        if key not in self.b.rows:
            return
        row(f"cold {self.b.args.latency_ms:g}ms, N={n:,}: peak RSS", "-" if rss is None else f"{rss:.0f} MB",
            f"wall {fmt_s(self.wall(key))}", "-", "-", "info")
        if rss is None or rss_small is None or n <= small:
            return
        line = rss_small + (rss - rss_small) * (big - small) / (n - small)
        row(f"cold, N={big:,}: peak RSS extrapolated from N={small:,} and N={n:,}", f"{line:.0f} MB", "-", "-",
            "< 500 MB", self.target(f"cold N={big} peak RSS (extrapolated)", line, 500, " MB"))

    def markdown(self) -> str:
        a, i = self.b.args, self.info
        lat, slow = a.latency_ms, a.slow_latency_ms
        t50, t500 = f"{lat:g}ms", f"{slow:g}ms"
        lines = [
            f"Measured {i['date']} with `{' '.join(sys.argv[1:]) or '(full)'}` in {self.elapsed / 60:.1f} min on "
            f"{i['nproc']} cores ({i['cpu'] or 'unknown CPU'}, {i['memory']}), Python {i['python']}, litellm {i['litellm']}, "
            f"node {i['node']}, promptfoo {self.b.promptfoo_version or 'not run'}, llmops {i['llmops']} at {i['commit']}"
            + (f" (measured: {i['llmops_src']})" if i["llmops_src"] != "installed" else "") + ". "
            f"Load average (1 min) {self.load[0]:.2f} at start, {self.load[1]:.2f} at the end "
            f"(the machine has {i['nproc']} cores; anything above ~1 means other work competed for the CPU). "
            f"Concurrency {a.concurrency}; wall times are whole processes"
            + (f", the fastest of {a.repeat} interleaved runs for N <= {a.repeat_max_n}, else one run." if a.repeat > 1
               else ", one run each (start-up rows: fastest of 3)."),
            "",
            "| measure | value | reference | ratio | CPU ratio | target | status |",
            "|---|---|---|---|---|---|---|",
        ]

        self._rows = lines

        def row(measure: str, value: str, ref: str, ratio: str, target: str, status: str, cpu: str = "-") -> None:
            lines.append(f"| {measure} | {value} | {ref} | {ratio} | {cpu} | {target} | {status} |")

        for n in self.b.cold_sizes:
            k = f"{t50}_{n}"
            w = self.wall(f"llmops_cold_{k}")
            r_ideal = self.ratio(f"llmops_cold_{k}", f"ideal_{k}")
            r_loop = self.ratio(f"llmops_cold_{k}", f"litellm_loop_{k}")
            r_pf = self.ratio(f"llmops_cold_{k}", f"promptfoo_cold_{k}")
            gated = n in (1000, 5000)
            row(f"cold {t50}, N={n:,}: llmops / ideal", fmt_s(w), f"ideal {fmt_s(self.wall(f'ideal_{k}'))}",
                fmt_x(r_ideal), "-", "info")
            row(f"cold {t50}, N={n:,}: llmops / raw litellm loop", fmt_s(w),
                f"loop {fmt_s(self.wall(f'litellm_loop_{k}'))}", fmt_x(r_loop), f"<= {LOOP_TARGET:g}x",
                self.target(f"cold {t50} N={n} llmops/litellm loop", r_loop, LOOP_TARGET) if gated else "info",
                self.cpu_ratio(f"llmops_cold_{k}", f"litellm_loop_{k}"))
            self.no_litellm_row(f"cold {t50}, N={n:,}: imports litellm?", f"llmops_cold_{k}")
            if f"promptfoo_cold_{k}" in self.b.rows:
                row(f"cold {t50}, N={n:,}: llmops / promptfoo", fmt_s(w),
                    f"promptfoo {fmt_s(self.wall(f'promptfoo_cold_{k}'))}", fmt_x(r_pf), "<= 0.5x",
                    self.target(f"cold {t50} N={n} llmops/promptfoo", r_pf, 0.5) if gated else "info",
                    self.cpu_ratio(f"llmops_cold_{k}", f"promptfoo_cold_{k}"))
        for n in self.b.warm_sizes:
            k = f"llmops_warm_{n}"
            w = self.wall(k)
            imp = self.imported(k)
            note = " (seeded)" if self.b.rows.get(k) and "seeded" in self.b.rows[k].note else ""
            pf = f"promptfoo_warm_{t50}_{n}"
            if n == 10000:
                row(f"warm cache, N={n:,}{note}: wall", fmt_s(w), "-", "-", "< 2 s",
                    self.target("warm N=10000 wall", w, 2.0, " s"))
            if pf in self.b.rows:
                r = self.ratio(k, pf)
                row(f"warm cache, N={n:,}: llmops / promptfoo warm", fmt_s(w), f"promptfoo {fmt_s(self.wall(pf))}",
                    fmt_x(r), "<= 0.2x", self.target(f"warm N={n} llmops/promptfoo warm", r, 0.2), self.cpu_ratio(k, pf))
            row(f"warm cache, N={n:,}{note}: imports litellm?", "-" if imp is None else ("**yes**" if imp else "no"),
                "-", "-", "never", "n/a" if imp is None else ("**MISS**" if imp else "ok"))
            if imp:
                self.misses.append(f"warm cache N={n}: the process imported litellm")
            o = f"llmops_offline_{n}"
            oimp = self.imported(o)
            row(f"--offline, N={n:,}{note}: wall / imports litellm?", fmt_s(self.wall(o)), "-", "-", "never imports",
                "n/a" if oimp is None else ("**MISS**" if oimp else "ok"))
            if oimp:
                self.misses.append(f"--offline N={n}: the process imported litellm")
        n = a.slow_n
        k = f"{t500}_{n}"
        if f"llmops_cold_{k}" in self.b.rows:
            w = self.wall(f"llmops_cold_{k}")
            r = self.ratio(f"llmops_cold_{k}", f"ideal_{k}")
            row(f"cold {t500}, N={n:,}: llmops / ideal", fmt_s(w), f"ideal {fmt_s(self.wall(f'ideal_{k}'))}", fmt_x(r),
                "<= 1.1x", self.target(f"cold {t500} N={n} llmops/ideal", r, 1.1))
            self.no_litellm_row(f"cold {t500}, N={n:,}: imports litellm?", f"llmops_cold_{k}")
            row(f"cold {t500}, N={n:,}: llmops / raw litellm loop", fmt_s(w),
                f"loop {fmt_s(self.wall(f'litellm_loop_{k}'))}", fmt_x(self.ratio(f"llmops_cold_{k}", f"litellm_loop_{k}")),
                "-", "info", self.cpu_ratio(f"llmops_cold_{k}", f"litellm_loop_{k}"))
            if f"promptfoo_cold_{k}" in self.b.rows:
                row(f"cold {t500}, N={n:,}: llmops / promptfoo", fmt_s(w),
                    f"promptfoo {fmt_s(self.wall(f'promptfoo_cold_{k}'))}",
                    fmt_x(self.ratio(f"llmops_cold_{k}", f"promptfoo_cold_{k}")), "-", "info",
                    self.cpu_ratio(f"llmops_cold_{k}", f"promptfoo_cold_{k}"))
        w = self.wall("help")
        row("`llmops --help`", fmt_s(w), "-", "-", "< 0.3 s", self.target("llmops --help", w, 0.3, " s"))
        row('`python -c "import llmops_cli"`', fmt_s(self.wall("import")), "-", "-", "-", "info")
        cn = self.b.check_n
        w = self.wall(f"check_{cn}")
        row(f"`llmops check`, N={cn:,}", fmt_s(w), "-", "-", "< 2 s",
            self.target(f"llmops check N={cn}", w, 2.0, " s") if cn >= 10000 else "info")
        bn = a.big_n
        for key, what in ((f"dry_run_{bn}", "--dry-run"), (f"report_{bn}", "`llmops report RUN`"),
                          (f"llmops_warm_{bn}", "warm eval that stored the run")):
            if key not in self.b.rows:
                continue
            rss = self.rss(key)
            gated = bn >= 100000 and not key.startswith("llmops_warm")
            row(f"N={bn:,} {what}: peak RSS", "-" if rss is None else f"{rss:.0f} MB",
                f"wall {fmt_s(self.wall(key))}", "-", "< 500 MB" if gated else "-",
                self.target(f"N={bn} {what} peak RSS", rss, 500, " MB") if gated else "info")
        self.cold_memory(row)
        lines += ["", "Targets missed: none." if not self.misses else "Targets missed:", ""]
        lines += [f"- {m}" for m in self.misses]
        if self.b.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.b.notes]
        lines += ["", "<details><summary>Raw figures</summary>", "",
                  "| row | wall | CPU (user+sys) | peak RSS | exit | load | details |", "|---|---|---|---|---|---|---|"]
        for raw in self.b.rows.values():
            if raw.m is None:
                lines.append(f"| {raw.label} | {fmt_s(raw.extra.get('wall_s'))} | - | - | - | - | computed |")
                continue
            extra = {k: v for k, v in raw.extra.items() if v not in (None, [], {})}
            detail = "; ".join(f"{k}={v}" for k, v in extra.items())
            if raw.note:
                detail = f"{raw.note}; {detail}" if detail else raw.note
            lines.append(f"| {raw.label} | {raw.m.wall_s:.2f} s | {raw.m.cpu_s:.2f} s | {raw.m.max_rss_mb:.0f} MB | "
                         f"{raw.m.rc}{' timeout' if raw.m.timed_out else ''} | {raw.m.load1:.1f} | {detail.replace('|', '/')} |")
        lines += ["", "</details>"]
        return "\n".join(lines)


def write_readme(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{body}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)
    else:
        text = text.rstrip() + "\n\n## Latest results\n\n" + block + "\n"
    path.write_text(text)


# ---- main ------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="llmops benchmarks (see bench/README.md)")
    p.add_argument("--quick", action="store_true", help="N=100,1000; 10k warm/check on a seeded cache; ~5 min")
    p.add_argument("--sizes", default=None, help="cold-run sizes at the base latency (default 100,1000,5000,10000)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--slow-latency-ms", type=float, default=500.0, help="the 'real provider' latency")
    p.add_argument("--slow-n", type=int, default=1000)
    p.add_argument("--big-n", type=int, default=100000, help="cases for the memory rows (dry-run, report)")
    p.add_argument("--cold-big-n", type=int, default=0,
                   help="also run cold (every call sent) at this N for peak RSS, carried to --big-n (0: skip)")
    p.add_argument("--warm-n", type=int, default=10000)
    p.add_argument("--check-n", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=None, help="runs per cold comparison (fastest kept); default 2, quick 1")
    p.add_argument("--repeat-max-n", type=int, default=1000, help="repeat only runs with N up to this")
    p.add_argument("--repeat-startup", type=int, default=3, help="runs of --help / import / check (fastest kept)")
    p.add_argument("--no-promptfoo", action="store_true")
    p.add_argument("--promptfoo-version", default="0.120")
    p.add_argument("--promptfoo-dir", default=None, help="npm prefix to install/reuse promptfoo in (default: a temp dir)")
    p.add_argument("--promptfoo-sizes", default=None, help="cold promptfoo sizes (default 1000,5000,10000; quick 1000)")
    p.add_argument("--no-slow", action="store_true", help="skip the 500 ms rows")
    p.add_argument("--no-big", action="store_true", help="skip the 100k rows")
    p.add_argument("--readme", default=str(BENCH / "README.md"))
    p.add_argument("--no-readme", action="store_true", help="print the Markdown instead of writing README.md")
    p.add_argument("--json", default=None, help="also write every raw figure to this JSON file")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with the generated projects")
    p.add_argument("--llmops-src", default=None,
                   help="folder holding another llmops_cli/ to measure instead of the installed one (A/B a fix)")
    p.add_argument("--wait-load", type=float, default=None,
                   help="first wait (up to 10 min) until the 1-min load average is below this")
    args = p.parse_args(argv)
    sizes = args.sizes or ("100,1000" if args.quick else "100,1000,5000,10000")
    args.size_list = [int(s) for s in sizes.split(",") if s.strip()]
    pf = args.promptfoo_sizes or ("1000" if args.quick else "1000,5000,10000")
    args.pf_sizes = [int(s) for s in pf.split(",") if s.strip()]
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    global LLMOPS_SRC
    if args.llmops_src:
        LLMOPS_SRC = str(Path(args.llmops_src).resolve())
        if not (Path(LLMOPS_SRC) / "llmops_cli" / "__init__.py").exists():
            raise SystemExit(f"--llmops-src {args.llmops_src}: no llmops_cli/ there")
    if args.wait_load is not None:
        deadline = time.time() + 600
        while os.getloadavg()[0] >= args.wait_load and time.time() < deadline:
            log(f"load average {os.getloadavg()[0]:.2f} >= {args.wait_load}; waiting")
            time.sleep(15)
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    log(f"work dir {work}; load average {load_start:.2f}")
    bench = Bench(args, work)
    info = machine()
    try:
        bench.install_promptfoo()
        tag = f"{args.latency_ms:g}ms"
        roots: dict[int, Path] = {}
        with Standin(args.latency_ms) as server:
            log(f"stand-in at {server.url}, {args.latency_ms:g} ms")
            pf_warm_n = max((n for n in args.pf_sizes if n in args.size_list), default=None)
            for n in args.size_list:
                roots[n] = bench.cold_comparison(server, n, tag, promptfoo=n in args.pf_sizes,
                                                 warm_promptfoo=n == pf_warm_n)
            warm = sorted({args.warm_n, *([pf_warm_n] if pf_warm_n and bench.promptfoo else [])})
            for n in warm:
                seeded = n not in roots
                root = roots.get(n) or make_project(work / f"pwarm-{n}", n, server.url, args.concurrency)
                if seeded:
                    bench.seed(root)
                bench.warm_sizes.append(n)
                bench.warm_runs(root, n, seeded)
            check_root = roots.get(args.check_n) or (work / f"pwarm-{args.check_n}")
            if not check_root.exists():
                make_project(check_root, args.check_n, server.url, args.concurrency)
            bench.startup(check_root, args.check_n)
            if args.cold_big_n:
                root = make_project(work / f"pcold-{args.cold_big_n}", args.cold_big_n, server.url, args.concurrency)
                eval_cmd = [*llmops_cmd(), "eval", "--no-baseline", "--no-cache", "--concurrency", str(args.concurrency)]
                bench.run(f"llmops_cold_{tag}_{args.cold_big_n}", f"llmops eval cold, {tag}, N={args.cold_big_n}",
                          args.cold_big_n, eval_cmd, cwd=root, modules=True, after=lambda m: eval_quality(root))
        if not args.no_slow:
            with Standin(args.slow_latency_ms) as slow:
                log(f"stand-in at {slow.url}, {args.slow_latency_ms:g} ms")
                bench.cold_comparison(slow, args.slow_n, f"{args.slow_latency_ms:g}ms", promptfoo=True,
                                      warm_promptfoo=False)
        if not args.no_big:
            bench.big(args.big_n)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    elapsed = time.perf_counter() - started
    report = Report(bench, info, (load_start, os.getloadavg()[0]), elapsed)
    body = report.markdown()
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "args": {k: v for k, v in vars(args).items()},
                                               "rows": [r.to_dict() for r in bench.rows.values()],
                                               "misses": report.misses, "notes": bench.notes}, indent=1, default=str))
    if args.no_readme:
        print(body)
    else:
        write_readme(Path(args.readme), body)
        log(f"wrote {args.readme}")
    print("\n".join(["targets missed:"] + [f"  {m}" for m in report.misses]) if report.misses else "all targets met")
    log(f"done in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
