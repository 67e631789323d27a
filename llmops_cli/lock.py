"""llmops.lock: the sha256 of every golden set, so a PR cannot quietly edit its own exam.

Per suite it stores the set's hash, its size and a short hash per case, which lets `check`
and the gate say exactly which cases were added, removed or edited since the lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llmops_cli.casefiles import jsonl_lines
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


class LockError(ValueError):
    """llmops.lock cannot be trusted; `line` is in the lock file when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_lock(text: str) -> dict[str, dict[str, str]]:
    """Suite name -> case id -> case hash. Raises LockError with a readable reason."""
    again = "regenerate it with `llmops lock` (after checking the golden sets are the ones you mean to lock)"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        line, why = (exc.lineno, exc.msg) if isinstance(exc, json.JSONDecodeError) else (None, "nested too deeply")
        raise LockError(line, f"not valid JSON ({why}); {again}") from None
    suites = data.get("suites") if isinstance(data, dict) else None
    if not isinstance(suites, dict):
        raise LockError(1, f"missing 'suites'; {again}")
    result: dict[str, dict[str, str]] = {}
    for name, entry in suites.items():
        hashes = entry.get("case_hashes") if isinstance(entry, dict) else None
        if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()) \
                or set_hash(hashes) != entry.get("sha256"):
            line = next((n for n, raw in enumerate(jsonl_lines(text), 1) if raw.strip().startswith(json.dumps(name))), None)
            raise LockError(line, f"entry for suite {name!r} does not match its own sha256 (edited by hand?); {again}")
        result[name] = dict(hashes)
    return result
