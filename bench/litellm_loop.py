"""The baseline llmops is measured against: a bare `litellm.acompletion` loop.

    python bench/litellm_loop.py REQUESTS.jsonl BASE_URL [--concurrency 32]

Sends every request of REQUESTS.jsonl (one rendered message list a line) to BASE_URL with at
most `concurrency` in flight (`asyncio.Semaphore`), and nothing else: no cache, no scoring, no
store. It is timed as a whole process, import of litellm included, exactly like `llmops eval`.
Exits 1 if any call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time


async def main_async(requests: list[list[dict[str, str]]], base_url: str, concurrency: int, model: str) -> int:
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    key = os.environ.get("LLMOPS_BENCH_KEY", "sk-dummy")
    semaphore = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(messages: list[dict[str, str]]) -> None:
        nonlocal failed
        async with semaphore:
            try:
                response = await litellm.acompletion(model=model, messages=messages, api_base=base_url, api_key=key,
                                                     temperature=0, timeout=60, num_retries=0)
                if not response.choices[0].message.content:
                    failed += 1
            except Exception as exc:  # noqa: BLE001 - count, report the first few
                failed += 1
                if failed <= 3:
                    print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)

    await asyncio.gather(*(one(m) for m in requests))
    return failed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("requests")
    parser.add_argument("base_url")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--model", default="openai/gpt-4o-mini")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    with open(args.requests) as fh:
        requests = [json.loads(line) for line in fh if line.strip()]
    started = time.perf_counter()
    failed = asyncio.run(main_async(requests, args.base_url, args.concurrency, args.model))
    print(json.dumps({"calls": len(requests), "failed": failed, "loop_s": round(time.perf_counter() - started, 3)}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
