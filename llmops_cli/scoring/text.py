"""Plain-text assertions: equals, contains, icontains, not_contains, regex."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmops_cli.scoring.base import Kind, Output, Verdict, keys_problems, short, shown


def _needs_string(spec: Mapping[str, Any], optional: tuple[str, ...] = ()) -> list[str]:
    problems = keys_problems(spec, ("value",), optional)
    if "value" in spec and not isinstance(spec["value"], str):
        problems.append("'value' must be a string")
    return problems


def _equals(out: Output, spec: Mapping[str, Any]) -> Verdict:
    expected = spec["value"]
    actual = out.text.strip() if spec.get("strip", True) else out.text
    return Verdict(actual == expected, "" if actual == expected else f"expected {shown(expected)}, got {shown(actual)}")


def _contains(out: Output, spec: Mapping[str, Any]) -> Verdict:
    ok = spec["value"] in out.text
    return Verdict(ok, "" if ok else f"output does not contain {shown(spec['value'])}")


def _icontains(out: Output, spec: Mapping[str, Any]) -> Verdict:
    ok = spec["value"].casefold() in out.text.casefold()
    return Verdict(ok, "" if ok else f"output does not contain {shown(spec['value'])} (any case)")


def _not_contains(out: Output, spec: Mapping[str, Any]) -> Verdict:
    ok = spec["value"] not in out.text
    return Verdict(ok, "" if ok else f"output contains forbidden {shown(spec['value'])}")


def _validate_regex(spec: Mapping[str, Any]) -> list[str]:
    problems = _needs_string(spec, ("ignore_case",))
    if not problems:
        try:
            re.compile(spec["value"])
        except re.error as exc:
            problems.append(f"invalid regex {spec['value']!r}: {exc}")
    return problems


def _regex(out: Output, spec: Mapping[str, Any]) -> Verdict:
    flags = re.IGNORECASE if spec.get("ignore_case") else 0
    ok = re.search(spec["value"], out.text, flags) is not None
    return Verdict(ok, "" if ok else f"output does not match /{short(spec['value'])}/")


EQUALS = Kind("equals", lambda spec: _needs_string(spec, ("strip",)), _equals)
CONTAINS = Kind("contains", _needs_string, _contains)
ICONTAINS = Kind("icontains", _needs_string, _icontains)
NOT_CONTAINS = Kind("not_contains", _needs_string, _not_contains)
REGEX = Kind("regex", _validate_regex, _regex)
