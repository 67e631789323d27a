"""Keys never sit in files: find credentials written into llmops.yaml or a prompt's params.

A key in a file ends up in git history, and in every report when a provider echoes it. So
`check` and `eval` refuse (exit 2) a credential-bearing key name anywhere in llmops.yaml or a
prompt's `params` (`api_key`, `Authorization` under `extra_headers`, `*token*`, `*secret*`,
`password`, ...: but not token counts such as `max_tokens`), and any value that looks like a key
(the formats of the `secret` redaction rule, or a URL carrying `user:password@`). The value is
never repeated in the message.
"""

from __future__ import annotations

import re
from typing import Any

from llmops_cli.errors import Problems
from llmops_cli.yamlfile import LineDict, LineList

ADVICE = "keys come only from the environment; use api_key_env (the name of a variable) in llmops.yaml"
_CREDENTIAL_NAME = re.compile(r"api_?key|authorization|auth_?token|password|passwd|secret|credential|bearer"
                              r"|private_?key|access_?key|session_?key|token|cookie", re.IGNORECASE)
_COUNT_NAME = re.compile(r"tokens|per_?token|max_?token|min_?token|budget|limit|count|(?:stop|eos|bos|pad)_?token"
                         r"|token_?(?:ids?|count|limit|budget|type)", re.IGNORECASE)
_ALWAYS_CREDENTIAL = re.compile(r"api_?key|secret|password|passwd|auth|credential|bearer|cookie", re.IGNORECASE)
_URL_USERINFO = re.compile(r"//[^/@\s:]+:[^/@\s]+@")
NOT_A_CREDENTIAL = frozenset({"api_key_env"})  # the variable's name, checked on its own in config.py


def credential_name(name: str) -> bool:
    """`api_key`, `x-api-key`, `Authorization`, `access_token`: yes; `max_tokens`, `budget_tokens`: no."""
    name = name.replace("-", "_")
    if name.lower() in NOT_A_CREDENTIAL or not _CREDENTIAL_NAME.search(name):
        return False
    return bool(_ALWAYS_CREDENTIAL.search(name)) or not _COUNT_NAME.search(name)


def looks_like_key(value: str) -> bool:
    from llmops_cli.redact import ALWAYS_ON, BUILTIN_PATTERNS  # redact imports config: import when used

    return bool(re.search(BUILTIN_PATTERNS[ALWAYS_ON], value) or _URL_USERINFO.search(value))


def find_credentials(node: Any, file: str, where: str, problems: Problems) -> None:
    """Every credential under `node` (a parsed YAML value; depth and size are bounded by the loader)."""
    items: list[tuple[Any, Any, int]] = []
    if isinstance(node, LineDict):
        items = [(key, value, node.line_of(key)) for key, value in node.items()]
    elif isinstance(node, LineList):
        items = [(index, value, node.line_of(index)) for index, value in enumerate(node)]
    for key, value, line in items:
        path = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and credential_name(key):
            problems.add(file, line, f"{path} is a credential; {ADVICE}")
        elif isinstance(key, str) and key in NOT_A_CREDENTIAL:
            continue
        elif isinstance(value, str) and looks_like_key(value):
            problems.add(file, line, f"{path} holds what looks like a key; {ADVICE}")
        else:
            find_credentials(value, file, path, problems)


ENDPOINT_PARAMS = ("api_base", "base_url")


def find_endpoint_params(params: Any, file: str, where: str, problems: Problems) -> None:
    """An endpoint hidden in `params` would go around the pull-request check of `api_base`."""
    if isinstance(params, LineDict):
        for key in params:
            if key in ENDPOINT_PARAMS:
                problems.add(file, params.line_of(key), f"{where}.{key}: set the endpoint as api_base on the model "
                                                        "in llmops.yaml, not in params")

