"""OpenAI-compatible endpoints called through the official openai SDK, without litellm.

litellm costs about 12 ms of CPU per call and 3 s plus 140 MB to import; the openai SDK (which
litellm itself installs and uses for these endpoints) costs about 4 ms per call. With 32 calls in
flight the event loop is CPU-bound, so on a first CI run litellm, not the model, set the pace.
For a model litellm would send through the OpenAI SDK anyway (`openai/...`, with or without
`api_base`), llmops calls the SDK itself, with one `AsyncOpenAI` per (endpoint, key) on the
guarded HTTP client of httpclient.py (size cap, whole-call deadline, cross-origin redirect refused,
wire time). The request is the one litellm sends: the model name without its `openai/` prefix and
every parameter in the body (tools, tool_choice, response_format, a provider's own), as litellm
does for OpenAI routes. The answer is read, retried and classified by providers.py, the same code as
litellm's answers, so both paths store the same records (tests/test_conformance.py).

Routes litellm rewrites are left to it: reasoning families (o1, o3, o4, gpt-5: max_tokens becomes
max_completion_tokens, temperature is dropped) and models priced by tiers. `client: litellm` on a
model alias forces litellm; `client: openai` sends an alias with `api_base` on another litellm route
(hosted_vllm/, lm_studio/, ...) through the SDK. Prices come from litellm's bundled price table,
read as JSON (see `table_cost`), so a run that needs no other litellm model never imports it.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmops_cli.config import ModelSpec
from llmops_cli.httpclient import MAX_RESPONSE_BYTES, plain_client

OPENAI_PREFIX = "openai/"
PRICE_TABLE = "model_prices_and_context_window_backup.json"  # litellm's offline copy (LITELLM_LOCAL_MODEL_COST_MAP)
_REWRITTEN = re.compile(r"(o\d|gpt-5)", re.IGNORECASE)  # families whose params litellm rewrites for OpenAI


def direct_route(spec: ModelSpec) -> bool:
    """Whether this model's calls go through the openai SDK directly (else through litellm)."""
    if spec.client != "auto":
        return spec.client == "openai"
    if not spec.model.startswith(OPENAI_PREFIX):
        return False
    name = wire_model(spec)
    return bool(name) and not _REWRITTEN.match(name) and not _tiered(price_entry(spec.model))


def wire_model(spec: ModelSpec) -> str:
    """The model name sent to the endpoint: litellm's provider prefix taken off, as litellm does."""
    provider, slash, name = spec.model.partition("/")
    return name if slash and provider else spec.model


def endpoint(spec: ModelSpec) -> str | None:
    """Where the calls go: the alias's `api_base`, else the variables litellm reads for OpenAI (the SDK reads
    only the first), else OpenAI itself (None: the SDK's default)."""
    return spec.api_base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE") or None


# ---- prices: litellm's table, read as data ------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _price_table() -> Mapping[str, Any]:
    """The price table shipped inside the litellm package; found without importing litellm ({} if absent)."""
    found = importlib.util.find_spec("litellm")
    for folder in (found.submodule_search_locations or []) if found else []:
        path = Path(folder) / PRICE_TABLE
        if path.is_file():
            table = json.loads(path.read_text(encoding="utf-8"))
            return table if isinstance(table, dict) else {}
    return {}


def price_entry(model: str) -> Mapping[str, Any] | None:
    """The table's entry for a model string, as litellm looks it up: whole, then without the provider prefix."""
    table = _price_table()
    for name in (model, model.partition("/")[2]):
        entry = table.get(name) if name else None
        if isinstance(entry, dict):
            return entry
    return None


def _tiered(entry: Mapping[str, Any] | None) -> bool:
    """A price that depends on the prompt's size: litellm's cost code applies the tiers, so litellm prices it."""
    return entry is not None and any(k.startswith(("input_cost_per_token_above", "output_cost_per_token_above"))
                                     for k in entry)


def table_cost(model: str, tokens_in: int, tokens_out: int, cached_in: int = 0) -> float | None:
    """What litellm's cost_per_token gives for a flat-priced chat model; None (unknown) when the table has
    no price for it. Cached prompt tokens are charged at the cache-read price when the table has one."""
    entry = price_entry(model)
    if entry is None:
        return None
    price_in, price_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(price_in, (int, float)) or not isinstance(price_out, (int, float)):
        return None
    cache_read = entry.get("cache_read_input_token_cost")
    if not isinstance(cache_read, (int, float)) or cached_in <= 0:
        return tokens_in * float(price_in) + tokens_out * float(price_out)
    cached = min(cached_in, tokens_in)
    return (tokens_in - cached) * float(price_in) + cached * float(cache_read) + tokens_out * float(price_out)


# ---- the client ---------------------------------------------------------------------------------

class DirectClients:
    """One `AsyncOpenAI` per (endpoint, key), all on one guarded HTTP client, rebuilt per event loop
    (pooled connections belong to the loop that opened them)."""

    def __init__(self, limit: int = MAX_RESPONSE_BYTES) -> None:
        self.limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: dict[tuple[str | None, str | None], Any] = {}

    def _client(self, base_url: str | None, key: str | None) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._clients = loop, {}
            self._http: Any = plain_client(self.limit)
        client = self._clients.get((base_url, key))
        if client is None:
            from openai import AsyncOpenAI

            # max_retries=0: retries are providers.py's, counted and classified like litellm's
            http: Any = self._http  # an httpx client: the SDK takes one, as it does from litellm
            client = AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, http_client=http)
            self._clients[(base_url, key)] = client
        return client

    async def aclose(self) -> None:
        """Close the connections of this event loop's client (before the loop ends, so none is left open)."""
        if self._loop is asyncio.get_running_loop():
            await self._http.aclose()
            self._loop, self._clients = None, {}

    async def chat(self, spec: ModelSpec, key: str | None, timeout_s: float, request: Mapping[str, Any]) -> Any:
        """One chat completion, unretried: the SDK's answer object, or its exception for classify().

        The body is posted as given (the SDK's documented way to send a request as is), not through
        `chat.completions.create`, whose check of every field against its typed parameters costs a
        third of the CPU of a call; the wire body is the one litellm sends: the request's fields, and
        `extra_body` merged into it."""
        from openai.types.chat import ChatCompletion

        body = {k: v for k, v in request.items() if k not in ("extra_body", "extra_headers")}
        body.update(request.get("extra_body") or {})
        body["model"] = wire_model(spec)
        options: dict[str, Any] = {"timeout": timeout_s, "security": {"bearer_auth": True}}
        if request.get("extra_headers"):
            options["headers"] = dict(request["extra_headers"])
        client = self._client(endpoint(spec), key)
        return await client.post("/chat/completions", cast_to=ChatCompletion, body=body, options=options)
