"""Render Markdown as GitHub does and list everything live in it that llmops did not put there.

GitHub renders a PR comment with raw HTML allowed (then sanitised), GFM tables, strikethrough and
bare-URL autolinks, and afterwards turns `@name` in text into a mention and `#123` into an issue
link, everywhere except inside code. markdown-it-py's `gfm-like` preset (html on, linkify on)
is that renderer; the checks below read its token stream, plus the tags of the HTML it emits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

# The raw HTML llmops writes itself: collapsible evidence and the comment's hidden marker.
OUR_HTML = re.compile(r"<details><summary>[A-Za-z ]+</summary>|</details>|<!-- llmops-report -->")
OUR_TAGS = {"h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "strong", "em", "code", "pre", "table", "thead",
            "tbody", "tr", "th", "td", "hr", "details", "summary", "a", "br"}
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
ISSUE_REF = re.compile(r"(?<![\w&])#\d")


def github_markdown() -> MarkdownIt:
    return MarkdownIt("gfm-like")  # commonmark + html + table + strikethrough + linkify


def _walk(tokens: Iterable[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def live_markup(text: str, our_links: Iterable[str] = ()) -> list[str]:
    """Every problem found: raw HTML, links or images, mentions or issue references not ours."""
    md = github_markdown()
    problems = []
    allowed = set(our_links)
    for token in _walk(md.parse(text)):
        if token.type in ("html_block", "html_inline"):
            leftover = OUR_HTML.sub("", token.content).strip()
            if leftover:
                problems.append(f"raw HTML: {token.content.strip()[:120]!r}")
        elif token.type == "image":
            problems.append(f"image: {token.attrGet('src')!r}")
        elif token.type == "link_open" and token.attrGet("href") not in allowed:
            problems.append(f"link: {token.attrGet('href')!r}")
        elif token.type == "text":
            for pattern, what in ((MENTION, "mention"), (ISSUE_REF, "issue reference")):
                if pattern.search(token.content):
                    problems.append(f"{what} outside code: {token.content[:120]!r}")
    parser = _Tags()
    parser.feed(md.render(text))
    problems += [f"HTML tag <{tag}>" for tag in sorted(parser.tags - OUR_TAGS)]
    return problems


def code_text(text: str) -> str:
    """Everything shown as code (spans and blocks), joined: where untrusted text is meant to be."""
    return "\n".join(t.content for t in _walk(github_markdown().parse(text))
                     if t.type in ("code_inline", "fence", "code_block"))
