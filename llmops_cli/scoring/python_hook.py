"""The `python` assertion: a user function `module:function`, opt-in.

It runs code from the repository, which may come from a pull request, so it runs only when
llmops.yaml says `allow_python: true`; the report states that it ran.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

from llmops_cli.scoring.base import Kind, Output, Verdict, keys_problems

_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def _validate(spec: Mapping[str, Any]) -> list[str]:
    problems = keys_problems(spec, ("function",), ("args",))
    if "function" in spec and not (isinstance(spec["function"], str) and _TARGET.fullmatch(spec["function"])):
        problems.append("'function' must look like package.module:function")
    return problems


def _check(out: Output, spec: Mapping[str, Any]) -> Verdict:
    if not out.allow_python:
        return Verdict(False, "python assertions are disabled; set allow_python: true in llmops.yaml")
    module_name, function_name = spec["function"].split(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        result = function(out.text, dict(out.vars), **dict(spec.get("args", {})))
    except Exception as exc:  # noqa: BLE001 - a failing user check is a failed assertion, never a pass
        return Verdict(False, f"{spec['function']} raised {type(exc).__name__}: {exc}")
    if isinstance(result, tuple) and len(result) == 2:
        return Verdict(bool(result[0]), str(result[1]))
    if isinstance(result, bool):
        return Verdict(result, "" if result else f"{spec['function']} returned False")
    return Verdict(False, f"{spec['function']} must return a bool or (bool, reason), got {type(result).__name__}")


PYTHON = Kind("python", _validate, _check)
