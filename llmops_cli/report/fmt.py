"""How figures and texts read, once for every report and the terminal.

report.md, report.html, junit.xml, the rerun reports and the CLI summaries all show the same
shares, prices, latencies and differences; each reads through one function here, so the formats
cannot drift apart. Unknown is never zero: a missing price reads `unknown`, any other missing
figure `n/a`. These functions return plain text; escaping is the caller's (mdsafe for Markdown,
Jinja2 autoescape for HTML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmops_cli.document import ThresholdRow, ToolCallResult
from llmops_cli.metrics import REGISTRY, SHARES

PCT_METRICS = SHARES  # shares of cases or calls read as percent (the metric registry says which)
CUT = "cut at max_tokens"


def number(value: Any, pct: bool = False) -> str:
    """Any figure: a share as a percent when `pct`, a float to 4 significant digits, a flag as yes/no."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if pct and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metric(value: Any, name: str) -> str:
    """A metric's value in its unit: a share as a percent, an unknown cost as `unknown` (never zero, nor n/a)."""
    if name in REGISTRY:
        return REGISTRY[name].format(value)
    if value is None and name.endswith("cost_usd"):
        return "unknown"
    return number(value, name in PCT_METRICS)


def pct(value: float | None) -> str:
    """A share as a percent to one decimal."""
    return "n/a" if value is None else f"{value:.1%}"


def ratio(value: float | None) -> str:
    """A similarity to 3 decimals: 0.995 must not read 1.00."""
    return "n/a" if value is None else f"{value:.3f}"


def interval(ci: Sequence[float | None] | None) -> str:
    """A share's 95% interval after its value, e.g. ` (61.2%–80.0%)`; empty when there is none."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f" ({ci[0]:.1%}–{ci[1]:.1%})"


def money(value: float | None, places: int | None = None) -> str:
    """A price in dollars: to `places` decimals when given, else 4 significant digits; `unknown` without a price."""
    if value is None:
        return "unknown"
    return f"{value:.{places}f}" if places is not None else number(value)


def seconds(value: float | None) -> str:
    """A latency in seconds to the millisecond."""
    return "n/a" if value is None else f"{value:.3f}"


def points(value: float | None) -> str:
    """A difference of two percentages in percentage points, signed: 0.9 -> 0.3 is `-60.0 pts`."""
    return "n/a" if value is None else f"{value * 100:+.1f} pts"


def delta(diff: Any, name: str) -> str:
    """A difference of a metric: in percentage points for a percentage metric, else in the metric's unit."""
    return points(diff) if name in PCT_METRICS and diff is not None else number(diff)


def ci_text(low: float | None, high: float | None, pct: bool) -> str:
    """A confidence interval of a difference, in points when the metric is a percentage."""
    if low is None or high is None:
        return ""
    return f"[{low * 100:+.1f}, {high * 100:+.1f}] pts" if pct else f"[{number(low)}, {number(high)}]"


def limit_text(t: ThresholdRow) -> str:
    """A threshold's limit: a `max_drop` of a percentage is a difference, so in points like Δ."""
    is_pct = t.metric in PCT_METRICS
    if t.bound == "max_drop" and is_pct:
        return f"{t.limit * 100:.1f} pts"
    return number(t.limit, is_pct)


def trim(text: str | None, limit: int) -> str:
    """A long text cut to `limit` characters, saying how much more results.json keeps."""
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars in results.json]"


def one_line(text: str) -> str:
    """One line of prose (a list item): messages can carry newlines from outputs and provider errors."""
    return " ".join(text.split())


def calls_text(calls: Sequence[ToolCallResult]) -> str:
    """Tool calls one a line, `name(arguments)`, as the model wrote the arguments."""
    return "\n".join(f"{c.name}({c.arguments})" for c in calls) or "[no tool call]"


def turn_text(m: Mapping[str, Any]) -> str:
    """One conversation turn as text: its content, and the tool calls of an assistant turn."""
    calls = [f"-> {c['function']['name']}({c['function']['arguments']})" for c in m.get("tool_calls") or []]
    return "\n".join([f"[{m['role']}] {m.get('content') or ''}".rstrip(), *calls])
