"""`llmops standin`: run the bundled stand-in model server in the foreground.

A newcomer can try the whole loop (init, check, eval, a failing then passing gate) with no API
key: the server answers like an OpenAI endpoint, deterministically, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from llmops_cli._standin import StandinServer

URL_ENV = "LLMOPS_STANDIN_URL"


def serve(on_ready: Callable[[str], None], *, port: int = 0, latency_ms: float = 0.0, seed: int = 0,
          noise: float = 0.0) -> int:
    """Serve until SIGINT or SIGTERM; `on_ready` gets the base URL once the port is bound."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with StandinServer(latency_ms=latency_ms, seed=seed, port=port) as server:
        server.configure(noise=noise)
        on_ready(server.base_url)
        while not done.wait(0.5):
            pass
    return 0
