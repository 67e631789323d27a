"""YAML loading that remembers line numbers and refuses alias bombs.

Every config problem must name `file:line`, so mappings and lists come back as `LineDict` /
`LineList` that know the line of each key and item. Anchors/aliases are capped, and so is the
size a document expands to, because a "billion laughs" document shares its nodes while parsed
but would expand into gigabytes the first time we walk it (JSON Schema checks, cache keys).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_VALUES = 100_000  # scalars + containers once every alias is expanded
_SURROGATE = re.compile("[\ud800-\udfff]")


class LineDict(dict[Any, Any]):
    """A mapping plus the 1-based line of itself, of each key and of where each value's text starts."""

    line: int = 0
    key_lines: dict[Any, int]
    value_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)

    def value_line_of(self, key: Any) -> int:
        """The line a value's text starts on: the line after `key: |` for a block scalar."""
        return self.value_lines.get(key, self.line_of(key))


class LineList(list[Any]):
    """A list plus the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class YamlError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self._next_mark()
                raise YamlError(mark.line + 1, f"more than {MAX_ALIASES} YAML aliases; refusing a possible alias bomb "
                                "(write the values out, or use fewer aliases)")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self._next_mark()
            raise YamlError(mark.line + 1, f"YAML nested deeper than {MAX_DEPTH} levels; flatten it")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_mark(self) -> yaml.Mark:
        """Where the next event starts, for a problem's line."""
        mark: yaml.Mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        return mark

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """A value its tag cannot build (`!!int abc`, `!!timestamp 2020-13-45`, 5,000 digits) is the
        user's input, reported at its line, not a crash."""
        try:
            value = super().construct_object(node, deep=deep)
        except YamlError:
            raise
        except (ValueError, TypeError, KeyError, OverflowError, ArithmeticError) as exc:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            shown = node.value if isinstance(node.value, str) else ""
            why = "too many digits" if "digits" in str(exc) else "not a valid value for it"
            raise YamlError(node.start_mark.line + 1, f"invalid YAML: {shown[:40]!r} tagged {tag} is {why}; "
                            "fix the value or remove the tag") from None
        if isinstance(value, str) and not value.isascii() and _SURROGATE.search(value):
            raise YamlError(node.start_mark.line + 1, "invalid YAML: a lone surrogate escape (\\ud800-\\udfff) is not a "
                            "character; write the character itself")
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        seen: dict[Any, int] = {}
        value_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int)) and key in seen:
                raise YamlError(key_node.start_mark.line + 1, f"duplicate key {key!r} (first at line {seen[key]}); "
                                "keep one of them")
            if isinstance(key, (str, int)):
                seen[key] = key_node.start_mark.line + 1
                block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
                value_lines[key] = value_node.start_mark.line + (2 if block else 1)
        mapping = LineDict(super().construct_mapping(node, deep=True))
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = seen
        mapping.value_lines = value_lines
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:
        items = LineList(self.construct_object(child, deep=True) for child in node.value)
        items.line = node.start_mark.line + 1
        items.item_lines = [child.start_mark.line + 1 for child in node.value]
        return items


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    return loader.construct_mapping(node)


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    return loader.construct_sequence(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)


def _not_json(loader: _Loader, node: Any) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise YamlError(node.start_mark.line + 1, f"invalid YAML: {tag} builds a value JSON cannot hold; "
                    "write a plain list, mapping or string")


for _tag in ("set", "omap", "pairs", "binary"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_json)


class _CoreLoader(_Loader):
    """YAML 1.2 core schema, as JavaScript tools (promptfoo, js-yaml) read YAML: only true/false
    are booleans (`yes`, `no`, `on`, `off` stay text), `1:20` stays text, `012` is twelve, and a
    date stays text. PyYAML itself implements YAML 1.1, where all of these change meaning."""

    yaml_implicit_resolvers: dict[Any, Any] = {}

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
        base = {"0x": 16, "0o": 8}.get(digits[:2].lower(), 10)
        return sign * int(digits[2:] if base != 10 else digits, base)


_CORE_RESOLVERS = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),   # not 1.2, but js-yaml merges `<<: *anchor` too
)
for _tag, _pattern, _first in _CORE_RESOLVERS:
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
_CoreLoader.add_constructor("tag:yaml.org,2002:int", _CoreLoader.construct_yaml_int)


def load_yaml(text: str, *, yaml12: bool = False) -> Any:
    """Parse one YAML document; raise YamlError with a line number on any problem. With
    `yaml12`, scalars resolve by the YAML 1.2 core schema (for files other tools wrote)."""
    try:
        loader = (_CoreLoader if yaml12 else _Loader)(text)  # the reader refuses control characters here
    except yaml.reader.ReaderError as exc:
        raise _unprintable(text, exc) from None
    try:
        data = loader.get_single_data()
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlError(mark.line + 1 if mark else None, _describe(exc)) from None
    except yaml.reader.ReaderError as exc:
        raise _unprintable(text, exc) from None
    except yaml.YAMLError as exc:
        raise YamlError(None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError(None, "YAML nested too deeply") from None
    finally:
        loader.dispose()
    _check_expanded_size(data)
    return data


def _unprintable(text: str, exc: yaml.reader.ReaderError) -> YamlError:
    line = text.count("\n", 0, exc.position) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return YamlError(line, f"invalid YAML: control character U+{code:04X} is not allowed; "
                     "remove it, or write it as an escape in a double-quoted string")


def _describe(exc: yaml.MarkedYAMLError) -> str:
    problem, context = exc.problem or "", exc.context or ""
    if "'\\t'" in problem or "\t" in problem:
        return "invalid YAML: a tab character; YAML indents with spaces only"
    if context.startswith("expected a single document"):
        return "invalid YAML: a second document ('---'); keep one document per file"
    if problem.startswith("could not determine a constructor"):
        return f"invalid YAML: {problem}; llmops reads plain YAML only, remove the tag"
    if problem.startswith("mapping values are not allowed"):
        return f"invalid YAML: {problem} (check the indentation, or quote a value that contains ': ')"
    if context and exc.context_mark is not None and exc.problem_mark is not None \
            and exc.context_mark.line != exc.problem_mark.line:
        return f"invalid YAML: {problem} ({context} started at line {exc.context_mark.line + 1})"
    return f"invalid YAML: {problem or context}"


def _check_expanded_size(data: Any) -> None:
    """Refuse a document whose aliases expand it past MAX_VALUES, naming the smallest such part."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if id(value) not in sizes:
            children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            sizes[id(value)] = 1 + sum(size(child) for child in children)
        return sizes[id(value)]

    if size(data) <= MAX_VALUES:
        return
    node = data
    while True:
        children = node.values() if isinstance(node, dict) else node
        bigger = [c for c in children if isinstance(c, (dict, list)) and size(c) > MAX_VALUES]
        if not bigger:
            break
        node = bigger[0]
    raise YamlError(getattr(node, "line", None), f"aliases expand this document to more than {MAX_VALUES:,} values; "
                    "refusing a possible alias bomb (write the values out, or use fewer aliases)")


def plain(value: Any) -> Any:
    """Drop the line-tracking subclasses so values compare, hash and serialise like plain JSON."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
