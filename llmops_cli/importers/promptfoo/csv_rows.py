"""A promptfoo CSV (or TSV) tests file: each row -> a promptfoo test (vars, `__expected` cells as
assertions, `__description`, `__metadata:*`, ...), to be converted like an inline test."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

CSV_SIMILAR_DEFAULT = 0.8   # promptfoo's default for `similar` in a CSV `__expected` cell (0.75 in YAML)
# the types a CSV `__expected` cell may name (promptfoo's assertionFromString)
_CSV_TYPES = ("answer-relevance", "assert-set", "bleu", "classifier", "contains-all", "contains-any", "contains-html",
              "contains-json", "contains-sql", "contains-xml", "contains", "context-faithfulness", "context-recall",
              "context-relevance", "conversation-relevance", "cost", "equals", "factuality", "finish-reason", "g-eval",
              "gleu", "guardrails", "icontains-all", "icontains-any", "icontains", "is-html", "is-json", "is-refusal",
              "is-sql", "is-valid-function-call", "is-valid-openai-function-call", "is-valid-openai-tools-call",
              "is-xml", "javascript", "latency", "levenshtein", "llm-rubric", "meteor", "model-graded-closedqa",
              "model-graded-factuality", "moderation", "perplexity-score", "perplexity", "pi", "python", "regex",
              "rouge-n", "select-best", "similar", "starts-with", "webhook", "word-count")
_CSV_ASSERT = re.compile(rf"^(not-)?({'|'.join(map(re.escape, _CSV_TYPES))})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")


def csv_tests(imp: Importer, where: str, ref: str, shown: str) -> Iterable[tuple[Any, str, str | None]]:
    """(test, where, file label) for every row of the CSV or TSV file `ref`."""
    reader = csv.DictReader(io.StringIO(imp.read(where, ref)), delimiter="\t" if ref.endswith(".tsv") else ",")
    for row in reader:
        yield csv_test(imp, row, f"line {reader.line_num}", shown), f"line {reader.line_num}", shown


def csv_test(imp: Importer, row: Mapping[str, Any], where: str, file: str) -> dict[str, Any]:
    """One row as a promptfoo test, as promptfoo's testCaseFromCsvRow builds it."""
    test: dict[str, Any] = {"vars": {}, "assert": [], "metadata": {}}
    configs: dict[int, float] = {}    # index among the row's assertions -> threshold
    for raw_key, value in row.items():
        value = "" if value is None else str(value)
        key = raw_key.strip() if raw_key is not None else None
        if key is None:
            imp.skip(where, "more cells than columns; extra cells dropped", file)
        elif key.startswith("__expected"):
            if value.strip():
                test["assert"].append(_assertion_from_string(value.strip()))
        elif key == "__description":
            test["description"] = value
        elif key.startswith("__metadata:"):
            name = key[len("__metadata:"):]
            if name.endswith("[]") and value.strip():
                test["metadata"][name[:-2]] = [v.strip().replace("\\,", ",") for v in re.split(r"(?<!\\),", value)]
            elif not name.endswith("[]") and value.strip():
                test["metadata"][name] = value
        elif key.startswith("__config:"):
            index, threshold = _config_cell(imp, key, value, f"{where}, column {key}", file)
            configs[index] = threshold
        elif key == "__threshold":
            test["threshold"] = value
        elif key in ("__prefix", "__suffix"):
            test.setdefault("options", {})[key[2:]] = value
        elif key == "__metric":
            imp.metrics.add(value)
        elif key.startswith("__"):
            imp.skip(f"{where} column {key}", "no llmops equivalent; dropped", file)
        else:
            test["vars"][key] = value
    for index, threshold in configs.items():
        if index < len(test["assert"]):       # promptfoo counts the row's non-empty __expected cells
            test["assert"][index]["threshold"] = threshold
            test["metadata"]["threshold"] = threshold
    return test


def _config_cell(imp: Importer, key: str, value: str, where: str, file: str) -> tuple[int, float]:
    """`__config:__expectedN:threshold` -> (0-based assertion index, threshold); promptfoo stops on
    any other form, and so does the import."""
    target, _, setting = key[len("__config:"):].partition(":")
    match = re.fullmatch(r"__expected(\d*)", target)
    if not match or match.group(1) == "0" or ":" in setting:
        raise imp.fail(where, "use __config:__expected:threshold or __config:__expectedN:threshold", file)
    if setting != "threshold":
        raise imp.fail(where, f"only 'threshold' can be set (promptfoo refuses {setting!r} too)", file)
    try:
        threshold = float(value)
    except ValueError:
        threshold = float("nan")
    if threshold != threshold or threshold in (float("inf"), float("-inf")):
        raise imp.fail(where, f"threshold {value!r} is not a number", file)
    return (int(match.group(1)) - 1 if match.group(1) else 0), threshold


def _assertion_from_string(text: str) -> dict[str, Any]:
    """A CSV `__expected` cell as a promptfoo assertion (promptfoo's documented cell syntax)."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if text.startswith(prefix):
            return {"type": "javascript", "value": text[len(prefix):].strip()}
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix):].strip()}
    if text.startswith("python:") or (text.startswith("file://") and (text.endswith(".py") or ".py:" in text)):
        return {"type": "python", "value": text.removeprefix("python:").strip()}
    if text.startswith("file://") and text.endswith((".js", ".ts", ".cjs", ".mjs")):
        return {"type": "javascript", "value": text}
    match = _CSV_ASSERT.match(text)
    if not match:
        return {"type": "equals", "value": text}
    negate, kind, threshold, value = match.groups()
    result: dict[str, Any] = {"type": f"{negate or ''}{kind}", "value": (value or "").strip()}
    if kind in ("contains-all", "contains-any", "icontains-all", "icontains-any"):
        result["value"] = [v.strip() for v in (value or "").split(",")]
    if kind in ("similar", "cost", "latency", "levenshtein", "rouge-n", "starts-with", "answer-relevance",
                "classifier", "perplexity", "perplexity-score", "context-faithfulness", "context-recall",
                "context-relevance"):
        result["threshold"] = float(threshold) if threshold else (CSV_SIMILAR_DEFAULT if kind == "similar" else 0.75)
    if kind in ("cost", "latency") and not value:
        result.pop("value")
    return result
