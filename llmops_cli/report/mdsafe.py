"""Untrusted text into Markdown as inert code: the one way report.md and rerun.md quote a value.

Case ids, tags, suite, prompt and model names, refs, assertion messages and outputs come from a
pull request or a model. In GitHub's renderer raw HTML is live (`<img>` pixels, a stray
`</details>`), `[..](..)` and bare URLs become links, and `@name` / `#12` ping people or link
issues — everywhere except inside code. Escaping each of those one by one loses to the next
autolink rule; a code span or a fenced block turns all of them off at once. So an untrusted
value is shown as it is only when it is plain words (letters, digits, spaces, a little
punctuation, nothing GitHub links), and otherwise as code, fenced so its own backticks and line
breaks cannot close the code early.
"""

from __future__ import annotations

import re

_BACKTICKS = re.compile(r"`+")
# Line breaks (CommonMark's three and Unicode's) would end a list item or table row under a code
# span; other C0/C1 controls and bidi overrides disguise what a reviewer reads.
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x85\u2028\u2029]")
_HIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
# Plain words: nothing here is Markdown syntax (an `_` only inside a word, where it never emphasises;
# a letter or digit first, so no `---` or `+` opens a block where the value starts a line).
_PLAIN = re.compile(r"(?:[^\W_](?:[^\W_]|[ .,:;=+\-/'\"()%]|(?<=[^\W_])_(?=[^\W_]))*)?")
# ...unless GitHub would still turn it into something: URLs, bare domains (markdown-it links
# `evil.test`), issue references (GH-12), commit-like hex words, emoji codes (a `:x:` or
# `:white_check_mark:` in a case id would fake a verdict).
_LINKED = re.compile(r"://|www\.|\.[^\W\d_]|\bgh-\d|\b[0-9a-f]{7,40}\b|:[\w+-]+:", re.IGNORECASE)


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _one_line(value: object) -> str:
    return _HIDDEN.sub("", _BREAKS.sub(" ", str(value)))


def inline(value: object) -> str:
    """`value` on one line, inert: as it is when it is plain words, else as a code span that its
    own backticks cannot close."""
    text = _one_line(value)
    return text if _PLAIN.fullmatch(text) and not _LINKED.search(text) else code(text)


def code(value: object) -> str:
    """`value` as a code span on one line, whatever backticks or line breaks it holds."""
    text = _one_line(value)
    if not text:
        return ""
    ticks = "`" * (_longest_backticks(text) + 1)
    # CommonMark strips one space from each end of a span that starts and ends with one; pad so a
    # leading/trailing backtick or space is kept.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def cell(value: object) -> str:
    """`value` inert inside a GFM table cell, where even in code `|` ends the cell unescaped."""
    return inline(value).replace("|", "\\|")


def fence(text: str, lang: str = "") -> str:
    """A fenced block longer than any backtick run in `text`, so the text cannot close it early.

    Inside, the text is shown as it is (a reviewer may need its exact characters)."""
    ticks = "`" * max(3, _longest_backticks(text) + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"
