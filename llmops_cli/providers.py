"""The only module that talks to models, and the only one that imports litellm (lazily).

`import litellm` costs seconds and tries to fetch a price table over the network, so it
happens only when a call must really be made, with LITELLM_LOCAL_MODEL_COST_MAP=True set
first (offline, deterministic costs). Retries are ours, not litellm's: bounded, jittered
exponential backoff that honours Retry-After, so every attempt is counted and classified.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmops_cli.config import ModelSpec
from llmops_cli.direct import OPENAI_KEY, APIError, DirectClients, direct_route, table_cost
from llmops_cli.errors import InputError, Problem
from llmops_cli.httpclient import (
    MAX_RESPONSE_BYTES,
    WIRE_TIME,
    RedirectRefused,
    ResponseTooLarge,
    WireTime,
    guarded_handler,
    model_client,
)
from llmops_cli.redact import KEY_MIN, Redactor, environment_secrets, scrub
from llmops_cli.store import CachedAnswer, ToolCall

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 120.0
# Providers whose chat litellm sends through its own httpx handler and which take that handler as `client=` (read
# from litellm's dispatch: anthropic's and gemini's handlers, and those served by its base HTTP handler). Its default
# client follows redirects to any host; given ours, they are refused like the OpenAI SDK's.
HTTPX_PROVIDERS = frozenset({"anthropic", "gemini", "vertex_ai", "vertex_ai_beta", "mistral", "groq", "xai", "deepseek",
                             "together_ai", "fireworks_ai", "openrouter", "hosted_vllm", "ollama", "ollama_chat",
                             "huggingface", "databricks", "bedrock"})
MESSAGE_MAX = 300  # characters of error text kept, cut only after redaction
REDIRECT = "redirect"  # error class of a refused cross-origin redirect (never retried)
SETUP_ALLOWANCE_S = 30.0  # litellm's first call imports and builds clients for seconds before any request
Send = Callable[[ModelSpec, "str | None", dict[str, Any]], Awaitable[Any]]  # one unretried request: model, key, body
RETRYABLE = {"rate_limit", "server_error", "timeout", "connection", "malformed_response", "empty_choices"}


@dataclass(frozen=True)
class CallFailure(Exception):
    """One failed attempt, classified; `retry_after` comes from the provider when it says."""

    error_class: str
    message: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE


@dataclass(frozen=True)
class Outcome:
    answer: CachedAnswer | None
    failure: CallFailure | None
    attempts: int


def load_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.drop_params = True
    return litellm


LOCAL_KEY = "no-key"  # local servers take any key, but the OpenAI client refuses to send none


def api_key(spec: ModelSpec) -> str | None:
    """The key for a model, from the environment only; never stored anywhere.

    A model on a loopback endpoint with no `api_key_env` (the stand-in, Ollama, llama.cpp, vLLM on
    this machine) gets a placeholder, so it needs no key and no provider key is sent to it."""
    if spec.api_base_env and not spec.api_base:
        raise InputError(f"llmops.yaml: model {spec.alias!r} takes its endpoint from the environment variable "
                         f"{spec.api_base_env}, which is not set; export it (for the stand-in: the line "
                         "`llmops standin` prints)")
    if spec.api_key_env is None:
        return LOCAL_KEY if is_loopback(spec.api_base) else None
    value = os.environ.get(spec.api_key_env)
    if not value:
        raise InputError(f"llmops.yaml: model {spec.alias!r} needs the environment variable {spec.api_key_env}; "
                         "export it (keys are never read from files)")
    return value


def is_loopback(url: str | None) -> bool:
    host = (urlsplit(url).hostname or "") if url else ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def check_credentials(specs: Iterable[ModelSpec]) -> None:
    """Every model about to be called has its key in the environment, checked before the first call:
    `api_key_env` when the model names one, else litellm's own list of variables for its provider
    (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...); a loopback endpoint needs none. A missing key is an
    input error naming the variable, not a run of retried failures (a fork PR gets no secrets: it
    stops here, exit 2)."""
    problems: list[Problem | str] = []
    litellm: Any = None
    for spec in {s.alias: s for s in specs}.values():
        try:
            api_key(spec)
        except InputError as exc:
            problems += [str(p) for p in exc.problems]
            continue
        if spec.api_key_env is not None or is_loopback(spec.api_base):
            continue
        if direct_route(spec):  # what litellm's check says for an OpenAI route, without importing it
            missing = [] if os.environ.get(OPENAI_KEY) else [OPENAI_KEY]
        else:
            litellm = litellm or load_litellm()
            missing = _missing_keys(litellm, spec)
        if missing:
            problems.append(f"llmops.yaml: model {spec.alias!r} ({spec.model}) needs the environment variable "
                            f"{' and '.join(missing)}; export it, or name another with api_key_env "
                            "(keys are never read from files)")
    if problems:
        raise InputError(problems)


def _missing_keys(litellm: Any, spec: ModelSpec) -> list[str]:
    """litellm's validate_environment, quiet; a provider it does not know is left to the call itself."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            found = litellm.validate_environment(model=spec.model, api_base=spec.api_base)
    except Exception:  # noqa: BLE001 - an unknown provider: the call classifies what goes wrong
        return []
    missing = [str(k) for k in found.get("missing_keys") or []]
    if spec.api_base:  # the endpoint is given: only keys are still needed
        missing = [k for k in missing if not k.endswith(("_API_BASE", "_BASE_URL", "_ENDPOINT"))]
    return missing


def secrets_in_use(specs: Mapping[str, ModelSpec] | Iterable[ModelSpec]) -> list[str]:
    """Key values that must never appear in anything written: every value a model's `api_key_env`
    names, and every credential of the environment (redact.environment_secrets)."""
    specs = specs.values() if isinstance(specs, Mapping) else specs
    values = [os.environ.get(s.api_key_env, "") for s in specs if s.api_key_env] + environment_secrets()
    return sorted({v for v in values if len(v) >= KEY_MIN}, key=len, reverse=True)


class Provider:
    """Calls models: OpenAI routes directly (direct.py), every other through litellm, which is
    imported once per run and only when a model needs it."""

    def __init__(self, timeout_s: float, retries: int, secrets: list[str], *, redactor: Redactor | None = None) -> None:
        self._litellm: Any = None
        self.direct = DirectClients(MAX_RESPONSE_BYTES)
        self.timeout_s = timeout_s
        self.retries = retries
        self.secrets = secrets
        self.redactor = redactor  # the run's rules: error text is redacted whole, before it is cut
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler: Any = None  # litellm's handler type around our client, for HTTPX_PROVIDERS

    async def aclose(self) -> None:
        """Close the direct client's connections; litellm keeps its own for the process."""
        await self.direct.aclose()

    @property
    def litellm(self) -> Any:
        if self._litellm is None:
            self._litellm = load_litellm()
        return self._litellm

    def _use_model_client(self) -> None:
        """Point litellm at our HTTP client (size cap, whole-call deadline, no cross-origin redirect), one per
        event loop: litellm caches its SDK clients per loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self.litellm.aclient_session is None:
            self.litellm.aclient_session = model_client(MAX_RESPONSE_BYTES)
            self._handler = guarded_handler(MAX_RESPONSE_BYTES)
            self._loop = loop

    def _own_handler(self, spec: ModelSpec) -> bool:
        """Whether litellm calls this model's chat through its httpx handler, which takes our client as `client=`
        (the OpenAI SDK's providers take an SDK client instead, and already use ours through aclient_session)."""
        try:
            provider = self.litellm.get_llm_provider(spec.model, api_base=spec.api_base)[1]
        except Exception:  # noqa: BLE001 - an unknown provider fails in the call itself, classified there
            return False
        return provider in HTTPX_PROVIDERS

    async def complete(self, spec: ModelSpec, messages: list[dict[str, str]], params: Mapping[str, Any]) -> Outcome:
        """Call with retries; the outcome says how many attempts it took and how it ended."""
        if direct_route(spec):
            return await self._retrying(lambda: self._attempt(spec, self._direct_chat, self._answer,
                                                              messages=messages, **params))
        return await self._retrying(lambda: self._attempt(spec, self._via_litellm("acompletion"), self._answer,
                                                          messages=messages, **params))

    async def embed(self, spec: ModelSpec, inputs: Sequence[str]) -> Outcome:
        """Embed texts with the same retries and classification; the answer's text is the vectors as
        JSON (what the cache stores), its tokens_in the provider's count, its cost like any call's."""
        return await self._retrying(lambda: self._attempt(spec, self._via_litellm("aembedding"), self._vectors,
                                                          input=list(inputs)))

    async def _retrying(self, attempt_once: Callable[[], Awaitable[CachedAnswer]]) -> Outcome:
        failure: CallFailure | None = None
        for attempt in range(1, self.retries + 2):
            try:
                return Outcome(await attempt_once(), None, attempt)
            except CallFailure as exc:
                failure = CallFailure(exc.error_class, self._redacted(exc.message)[:MESSAGE_MAX], exc.retry_after)
            if not failure.retryable or attempt > self.retries:
                return Outcome(None, failure, attempt)
            await asyncio.sleep(backoff_delay(attempt, failure.retry_after))
        return Outcome(None, failure, self.retries + 1)

    def _redacted(self, message: str) -> str:
        """Keys and key formats, then every rule of the run, on the whole text: a value the cut would
        split (a key, an address) is no longer recognisable afterwards, so nothing may be cut before."""
        text = scrub(message, self.secrets)
        return self.redactor.text(text) if self.redactor is not None else text

    def _via_litellm(self, endpoint: str) -> Send:
        async def send(spec: ModelSpec, key: str | None, request: dict[str, Any]) -> Any:
            kwargs = dict(request)
            if spec.api_base:
                kwargs["api_base"] = spec.api_base
            if key:
                kwargs["api_key"] = key
            self._use_model_client()
            if endpoint == "acompletion" and self._own_handler(spec):
                kwargs["client"] = self._handler
            call = getattr(self.litellm, endpoint)
            return await call(model=spec.model, timeout=self.timeout_s, num_retries=0, max_retries=0, **kwargs)
        return send

    async def _direct_chat(self, spec: ModelSpec, key: str | None, request: dict[str, Any]) -> Any:
        return await self.direct.chat(spec, key, self.timeout_s, request)

    async def _attempt(self, spec: ModelSpec, send: Send, read: Callable[[ModelSpec, Any, float], CachedAnswer],
                       **request: Any) -> CachedAnswer:
        key = api_key(spec)
        if key and key not in self.secrets and len(key) >= KEY_MIN:
            self.secrets = sorted([*self.secrets, key], key=len, reverse=True)
        wire = WireTime()
        token = WIRE_TIME.set(wire)  # our transport fills it in: request sent to last byte (httpclient.py)
        started = time.perf_counter()
        try:
            # httpx's timeout bounds each read; our client ends the whole exchange at timeout_s. This outer
            # bound also covers providers litellm reaches through other clients, with room for its set-up.
            response = await asyncio.wait_for(send(spec, key, {**spec.extra, **request}),
                                              self.timeout_s + SETUP_ALLOWANCE_S)
        except TimeoutError:
            raise CallFailure("timeout", f"no complete answer within timeout_s={self.timeout_s:g}s") from None
        except Exception as exc:  # noqa: BLE001 - every provider failure is classified, never raised raw
            raise classify(exc) from None
        finally:
            WIRE_TIME.reset(token)
        # A provider litellm reaches through its own client is timed around the whole call instead.
        latency = wire.seconds if wire.seconds is not None else time.perf_counter() - started
        try:
            return read(spec, response, latency)
        except CallFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - a response we cannot read is a failed call, not a crashed run
            raise CallFailure("malformed_response", f"unreadable response: {type(exc).__name__}: {exc}") from None

    def _vectors(self, spec: ModelSpec, response: Any, latency: float) -> CachedAnswer:
        data = _field(response, "data") or []
        if not data:
            raise CallFailure("empty_choices", "provider returned no embeddings")
        items = sorted(data, key=lambda d: _field(d, "index") or 0)
        vectors = [[float(x) for x in _field(item, "embedding")] for item in items]
        tokens_in = usage_tokens(response, "prompt_tokens")
        return CachedAnswer(text=json.dumps(vectors), finish_reason=None, tokens_in=tokens_in, tokens_out=0,
                            cost_usd=self.cost(spec, tokens_in, 0), latency_s=latency)

    def _answer(self, spec: ModelSpec, response: Any, latency: float) -> CachedAnswer:
        choices = _field(response, "choices") or []
        if not choices:
            raise CallFailure("empty_choices", "provider returned no choices")
        choice = choices[0]
        message = _field(choice, "message")
        if message is None:
            raise CallFailure("malformed_response", "unreadable response: a choice without a message")
        text = _field(message, "content") or ""
        if len(text) > MAX_RESPONSE_BYTES:  # a provider whose client litellm did not build from ours
            raise CallFailure("oversize", str(ResponseTooLarge(MAX_RESPONSE_BYTES)))
        tokens_in, tokens_out = usage_tokens(response, "prompt_tokens"), usage_tokens(response, "completion_tokens")
        hidden = _field(response, "_hidden_params")
        known = hidden.get("response_cost") if isinstance(hidden, dict) else None
        explicit = spec.input_cost_per_token is not None and spec.output_cost_per_token is not None
        if known is not None and not explicit:
            cost: float | None = float(known)
        elif not explicit and direct_route(spec):  # a direct answer: litellm's price table, read as data
            cost = table_cost(spec.model, tokens_in, tokens_out, cached_tokens(response))
        else:
            cost = self.cost(spec, tokens_in, tokens_out)
        return CachedAnswer(text=text, finish_reason=_field(choice, "finish_reason"), tokens_in=tokens_in,
                            tokens_out=tokens_out, cost_usd=cost, latency_s=latency, tool_calls=tool_calls(message))

    def cost(self, spec: ModelSpec, tokens_in: int, tokens_out: int) -> float | None:
        """Price from llmops.yaml when given, else litellm's table; None (unknown) rather than 0."""
        if spec.input_cost_per_token is not None and spec.output_cost_per_token is not None:
            return tokens_in * spec.input_cost_per_token + tokens_out * spec.output_cost_per_token
        try:
            prompt_cost, completion_cost = self.litellm.cost_per_token(
                model=spec.model, prompt_tokens=tokens_in, completion_tokens=tokens_out)
        except Exception:  # noqa: BLE001 - litellm raises for models it has no price for
            return None
        return float(prompt_cost) + float(completion_cost)


MAX_USAGE_TOKENS = 10**9  # far past any context window; more is a provider bug, not a bill


def usage_tokens(response: Any, name: str) -> int:
    """A usage count the run can store and add up: absent reads 0; negative, fractional, non-numeric
    or absurd (it overflows SQLite and every sum after it) makes the answer unreadable."""
    raw = _field(_field(response, "usage"), name)
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw <= MAX_USAGE_TOKENS \
            or raw != int(raw):
        raise CallFailure("malformed_response", f"usage.{name} is {str(raw)[:40]}: not a token count in "
                          f"[0, {MAX_USAGE_TOKENS}]")
    return int(raw)


def cached_tokens(response: Any) -> int:
    """Prompt tokens the provider served from its prompt cache (billed at the cache-read price); 0 if unsaid."""
    raw = _field(_field(_field(response, "usage"), "prompt_tokens_details"), "cached_tokens")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_USAGE_TOKENS else 0


MAX_TOOL_CALLS = 64  # per answer; more is a runaway model, and each one is a step of the agent loop


def tool_calls(message: Any) -> tuple[ToolCall, ...]:
    """The tool calls of an answer in the OpenAI format litellm normalises every provider to; a call
    without a function name is unreadable, like any other malformed answer."""
    raw = _field(message, "tool_calls") or []
    if len(raw) > MAX_TOOL_CALLS:
        raise CallFailure("malformed_response", f"{len(raw)} tool calls in one answer (at most {MAX_TOOL_CALLS})")
    calls = []
    for item in raw:
        function = _field(item, "function")
        name = _field(function, "name") if function is not None else None
        if not isinstance(name, str) or not name:
            raise CallFailure("malformed_response", "a tool call without a function name")
        arguments = _field(function, "arguments")
        calls.append(ToolCall(id=str(_field(item, "id") or ""), name=name,
                              arguments=arguments if isinstance(arguments, str) else json.dumps(arguments)))
    return tuple(calls)


def _field(item: Any, name: str) -> Any:
    """A field of an answer: the direct client gives the answer's JSON (dicts), litellm objects, and litellm's
    embedding items are either, depending on the provider."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Full-jitter exponential backoff; a provider's Retry-After wins when it is given."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP_S)
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


_CONNECTION_ERRORS = {"APIConnectionError", "ConnectError", "ReadError", "WriteError", "RemoteProtocolError",
                      "ClientPayloadError", "ClientConnectionError", "ServerDisconnectedError",
                      "ClientOSError", "ContentLengthError"}


def _wrapped_cause(exc: Exception) -> str | None:
    """litellm reports a broken body or a dropped connection as a 500 InternalServerError; the real
    cause (a JSONDecodeError, openai's APIConnectionError) is only in the exception chain."""
    for inner in _chain(exc)[1:]:
        if isinstance(inner, ValueError) and type(inner).__name__ == "JSONDecodeError":
            return "malformed_response"
        if isinstance(inner, ConnectionError) or type(inner).__name__ in _CONNECTION_ERRORS:
            return "connection"
    return None


def _source(exc: Exception) -> Exception:
    """The failure as the endpoint gave it: the openai SDK's exception (litellm wraps it for OpenAI routes; the
    direct path raises its namesake, direct.APIError) or a body that is not JSON, so both paths classify and
    word a failure the same way; else the exception itself (litellm's own, for other providers)."""
    for inner in _chain(exc):
        if isinstance(inner, APIError) or type(inner).__module__.split(".")[0] == "openai" and isinstance(inner, Exception):
            return inner
    for inner in _chain(exc):
        if isinstance(inner, ValueError) and type(inner).__name__ == "JSONDecodeError":
            return inner
    return exc


_POLICY_CODES = {"content_policy_violation", "content_filter"}


def classify(exc: Exception) -> CallFailure:
    """Map litellm/openai exceptions to a stable error class."""
    refused = next((e for e in _chain(exc) if isinstance(e, RedirectRefused)), None)
    if refused is not None:
        return CallFailure(REDIRECT, f"RedirectRefused: {refused}")
    for inner in _chain(exc):
        if isinstance(inner, ResponseTooLarge):
            return CallFailure("oversize", str(inner))
    exc = _source(exc)
    name = type(exc).__name__
    message = f"{name}: {exc}"  # whole: the caller redacts it (keys and every rule) before cutting it to MESSAGE_MAX
    if name == "JSONDecodeError":
        return CallFailure("malformed_response", message)
    status = getattr(exc, "status_code", None)
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    body = getattr(exc, "body", None)
    code = body.get("code") if isinstance(body, dict) else None
    if name == "RateLimitError" or status == 429:
        return CallFailure("rate_limit", message, _retry_after(exc))
    if name in ("Timeout", "APITimeoutError") or "timed out" in str(exc).lower():
        return CallFailure("timeout", message)
    if name == "ContentPolicyViolationError" or code in _POLICY_CODES:
        return CallFailure("content_policy", message)
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return CallFailure("auth", message)
    if name in ("BadRequestError", "NotFoundError", "UnprocessableEntityError", "ContextWindowExceededError",
                "InvalidRequestError", "UnsupportedParamsError"):
        return CallFailure("bad_request", message)
    if (cause := _wrapped_cause(exc)) is not None:
        return CallFailure(cause, message)
    if isinstance(status, int) and status >= 500 or name in ("InternalServerError", "ServiceUnavailableError",
                                                              "BadGatewayError"):
        return CallFailure("server_error", message, _retry_after(exc))
    if name == "APIConnectionError" and ("json" in str(exc).lower() or "decode" in str(exc).lower()):
        return CallFailure("malformed_response", message)
    if name in ("APIConnectionError", "APIError", "APIResponseValidationError"):
        return CallFailure("connection" if name == "APIConnectionError" else "malformed_response", message)
    return CallFailure("unknown", message)


def _retry_after(exc: Exception) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
