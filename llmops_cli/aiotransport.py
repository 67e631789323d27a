"""An httpx transport that sends with aiohttp: the wire under the direct client (direct.py).

httpx's own pool (httpcore) scans every pooled connection, and asks each idle one whether its
socket is readable, for every request it places and every answer it releases: at 32 calls in
flight that is most of the CPU a call costs. litellm sends OpenAI calls through an aiohttp
transport for the same reason; this is the small part of that idea llmops needs, so the direct
path gets it without importing litellm. httpx still drives the exchange (redirects, the
cross-origin guard, the size cap and the whole-call deadline of httpclient.py wrap this transport);
aiohttp only carries bytes. Its failures are raised as the httpx errors they correspond to, as
litellm's transport does, so direct.py and classify() read them the same way on both paths.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import httpx
from yarl import URL

CHUNK = 64 * 1024


def _ssl_context() -> ssl.SSLContext:
    """certifi's roots, as httpx uses, unless SSL_CERT_FILE / SSL_CERT_DIR name others."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _as_httpx(exc: BaseException) -> httpx.TransportError:
    """The httpx error an aiohttp failure corresponds to (what httpx's own transport would raise)."""
    if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
        return httpx.ConnectError(str(exc))
    return httpx.ReadError(str(exc) or type(exc).__name__)


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.content.iter_chunked(CHUNK):
                yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise _as_httpx(exc) from exc
        finally:
            self.response.close()  # a body read to the end has released its connection already; else drop it

    async def aclose(self) -> None:
        self.response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one connection pool, no limit of its own: the run's concurrency is the
    limit), created in the event loop of the first request; proxies from the environment
    (HTTPS_PROXY, NO_PROXY, ...), read once per host."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ssl=_ssl_context())
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    def _proxy(self, url: httpx.URL) -> str | None:
        host = url.host
        if host not in self._proxies:
            proxy = None
            if not urllib.request.proxy_bypass(host):
                found = urllib.request.getproxies()
                proxy = found.get(url.scheme) or found.get("all")
                proxy = f"http://{proxy}" if proxy and "://" not in proxy else proxy
            self._proxies[host] = proxy
        return self._proxies[host]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()  # a request httpx rebuilt to follow a same-origin redirect comes as a stream
        try:
            response = await self._client().request(
                request.method, URL(str(request.url), encoded=True), headers=list(request.headers.multi_items()),
                data=body or None, allow_redirects=False, proxy=self._proxy(request.url))
        except (aiohttp.ClientError, OSError) as exc:
            raise _as_httpx(exc) from exc
        return httpx.Response(status_code=response.status, headers=list(response.raw_headers), stream=_Body(response),
                              request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __del__(self) -> None:
        """A session left open (its event loop ended before aclose) is closed at once, as aiohttp's own
        finalizer does, so no "Unclosed client session" warning reaches stderr."""
        session = self._session
        if session is not None and not session.closed and session.connector is not None:
            with contextlib.suppress(Exception):
                session.connector._close()
