"""How well `llmops import promptfoo` converts real promptfoo configs.

    python bench/promptfoo_import.py EXAMPLES_DIR [--jobs 2] [--json FILE] [--show CATEGORY]

Runs `llmops import promptfoo` on every `promptfooconfig*.yaml` / `.yml` under EXAMPLES_DIR
(for instance promptfoo's own `examples/` folder, exported from a checkout of its repository;
nothing of it is kept here), each into a fresh temp folder, then `llmops check` on what it wrote,
both as real subprocesses. Each config lands in exactly one category:

    clean           exit 0, nothing listed as not converted
    not-converted   exit 0, some items listed as not converted
                    (of which `no-model`: llmops.yaml has the placeholder model openai/REPLACE-ME)
    refused         exit 2 and nothing written (the importer stopped with a reason)
    check-fails     files written, but `llmops check` on them fails
    crash           a traceback, or an exit code other than 0 and 2

It also reports the longest summary an import printed (lines on stdout + stderr), which must stay
within one screen. Exits 1 when any config crashed or wrote files that fail `check`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLI = [sys.executable, "-m", "llmops_cli"]
SCREEN = 60  # lines


def configs(root: Path) -> list[Path]:
    found = [p for p in root.rglob("promptfooconfig*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(found)


def measure(config: Path, scratch: Path) -> dict[str, object]:
    """Import one config into its own folder under `scratch`, check the result, classify it."""
    out = Path(tempfile.mkdtemp(dir=scratch))
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    run = subprocess.run([*CLI, "import", "promptfoo", config.name, "--out", str(out)], cwd=config.parent,
                         capture_output=True, text=True, env=env, timeout=300)
    lines = len(run.stdout.splitlines()) + len(run.stderr.splitlines())
    record: dict[str, object] = {"config": str(config), "exit": run.returncode, "lines": lines}
    written = (out / "llmops.yaml").is_file()
    if "Traceback (most recent call last)" in run.stdout + run.stderr or run.returncode not in (0, 2):
        record.update(category="crash", detail=run.stderr.strip().splitlines()[-1:] or [])
        return record
    if not written:
        record.update(category="refused", detail=run.stderr.strip().splitlines()[:3])
        return record
    check = subprocess.run([*CLI, "check"], cwd=out, capture_output=True, text=True, env=env, timeout=300)
    if check.returncode != 0 or run.returncode != 0:
        record.update(category="check-fails", detail=(check.stderr or run.stderr).strip().splitlines()[:3])
        return record
    record["no_model"] = "REPLACE-ME" in (out / "llmops.yaml").read_text(encoding="utf-8")
    unconverted = [line for line in run.stdout.splitlines() if line.startswith("not converted (")]
    record["category"] = "not-converted" if unconverted else "clean"
    record["detail"] = unconverted
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every record to this file")
    parser.add_argument("--show", help="list the configs of this category, with the first lines of their error")
    args = parser.parse_args()
    found = configs(args.examples)
    with tempfile.TemporaryDirectory(prefix="llmops-import-bench-") as scratch:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            records = list(pool.map(lambda c: measure(c, Path(scratch)), found))
    counts = Counter(str(r["category"]) for r in records)
    no_model = sum(1 for r in records if r.get("no_model"))
    longest = max(records, key=lambda r: int(str(r["lines"])), default=None)
    print(f"configs: {len(records)}")
    for category in ("clean", "not-converted", "refused", "check-fails", "crash"):
        extra = f" ({no_model} of them with no usable model)" if category == "not-converted" else ""
        print(f"  {category}: {counts.get(category, 0)}{extra}")
    if longest is not None:
        over = sum(1 for r in records if int(str(r["lines"])) > SCREEN)
        print(f"longest summary: {longest['lines']} lines ({longest['config']}); over {SCREEN} lines: {over}")
    if args.show:
        for r in records:
            if r["category"] == args.show or (args.show == "no-model" and r.get("no_model")):
                print(f"{r['config']}: {' | '.join(map(str, r.get('detail') or []))}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return 1 if counts.get("crash") or counts.get("check-fails") else 0


if __name__ == "__main__":
    sys.exit(main())
