"""The HTTP client model calls go through: a cap on size and time of each answer, and no
redirect to another origin.

A provider (or whatever a pull request points `api_base` at) can answer with 100 MB, or drip a
body one byte a second: read whole, that costs gigabytes of memory or hours, and httpx's timeouts
bound only the wait for each read. The transport here counts the body as it arrives and stops at
`limit` bytes, and ends the whole exchange (connect, send, every read) at the request's timeout,
measured from when the request starts, not from litellm's own set-up. Bodies are asked for
uncompressed (`Accept-Encoding: identity`) so the bytes counted are the bytes kept, and a
compressed bomb cannot slip under the cap. A redirect to another origin is refused before httpx
follows it: httpx would drop `Authorization` on its own, but not the body (the prompts) nor other
key headers (Anthropic's `x-api-key`, for one). The client is built from litellm's own pieces (its
transport, TLS and proxy settings) and used for `openai/`, `azure/` and any `api_base` served through
the OpenAI SDK; wrapped in litellm's own handler type (`guarded_handler`), it also serves the
providers litellm calls through its httpx handler (Anthropic, Gemini, Mistral, ...: HTTPX_PROVIDERS in
providers.py), whose default client follows every redirect. Other providers keep their clients
(providers.py bounds those calls in time). The direct client of OpenAI-compatible endpoints
(direct.py) gets the same guards around an aiohttp transport of llmops' own
(`plain_client`, aiotransport.py), so that path never imports litellm.

The transport is also where a call's latency is measured: from just before the request is handed to
the connection (connect and send included) to the last byte of the body. Timed around the litellm
call instead, the figure would include litellm's CPU work and every other task the event loop ran in
between (at high concurrency, most of it). The attempt that makes the request puts a `WireTime` in
`WIRE_TIME`; the request runs in that attempt's task, a copy of its context, so the same object is
filled in here and read back there.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # one model answer; documented in the README


class ResponseTooLarge(Exception):
    """The body went past the cap; the call is an `oversize` error, never retried."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit / 1024 / 1024:g} MB; llmops stops reading at that size")
        self.limit = limit


def _too_slow(request: httpx.Request, seconds: float) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(f"no complete answer within {seconds:g}s (the whole call)", request=request)


class RedirectRefused(Exception):
    """A provider redirected to another origin: the request (prompts, key headers) is not resent there."""


async def _refuse_cross_origin_redirect(response: httpx.Response) -> None:
    """A response hook: it runs before httpx follows a redirect, so raising here stops it."""
    location = response.headers.get("location")
    if not response.is_redirect or not location:
        return
    source = response.request.url
    target = source.join(location)
    if (target.scheme, target.host, target.port) != (source.scheme, source.host, source.port):
        raise RedirectRefused(f"{response.status_code} redirect from {_origin(source)} to another origin "
                              f"{_origin(target)} refused; nothing was sent there")


def _origin(url: httpx.URL) -> str:
    return (f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else ""))[:120]


@dataclass
class WireTime:
    """When one attempt's request was sent and when its answer's last byte came (perf_counter)."""

    sent: float | None = None
    done: float | None = None

    @property
    def seconds(self) -> float | None:
        """None when the exchange did not go through our transport or its body was never read to the end."""
        return self.done - self.sent if self.sent is not None and self.done is not None else None


WIRE_TIME: ContextVar[WireTime | None] = ContextVar("llmops_wire_time", default=None)


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any, limit: int, deadline: float | None, request: httpx.Request, seconds: float,
                 wire: WireTime | None = None) -> None:
        self.inner, self.limit, self.deadline, self.request, self.seconds = inner, limit, deadline, request, seconds
        self.wire = wire

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        chunks = self.inner.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self.deadline):
                    chunk = await chunks.__anext__()
            except StopAsyncIteration:
                if self.wire is not None:
                    self.wire.done = time.perf_counter()
                return
            except TimeoutError:
                raise _too_slow(self.request, self.seconds) from None
            seen += len(chunk)
            if seen > self.limit:
                raise ResponseTooLarge(self.limit)
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


class _CappedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self.inner, self.limit = inner, limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seconds = _whole_call_seconds(request)
        deadline = asyncio.get_running_loop().time() + seconds if seconds else None
        wire = WIRE_TIME.get()
        if wire is not None and wire.sent is None:  # a followed same-origin redirect: timed from the first send
            wire.sent = time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline):
                response = await self.inner.handle_async_request(request)
        except TimeoutError:
            raise _too_slow(request, seconds or 0) from None
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await response.aclose()
            raise ResponseTooLarge(self.limit)
        stream = _CappedStream(response.stream, self.limit, deadline, request, seconds or 0, wire)
        return httpx.Response(status_code=response.status_code, headers=response.headers, stream=stream,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _whole_call_seconds(request: httpx.Request) -> float | None:
    """The caller's timeout (litellm passes timeout_s as every httpx timeout), as one deadline."""
    timeouts = request.extensions.get("timeout") or {}
    values = [v for v in (timeouts.get("read"), timeouts.get("connect")) if isinstance(v, (int, float))]
    return max(values) if values else None


def guarded_handler(limit: int = MAX_RESPONSE_BYTES) -> Any:
    """litellm's AsyncHTTPHandler around `model_client`: what its httpx-based providers accept as `client=`."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    handler = AsyncHTTPHandler(transport=httpx.AsyncHTTPTransport())  # its own client is replaced at once
    handler.client = model_client(limit)
    return handler


def model_client(limit: int = MAX_RESPONSE_BYTES) -> httpx.AsyncClient:
    """The client litellm would build for OpenAI-compatible endpoints, with every transport capped and the
    redirect guard; one per event loop (pooled connections belong to one loop)."""
    asyncio.get_running_loop()
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, get_ssl_configuration

    ssl_config = get_ssl_configuration()
    transport = AsyncHTTPHandler.create_async_transport(
        ssl_context=ssl_config if isinstance(ssl_config, ssl.SSLContext) else None,
        ssl_verify=ssl_config if isinstance(ssl_config, bool) else None) or httpx.AsyncHTTPTransport(verify=ssl_config)
    mounts = AsyncHTTPHandler.create_httpx_proxy_mounts(transport, verify=ssl_config, cert=None) or {}
    return _guarded(transport, mounts, ssl_config, limit)


def plain_client(limit: int = MAX_RESPONSE_BYTES) -> httpx.AsyncClient:
    """The same guarded client without litellm, for the direct client (direct.py): its wire is aiohttp
    (aiotransport.py, as litellm's is), with certifi's roots or SSL_CERT_FILE, and the proxy variables."""
    asyncio.get_running_loop()
    from llmops_cli.aiotransport import AiohttpTransport

    return _guarded(AiohttpTransport(), {}, True, limit)


def _guarded(transport: httpx.AsyncBaseTransport, mounts: Mapping[str, httpx.AsyncBaseTransport | None],
             verify: Any, limit: int) -> httpx.AsyncClient:
    """Every transport capped (size, whole-call deadline, wire time), bodies uncompressed, redirects to
    another origin refused: the one place both clients get their guards from."""
    return httpx.AsyncClient(
        verify=verify, transport=_CappedTransport(transport, limit), follow_redirects=True, timeout=None,
        mounts={pattern: _CappedTransport(proxy, limit) if proxy is not None else None for pattern, proxy in mounts.items()},
        headers={"Accept-Encoding": "identity"}, event_hooks={"response": [_refuse_cross_origin_redirect]})
