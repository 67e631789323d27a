"""Redaction of PII and secrets, applied to everything before it is written.

Built-in rules: `email`, `phone`, `card` (13-19 digit card numbers), `secret` (common API key
formats: sk-..., AKIA..., ghp_..., xox..., Bearer tokens). Custom rules are regexes from
llmops.yaml. Key values in use by the run are always scrubbed, whether or not rules are on.
"""

from __future__ import annotations

import re
from typing import Sequence

from llmops_cli.config import RedactRule

BUILTIN_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"(?<!\w)(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?!\w)",
    "card": r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",
    "secret": r"(?:sk-[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}"
              r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,})",
}


class Redactor:
    def __init__(self, rules: Sequence[RedactRule] = (), secrets: Sequence[str] = ()) -> None:
        self.names = [rule.name for rule in rules]
        self.patterns = [(rule.name, re.compile(rule.pattern or BUILTIN_PATTERNS[rule.name])) for rule in rules]
        self.secrets: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Sequence[str]) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s)}, key=len, reverse=True)

    @property
    def active(self) -> bool:
        return bool(self.patterns)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "[key]")
        for name, pattern in self.patterns:
            value = pattern.sub(f"[{name}]", value)
        return value

    def messages(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{**m, "content": self.text(m["content"])} for m in messages]
