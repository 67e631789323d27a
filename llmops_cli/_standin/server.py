"""The stand-in's HTTP side: an asyncio HTTP/1.1 keep-alive server on a daemon thread that serves the
rules of `answers` with injectable latency and faults. The rules themselves are documented in `answers`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import socket
import struct
import threading
from http import HTTPStatus
from typing import Any

from llmops_cli._standin.answers import (
    CONFIG_TYPES,
    EMBED_DIM,
    MODELS,
    DirectiveError,
    Reply,
    after_tools_answer,
    answer,
    completion,
    cut_to,
    embed,
    error_reply,
    estimate_tokens,
    fingerprint,
    json_reply,
    message_text,
    parse_directives,
    tool_calls_for,
    tool_completion,
    typed,
)


class StandinServer:
    """The stand-in server on a daemon thread; `with StandinServer() as s: s.base_url`."""

    def __init__(self, latency_ms: float = 0, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._config: dict[str, Any] = {"latency_ms": float(latency_ms), "noise": 0.0,
                                        "seed": seed, "fail_rate": {}, "retry_after": 1.0,
                                        "sleep_s": 30.0}
        self._attempts: dict[str, int] = {}
        self._stats: dict[str, Any] = {}
        self.reset()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.Task[None]] = set()

    # -- lifecycle --
    def start(self) -> StandinServer:
        if self._thread is not None:
            return self
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="llmops-standin", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self._thread = None
            raise RuntimeError(f"stand-in server did not start: {self._error}")
        return self

    def stop(self) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        self._thread = self._loop = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("stand-in server is not started")
        return f"http://{self._host}:{self._port}/v1"

    # -- counters and configuration --
    @property
    def request_count(self) -> int:
        with self._lock:
            return int(self._stats["requests"])

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {**self._stats, "by_model": dict(self._stats["by_model"])}

    def reset(self) -> None:
        with self._lock:
            self._stats = {"requests": 0, "chat": 0, "embeddings": 0, "by_model": {}, "faults": 0}
            self._attempts.clear()

    def configure(self, **kw: Any) -> None:
        """Change global settings: latency_ms, noise, seed, retry_after, sleep_s, fail_rate."""
        clean = {key: typed(CONFIG_TYPES, key, value) for key, value in kw.items()}
        with self._lock:
            self._config.update(clean)

    def _config_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._config)

    def _record(self, kind: str, model: str, fp: str | None = None) -> int:
        with self._lock:
            self._stats["requests"] += 1
            self._stats[kind] += 1
            by_model = self._stats["by_model"]
            by_model[model] = by_model.get(model, 0) + 1
            if fp is None:
                return 0
            self._attempts[fp] = attempt = self._attempts.get(fp, 0) + 1
            return attempt

    def _count_fault(self) -> None:
        with self._lock:
            self._stats["faults"] += 1

    # -- asyncio side --
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start() when it happens before listening
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, self._host, self._port, backlog=512)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ValueError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; True to keep the connection open for another."""
        line = await reader.readline()
        if not line.strip():
            return False
        method, target, version = line.decode("latin-1").split(maxsplit=2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        conn = headers.get("connection", "").lower()
        keep_alive = conn != "close" if version.strip() == "HTTP/1.1" else conn == "keep-alive"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            reply, keep_alive = error_reply(411, "chunked bodies are not supported",
                                            "invalid_request_error", "length_required"), False
        else:
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            reply = await self._dispatch(method.upper(), target.split("?")[0].rstrip("/"), body)
        status = f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}"
        extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
        head = (f"{status}\r\nContent-Type: application/json\r\nContent-Length: {len(reply.body)}"
                f"\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n{extra}\r\n")
        if reply.reset:
            writer.write(head.encode("latin-1") + reply.body[: len(reply.body) // 2])
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if reply.drip_s is not None:
            writer.write(head.encode("latin-1"))
            for index in range(len(reply.body)):
                await writer.drain()
                await asyncio.sleep(reply.drip_s)
                writer.write(reply.body[index:index + 1])
            await writer.drain()
            return keep_alive
        writer.write(head.encode("latin-1") + reply.body)
        await writer.drain()
        return keep_alive

    async def _dispatch(self, method: str, path: str, body: bytes) -> Reply:
        path = path.removeprefix("/v1")
        routes = {"/chat/completions": ("POST", self._chat), "/embeddings": ("POST", self._embeddings),
                  "/models": ("GET", self._models), "/_standin/stats": ("GET", self._get_stats),
                  "/_standin/reset": ("POST", self._reset), "/_standin/config": ("POST", self._configure)}
        if path not in routes:
            return error_reply(404, f"no route {path}", "invalid_request_error", "not_found")
        want, handler = routes[path]
        if method != want:
            return error_reply(405, f"{path} takes {want}", "invalid_request_error", "bad_method")
        try:
            return await handler(body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return error_reply(400, f"bad request: {exc}", "invalid_request_error", "bad_request")

    async def _models(self, _: bytes) -> Reply:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "llmops-standin"} for m in MODELS]
        return json_reply(200, {"object": "list", "data": data})

    async def _get_stats(self, _: bytes) -> Reply:
        return json_reply(200, self.stats())

    async def _reset(self, _: bytes) -> Reply:
        self.reset()
        return json_reply(200, {"ok": True})

    async def _configure(self, body: bytes) -> Reply:
        self.configure(**json.loads(body or b"{}"))
        return json_reply(200, {"ok": True, "config": self._config_snapshot()})

    async def _sleep(self, latency_ms: float) -> None:
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)

    async def _embeddings(self, body: bytes) -> Reply:
        req = json.loads(body)
        model = str(req.get("model", "standin-embed"))
        self._record("embeddings", model)
        inputs = req["input"] if isinstance(req["input"], list) else [req["input"]]
        texts = [x if isinstance(x, str) else " ".join(map(str, x)) if isinstance(x, list)
                 else str(x) for x in inputs]
        await self._sleep(self._config_snapshot()["latency_ms"])
        b64 = req.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64.b64encode(struct.pack(f"<{EMBED_DIM}f", *v)).decode()
                 if b64 else v} for i, v in enumerate(map(embed, texts))]
        tokens = sum(estimate_tokens(t) for t in texts)
        return json_reply(200, {"object": "list", "data": data, "model": model,
                                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _chat(self, body: bytes) -> Reply:
        req = json.loads(body)
        model, messages = str(req.get("model", "standin-1")), req["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise ValueError("messages must be a list of objects")
        fp = fingerprint(model, messages)
        attempt = self._record("chat", model, fp)
        if req.get("stream"):
            return error_reply(400, "stream=true is not supported by the stand-in",
                               "invalid_request_error", "stream_not_supported")
        cfg = self._config_snapshot()
        try:
            d = parse_directives([message_text(m.get("content")) for m in messages])
        except DirectiveError as exc:
            return error_reply(400, str(exc), "invalid_request_error", "bad_directive")
        await self._sleep(d.get("latency_ms", cfg["latency_ms"]))
        prompt_tokens = d.get("prompt_tokens", sum(estimate_tokens(message_text(m.get("content"))) for m in messages))
        fault = self._pick_fault(d, cfg, fp, attempt)
        if fault is not None:
            self._count_fault()
            if fault == "timeout":
                await asyncio.sleep(d.get("sleep_s", cfg["sleep_s"]))
            else:
                return self._fault_reply(fault, d, cfg, model, fp, prompt_tokens)
        noise = d.get("noise", cfg["noise"])
        rng = random.Random(f"{cfg['seed']}:{fp}:{attempt}:noise")
        noisy = noise > 0 and rng.random() < noise
        if "tool_call" in d:
            return json_reply(200, tool_completion(model, fp, d["tool_call"], messages, prompt_tokens))
        calls = None if "reply" in d else tool_calls_for(messages, req.get("tools"), req.get("tool_choice"))
        if calls:
            return json_reply(200, completion(model, fp, None, prompt_tokens, "tool_calls", tool_calls=calls))
        if "reply" in d:
            content = d["reply"]
        elif req.get("tools") and messages[-1].get("role") == "tool":
            content = after_tools_answer(messages)
        else:
            fmt = req.get("response_format") or {}
            wants_json = isinstance(fmt, dict) and "json" in str(fmt.get("type", ""))
            content = answer(messages, wants_json, noisy, rng)
        content, finish_reason = cut_to(content, req.get("max_completion_tokens") or req.get("max_tokens"))
        return json_reply(200, completion(model, fp, content, prompt_tokens, finish_reason))

    @staticmethod
    def _pick_fault(d: dict[str, Any], cfg: dict[str, Any], fp: str, attempt: int) -> str | None:
        if "fault" in d:
            times = d.get("times")
            return d["fault"] if times is None or attempt <= times else None
        rates: dict[str, float] = cfg["fail_rate"]
        if rates:
            draw, acc = random.Random(f"{cfg['seed']}:{fp}:{attempt}:fault").random(), 0.0
            for name, rate in sorted(rates.items()):
                acc += rate
                if draw < acc:
                    return name
        return None

    @staticmethod
    def _fault_reply(fault: str, d: dict[str, Any], cfg: dict[str, Any], model: str, fp: str,
                     prompt_tokens: int) -> Reply:
        if fault == "429":
            after = d.get("retry_after", cfg["retry_after"])
            headers = {} if after is None else {"Retry-After": f"{after:g}"}
            return error_reply(429, "Rate limit reached (stand-in fault)", "rate_limit_error",
                               "rate_limit_exceeded", headers)
        if fault in ("401", "403"):
            return error_reply(int(fault), f"Incorrect API key provided (stand-in fault {fault})",
                               "invalid_request_error", "invalid_api_key")
        if fault in ("500", "502", "503"):
            return error_reply(int(fault), f"Upstream error {fault} (stand-in fault)",
                               "server_error", "server_error")
        if fault == "malformed":
            return Reply(200, b'{"id": "chatcmpl-malformed", "choices": [{"message": {"conte')
        if fault == "redirect":
            return Reply(307, b"", {"Location": d.get("location", "/v1/chat/completions")})
        if fault == "content_filter":
            return json_reply(200, completion(model, fp, None, prompt_tokens, "content_filter"))
        if fault == "drip":
            reply = json_reply(200, completion(model, fp, "Stand-in answer, slowly.", prompt_tokens))
            reply.drip_s = d.get("drip_s", 1.0)
            return reply
        if fault == "huge":
            size = int(d.get("size_mb", 100.0) * 1024 * 1024)
            return json_reply(200, completion(model, fp, "x" * size, prompt_tokens))
        full = completion(model, fp, "", prompt_tokens, empty=fault == "empty_choices")
        return Reply(200, json.dumps(full).encode(), reset=fault == "reset")


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in server in the foreground until SIGINT or SIGTERM (`llmops standin` does the same)."""
    from llmops_cli.commands.standin import serve

    parser = argparse.ArgumentParser(prog="python -m llmops_cli._standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency of every request")
    parser.add_argument("--seed", type=int, default=0, help="seed for noise and fail rates")
    parser.add_argument("--noise", type=float, default=0.0, help="share of deliberately wrong answers")
    args = parser.parse_args(argv)
    return serve(lambda url: print(url, flush=True), port=args.port, latency_ms=args.latency_ms, seed=args.seed,
                 noise=args.noise)

