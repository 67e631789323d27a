"""Which models may be given a key when llmops.yaml itself comes from a pull request.

On a pull request the head's llmops.yaml is the PR's own: it could point a model's `api_base` at
a host it chooses, or name another secret in `api_key_env`, and the workflow's key would be sent
there with the prompts (litellm also sends its usual variables, OPENAI_API_KEY and friends, to
whatever `api_base` says). So on a pull request a model's endpoint, the pair (api_base,
api_key_env), must be one the baseline's llmops.yaml already uses; any other is refused before a
single call is made, unless the workflow opts in. A model with neither (litellm's own endpoint
and variables) is always allowed: the PR cannot redirect those.

llmops knows it runs on a pull request from GitHub's `GITHUB_EVENT_NAME` (`pull_request`,
`pull_request_target`), or from `LLMOPS_PULL_REQUEST=true` on other CI systems. Every command that
calls a model applies it: `eval`, `diff --run` and `rerun`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from llmops_cli.config import CONFIG_FILE, ModelSpec
from llmops_cli.errors import Problems

PR_EVENTS = ("pull_request", "pull_request_target")
ALLOW_ENV = "LLMOPS_ALLOW_NEW_ENDPOINTS"
ALLOW_FLAG = "--allow-new-endpoints"

Endpoint = tuple[str | None, str | None]


def on_pull_request(environ: Mapping[str, str]) -> bool:
    return (environ.get("GITHUB_EVENT_NAME", "") in PR_EVENTS
            or environ.get("LLMOPS_PULL_REQUEST", "").strip().lower() in ("1", "true", "yes"))


def endpoint(spec: ModelSpec) -> Endpoint:
    """Where a model's key goes: its api_base (or the variable it is read from, whose value the
    workflow sets) and the variable the key is read from."""
    if spec.api_base_env:
        return (f"${spec.api_base_env}", spec.api_key_env)
    return (spec.api_base.strip().rstrip("/") if spec.api_base else None, spec.api_key_env)


def new_endpoints(head: Iterable[ModelSpec], trusted: Iterable[ModelSpec]) -> list[ModelSpec]:
    """Head models whose endpoint no trusted model uses. A loopback endpoint without api_key_env is
    sent a placeholder, never a key, so it needs no trust."""
    from llmops_cli.providers import is_loopback  # providers imports litellm lazily: cheap here

    known = {endpoint(s) for s in trusted} | {(None, None)}
    return [s for s in head if endpoint(s) not in known
            and not (s.api_key_env is None and not s.api_base_env and is_loopback(s.api_base))]


def guard_pull_request(head: Iterable[ModelSpec], trusted: Iterable[ModelSpec], baseline: str | None,
                       allowed: bool) -> None:
    """On a pull request, unless the workflow allows it, refuse (exit 2) every model of `head` whose endpoint
    no `trusted` model (from llmops.yaml at `baseline`, a ref the workflow named) uses."""
    if on_pull_request(os.environ) and not allowed:
        refuse_new_endpoints(head, trusted, baseline)


def refuse_new_endpoints(head: Iterable[ModelSpec], trusted: Iterable[ModelSpec], baseline: str | None) -> None:
    """Exit 2, one line per model, before any key leaves the process."""
    problems = Problems()
    against = (f"the baseline's llmops.yaml ({baseline})" if baseline
               else "a baseline named by --baseline (the only llmops.yaml trusted on a pull request)")
    for spec in new_endpoints(head, trusted):
        where = (f"${spec.api_base_env}" if spec.api_base_env else spec.api_base or "litellm's default endpoint")[:80]
        key = f"${spec.api_key_env}" if spec.api_key_env else "litellm's usual key variables"
        problems.add(CONFIG_FILE, spec.line or None,
                     f"model {spec.alias!r} would send {key} to {where}, an endpoint not in {against}; on a pull "
                     f"request a new api_base or api_key_env gets no key unless the workflow allows it "
                     f"({ALLOW_FLAG} or {ALLOW_ENV}=true; action input allow-new-endpoints: true)")
    problems.raise_if_any()
