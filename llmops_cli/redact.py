"""Redaction of PII and secrets, applied to everything before it is written.

Built-in rules (formats informed by gitleaks' and detect-secrets' rule sets, written here as a
short list we own rather than a runtime dependency: detect-secrets brings plugins, entropy
scanners and their own regexes that we could not prove linear, for a handful of formats):

  secret  key formats, always on: OpenAI/Anthropic `sk-…`, Stripe `sk_live_`/`rk_live_`, GitHub
          `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_`/`github_pat_`, GitLab `glpat-`, Slack `xox…-`,
          Google `AIza…`, AWS access key ids (`AKIA`, `ASIA`, …) and 40-character secret access
          keys, Hugging Face `hf_`, Groq `gsk_`, xAI `xai-`, npm `npm_`, JWTs, PEM private keys,
          `Bearer …`, credentials in URL queries (`?api_key=…`, `&token=…`) and 32-hex keys (Azure)
  email   addresses, any script in the domain (`jürgen@bücher.de`)
  card    13-19 digit card numbers, spaced or dashed
  iban    international bank account numbers
  ssn     US social security numbers (123-45-6789)
  phone   national formats with separators, international `+CC …` groups and E.164 (`+14155550100`)

Every pattern is linear in the length of the text: a repeated character class only starts where
a run of that class starts (a lookbehind says so), and every other repetition is bounded, so no
input makes the regex engine rescan what it has already read (a test runs 1 MB of adversarial
text through each rule). Rules apply in the order above (most specific first, so a card number
is never half eaten by the phone rule), then custom rules in the order written.

Key values in use by the run are always scrubbed literally, whether or not rules are on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from llmops_cli.config import RedactRule

_TOKEN = r"A-Za-z0-9_-"
_SECRET_FORMATS = (
    rf"(?<![{_TOKEN}])sk-[{_TOKEN}]{{16,}}",
    r"(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}",
    r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}",
    rf"(?<![{_TOKEN}])glpat-[{_TOKEN}]{{20,}}",
    r"(?<![A-Za-z0-9-])xox[abeoprs]-[A-Za-z0-9-]{10,}",
    rf"(?<![{_TOKEN}])AIza[{_TOKEN}]{{30,}}",
    r"(?<![A-Za-z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    r"(?<![A-Za-z0-9_])(?:hf|gsk|npm)_[A-Za-z0-9]{20,}",
    r"(?<![A-Za-z0-9-])xai-[A-Za-z0-9]{20,}",
    rf"(?<![{_TOKEN}])eyJ[{_TOKEN}]{{8,}}\.eyJ[{_TOKEN}]{{8,}}\.[{_TOKEN}]*",
    # A PEM block up to its END line (or, when cut short, up to the next dashes or the end).
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----))*"
    r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
    r"(?i:\bbearer)[ \t]+[A-Za-z0-9._~+/=-]{16,}",
    # A credential in a URL query: the parameter name stays, its value goes.
    r"(?P<keep>[?&](?i:api[_-]?key|apikey|key|access[_-]?token|token|auth|code|sig|signature|secret"
    r"|password|client[_-]?secret)=)[^&#\s\"'<>]+",
    # AWS secret access keys: 40 base64 characters mixing upper, lower and digits (a git sha is hex).
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    r"(?<![0-9A-Za-z])[0-9a-f]{32}(?![0-9A-Za-z])",
)

BUILTIN_PATTERNS: dict[str, str] = {
    "secret": "|".join(f"(?:{p})" for p in _SECRET_FORMATS),
    "email": r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)+",
    "card": r"(?<![\d-])\d(?:[ -]?\d){12,18}(?!\d)",
    "iban": r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
    "ssn": r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])",
    "phone": r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)"
             r"|(?<![\w+])\+\d{1,3}(?:[ .-]\(?\d{1,4}\)?){2,5}(?![\w-])"
             r"|(?<!\w)(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?!\w)",
}
ALWAYS_ON = "secret"


MEMO_TEXT_MAX = 16_384
MEMO_ENTRIES = 1_024


class Redactor:
    """The rules of a run, compiled once; `text()` is what every stored string goes through."""

    def __init__(self, rules: Sequence[RedactRule] = (), secrets: Sequence[str] = ()) -> None:
        named = {rule.name for rule in rules if rule.pattern is None} | {ALWAYS_ON}
        builtin = [(name, re.compile(BUILTIN_PATTERNS[name])) for name in BUILTIN_PATTERNS if name in named]
        custom = [(rule.name, re.compile(rule.pattern)) for rule in rules if rule.pattern is not None]
        self.names = [rule.name for rule in rules] + ([ALWAYS_ON] if all(r.name != ALWAYS_ON for r in rules) else [])
        self.patterns = builtin + custom
        self.secrets: list[str] = []
        self._done: dict[str, str] = {}  # text -> redacted: a suite's system prompt recurs in every case
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s)}, key=len, reverse=True)
        self._done = {}

    @property
    def active(self) -> bool:
        return bool(self.patterns)

    def text(self, value: str) -> str:
        done = self._done.get(value)
        if done is not None:
            return done
        redacted = scrub_keys(value, self.secrets)
        for name, pattern in self.patterns:
            redacted = pattern.sub(_mask(name), redacted)
        if len(value) <= MEMO_TEXT_MAX:
            if len(self._done) >= MEMO_ENTRIES:  # bounded: at most MEMO_ENTRIES x MEMO_TEXT_MAX characters kept
                self._done = {}
            self._done[value] = redacted
        return redacted

    def messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each message's content, and the arguments of an assistant turn's tool calls."""
        return [self._message(m) for m in messages]

    def _message(self, message: dict[str, Any]) -> dict[str, Any]:
        out = {**message}
        if isinstance(message.get("content"), str):
            out["content"] = self.text(message["content"])
        if message.get("tool_calls"):
            out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": self.text(c["function"]["arguments"])}}
                                 for c in message["tool_calls"]]
        return out


def _mask(name: str) -> Callable[[re.Match[str]], str]:
    label = f"[{name}]"

    def replace(match: re.Match[str]) -> str:
        keep = match.groupdict().get("keep")
        return (keep or "") + label

    return replace


_SECRET_FORMAT = re.compile(BUILTIN_PATTERNS[ALWAYS_ON])


KEY_MIN = 4  # a shorter "key" would mask ordinary text everywhere
_CREDENTIAL_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PAT", "CREDENTIALS"}


def environment_secrets() -> list[str]:
    """Every environment variable named like a credential (litellm's OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY,
    HF_TOKEN, WATSONX_APIKEY, a CI's DEPLOY_TOKEN, ...): litellm may send them on its own, and any error
    text may carry one, so none is ever written."""
    return [v for k, v in os.environ.items() if _CREDENTIAL_WORDS & set(k.upper().split("_")) and len(v) >= 8]


def scrub_environment(text: str) -> str:
    """`scrub` with the environment's credentials: for text no run's redactor sees (what crashed it)."""
    return scrub(text, sorted(environment_secrets(), key=len, reverse=True))


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Key values in use, then every known key format: for error text that leaves a provider
    before a Redactor sees it (and before it is ever cut short, so no half key survives)."""
    return _SECRET_FORMAT.sub(_mask(ALWAYS_ON), scrub_keys(text, secrets))


def scrub_keys(text: str, secrets: Sequence[str]) -> str:
    """Only the key values in use: what the response cache stores, so that a cached answer scores
    like a fresh one (format rules could mask an ordinary hex string the suite asserts on)."""
    for secret in secrets:
        text = text.replace(secret, "[key]")
    return text
