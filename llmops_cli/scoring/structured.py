"""Assertions on structured answers: schema, json_field, numeric."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from llmops_cli.cases import canonical_json
from llmops_cli.scoring.base import Kind, Output, Verdict, keys_problems, shown

_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    import json

    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    return validator_for(schema)(schema)


_COMPILED: dict[int, tuple[Mapping[str, Any], Any]] = {}  # id(schema) -> (schema, validator), for schemas in use


def _compiled(schema: Mapping[str, Any]) -> Any:
    """The validator of a schema object, found without serialising the schema again for every answer."""
    hit = _COMPILED.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = _validator(canonical_json(schema))
    if len(_COMPILED) < 256:  # the schema is kept alive with its entry, so its id is not reused
        _COMPILED[id(schema)] = (schema, validator)
    return validator


def schema_errors(value: Any, schema: Mapping[str, Any]) -> str | None:
    """None when `value` validates; else the first error, readable."""
    error = next(iter(_compiled(schema).iter_errors(value)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


def output_schema_error(out: Output, schema: Mapping[str, Any]) -> str | None:
    """The answer checked against a schema once per answer, however many assertions ask;
    raises ValueError when the answer is not JSON."""
    value = out.json()
    key = id(schema)
    if key not in out._schema_checks:
        out._schema_checks[key] = schema_errors(value, schema)
    return out._schema_checks[key]


def _validate_schema(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, (), ("schema",))
    if "schema" in spec:
        from jsonschema import SchemaError
        from jsonschema.validators import validator_for

        try:
            validator_for(spec["schema"]).check_schema(spec["schema"])
        except SchemaError as exc:
            problems.append(f"'schema' is not a valid JSON Schema: {exc.message}")
    return problems


def _schema(out: Output, spec: Mapping[str, Any]) -> Verdict:
    # an explicit schema, even `{}` (any JSON, as a bare promptfoo is-json), wins over the prompt's
    schema = spec["schema"] if spec.get("schema") is not None else out.schema
    if schema is None:
        return Verdict(False, "no schema: declare output.schema in the prompt or give 'schema'")
    try:
        error = output_schema_error(out, schema)
    except ValueError as exc:
        return Verdict(False, str(exc))
    return Verdict(error is None, error or "")


def lookup(value: Any, path: str) -> Any:
    """Follow a path like `items[0].name` or `items.0.name`; raises KeyError when absent."""
    for part in _PATH_PART.findall(path):
        key: Any = int(part[1:-1]) if part.startswith("[") else part
        if isinstance(value, list):
            index = int(key) if isinstance(key, int) or str(key).isdigit() else None
            if index is None or index >= len(value):
                raise KeyError(path)
            value = value[index]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise KeyError(path)
    return value


def _validate_json_field(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("path",), ("equals", "in", "regex", "contains", "tolerance"))
    tests = [k for k in ("equals", "in", "regex", "contains") if k in spec]
    if len(tests) != 1:
        problems.append("give exactly one of equals, in, regex, contains")
    if "in" in spec and not isinstance(spec["in"], list):
        problems.append("'in' must be a list")
    if "tolerance" in spec and (not isinstance(spec.get("equals"), (int, float)) or isinstance(spec.get("equals"), bool)):
        problems.append("'tolerance' needs a numeric 'equals'")
    if "tolerance" in spec and (not isinstance(spec["tolerance"], (int, float)) or isinstance(spec["tolerance"], bool)
                                or spec["tolerance"] < 0):
        problems.append("'tolerance' must be a number >= 0")
    return problems


def _json_field(out: Output, spec: Mapping[str, Any]) -> Verdict:
    path = spec["path"]
    try:
        value = lookup(out.json(), path)
    except ValueError as exc:
        return Verdict(False, str(exc))
    except KeyError:
        return Verdict(False, f"field {path!r} is missing")
    if "equals" in spec:
        expected = spec["equals"]
        if "tolerance" in spec:
            ok = _close(value, expected, spec["tolerance"])
        else:
            ok = same_json(value, expected)
        return Verdict(ok, "" if ok else f"{path}: expected {shown(expected)}, got {shown(value)}")
    if "in" in spec:
        ok = any(same_json(value, option) for option in spec["in"])
        return Verdict(ok, "" if ok else f"{path}: {shown(value)} not in {shown(spec['in'])}")
    if "contains" in spec:
        ok = isinstance(value, (str, list)) and spec["contains"] in value
        return Verdict(ok, "" if ok else f"{path}: {shown(value)} does not contain {shown(spec['contains'])}")
    ok = isinstance(value, str) and re.search(spec["regex"], value) is not None
    return Verdict(ok, "" if ok else f"{path}: {shown(value)} does not match /{spec['regex']}/")


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1` and `false` is not `0` (Python's == says they are); 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
    return bool(a == b)


def _close(value: Any, expected: float, tolerance: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value - expected) <= tolerance


def _validate_numeric(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("equals",), ("tolerance", "path"))
    if not isinstance(spec.get("equals"), (int, float)) or isinstance(spec.get("equals"), bool):
        problems.append("'equals' must be a number")
    tolerance = spec.get("tolerance", 0)
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        problems.append("'tolerance' must be a number >= 0")
    return problems


def _numeric(out: Output, spec: Mapping[str, Any]) -> Verdict:
    expected, tolerance = spec["equals"], spec.get("tolerance", 0)
    if "path" in spec:
        try:
            value = lookup(out.json(), spec["path"])
        except (ValueError, KeyError) as exc:
            return Verdict(False, f"no number at {spec['path']!r}: {exc}")
    else:
        match = _NUMBER.search(out.text.replace(",", ""))
        if match is None:
            return Verdict(False, "output contains no number")
        value = float(match.group())
    ok = _close(value, expected, tolerance)
    return Verdict(ok, "" if ok else f"expected {expected}±{tolerance}, got {shown(value)}")


SCHEMA = Kind("schema", _validate_schema, _schema)
JSON_FIELD = Kind("json_field", _validate_json_field, _json_field)
NUMERIC = Kind("numeric", _validate_numeric, _numeric)
