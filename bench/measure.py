"""Measure one command as a whole process: wall time, CPU time, peak RSS, exit code.

    python bench/measure.py [--timeout S] [--cwd DIR] [--modules] -- COMMAND ARGS...   # one JSON line

The command runs in a fresh subprocess of a tiny launcher (this file, run as `python -E -S`);
the launcher takes the child's resource usage from `os.wait4` on that child alone: CPU time
(user + system) and ru_maxrss, the peak RSS of the child or of the largest of its own
waited-for descendants (so node's process tree is covered). Standard library only.
`bench/run.py` calls `measure()`; the command line form measures anything by hand the same way.

Imports: with `modules_file` set (`--modules`), `hook/sitecustomize.py` is put first on
PYTHONPATH and the measured Python process writes the non-stdlib packages it imported to that
file at exit, so a run can prove it never imported litellm (the hook costs one atexit call).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOOK_DIR = Path(__file__).resolve().parent / "hook"


@dataclass
class Measurement:
    cmd: list[str]
    rc: int
    wall_s: float
    cpu_s: float           # user + system of the child (and its waited-for descendants)
    max_rss_mb: float
    timed_out: bool = False
    modules: list[str] | None = None   # top-level packages imported (Python commands, when asked)
    stdout_tail: str = ""
    stderr_tail: str = ""
    load1: float = 0.0     # 1-minute load average when it started (other work on the machine)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _run_child(cmd: list[str], cwd: str | None, timeout: float | None, out_path: str, err_path: str) -> dict:
    """In the launcher: run cmd, wait4 it, return its figures."""
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        try:  # a daemon a command left behind (e.g. node workers) must not outlive the measurement
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return {"rc": proc.returncode, "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "max_rss_mb": round(usage.ru_maxrss / 1024, 1), "timed_out": timed_out.is_set()}


def measure(cmd: list[str], cwd: str | Path | None = None, env: dict[str, str] | None = None,
            timeout: float | None = None, modules_file: Path | None = None) -> Measurement:
    """Measure cmd through the launcher (a fresh `python -E -S` process running this file).

    Why a launcher: Linux carries the RSS of the process that forks into the child's ru_maxrss
    (the forked copy's high-water mark survives exec), so measuring straight from a big parent
    (this benchmark, after it has read a 100k-case results.json) would inflate small commands.
    The launcher is ~10 MB when it forks; its own start-up is not in the wall time.
    """
    full_env = dict(os.environ if env is None else env)
    if modules_file is not None:
        modules_file.unlink(missing_ok=True)
        full_env["LLMOPS_BENCH_MODULES"] = str(modules_file)
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), full_env.get("PYTHONPATH", "")) if p)
    tmp = Path(tempfile.mkdtemp(prefix="llmops-measure-"))
    out_path, err_path, result_path = tmp / "stdout", tmp / "stderr", tmp / "result.json"
    load1 = os.getloadavg()[0]
    launcher = [sys.executable, "-E", "-S", str(Path(__file__).resolve()), "--launch", "--result", str(result_path),
                "--stdout", str(out_path), "--stderr", str(err_path)]
    if timeout:
        launcher += ["--timeout", str(timeout)]
    if cwd is not None:
        launcher += ["--cwd", str(cwd)]
    done = subprocess.run([*launcher, "--", *[str(c) for c in cmd]], env=full_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=(timeout or 3600) + 60)
    try:
        figures = json.loads(result_path.read_text())
    except (OSError, ValueError):
        raise RuntimeError(f"the measuring launcher failed: {done.stderr.strip()[-500:]}") from None
    stdout = out_path.read_bytes().decode(errors="replace")
    stderr = err_path.read_bytes().decode(errors="replace")
    shutil.rmtree(tmp, ignore_errors=True)
    modules = None
    if modules_file is not None and modules_file.exists():
        modules = json.loads(modules_file.read_text())
    return Measurement(cmd=[str(c) for c in cmd], modules=modules, stdout_tail=stdout[-2000:],
                       stderr_tail=stderr[-2000:], load1=round(load1, 2), **figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--cwd", default=None)
    parser.add_argument("--modules", action="store_true", help="report the packages a Python command imported")
    parser.add_argument("--launch", action="store_true", help=argparse.SUPPRESS)  # internal: the launcher
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--stdout", help=argparse.SUPPRESS)
    parser.add_argument("--stderr", help=argparse.SUPPRESS)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command")
    if args.launch:
        figures = _run_child(cmd, args.cwd, args.timeout, args.stdout, args.stderr)
        with open(args.result, "w") as fh:
            json.dump(figures, fh)
        return 0
    modules_file = Path(tempfile.gettempdir()) / f"llmops-bench-modules-{os.getpid()}.json" if args.modules else None
    m = measure(cmd, cwd=args.cwd, timeout=args.timeout, modules_file=modules_file)
    result = m.to_dict()
    result.pop("stdout_tail"), result.pop("stderr_tail")
    print(json.dumps(result))
    return 0 if m.rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
