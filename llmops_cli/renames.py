"""Following renamed prompts and suites, so a rename never switches the drop gate off.

The gate pairs head and baseline by (suite, prompt, model). After `git mv prompts/geo.yaml
prompts/geo2.yaml` the head's group is `geo2` and the baseline's `geo`: without this module the
two never meet and a regression made in the same change passes unseen. A rename is:

- a prompt: git's rename detection between the baseline commit and the work tree (staged or
  committed), or a prompt file whose text is unchanged under a new name;
- a suite: git's rename detection on its suite.yaml or cases file, or an identical golden set
  (the same per-case hashes) under a new folder name.

Only one-to-one matches count. The baseline is then relabelled with the head's names before it
is planned, and each rename becomes a note; whatever still has no counterpart is reported by
the gate as not compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from llmops_cli.config import EVALS_DIR, PROMPTS_DIR
from llmops_cli.lock import case_hashes, set_hash
from llmops_cli.project import Project
from llmops_cli.store import CallRecord


@dataclass(frozen=True)
class Renames:
    prompts: Mapping[str, str] = field(default_factory=dict)  # baseline name -> head name
    suites: Mapping[str, str] = field(default_factory=dict)

    def notes(self) -> list[str]:
        return ([f"prompt {old!r} is now {new!r}: compared with its baseline under the old name"
                 for old, new in sorted(self.prompts.items())]
                + [f"suite {old!r} is now {new!r}: compared with its baseline under the old name"
                   for old, new in sorted(self.suites.items())])


SEARCHED = [PROMPTS_DIR, EVALS_DIR]  # where git's rename detection is asked to look


def find_renames(base: Project, head: Project, moved: Mapping[str, str]) -> Renames:
    """Renames from the baseline project to the head's; `moved` is git's old path -> new path."""
    prompts = _match(
        gone={n: p.path for n, p in base.prompts.items() if n not in head.prompts},
        new={n: p.path for n, p in head.prompts.items() if n not in base.prompts},
        moved=moved,
        same=lambda old, new: base.prompts[old].text == head.prompts[new].text)
    suite_files = {n: (s.path, s.cases_path) for n, s in base.suites.items()}
    head_files = {n: (s.path, s.cases_path) for n, s in head.suites.items()}
    suites = _match_suites(
        gone={n: suite_files[n] for n in base.suites if n not in head.suites},
        new={n: head_files[n] for n in head.suites if n not in base.suites},
        moved=moved,
        base_sets={n: _set_of(base, n) for n in base.suites},
        head_sets={n: _set_of(head, n) for n in head.suites})
    return Renames(prompts, suites)


def _set_of(project: Project, suite: str) -> str | None:
    cases = project.cases.get(suite)
    return set_hash(case_hashes(cases)) if cases else None


def _one_to_one(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Keep only pairs whose old and new name each occur once."""
    pairs = list(set(pairs))
    olds = [o for o, _ in pairs]
    news = [n for _, n in pairs]
    return {o: n for o, n in pairs if olds.count(o) == 1 and news.count(n) == 1}


def _match(gone: Mapping[str, str], new: Mapping[str, str], moved: Mapping[str, str],
           same: Callable[[str, str], bool]) -> dict[str, str]:
    """Git's moves first; a name git did not see moved may still match by identical content."""
    by_path = {path: name for name, path in new.items()}
    pairs = [(old, by_path[moved[path]]) for old, path in gone.items() if moved.get(path) in by_path]
    seen = {old for old, _ in pairs} | {n for _, n in pairs}
    pairs += [(old, n) for old in gone for n in new if old not in seen and n not in seen and same(old, n)]
    return _one_to_one(pairs)


def _match_suites(gone: Mapping[str, tuple[str, str]], new: Mapping[str, tuple[str, str]], moved: Mapping[str, str],
                  base_sets: Mapping[str, str | None], head_sets: Mapping[str, str | None]) -> dict[str, str]:
    by_path = {path: name for name, paths in new.items() for path in paths}
    pairs = [(old, by_path[moved[path]]) for old, paths in gone.items() for path in paths if moved.get(path) in by_path]
    pairs += [(old, n) for old in gone for n in new
              if base_sets.get(old) is not None and base_sets.get(old) == head_sets.get(n)]
    return _one_to_one(pairs)


def relabel_project(base: Project, renames: Renames) -> Project:
    """The baseline project under the head's names, so its calls pair with the head's."""
    if not (renames.prompts or renames.suites):
        return base
    p, s = renames.prompts, renames.suites
    prompts = {p.get(n, n): dataclasses.replace(prompt, name=p.get(n, n)) for n, prompt in base.prompts.items()}
    compiled = {p.get(n, n): dataclasses.replace(c, prompt=prompts[p.get(n, n)]) for n, c in base.compiled.items()}
    suites = {s.get(n, n): dataclasses.replace(suite, name=s.get(n, n), prompts=tuple(p.get(x, x) for x in suite.prompts))
              for n, suite in base.suites.items()}
    cases = {s.get(n, n): c for n, c in base.cases.items()}
    lock = {s.get(n, n): v for n, v in base.lock.items()} if base.lock is not None else None
    return dataclasses.replace(base, prompts=prompts, compiled=compiled, suites=suites, cases=cases, lock=lock)


def relabel_records(records: Iterable[CallRecord], renames: Renames) -> list[CallRecord]:
    """Baseline records (from a saved results.json) under the head's names."""
    return [dataclasses.replace(r, suite=renames.suites.get(r.suite, r.suite), prompt=renames.prompts.get(r.prompt, r.prompt))
            for r in records]


def suite_renames_by_golden_set(base_sets: Mapping[str, str], head: Project) -> Renames:
    """For a saved results.json (no project to read): suites whose golden set is identical."""
    head_sets = {n: _set_of(head, n) for n in head.suites}
    gone = [n for n in base_sets if n not in head.suites]
    pairs = [(old, n) for old in gone for n in head.suites if n not in base_sets and head_sets[n] == base_sets[old]]
    return Renames(suites=_one_to_one(pairs))
