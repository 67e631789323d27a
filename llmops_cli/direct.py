"""OpenAI-compatible endpoints called directly, without litellm or the openai SDK.

litellm costs about 12 ms of CPU per call and 3 s plus 140 MB to import; the openai SDK about 4 ms
per call and 0.7 s to import (its package loads every typed model of the API, hundreds of pydantic
classes, before the first request). With 32 calls in flight the event loop is CPU-bound, and at a
real provider's latency that import delays the first call of every run. An OpenAI-compatible chat
completion is one JSON POST, so for a model litellm would send through the OpenAI SDK anyway
(`openai/...`, with or without `api_base`) llmops posts it itself, on the guarded HTTP client of
httpclient.py (size cap, whole-call deadline, cross-origin redirect refused, wire time). The request is
the one litellm sends: the model name without its `openai/` prefix and every parameter in the body
(tools, tool_choice, response_format, a provider's own). A failure is raised as the exception the SDK
raises for it, with its name, its wording and its fields (`status_code`, `body`, `response`), because
litellm wraps that very exception for these routes and providers.py words and classifies a failure from
it: both paths store the same records (tests/test_conformance.py). The answer is the response's JSON,
read by providers.py like litellm's answer objects.

Routes litellm rewrites are left to it: reasoning families (o1, o3, o4, gpt-5: max_tokens becomes
max_completion_tokens, temperature is dropped) and models priced by tiers. `client: litellm` on a
model alias forces litellm; `client: openai` sends an alias with `api_base` on another litellm route
(hosted_vllm/, lm_studio/, ...) directly. Prices come from litellm's bundled price table, read as JSON
(see `table_cost`), so a run that needs no other litellm model never imports it.
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

import httpx

from llmops_cli.config import ModelSpec
from llmops_cli.httpclient import MAX_RESPONSE_BYTES, plain_client

OPENAI_PREFIX = "openai/"
PRICE_TABLE = "model_prices_and_context_window_backup.json"  # litellm's offline copy (LITELLM_LOCAL_MODEL_COST_MAP)
_REWRITTEN = re.compile(r"(o\d|gpt-5)", re.IGNORECASE)  # families whose params litellm rewrites for OpenAI


def direct_route(spec: ModelSpec) -> bool:
    """Whether this model's calls are posted directly (else sent through litellm)."""
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

DEFAULT_BASE = "https://api.openai.com/v1"  # the SDK's default, and litellm's, for OpenAI routes
USER_AGENT = "llmops"
OPENAI_KEY = "OPENAI_API_KEY"  # the key the openai SDK (and litellm's OpenAI route) reads when none is given


class APIError(Exception):
    """A failed call, named and worded as the openai SDK names and words it (see the module's docstring)."""

    def __init__(self, message: str, *, response: httpx.Response | None = None, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.body = body
        self.status_code = response.status_code if response is not None else None


class APIStatusError(APIError):
    """The endpoint answered with a status other than 2xx."""


class BadRequestError(APIStatusError): ...
class AuthenticationError(APIStatusError): ...
class PermissionDeniedError(APIStatusError): ...
class NotFoundError(APIStatusError): ...
class ConflictError(APIStatusError): ...
class UnprocessableEntityError(APIStatusError): ...
class RateLimitError(APIStatusError): ...
class InternalServerError(APIStatusError): ...


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 422: UnprocessableEntityError, 429: RateLimitError}


class APIConnectionError(APIError):
    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    def __init__(self) -> None:
        super().__init__("Request timed out.")


def status_error(response: httpx.Response) -> APIStatusError:
    """The SDK's error for a non-2xx answer: its class by status, "Error code: N - <error.message>" as its
    text, and the answer's `error` object (else the whole body) as `body`."""
    body: object = response.text.strip()
    try:
        body = json.loads(str(body))
    except ValueError:
        pass
    data = body.get("error", body) if isinstance(body, dict) else body
    said = data.get("message") if isinstance(data, dict) else None
    message = f"Error code: {response.status_code}" + (f" - {said}" if isinstance(said, str) and said else "")
    kind = _BY_STATUS.get(response.status_code) or (InternalServerError if response.status_code >= 500
                                                     else APIStatusError)
    return kind(message, response=response, body=data)


def answer_data(response: httpx.Response) -> Any:
    """A 2xx answer's JSON. As the SDK does: a body that says it is JSON and is not raises JSONDecodeError
    (a malformed answer); a body of another type is read as JSON if it is, else kept as text."""
    try:
        return json.loads(response.content)
    except ValueError:
        if response.headers.get("content-type", "").split(";")[0].endswith("json"):
            raise
        return response.text


def _headers(key: str | None, extra: Mapping[str, Any] | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
    key = key or os.environ.get(OPENAI_KEY)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    for variable, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
        if os.environ.get(variable):
            headers[header] = os.environ[variable]
    headers.update({str(k): str(v) for k, v in (extra or {}).items()})
    return headers


class DirectClients:
    """One guarded HTTP client (one connection pool) for every endpoint, rebuilt per event loop (pooled
    connections belong to the loop that opened them)."""

    def __init__(self, limit: int = MAX_RESPONSE_BYTES) -> None:
        self.limit = limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._http is None:
            self._loop, self._http = loop, plain_client(self.limit)
        return self._http

    async def aclose(self) -> None:
        """Close this event loop's connections (before the loop ends, so none is left open)."""
        if self._loop is asyncio.get_running_loop() and self._http is not None:
            await self._http.aclose()
            self._loop, self._http = None, None

    async def chat(self, spec: ModelSpec, key: str | None, timeout_s: float, request: Mapping[str, Any]) -> Any:
        """One chat completion, unretried: the answer's JSON, or the SDK's exception for classify().

        The wire body is the one litellm sends: the request's fields, and `extra_body` merged into it."""
        body = {k: v for k, v in request.items() if k not in ("extra_body", "extra_headers")}
        body.update(request.get("extra_body") or {})
        body["model"] = wire_model(spec)
        url = (endpoint(spec) or DEFAULT_BASE).rstrip("/") + "/chat/completions"
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        try:
            response = await self._client().post(url, content=content, timeout=timeout_s,
                                                  headers=_headers(key, request.get("extra_headers")))
        except httpx.TimeoutException as exc:
            raise APITimeoutError() from exc
        except Exception as exc:  # noqa: BLE001 - as the SDK: any failure to get an answer is a connection error
            raise APIConnectionError() from exc
        if not 200 <= response.status_code < 300:
            raise status_error(response)
        return answer_data(response)
