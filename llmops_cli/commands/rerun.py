"""`llmops rerun TRACES --prompt P --model staging`: replay production inputs on a new prompt/model.

Trace lines (JSONL), one logged call each; three shapes are read:
- flat: {"id", "vars": {...} | "messages": [...], "output": "...", "model", "timestamp"}
- LiteLLM logging: {"id", "model", "messages": [...], "response": {"choices": [{"message": {"content"}}]}}
- OpenInference-like span: {"context": {"span_id"}, "attributes": {"input.value": "<json vars>",
  "output.value": "...", "llm.model_name": "..."}}
With `vars` the new prompt renders them; with only `messages` they are replayed as logged.
Agreement with the logged output is reported as exact match, JSON-field agreement and a text
similarity ratio (difflib), plus schema validity and refusal rate of the new answers.
"""

from __future__ import annotations

import difflib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from llmops_cli.cases import Case, canonical_json, sha256_text
from llmops_cli.errors import InputError, Problems
from llmops_cli.plan import PlannedCall, request_key
from llmops_cli.project import load_project
from llmops_cli.providers import api_key, secrets_in_use
from llmops_cli.redact import Redactor
from llmops_cli.render import RenderError
from llmops_cli.report import refuse_project_folder, write_atomic
from llmops_cli.report.mdsafe import code, inline
from llmops_cli.scoring.base import parse_json_answer
from llmops_cli.scoring.refusal import refusal_phrases
from llmops_cli.scoring.score import ScoreContext
from llmops_cli.source import WorkTree
from llmops_cli.store import CallRecord, Store


@dataclass(frozen=True)
class Trace:
    id: str
    line: int
    vars: dict[str, Any] | None
    messages: list[dict[str, str]] | None
    output: str
    model: str | None


@dataclass
class RerunResult:
    run_id: str
    total: int
    metrics: dict[str, Any]
    changed: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def read_traces(path: Path, sample: float, seed: int, problems: Problems) -> Iterator[Trace]:
    """Stream the file; sampling is seeded so the same command picks the same lines."""
    picker = random.Random(seed)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip() or picker.random() >= sample:
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                problems.add(str(path), number, f"invalid JSON: {exc.msg}")
                continue
            trace = _trace(obj, number)
            if isinstance(trace, str):
                problems.add(str(path), number, trace)
            else:
                yield trace


def _trace(obj: Any, line: int) -> Trace | str:
    if not isinstance(obj, dict):
        return "each line must be a JSON object"
    attributes = obj.get("attributes")
    if isinstance(attributes, dict):  # OpenInference-like span
        raw_vars = attributes.get("input.value")
        try:
            variables = json.loads(raw_vars) if isinstance(raw_vars, str) else raw_vars
        except json.JSONDecodeError:
            return "attributes.input.value must be a JSON object of template variables"
        span = (obj.get("context") or {}).get("span_id")
        output = attributes.get("output.value")
        return _make(span or obj.get("id"), line, variables, None, output, attributes.get("llm.model_name"))
    output = obj.get("output")
    response = obj.get("response")
    if output is None and isinstance(response, dict):  # LiteLLM logging payload
        choices = response.get("choices") or [{}]
        output = ((choices[0] or {}).get("message") or {}).get("content")
    return _make(obj.get("id"), line, obj.get("vars"), obj.get("messages"), output, obj.get("model"))


def _make(trace_id: Any, line: int, variables: Any, messages: Any, output: Any, model: Any) -> Trace | str:
    if variables is not None and not isinstance(variables, dict):
        return "'vars' must be an object"
    if variables is None and not (isinstance(messages, list) and all(isinstance(m, dict) for m in messages)):
        return "a trace needs 'vars' (rendered with the new prompt) or 'messages' (replayed)"
    if not isinstance(output, str):
        return "a trace needs the logged output as a string ('output', response.choices[0].message.content or output.value)"
    return Trace(str(trace_id) if trace_id is not None else f"line-{line}", line, variables, messages, output,
                 str(model) if model else None)


def rerun(root: Path, traces_path: Path, prompt_name: str, model_alias: str, sample: float, seed: int,
          out: Path | None) -> RerunResult:
    refuse_project_folder(root, out)
    project = load_project(WorkTree(root))
    if prompt_name not in project.prompts:
        raise InputError(f"--prompt {prompt_name!r}: no prompts/{prompt_name}.yaml; known: {', '.join(project.prompts)}")
    if model_alias not in project.config.models:
        raise InputError(f"--model {model_alias!r}: not a model alias in llmops.yaml; known: {', '.join(project.config.models)}")
    if not 0 < sample <= 1:
        raise InputError(f"--sample {sample}: use a fraction in (0, 1], e.g. 0.01 for 1%")
    spec = project.config.models[model_alias]
    api_key(spec)
    prompt = project.prompts[prompt_name]
    compiled = project.compiled[prompt_name]
    ctx = ScoreContext((), prompt.schema, refusal_phrases(project.config.refusal), False)
    problems = Problems()
    calls, logged = [], {}
    for trace in read_traces(traces_path, sample, seed, problems):
        try:
            messages = compiled.render(trace.vars) if trace.vars is not None else trace.messages or []
        except RenderError as exc:
            problems.add(str(traces_path), trace.line, f"trace {trace.id!r}: {prompt.path}:{exc.line}: {exc.message}")
            continue
        case = Case(trace.id, trace.vars or {}, (), False, (), trace.line, sha256_text(canonical_json(messages))[:16])
        calls.append(PlannedCall("head", "rerun", prompt_name, spec, case, 0, messages, dict(prompt.params),
                                 request_key(spec, prompt.params, messages, 0), ctx))
        logged[trace.id] = trace
    problems.raise_if_any()
    if not calls:
        raise InputError(f"{traces_path}: no traces selected (sample {sample}); raise --sample")
    return _run(root, project, calls, logged, out)


def _run(root: Path, project: Any, calls: list[PlannedCall], logged: dict[str, Trace], out: Path | None) -> RerunResult:
    from llmops_cli.runner import Runner, RunLimits

    limits = project.config.limits
    store = Store(root)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-rerun-" + uuid.uuid4().hex[:4]
    try:
        store.start_run(run_id, "", {"kind": "rerun", "suites": {}}, None, False)
        redactor = Redactor(project.config.redact, secrets_in_use(project.config.models))
        Runner(store, run_id, RunLimits.from_config(limits), redactor).run(calls, set())
        records = list(store.results(run_id))
        result = _compare(run_id, records, logged, redactor)
        store.finish_run(run_id, "complete", {"rerun": result.metrics})
    finally:
        store.close()
    folder = out or root / ".llmops" / "reports" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    document = {"schema_version": 1, "kind": "rerun", "run_id": run_id, "metrics": result.metrics, "changed": result.changed}
    write_atomic(folder / "rerun.json", lambda handle: handle.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n"))
    write_atomic(folder / "rerun.md", lambda handle: handle.write(render_markdown(document)))
    result.files = [folder / "rerun.json", folder / "rerun.md"]
    return result


def field_agreement(old: str, new: str) -> float | None:
    """Share of the logged JSON's top-level fields the new answer reproduces (None: not JSON)."""
    before, after = parse_json_answer(old), parse_json_answer(new)
    if not isinstance(before, dict) or not isinstance(after, dict) or not before:
        return None
    return sum(1 for k, v in before.items() if after.get(k) == v) / len(before)


def _compare(run_id: str, records: list[CallRecord], logged: dict[str, Trace], redactor: Redactor) -> RerunResult:
    answered = [r for r in records if r.ok]
    exact = fields = 0
    field_scores: list[float] = []
    similarities: list[float] = []
    changed = []
    for r in answered:
        old = logged[r.case_id].output
        new_output = r.output or ""
        same = old.strip() == new_output.strip()
        exact += same
        agreement = field_agreement(old, new_output)
        if agreement is not None:
            fields += 1
            field_scores.append(agreement)
        similarities.append(difflib.SequenceMatcher(None, old, new_output).ratio())
        if not same:
            changed.append({"id": r.case_id, "logged_output": redactor.text(old), "new_output": new_output,
                            "field_agreement": agreement, "similarity": similarities[-1]})
    schema = [r.schema_valid for r in answered if r.schema_valid is not None]
    n = len(answered)
    metrics = {
        "traces": len(records), "answered": n, "errors": len(records) - n,
        "exact_agreement": exact / n if n else None,
        "json_field_agreement": sum(field_scores) / fields if fields else None,
        "similarity_mean": sum(similarities) / n if n else None,
        "schema_validity": sum(schema) / len(schema) if schema else None,
        "refusal_rate": sum(r.refused for r in answered) / n if n else None,
        "changed": len(changed),
    }
    return RerunResult(run_id, len(records), metrics, changed)


def render_markdown(document: dict[str, Any]) -> str:
    m = document["metrics"]
    pct = lambda v: "n/a" if v is None else f"{v:.1%}"  # noqa: E731
    lines = [f"## llmops rerun {code(document['run_id'])}", "",
             f"{m['traces']} traces replayed, {m['errors']} errors, {m['changed']} answers changed.", "",
             "| exact | JSON fields | similarity | schema valid | refusal |", "|---:|---:|---:|---:|---:|",
             f"| {pct(m['exact_agreement'])} | {pct(m['json_field_agreement'])} | {pct(m['similarity_mean'])} | "
             f"{pct(m['schema_validity'])} | {pct(m['refusal_rate'])} |", ""]
    for item in document["changed"][:50]:
        lines += [f"- **{inline(item['id'])}** (similarity {item['similarity']:.2f})",
                  "  - logged: " + code(item["logged_output"][:300]), "  - new: " + code(item["new_output"][:300])]
    return "\n".join(lines) + "\n"
