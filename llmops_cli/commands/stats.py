"""`llmops stats`: cost, tokens, latency and errors per prompt and model over recent calls."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from llmops_cli.errors import InputError
from llmops_cli.store import Store

GROUP_KEYS = ("suite", "prompt", "model", "model_id")
_SINCE = re.compile(r"(\d+)([mhdw])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> float:
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise InputError(f"--since {text!r}: use a number and a unit m/h/d/w, e.g. 7d")
    return time.time() - int(match.group(1)) * _UNIT_S[match.group(2)]


def parse_by(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if k not in GROUP_KEYS]
    if bad or not keys:
        raise InputError(f"--by {text!r}: group by any of {', '.join(GROUP_KEYS)}")
    return keys


def stats(root: Path, since: float, by: list[str]) -> Any:
    """A pandas DataFrame: one row per group, calls made. Cache hits and requests shared with an identical
    one of the same run were not paid for again: they are excluded from spend and from latency."""
    import pandas as pd

    with Store(root) as store:
        rows = store.result_rows_since(since)
    columns = ["created_at", "suite", "prompt", "model", "model_id", "error_class", "cached", "shared", "latency_s",
               "cost_usd", "tokens_in", "tokens_out"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    frame["error"] = frame["error_class"].notna()
    sent = (frame["cached"] == 0) & (frame["shared"] == 0)
    frame["spent_usd"] = frame["cost_usd"].where(sent, 0.0)
    fresh = frame[~frame["error"] & sent]  # a cache hit or a shared answer repeats another call's latency
    grouped = frame.groupby(by, sort=True)
    table = pd.DataFrame({
        "calls": grouped.size(),
        "cached": grouped["cached"].sum(),
        "shared": grouped["shared"].sum(),
        "error_rate": grouped["error"].mean(),
        "tokens_in": grouped["tokens_in"].sum(),
        "tokens_out": grouped["tokens_out"].sum(),
        "spent_usd": grouped["spent_usd"].sum(min_count=1),
        "cost_unknown": grouped["cost_usd"].apply(lambda s: int(s.isna().sum())),
    })
    latency = fresh.groupby(by)["latency_s"]
    table["latency_p50_s"] = latency.quantile(0.5)
    table["latency_p95_s"] = latency.quantile(0.95)
    return table.reset_index()
