"""A local OpenAI-compatible stand-in model server (standard library only).

No real LLM endpoint is reachable in tests, in CI or in `llmops demo`, yet every model call in
llmops goes through real litellm over real HTTP. This server is what answers: an OpenAI-shaped
HTTP/1.1 keep-alive server on one asyncio loop, bound to 127.0.0.1, whose answers react to the
prompt so a suite can pass, regress, refuse and fail in realistic, repeatable ways.

Endpoints: POST /v1/chat/completions (also /chat/completions), POST /v1/embeddings,
GET /v1/models, GET /_standin/stats, POST /_standin/reset, POST /_standin/config.

A chat answer is a pure function of (model, messages, seed) and, only when noise or a
`fail_rate` is on, of the attempt number of that exact request. `temperature` and the
request's own `seed` change nothing: determinism is worth more than realism. Rules, first
that applies wins:

1. Directives, anywhere in any message: ``[standin: key=value, key=value]``
     fault=401|403|429|500|502|503|timeout|reset|malformed|empty_choices|content_filter|redirect|drip|huge
         401/403: a bad or unauthorised key, as OpenAI answers it.
         429: `Retry-After` header from retry_after=S (default 1; retry_after=none omits it).
         timeout: sleep sleep_s seconds (default 30), then answer normally.
         reset: send the headers and half the body, then close the socket abruptly (RST).
         malformed: 200 with a body that is not JSON.  empty_choices: 200 with "choices": [].
         content_filter: 200 with finish_reason "content_filter" and content null.
         redirect: 307 to location=URL (absolute, or a path on this server).
         drip: a normal answer whose body is sent one byte every drip_s seconds (default 1),
               so no single read ever waits long (a slow-loris server).
         huge: a normal answer padded to size_mb megabytes of text (default 100).
     times=N       only the first N attempts of this exact request (model + messages) fail;
                   later ones answer normally (default: every attempt fails).
     latency_ms=N  latency for this request instead of the global one.
     prompt_tokens=N  report N as usage.prompt_tokens (any integer: huge or negative usage).
     noise=P       with probability P (seeded by seed, fingerprint, attempt) answer wrongly:
                   another category in JSON mode, a different sentence for text, and
                   compliance instead of a refusal. Global `noise` applies to every request.
     reply=TEXT    answer TEXT literally. It must be the last key and runs to the first `]`,
                   so TEXT cannot contain `]`; there is no escaping; outer spaces are stripped.
   Directives are cut out of the text before rules 2-4 read it. Unknown keys or faults -> 400.
2. Refusal: a user message that asks for something clearly harmful (hack, malware, bomb,
   weapon, steal, phishing, poison, "bypass security", "ignore previous instructions",
   "pretend you are DAN") gets "I'm sorry, but I can't help with that request."
3. JSON mode (any message says "json", or response_format asks for it): if the system text
   mentions "category": {"category": C, "reply": R}, with labels refund/bug/other only when the
   system text lists "refund" and "bug", else its own labels billing/technical/general.
   Otherwise {"answer": <rule 4's text>}.
4. Text: "12 + 30" style arithmetic (+ - * /), "capital of France" for a few countries, else
   "Stand-in answer: <first 12 words of the user text>". UPPERCASE if the system text asks.

Length: a request with `max_tokens` (or `max_completion_tokens`) gets an answer cut to that many
estimated tokens (4 characters each) and `finish_reason: "length"`, as a real model cuts a long
answer (a `reply=` too; fault replies are not cut).

Judge (checked before rule 2, since a graded answer may quote a harmful request): when the
system text carries the grader marker "[llmops-grader" (llmops' `judge` assertion), the answer is
{"score": S, "reason": R} read from the `<rubric>`, `<answer>` and `<context>` tags of the user text:
   with a <context> (faithfulness): S = share of the answer's words of 4+ letters that occur in
     the context, rounded to 2 places (0 when it has none);
   else, when the rubric quotes phrases in double quotes: S = share of them the answer contains
     (any case); else S = 1.0 for a non-empty answer, 0.0 for an empty one.
   A `[standin: ...]` directive in the rubric reaches only the judge's request, so `reply=not json`
   makes a malformed verdict and `fault=500` a judge outage.

Global settings (`configure()` or POST /_standin/config): latency_ms, noise, seed,
retry_after, sleep_s and fail_rate ({"429": 0.1, "500": 0.05, ...}: random faults per attempt).
Latency is an asyncio.sleep. Stats count chat and embeddings requests when they arrive.
Foreground: ``llmops standin --latency-ms 50`` (or ``python -m llmops_cli.standin``) prints the base URL.
The rules above are documented for users in docs/standin.md; keep the two in step.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

FAULTS = frozenset({"401", "403", "429", "500", "502", "503", "timeout", "reset", "malformed",
                    "empty_choices", "content_filter", "redirect", "drip", "huge"})
REFUSAL = "I'm sorry, but I can't help with that request."
NOISE_TEXT = "Stand-in noise: I am not sure, but it is probably something else entirely."
CAPITALS = {"france": "Paris", "germany": "Berlin", "italy": "Rome", "spain": "Madrid",
            "japan": "Tokyo"}
REPLIES = {"refund": "We have started your refund; you will get a confirmation email shortly.",
           "bug": "Thanks for the report; our engineers are looking into the problem.",
           "other": "Thanks for reaching out; a member of our team will reply soon."}
OWN_LABELS = {"refund": "billing", "bug": "technical", "other": "general"}
MODELS = ("standin-1", "gpt-4o-mini", "text-embedding-3-small")
EMBED_DIM = 64

_DIRECTIVE = re.compile(r"\[standin:([^\]]*)\]", re.IGNORECASE)
_REPLY_KEY = re.compile(r"(?:^|,)\s*reply\s*=")
_HARMFUL = re.compile(
    r"\b(hack(s|ed|ing|er|ers)?|malware|bombs?|weapons?|steal(s|ing)?|phishing|"
    r"poison(s|ed|ing)?|bypass(ing)? security|jailbreak)\b|"
    r"ignore (all )?(the |your )?(previous|prior|above) instructions|"
    r"pretend (that )?(you are|you're|to be) dan\b", re.IGNORECASE)
_ARITH = re.compile(r"(?<![\w.-])(-?\d+(?:\.\d+)?)\s*([-+*/x\u00d7])\s*(-?\d+(?:\.\d+)?)(?![\w-]|\.\d)")
_CAPITAL = re.compile(r"capital of ([a-z]+)", re.IGNORECASE)
_REFUND = re.compile(r"refund|money back|charge", re.IGNORECASE)
_BUG = re.compile(r"\bbug|crash|error|broken|doesn'?t work|does not work", re.IGNORECASE)


class DirectiveError(ValueError):
    """A `[standin: ...]` directive or config value the server does not understand."""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    drip_s: float | None = None  # send the body one byte at a time, this many seconds apart


# ---- pure helpers: text, directives, answers ------------------------------------------------

def message_text(content: Any) -> str:
    """Text of an OpenAI message `content`: a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def strip_directives(text: str) -> str:
    return " ".join(_DIRECTIVE.sub(" ", text).split())


def _fault_name(raw: str) -> str:
    if raw.lower() not in FAULTS:
        raise ValueError(f"unknown fault {raw!r}; one of {sorted(FAULTS)}")
    return raw.lower()


def _retry_after(raw: Any) -> float | None:
    return None if raw is None or str(raw).lower() == "none" else float(raw)


def _fail_rate(raw: Any) -> dict[str, float]:
    return {_fault_name(str(fault)): float(rate) for fault, rate in dict(raw).items()}


DIRECTIVE_TYPES = {"fault": _fault_name, "times": lambda raw: int(float(raw)),
                   "retry_after": _retry_after, "sleep_s": float, "latency_ms": float,
                   "noise": float, "location": str, "drip_s": float, "size_mb": float, "prompt_tokens": int}
CONFIG_TYPES = {"latency_ms": float, "noise": float, "seed": int, "retry_after": _retry_after,
                "sleep_s": float, "fail_rate": _fail_rate}


def _typed(types: dict[str, Any], key: str, raw: Any) -> Any:
    if key not in types:
        raise DirectiveError(f"unknown stand-in key {key!r}; known: {sorted(types)}")
    try:
        return types[key](raw)
    except (TypeError, ValueError) as exc:
        raise DirectiveError(f"stand-in {key}={raw!r}: {exc}") from None


def parse_directives(texts: list[str]) -> dict[str, Any]:
    """Merge every `[standin: ...]` directive found in `texts` (later ones win), typed."""
    out: dict[str, Any] = {}
    for text in texts:
        for body in _DIRECTIVE.findall(text):
            reply = _REPLY_KEY.search(body)
            if reply:
                out["reply"] = body[reply.end():].strip()
                body = body[:reply.start()]
            for pair in filter(None, (p.strip() for p in body.split(","))):
                key, eq, raw = (s.strip() for s in pair.partition("="))
                if not eq:
                    raise DirectiveError(f"stand-in directive {pair!r} is not key=value")
                out[key] = _typed(DIRECTIVE_TYPES, key, raw)
    return out


def fingerprint(model: str, messages: Any) -> str:
    canon = json.dumps({"model": model, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def is_harmful(text: str) -> bool:
    return bool(_HARMFUL.search(text))


def classify(text: str) -> str:
    if _REFUND.search(text):
        return "refund"
    return "bug" if _BUG.search(text) else "other"


def arithmetic(text: str) -> str | None:
    match = _ARITH.search(text)
    if not match:
        return None
    a, op, b = float(match[1]), match[2], float(match[3])
    if op == "/" and b == 0:
        return "undefined"
    value = a + b if op == "+" else a - b if op == "-" else a / b if op == "/" else a * b
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def text_answer(user: str, system: str, noisy: bool) -> str:
    capital = _CAPITAL.search(user)
    if noisy:
        text = NOISE_TEXT
    elif (result := arithmetic(user)) is not None:
        text = result
    elif capital and capital[1].lower() in CAPITALS:
        text = CAPITALS[capital[1].lower()]
    else:
        text = "Stand-in answer: " + " ".join(user.split()[:12])
    return text.upper() if "uppercase" in system.lower() else text


def category_answer(user: str, system: str, noisy: bool, rng: random.Random) -> str:
    label = classify(user)
    listed = "refund" in system.lower() and "bug" in system.lower()
    if noisy:
        label = rng.choice([other for other in REPLIES if other != label])
    category = label if listed else OWN_LABELS[label]
    return json.dumps({"category": category, "reply": REPLIES[label]})


GRADER_MARKER = "[llmops-grader"
_WORD = re.compile(r"[a-z0-9']+")


def _tag(text: str, name: str) -> str | None:
    """The text between <name> and the last </name> (an answer may itself contain the tag)."""
    start, end = text.find(f"<{name}>"), text.rfind(f"</{name}>")
    return text[start + len(name) + 2:end].strip() if start >= 0 and end > start else None


def judge_answer(user: str) -> str:
    """A deterministic grader verdict (see "Judge" in the module docstring)."""
    rubric, candidate, context = _tag(user, "rubric") or "", _tag(user, "answer") or "", _tag(user, "context")
    if context is not None:
        words = [w for w in _WORD.findall(candidate.lower()) if len(w) >= 4]
        known = set(_WORD.findall(context.lower()))
        found = [w for w in words if w in known]
        score = round(len(found) / len(words), 2) if words else 0.0
        reason = f"{len(found)} of {len(words)} answer words appear in the context"
    else:
        quoted = re.findall(r'"([^"]+)"', rubric)
        if quoted:
            hits = [q for q in quoted if q.lower() in candidate.lower()]
            score = round(len(hits) / len(quoted), 2)
            missing = [q for q in quoted if q not in hits]
            reason = "mentions every quoted phrase" if not missing else "missing " + ", ".join(missing)
        else:
            score = 1.0 if candidate.strip() else 0.0
            reason = "non-empty answer" if score else "empty answer"
    return json.dumps({"score": score, "reason": reason})


def answer(messages: list[dict[str, Any]], json_requested: bool, noisy: bool,
           rng: random.Random) -> str:
    """The deterministic answer to a chat request (rules 2-4 of the module docstring, and the judge)."""
    raw_system = " ".join(message_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
    if GRADER_MARKER in raw_system:
        users = [strip_directives(message_text(m.get("content"))) for m in messages if m.get("role") == "user"]
        return judge_answer(users[-1] if users else "")
    texts = [(m.get("role"), strip_directives(message_text(m.get("content")))) for m in messages]
    system = " ".join(t for role, t in texts if role in ("system", "developer"))
    users = [t for role, t in texts if role == "user"]
    user = users[-1] if users else ""
    if any(is_harmful(u) for u in users):
        return text_answer(user, system, False) if noisy else REFUSAL
    if json_requested or any("json" in t.lower() for _, t in texts):
        if "category" in system.lower():
            return category_answer(user, system, noisy, rng)
        return json.dumps({"answer": text_answer(user, system, noisy)})
    return text_answer(user, system, noisy)


def embed(text: str) -> list[float]:
    """64-dim signed hashed bag of lowercased words, L2-normalised."""
    vec = [0.0] * EMBED_DIM
    for word in re.findall(r"[a-z0-9']+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[digest[0] % EMBED_DIM] += 1.0 if digest[1] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm else vec


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers or {})


def error_reply(status: int, message: str, type_: str, code: str,
                headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return json_reply(status, body, headers)


def cut_to(content: str, max_tokens: Any) -> tuple[str, str]:
    """The answer a token budget allows, and why it ended ("length" when it was cut)."""
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0 \
            and estimate_tokens(content) > max_tokens:
        return content[: max_tokens * 4], "length"
    return content, "stop"


def completion(model: str, fp: str, content: str | None, prompt_tokens: int,
               finish_reason: str = "stop", empty: bool = False) -> dict[str, Any]:
    completion_tokens = estimate_tokens(content or "")
    choice = {"index": 0, "message": {"role": "assistant", "content": content},
              "finish_reason": finish_reason, "logprobs": None}
    return {"id": f"chatcmpl-{fp[:24]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [] if empty else [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


# ---- the server ----------------------------------------------------------------------------

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
        clean = {key: _typed(CONFIG_TYPES, key, value) for key, value in kw.items()}
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
        if "reply" in d:
            content = d["reply"]
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

    parser = argparse.ArgumentParser(prog="python -m llmops_cli.standin", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency of every request")
    parser.add_argument("--seed", type=int, default=0, help="seed for noise and fail rates")
    parser.add_argument("--noise", type=float, default=0.0, help="share of deliberately wrong answers")
    args = parser.parse_args(argv)
    return serve(lambda url: print(url, flush=True), port=args.port, latency_ms=args.latency_ms, seed=args.seed,
                 noise=args.noise)


if __name__ == "__main__":
    raise SystemExit(main())
