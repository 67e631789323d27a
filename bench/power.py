"""Gate power and calls: what `--repeat auto --require-significance` catches, and what it costs.

    python bench/power.py                       # simulation (300 trials a row) + end to end (10 trials a row)
    python bench/power.py --trials 1000 --e2e-trials 20
    python bench/power.py --no-e2e              # the simulation only (a minute or two)

The setting is issue #16's: 200 cases, a model that answers 20% of calls wrongly at random (the
stand-in's `noise` 0.2), `max_drop: 0` with `--require-significance`, alpha 0.05. Rows:

- no-op: nothing changes; a fail is a false alarm (target <= 5%).
- drop 5 (broken): a true 5-point drop, carried by as few cases as can carry it (13 cases that
  now pass 3% of the time instead of 80%: a change that breaks some cases). Target: >= 80% caught
  with <= 3x the calls of a repeat-1 comparison.
- drop 5 (50 cases) / drop 5 (all cases): the same 5 points spread thinner: every case a bit worse.
- drop 45: must always fail.

Two measurements:

1. *Simulation*, at full size: the decision functions of llmops_cli/adaptive.py and the gate
   (stats.py) on simulated pass/fail runs, no HTTP. Also "peeking": sampling in rounds and
   stopping at the first round whose test is significant, the tempting design the adaptive stage
   avoids; its no-op row shows why.
2. *End to end*: `evaluate()` (the code behind `llmops eval`) on a real git repository, through
   real litellm over HTTP to the stand-in, `--baseline main --repeat auto --require-significance
   --no-cache`; the head branch changes the prompt (a no-op sentence, or per-case stand-in
   directives that make the broken cases wrong), so base and head draw independent noise. Calls
   are the scored model calls at both refs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmops_cli.adaptive import drop_cases, gate_fails, needs_more, simulate  # noqa: E402

N, NOISE, ALPHA = 200, 0.2, 0.05
SCENARIOS = {  # name -> (drop, spread)
    "no-op": (0.0, None),
    "drop 5 (broken)": (0.05, None),
    "drop 5 (50 cases)": (0.05, 50),
    "drop 5 (all cases)": (0.05, N),
    "drop 45": (0.45, None),
}


def peeking_trial(base_p: list[float], head_p: list[float], rng: random.Random, max_repeat: int) -> tuple[bool, int]:
    """Sample the disagreeing cases one round at a time and stop as soon as the test says "drop"."""
    base = [[float(rng.random() < p)] for p in base_p]
    head = [[float(rng.random() < p)] for p in head_p]
    calls = 2 * len(base_p)
    chosen = [i for i in range(len(base_p)) if needs_more(base[i][0], head[i][0])]
    for round_ in range(max_repeat):
        if round_:
            for i in chosen:
                base[i].append(float(rng.random() < base_p[i]))
                head[i].append(float(rng.random() < head_p[i]))
                calls += 2
        bv = [sum(r) / len(r) for r in base]
        hv = [sum(r) / len(r) for r in head]
        if gate_fails(bv, hv, ALPHA, 0.0, True)[0]:
            return True, calls
    return False, calls


def simulation(trials: int, max_repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, (drop, spread) in SCENARIOS.items():
        base_p, head_p = drop_cases(N, NOISE, drop, spread)
        for mode in ("repeat 1", "auto", "peeking"):
            if mode == "peeking" and name != "no-op":
                continue
            rng = random.Random(f"{name}:{mode}")
            failed = calls = 0
            started = time.perf_counter()
            for _ in range(trials):
                if mode == "peeking":
                    f, c = peeking_trial(base_p, head_p, rng, max_repeat)
                else:
                    t = simulate(base_p, head_p, rng, adaptive=mode == "auto", max_repeat=max_repeat)
                    f, c = t.failed, t.calls
                failed += f
                calls += c
            rows.append({"how": "simulation", "scenario": name, "mode": mode, "trials": trials,
                         "failed": failed / trials, "calls_x": calls / trials / (2 * N),
                         "seconds": round(time.perf_counter() - started, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


# End to end ------------------------------------------------------------------------------------------------------

SYSTEM = ("You are the support desk of {{ product }}. Classify the ticket as refund, bug or other. "
          "Answer in JSON with keys category and reply.")
TICKETS = [("refund", "Please refund my order"), ("bug", "The app crashes on start"),
           ("other", "Do you have a dark mode?")]


def _prompt(system: str, user: str) -> str:
    return ("description: Classify a support ticket\nmodel: default\nparams: {temperature: 0}\nmessages:\n"
            f"  - {{role: system, content: \"{system}\"}}\n  - {{role: user, content: \"{user}\"}}\n")


def _git(root: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.test", "GIT_COMMITTER_NAME": "Bench",
           "GIT_COMMITTER_EMAIL": "bench@example.test", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def _repo(root: Path, base_url: str, max_repeat: int) -> None:
    """main: the project; one branch per scenario whose prompt changes (so every request is new)."""
    from llmops_cli.commands.lock import lock

    (root / "prompts").mkdir(parents=True)
    (root / "evals" / "support").mkdir(parents=True)
    (root / "llmops.yaml").write_text(
        "version: 1\nmodels:\n  default: {model: openai/gpt-4o-mini, api_base: '" + base_url + "', "
        "api_key_env: LLMOPS_BENCH_KEY}\n"
        f"limits: {{concurrency: 16, timeout_s: 30, retries: 2, max_repeat: {max_repeat}}}\ngate: {{baseline: main}}\n")
    (root / "prompts" / "support.yaml").write_text(_prompt(SYSTEM, "{{ ticket }}"))
    (root / "evals" / "support" / "suite.yaml").write_text(
        "prompt: support\nmodels: [default]\nrepeat: auto\nthresholds:\n  correctness: {max_drop: 0.0}\n")
    lines = []
    for i in range(N):
        label, text = TICKETS[i % 3]
        lines.append(json.dumps({"id": f"case-{i:03d}", "vars": {"product": "Acme", "ticket": f"{text} (ticket {i})",
                                                                  "idx": i},
                                 "assert": [{"type": "json_field", "path": "category", "equals": label}]}))
    (root / "evals" / "support" / "cases.jsonl").write_text("\n".join(lines) + "\n")
    (root / ".gitignore").write_text(".llmops/\n")
    lock(root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "project")
    for name, (drop, spread) in SCENARIOS.items():
        _, head_p = drop_cases(N, NOISE, drop, spread)
        broken = sum(1 for p in head_p if p != 1.0 - NOISE)
        noise = 1.0 - head_p[0] if broken else NOISE
        user = "{{ ticket }}" + (f"{{% if idx < {broken} %}} [standin: noise={noise:.6f}]{{% endif %}}" if broken else "")
        _git(root, "checkout", "-q", "-b", _branch(name), "main")
        (root / "prompts" / "support.yaml").write_text(_prompt(SYSTEM + " Thank you.", user))
        _git(root, "commit", "-q", "-am", name)
    _git(root, "checkout", "-q", "main")


def _branch(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def end_to_end(trials: int, max_repeat: int, scenarios: list[str]) -> list[dict[str, Any]]:
    import os

    from llmops_cli._standin import StandinServer
    from llmops_cli.commands.eval import EvalOptions, EvalResult, evaluate
    from llmops_cli.plan import Selection

    os.environ.setdefault("LLMOPS_BENCH_KEY", "sk-bench-dummy-0123456789abcdef")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llmops-power-") as tmp, StandinServer(latency_ms=0) as server:
        root = Path(tmp) / "repo"
        _repo(root, server.base_url, max_repeat)
        for name in scenarios:
            _git(root, "checkout", "-q", _branch(name))
            for mode in ("repeat 1", "auto"):
                failed = calls = 0
                started = time.perf_counter()
                for trial in range(trials):
                    server.configure(noise=NOISE, seed=trial)
                    selection = Selection(repeat=1) if mode == "repeat 1" else Selection(auto_repeat=True)
                    result = evaluate(root, EvalOptions(selection=selection, baseline="main", no_cache=True,
                                                        require_significance=True, formats=("json",),
                                                        out=Path(tmp) / "out" / f"{_branch(name)}-{mode[0]}-{trial}"))
                    assert isinstance(result, EvalResult)
                    (group,) = result.document["groups"]
                    failed += result.exit_code == 1
                    calls += group["metrics"]["calls"] + group["base_metrics"]["calls"]
                rows.append({"how": "end to end", "scenario": name, "mode": mode, "trials": trials,
                             "failed": failed / trials, "calls_x": calls / trials / (2 * N),
                             "seconds": round(time.perf_counter() - started, 1)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| measured | scenario | mode | trials | gate failed | calls vs repeat 1 |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['how']} | {r['scenario']} | {r['mode']} | {r['trials']} | {float(r['failed']):.1%} "
                   f"| {float(r['calls_x']):.2f}x |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=300, help="simulation trials a row")
    parser.add_argument("--e2e-trials", type=int, default=10, help="end-to-end trials a row")
    parser.add_argument("--max-repeat", type=int, default=5)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--e2e-scenarios", default="no-op,drop 5 (broken),drop 45")
    args = parser.parse_args()
    rows = simulation(args.trials, args.max_repeat)
    if not args.no_e2e:
        rows += end_to_end(args.e2e_trials, args.max_repeat, args.e2e_scenarios.split(","))
    print(table(rows))


if __name__ == "__main__":
    main()
