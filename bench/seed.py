"""Fill a project's response cache with the stand-in's own answers, without calling it.

    python bench/seed.py PROJECT_DIR

For the 100,000-case rows: sending 100k calls through litellm costs ~4-5 CPU-ms each (7+
minutes here), so instead every planned request gets the answer the stand-in server would give
(`llmops_cli._standin.answers.answer`, the same pure function the server runs), written to the cache
table of `.llmops/llmops.db`. The next `llmops eval` then serves every call from the cache
through the real code path (score, redact, store), and that run is what `llmops report RUN`
re-renders. Prints one JSON line: calls planned, rows written, seconds.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path


def seed(root: Path) -> dict:
    from llmops_cli._standin import answers as standin
    from llmops_cli.plan import Selection, plan_calls
    from llmops_cli.project import load_project
    from llmops_cli.source import WorkTree
    from llmops_cli.store import CachedAnswer, Store

    started = time.perf_counter()
    project = load_project(WorkTree(root))
    calls = plan_calls(project, "head", Selection())
    rows, seen = [], set()
    now = time.time()
    for call in calls:
        if call.key in seen:
            continue
        seen.add(call.key)
        text = standin.answer(call.messages, False, False, random.Random(0))
        tokens_in = sum(standin.estimate_tokens(m["content"]) for m in call.messages)
        tokens_out = standin.estimate_tokens(text)
        answer = CachedAnswer(text=text, finish_reason="stop", tokens_in=tokens_in, tokens_out=tokens_out,
                              cost_usd=tokens_in * 0.15e-6 + tokens_out * 0.6e-6, latency_s=0.05)
        rows.append((call.key, call.model.model, json.dumps(asdict(answer)), now))
    store = Store(root)
    try:
        store.db.execute("BEGIN IMMEDIATE")
        store.db.executemany("INSERT OR REPLACE INTO cache (key, model, response, created_at) VALUES (?, ?, ?, ?)", rows)
        store.db.execute("COMMIT")
    finally:
        store.close()
    return {"calls": len(calls), "rows": len(rows), "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    print(json.dumps(seed(Path(sys.argv[1]).resolve())))
