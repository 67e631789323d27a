"""llmops.lock: the sha256 of every golden set, so a PR cannot quietly edit its own exam.

Per suite it stores the set's hash, its size and a short hash per case, which lets `check`
and the gate say exactly which cases were added, removed or edited since the lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from llmops_cli.cases import Case, sha256_text

LOCK_FILE = "llmops.lock"


@dataclass(frozen=True)
class CaseChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    edited: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.edited)

    def describe(self, limit: int = 5) -> str:
        parts = []
        for label, ids in (("edited", self.edited), ("added", self.added), ("removed", self.removed)):
            if ids:
                shown = ", ".join(ids[:limit]) + (f", +{len(ids) - limit} more" if len(ids) > limit else "")
                parts.append(f"{len(ids)} {label} ({shown})")
        return "; ".join(parts)


def case_hashes(cases: Sequence[Case]) -> dict[str, str]:
    return {case.id: case.hash for case in cases}


def set_hash(hashes: Mapping[str, str]) -> str:
    """Order-independent hash of a golden set from its per-case hashes."""
    return sha256_text("\n".join(f"{k}\t{v}" for k, v in sorted(hashes.items())))


def diff_cases(old: Mapping[str, str], new: Mapping[str, str]) -> CaseChanges:
    return CaseChanges(
        added=tuple(sorted(k for k in new if k not in old)),
        removed=tuple(sorted(k for k in old if k not in new)),
        edited=tuple(sorted(k for k in new if k in old and old[k] != new[k])),
    )


def build_lock(suites: Mapping[str, tuple[str, Sequence[Case]]]) -> str:
    """The lock file text for suites given as name -> (cases path, cases)."""
    entries = {}
    for name, (path, cases) in sorted(suites.items()):
        hashes = case_hashes(cases)
        entries[name] = {"cases": path, "count": len(cases), "sha256": set_hash(hashes), "case_hashes": hashes}
    return json.dumps({"version": 1, "suites": entries}, indent=2, sort_keys=True) + "\n"


def parse_lock(text: str) -> dict[str, dict[str, str]]:
    """Suite name -> case id -> case hash. Raises ValueError with a readable reason."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: not valid JSON ({exc.msg}); regenerate it with `llmops lock`") from None
    suites = data.get("suites") if isinstance(data, dict) else None
    if not isinstance(suites, dict):
        raise ValueError("missing 'suites'; regenerate it with `llmops lock`")
    result: dict[str, dict[str, str]] = {}
    for name, entry in suites.items():
        hashes = entry.get("case_hashes") if isinstance(entry, dict) else None
        if not isinstance(hashes, dict) or set_hash(hashes) != entry.get("sha256"):
            raise ValueError(f"entry for suite {name!r} is damaged; regenerate it with `llmops lock`")
        result[name] = dict(hashes)
    return result
