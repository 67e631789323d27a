"""`similarity`: cosine similarity between the answer and an expected text, through embeddings.

Both texts are embedded in one `litellm.aembedding` call by the embedding model alias
(`embedding_model` in llmops.yaml, or the assertion's `model`), cached like any call, so a rerun
costs nothing. Useful where wording may vary but the meaning should not; the threshold depends
on the embedding model, so calibrate it on a few known-good and known-bad answers. (A local
sentence-transformers backend, with no API at all, is future work.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from llmops_cli.scoring.base import Grade, Grader, GraderError, GraderMessages, Kind, Output, Verdict, keys_problems

VERSION = "cosine-v1"
DEFAULT_THRESHOLD = 0.8


def _validate(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("value",), ("threshold", "model"))
    if "value" in spec and (not isinstance(spec["value"], str) or not spec["value"].strip()):
        problems.append("'value' must be a non-empty string (the expected text)")
    threshold = spec.get("threshold", DEFAULT_THRESHOLD)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not -1 <= threshold <= 1:
        problems.append("'threshold' must be a number from -1 to 1")
    if "model" in spec and not isinstance(spec["model"], str):
        problems.append("'model' must be an embedding model alias from llmops.yaml")
    return problems


def request(answer: str, spec: Mapping[str, Any], case_vars: Mapping[str, Any]) -> GraderMessages:
    return GraderMessages([{"role": "input", "content": answer}, {"role": "input", "content": spec["value"]}])


def cosine(a: list[float], b: list[float]) -> float:
    """0.0 when either vector is all zeros (nothing to compare is not similar)."""
    norm = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
    return math.fsum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def parse(text: str) -> Grade:
    """`text` is the provider's two vectors as JSON (what the cache stores)."""
    try:
        vectors = json.loads(text)
    except ValueError:
        raise GraderError("embedding reply is not JSON") from None
    if (not isinstance(vectors, list) or len(vectors) != 2
            or not all(isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in vectors)
            or len(vectors[0]) != len(vectors[1])):
        raise GraderError("embedding reply must be two numeric vectors of the same length")
    value = cosine(vectors[0], vectors[1])
    return Grade(value, f"cosine similarity {value:.3f}")


def _check(out: Output, spec: Mapping[str, Any]) -> Verdict:
    if out.grade is None:
        return Verdict(False, "not graded: the answer was empty or a refusal")
    threshold = spec.get("threshold", DEFAULT_THRESHOLD)
    ok = out.grade.score >= threshold
    return Verdict(ok, f"cosine similarity {out.grade.score:.3f} {'>=' if ok else '<'} {threshold:g}")


SIMILARITY = Kind("similarity", _validate, _check, Grader("embedding", "embedding_model", VERSION, request, parse))
