"""llmops.yaml, prompts/*.yaml and evals/*/suite.yaml as typed, frozen values.

Everything the user writes is validated here, in one place, and every problem is collected as
`file:line: message` (naming the bad key and what is allowed) so that one run shows all of them.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from llmops_cli.credentials import find_credentials, find_endpoint_params
from llmops_cli.errors import Problems
from llmops_cli.metrics import REGISTRY
from llmops_cli.yamlfile import LineDict, LineList, YamlError, load_yaml, plain

T = TypeVar("T")

CONFIG_FILE = "llmops.yaml"
PROMPTS_DIR = "prompts"
EVALS_DIR = "evals"

BUILTIN_REDACTIONS = ("email", "phone", "card", "iban", "ssn", "secret")
ALWAYS_REDACTED = "secret"  # key formats: on whatever `redact:` says
MESSAGE_ROLES = ("system", "user", "assistant")
SUITE_KINDS = ("quality", "redteam")
# auto: the direct client for OpenAI routes, litellm for the rest; litellm: always litellm; openai: the direct client for an
# OpenAI-compatible endpoint litellm names another way (hosted_vllm/..., lm_studio/...).
CLIENTS = ("auto", "litellm", "openai")

# Upper bounds on what a pull request may ask for: past these a value is a mistake or an attack
# (100,000,000 repeats, a billion retries), never a plan.
MAX_CONCURRENCY = 1024
MAX_RETRIES = 20
MAX_TIMEOUT_S = 3600.0
MAX_REPEAT = 1000
MAX_ADAPTIVE_REPEAT = 20  # `limits.max_repeat`: runs a side for a case `repeat: auto` samples again
MAX_CONSECUTIVE_ERRORS = 1_000_000
MAX_COST_USD = 1_000_000.0
MAX_COST_PER_TOKEN = 1.0
MAX_STEPS = 50  # model calls per case in an agent loop


@dataclass(frozen=True)
class ModelSpec:
    """A model alias resolved to what litellm needs; the key itself is never stored here."""

    alias: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    api_base_env: str | None = None  # the endpoint comes from this variable (a local server's port changes)
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    line: int = field(default=0, compare=False)  # where llmops.yaml defines it, for problems
    client: str = "auto"  # which client sends the calls: one of CLIENTS (see direct.direct_route)


@dataclass(frozen=True)
class Limits:
    concurrency: int = 16
    timeout_s: float = 60.0
    retries: int = 4
    max_cost_usd: float | None = None
    max_error_rate: float = 0.02
    max_consecutive_errors: int = 25
    max_repeat: int = 5  # `repeat: auto`: runs a side, at most, for a case whose first runs disagree


@dataclass(frozen=True)
class GateConfig:
    baseline: str = "origin/main"
    alpha: float = 0.05
    require_significance: bool = False


@dataclass(frozen=True)
class RedactRule:
    name: str
    pattern: str | None = None  # None: a built-in rule


@dataclass(frozen=True)
class RefusalConfig:
    phrases: tuple[str, ...] = ()
    replace_builtin: bool = False


@dataclass(frozen=True)
class RerunThresholds:
    """`llmops rerun`'s gate (the `rerun:` section, or the command's options): None is no bound."""

    min_agreement: float | None = None
    max_refusal_rate: float | None = None
    min_schema_validity: float | None = None


RERUN_KEYS = ("min_agreement", "max_refusal_rate", "min_schema_validity")


@dataclass(frozen=True)
class ProjectConfig:
    models: Mapping[str, ModelSpec]
    limits: Limits = Limits()
    gate: GateConfig = GateConfig()
    redact: tuple[RedactRule, ...] = (RedactRule(ALWAYS_REDACTED),)
    refusal: RefusalConfig = RefusalConfig()
    judge_model: str | None = None  # default alias of `judge` assertions
    allow_python: bool = False
    embedding_model: str | None = None  # default alias of `similarity` assertions
    rerun: RerunThresholds = RerunThresholds()


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    line: int


@dataclass(frozen=True)
class Prompt:
    name: str
    path: str
    model: str
    messages: tuple[Message, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None
    description: str = ""
    text: str = ""  # the file as written, for template diffs
    tools: tuple[str, ...] = ()  # names of tools/<name>.yaml offered to the model
    tool_choice: str | None = None  # auto, none, required, or one tool's name


@dataclass(frozen=True)
class Assertion:
    type: str
    spec: Mapping[str, Any]
    file: str
    line: int


@dataclass(frozen=True)
class Threshold:
    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    prompts: tuple[str, ...]
    models: tuple[str, ...]
    cases_path: str
    repeat: int = 1
    adaptive: bool = False  # `repeat: auto`: one run a case, more only where base and head disagree (adaptive.py)
    asserts: tuple[Assertion, ...] = ()
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    kind: str = "quality"
    description: str = ""
    line_of_models: int = 0
    line_of_cases: int = 0
    max_steps: int = 5  # model calls per case in an agent loop (cases with tool_results)


class Fields:
    """Reads typed fields out of one YAML mapping, recording problems instead of raising."""

    def __init__(self, data: LineDict, file: str, problems: Problems, what: str) -> None:
        self.data, self.file, self.problems, self.what = data, file, problems, what

    def line(self, key: str | None = None) -> int:
        return self.data.line_of(key) if key is not None else self.data.line

    def bad(self, key: str | None, message: str) -> None:
        self.problems.add(self.file, self.line(key), message)

    def only(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                self.bad(key, f"unknown key {key!r} in {self.what}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")

    @overload
    def get(self, key: str, kind: type[T], default: T, required: bool = False) -> T: ...

    @overload
    def get(self, key: str, kind: type[T], default: None = None, required: bool = False) -> T | None: ...

    @overload
    def get(self, key: str, kind: tuple[type, ...], default: Any = None, required: bool = False) -> Any: ...

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, required: bool = False) -> Any:
        """The value at `key` if it is a `kind` (an int is a float), else `default` and a problem."""
        if key not in self.data:
            if required:
                self.bad(None, f"{self.what} is missing required key {key!r}")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and kind in (int, float):
            value = None
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.bad(key, f"{key!r} in {self.what} must be {_article(names)}, got {_kind_of(value)}")
            return default
        return value

    def number(self, key: str, default: float | None, low: float = 0.0, high: float | None = None) -> float | None:
        value = self.get(key, float, default)
        if value is None or value is default:
            return value
        if not math.isfinite(value):  # .nan passes every comparison, .inf every minimum
            span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.bad(key, f"{key!r} in {self.what} must be a finite number {span}, got {value}")
            return default
        if value < low or (high is not None and value > high):
            span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            self.bad(key, f"{key!r} in {self.what} must be {span}, got {value:g}")
            return default
        return float(value)

    def integer(self, key: str, default: int, low: int = 0, high: int | None = None) -> int:
        value = self.get(key, int, default)
        if value < low or (high is not None and value > high):
            span = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
            self.bad(key, f"{key!r} in {self.what} must be {span}, got {value:,}")
            return default
        return int(value)


def _article(noun: str) -> str:
    names = {"dict": "a mapping", "LineDict": "a mapping", "list": "a list", "LineList": "a list", "str": "a string",
             "int": "an integer", "float": "a number", "bool": "true or false"}
    return " or ".join(names.get(part, part) for part in noun.split(" or "))


def did_you_mean(word: Any, choices: Any) -> str:
    """` (did you mean 'x'?)` for a near miss, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind_of(value: Any) -> str:
    """What the user wrote, in YAML words (never an internal class name like LineDict)."""
    for kind, name in ((bool, "true/false"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                       (int, "an integer"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return "nothing (null)" if value is None else type(value).__name__


def parse_yaml_file(text: str, file: str, problems: Problems) -> LineDict | None:
    """Parse a YAML file whose top level must be a mapping."""
    try:
        data = load_yaml(text)
    except YamlError as exc:
        problems.add(file, exc.line, exc.message)
        return None
    if not isinstance(data, LineDict):
        problems.add(file, getattr(data, "line", None) or 1, "top level must be a mapping of keys to values")
        return None
    return data


def parse_config(text: str, problems: Problems, file: str = CONFIG_FILE) -> ProjectConfig | None:
    data = parse_yaml_file(text, file, problems)
    if data is None:
        return None
    find_credentials(data, file, "", problems)
    top = Fields(data, file, problems, file)
    top.only(("version", "models", "limits", "gate", "redact", "refusal", "judge_model", "embedding_model",
              "allow_python", "rerun"))
    version = top.get("version", int, 1)
    if version != 1:
        top.bad("version", f"unsupported version {version}; this llmops reads version 1")
    models = _parse_models(top, problems, file)
    judge = top.get("judge_model", str)
    if judge is not None and judge not in models:
        top.bad("judge_model", f"judge_model {judge!r} is not a model alias; known: {', '.join(models) or 'none'}")
    embedding = top.get("embedding_model", str)
    if embedding is not None and embedding not in models:
        top.bad("embedding_model", f"embedding_model {embedding!r} is not a model alias; known: {', '.join(models) or 'none'}")
    return ProjectConfig(
        models=models,
        limits=_parse_limits(top, problems, file),
        gate=_parse_gate(top, problems, file),
        redact=_parse_redact(top, problems, file),
        refusal=_parse_refusal(top, problems, file),
        judge_model=judge,
        allow_python=bool(top.get("allow_python", bool, False)),
        embedding_model=embedding,
        rerun=_parse_rerun(top, problems, file),
    )


def _sub(top: Fields, key: str, problems: Problems, file: str) -> Fields | None:
    value = top.get(key, dict)
    return Fields(value, file, problems, key) if isinstance(value, LineDict) else None


def _parse_models(top: Fields, problems: Problems, file: str) -> dict[str, ModelSpec]:
    raw = top.get("models", dict, required=True)
    if not isinstance(raw, LineDict):
        return {}
    if not raw:
        top.bad("models", "'models' needs at least one alias, e.g. default: openai/gpt-4o-mini")
    models: dict[str, ModelSpec] = {}
    for alias, value in raw.items():
        line = raw.line_of(alias)
        if not isinstance(alias, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", alias):
            problems.add(file, line, f"model alias {alias!r} must be letters, digits, '_', '.' or '-'")
            continue
        if isinstance(value, str) and value.strip():
            models[alias] = ModelSpec(alias=alias, model=value.strip(), line=line)
            continue
        if not isinstance(value, LineDict):
            problems.add(file, line, f"model {alias!r} must be a litellm model string or a mapping with 'model'")
            continue
        fields = Fields(value, file, problems, f"model {alias!r}")
        known = ("model", "api_base", "api_base_env", "api_key_env", "input_cost_per_token", "output_cost_per_token",
                 "params", "client")
        fields.only(known)
        model = fields.get("model", str, required=True)
        find_endpoint_params(value.get("params"), file, f"models.{alias}.params", problems)
        _check_answer_params(value.get("params"), file, f"models.{alias}.params", problems)
        key_env = _env_name(fields, "api_key_env", "the key itself never goes in llmops.yaml")
        base_env = _env_name(fields, "api_base_env", "e.g. LLMOPS_STANDIN_URL")
        api_base = fields.get("api_base", str)
        if base_env is not None and api_base is not None:
            fields.bad("api_base_env", f"model {alias!r} sets both api_base and api_base_env; keep one")
        client = _client(fields, alias, model, api_base is not None or base_env is not None)
        if model:
            models[alias] = ModelSpec(
                alias=alias,
                model=model,
                api_base=(os.environ.get(base_env) or None) if base_env else api_base,
                api_key_env=key_env,
                api_base_env=base_env,
                input_cost_per_token=fields.number("input_cost_per_token", None, high=MAX_COST_PER_TOKEN),
                output_cost_per_token=fields.number("output_cost_per_token", None, high=MAX_COST_PER_TOKEN),
                extra=dict(fields.get("params", dict, {}) or {}),
                line=line,
                client=client,
            )
    return models


def _client(fields: Fields, alias: str, model: str | None, has_base: bool) -> str:
    """`client:` of a model alias; `openai` needs an endpoint unless litellm already routes it to OpenAI."""
    client = fields.get("client", str, "auto")
    if client not in CLIENTS:
        fields.bad("client", f"client {client!r} of model {alias!r} is not one of {', '.join(CLIENTS)}"
                             f"{did_you_mean(client, CLIENTS)}")
        return "auto"
    if client == "openai" and not has_base and not (model or "").startswith("openai/"):
        fields.bad("client", f"model {alias!r} sets client: openai without api_base or api_base_env; the openai "
                             "client only serves OpenAI and OpenAI-compatible endpoints (name one, or drop client)")
        return "auto"
    return str(client)


def _env_name(fields: Fields, key: str, hint: str) -> str | None:
    """An environment variable's name: what llmops.yaml holds instead of a key or a changing URL."""
    name = fields.get(key, str)
    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        fields.bad(key, f"{key} must name an environment variable ({hint}), got {name[:4]}...")
        return None
    return str(name) if name is not None else None


def _parse_limits(top: Fields, problems: Problems, file: str) -> Limits:
    fields = _sub(top, "limits", problems, file)
    if fields is None:
        return Limits()
    fields.only(("concurrency", "timeout_s", "retries", "max_cost_usd", "max_error_rate", "max_consecutive_errors",
                 "max_repeat"))
    d = Limits()
    return Limits(
        concurrency=fields.integer("concurrency", d.concurrency, low=1, high=MAX_CONCURRENCY),
        timeout_s=fields.number("timeout_s", d.timeout_s, low=0.001, high=MAX_TIMEOUT_S) or d.timeout_s,
        retries=fields.integer("retries", d.retries, high=MAX_RETRIES),
        max_cost_usd=fields.number("max_cost_usd", None, high=MAX_COST_USD),
        max_error_rate=fields.number("max_error_rate", d.max_error_rate, high=1.0) or 0.0,
        max_consecutive_errors=fields.integer("max_consecutive_errors", d.max_consecutive_errors, low=1,
                                              high=MAX_CONSECUTIVE_ERRORS),
        max_repeat=fields.integer("max_repeat", d.max_repeat, low=1, high=MAX_ADAPTIVE_REPEAT),
    )


def _parse_gate(top: Fields, problems: Problems, file: str) -> GateConfig:
    fields = _sub(top, "gate", problems, file)
    if fields is None:
        return GateConfig()
    fields.only(("baseline", "alpha", "require_significance"))
    d = GateConfig()
    alpha = fields.number("alpha", d.alpha, high=0.5)
    return GateConfig(
        baseline=fields.get("baseline", str, d.baseline),
        alpha=alpha if alpha else d.alpha,
        require_significance=bool(fields.get("require_significance", bool, False)),
    )


def _parse_rerun(top: Fields, problems: Problems, file: str) -> RerunThresholds:
    fields = _sub(top, "rerun", problems, file)
    if fields is None:
        return RerunThresholds()
    fields.only(RERUN_KEYS)
    return RerunThresholds(**{key: fields.number(key, None, high=1.0) for key in RERUN_KEYS})


def _parse_redact(top: Fields, problems: Problems, file: str) -> tuple[RedactRule, ...]:
    raw = top.get("redact", LineList) or LineList()
    rules: list[RedactRule] = []
    for index, item in enumerate(raw):
        line = raw.line_of(index)
        if isinstance(item, str):
            if item in BUILTIN_REDACTIONS:
                rules.append(RedactRule(item))
            else:
                problems.add(file, line, f"unknown redaction {item!r}; built-in: {', '.join(BUILTIN_REDACTIONS)}, "
                             "or a custom rule {name: ..., pattern: <regex>}")
            continue
        if isinstance(item, LineDict) and isinstance(item.get("pattern"), str):
            try:
                re.compile(item["pattern"])
            except re.error as exc:
                problems.add(file, line, f"redaction pattern {item['pattern']!r} is not a valid regex: {exc}")
                continue
            if nested_repetition(item["pattern"]):
                problems.add(file, line, f"redaction pattern {item['pattern'][:80]!r} repeats a repetition (like "
                             "(a+)+), which takes exponential time on some text; write it without the nesting")
                continue
            rules.append(RedactRule(str(item.get("name", "custom")), item["pattern"]))
            continue
        problems.add(file, line, "each redact entry is a built-in name or {name: ..., pattern: <regex>}")
    if not any(rule.name == ALWAYS_REDACTED and rule.pattern is None for rule in rules):
        rules.append(RedactRule(ALWAYS_REDACTED))
    return tuple(rules)


def nested_repetition(pattern: str) -> bool:
    """An unbounded repetition inside another (`(a+)+`, `(\\w*\\s?)*`): the shape of catastrophic
    backtracking. Custom rules come from the repository, and a pull request is untrusted."""
    # re's own parser reads a pattern exactly as the engine will; typeshed has no stubs for these private modules
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def walk(items: Any, inside: bool) -> bool:
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, high, sub = av
                unbounded = high == c.MAXREPEAT or high > 1000
                if (unbounded and inside) or walk(sub, inside or unbounded):
                    return True
            elif op == c.SUBPATTERN and walk(av[-1], inside):
                return True
            elif op == c.BRANCH and any(walk(branch, inside) for branch in av[1]):
                return True
            elif op in (c.ASSERT, c.ASSERT_NOT) and walk(av[1], inside):
                return True
            elif op == c.ATOMIC_GROUP and walk(av, inside):
                return True
            elif op == c.GROUPREF_EXISTS and any(walk(b, inside) for b in av[1:] if b is not None):
                return True
        return False

    return walk(_parser.parse(pattern), False)


def _parse_refusal(top: Fields, problems: Problems, file: str) -> RefusalConfig:
    fields = _sub(top, "refusal", problems, file)
    if fields is None:
        return RefusalConfig()
    fields.only(("phrases", "replace_builtin"))
    phrases = fields.get("phrases", list, [])
    bad = [p for p in phrases if not isinstance(p, str) or not p.strip()]
    if bad:
        fields.bad("phrases", "refusal phrases must be non-empty strings")
    return RefusalConfig(
        phrases=tuple(p.strip().lower() for p in phrases if isinstance(p, str) and p.strip()),
        replace_builtin=bool(fields.get("replace_builtin", bool, False)),
    )


def _check_answer_params(params: Any, file: str, where: str, problems: Problems) -> None:
    """Parameters that change the shape of the answer llmops reads: a stream would be read as no answer at
    all, and of n answers only the first would be scored."""
    if not isinstance(params, LineDict):
        return
    if params.get("stream"):
        problems.add(file, params.line_of("stream"), f"{where}.stream: llmops reads (and caches) each answer whole; "
                                                     "remove stream")
    if "n" in params and params["n"] != 1:
        problems.add(file, params.line_of("n"), f"{where}.n: llmops scores one answer a call; remove n and use "
                                                "repeat: N in suite.yaml (or --repeat N) for several")


def parse_prompt(name: str, text: str, path: str, models: Mapping[str, ModelSpec], problems: Problems,
                 tools: Collection[str] | None = None) -> Prompt | None:
    """One prompt; `tools` names the tool files that loaded (None: tool names are not checked)."""
    data = parse_yaml_file(text, path, problems)
    if data is None:
        return None
    fields = Fields(data, path, problems, "prompt")
    fields.only(("description", "model", "params", "messages", "output", "tools", "tool_choice"))
    if "params" in data:
        find_credentials(data["params"], path, "params", problems)
        find_endpoint_params(data["params"], path, "params", problems)
        _check_answer_params(data["params"], path, "params", problems)
    model = fields.get("model", str, "default")
    if models and model not in models:
        fields.bad("model" if "model" in data else None,
                   f"unknown model alias {model!r}{did_you_mean(model, models)}; define it under models: in llmops.yaml "
                   f"(known: {', '.join(models)})")
    messages = _parse_messages(fields, path, problems)
    schema = None
    output = fields.get("output", dict)
    if isinstance(output, LineDict):
        out_fields = Fields(output, path, problems, "output")
        out_fields.only(("schema",))
        schema = out_fields.get("schema", dict)
        if schema is not None:
            _check_json_schema(schema, path, output.line_of("schema"), problems)
    tool_names, tool_choice = _prompt_tools(fields, tools)
    return Prompt(
        name=name,
        path=path,
        model=model,
        messages=messages,
        params=dict(fields.get("params", dict, {}) or {}),
        schema=plain(schema) if schema is not None else None,
        description=fields.get("description", str, ""),
        text=text,
        tools=tool_names,
        tool_choice=tool_choice,
    )


def _prompt_tools(fields: Fields, known: Collection[str] | None) -> tuple[tuple[str, ...], str | None]:
    """`tools: [names]` and `tool_choice`; a name with no tools/<name>.yaml is a problem at its line."""
    raw = fields.get("tools", list, None)
    names: list[str] = []
    for index, name in enumerate(raw or []):
        line = raw.line_of(index) if isinstance(raw, LineList) else fields.line("tools")
        if not isinstance(name, str) or not name:
            fields.problems.add(fields.file, line, f"tools[{index}] must be a tool name (a file tools/<name>.yaml)")
        elif known is not None and name not in known:
            fields.problems.add(fields.file, line, f"unknown tool {name!r}{did_you_mean(name, known)}: expected "
                                                   f"tools/{name}.yaml (known: {', '.join(sorted(known)) or 'none'})")
        elif name in names:
            fields.problems.add(fields.file, line, f"tool {name!r} is listed twice")
        else:
            names.append(name)
    choice = fields.get("tool_choice", str, None)
    if choice is not None and not raw:
        fields.bad("tool_choice", "tool_choice needs a 'tools' list to choose from")
    elif choice is not None and choice not in ("auto", "none", "required") and choice not in names:
        fields.bad("tool_choice", f"tool_choice {choice!r} must be auto, none, required or one of this prompt's "
                                  f"tools ({', '.join(names) or 'none'})")
    return tuple(names), choice


def _parse_messages(fields: Fields, path: str, problems: Problems) -> tuple[Message, ...]:
    raw = fields.get("messages", LineList, required=True)
    if raw is None:
        return ()
    if not raw:
        fields.bad("messages", "'messages' needs at least one {role, content} entry")
    messages: list[Message] = []
    for index, item in enumerate(raw):
        line = raw.line_of(index)
        if not isinstance(item, LineDict):
            problems.add(path, line, f"messages[{index}] must be a mapping with role and content")
            continue
        mf = Fields(item, path, problems, f"messages[{index}]")
        mf.only(("role", "content"))
        role = mf.get("role", str, required=True)
        content = mf.get("content", str, required=True)
        if role is not None and role not in MESSAGE_ROLES:
            mf.bad("role", f"messages[{index}] role {role!r} is not one of {', '.join(MESSAGE_ROLES)}")
        if role is not None and content is not None:
            messages.append(Message(role=role, content=content, line=item.value_line_of("content")))
    return tuple(messages)


def _check_json_schema(schema: Any, path: str, line: int, problems: Problems) -> None:
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(plain(schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "schema"
        problems.add(path, line, f"output.schema is not a valid JSON Schema at {where}: {exc.message}")


def parse_suite(name: str, text: str, path: str, problems: Problems, prompts: Mapping[str, Prompt],
                models: Mapping[str, ModelSpec], validate_assertion: Any, broken: Collection[str] = ()) -> Suite | None:
    """One suite; `broken` names prompt files that exist but failed to load (already reported)."""
    data = parse_yaml_file(text, path, problems)
    if data is None:
        return None
    fields = Fields(data, path, problems, "suite")
    fields.only(("description", "prompt", "prompts", "models", "cases", "repeat", "assert", "thresholds", "kind",
                 "max_steps"))
    prompt_names = _suite_prompts(fields)
    for prompt_name in prompt_names:
        if prompt_name not in prompts and prompt_name not in broken:
            key = "prompt" if "prompt" in data else "prompts"
            fields.bad(key, f"prompt {prompt_name!r} not found: expected prompts/{prompt_name}.yaml")
    default_model = prompts[prompt_names[0]].model if prompt_names and prompt_names[0] in prompts else "default"
    model_list = fields.get("models", LineList)
    suite_models = tuple(model_list) if model_list else (default_model,)
    for index, alias in enumerate(suite_models):
        if not isinstance(alias, str) or (models and alias not in models):
            line = model_list.line_of(index) if model_list else fields.line()
            problems.add(path, line, f"unknown model alias {alias!r}{did_you_mean(alias, models)}; define it under "
                                     f"models: in llmops.yaml (known: {', '.join(models) or 'none'})")
    kind = fields.get("kind", str, "quality")
    if kind not in SUITE_KINDS:
        fields.bad("kind", f"suite kind {kind!r} is not one of {', '.join(SUITE_KINDS)}")
    asserts = parse_assertions(data.get("assert"), path, data.line_of("assert"), problems, validate_assertion)
    folder = path.rsplit("/", 1)[0]
    cases_name = fields.get("cases", str, "cases.jsonl")
    if cases_name.startswith("/") or "\\" in cases_name or ".." in cases_name.split("/") or not cases_name.strip():
        fields.bad("cases", f"cases {cases_name!r} must be a file name inside {folder}/, e.g. cases.jsonl")
        cases_name = "cases.jsonl"
    return Suite(
        name=name,
        path=path,
        prompts=prompt_names,
        models=tuple(str(m) for m in suite_models),
        cases_path=f"{folder}/{cases_name}",
        repeat=_parse_repeat(fields, data.get("repeat")),
        adaptive=data.get("repeat") == "auto",
        asserts=asserts,
        thresholds=_parse_thresholds(fields, path, problems),
        kind=kind,
        description=fields.get("description", str, ""),
        line_of_models=data.line_of("models"),
        line_of_cases=data.line_of("cases") if "cases" in data else 0,
        max_steps=fields.integer("max_steps", 5, low=1, high=MAX_STEPS),
    )


def _parse_repeat(fields: Fields, raw: Any) -> int:
    """`repeat: k` runs each case k times; `repeat: auto` runs it once, and more only where base and head disagree."""
    if raw == "auto":
        return 1
    if isinstance(raw, str):
        fields.bad("repeat", f"'repeat' in suite must be an integer between 1 and {MAX_REPEAT:,} or auto, got {raw[:40]!r}")
        return 1
    return fields.integer("repeat", 1, low=1, high=MAX_REPEAT)


def _suite_prompts(fields: Fields) -> tuple[str, ...]:
    single = fields.get("prompt", str)
    many = fields.get("prompts", list)
    if single and many:
        fields.bad("prompts", "use either 'prompt' or 'prompts', not both")
    if many:
        if not all(isinstance(p, str) for p in many):
            fields.bad("prompts", "'prompts' must be a list of prompt names")
            return ()
        return tuple(many)
    if single:
        return (single,)
    fields.bad(None, "suite is missing required key 'prompt' (the name of a file in prompts/)")
    return ()


def parse_assertions(raw: Any, file: str, line: int, problems: Problems, validate: Any) -> tuple[Assertion, ...]:
    """Parse a list of assertion mappings; `validate(type, spec)` returns problems for one."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(file, line, "'assert' must be a list of {type: ...} mappings")
        return ()
    result: list[Assertion] = []
    for index, item in enumerate(raw):
        item_line = raw.line_of(index) if isinstance(raw, LineList) else line
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            problems.add(file, item_line, f"assert[{index}] must be a mapping with a 'type'")
            continue
        spec = {k: plain(v) for k, v in item.items() if k != "type"}
        messages = validate(item["type"], spec)
        for message in messages:
            problems.add(file, item_line, f"assert[{index}] ({item['type']}): {message}")
        if not messages:
            result.append(Assertion(type=item["type"], spec=spec, file=file, line=item_line))
    return tuple(result)


def _parse_thresholds(fields: Fields, path: str, problems: Problems) -> dict[str, Threshold]:
    raw = fields.get("thresholds", LineDict) or LineDict()
    thresholds: dict[str, Threshold] = {}
    for metric, bounds in raw.items():
        line = raw.line_of(metric)
        if metric not in REGISTRY:  # thresholds may name only registered metrics
            problems.add(path, line, f"unknown threshold metric {metric!r}{did_you_mean(metric, REGISTRY)}; "
                                     f"known: {', '.join(REGISTRY)}")
            continue
        if not isinstance(bounds, LineDict):
            problems.add(path, line, f"threshold {metric!r} must be a mapping like {{min: 0.9}} or {{max: 0.05}}")
            continue
        tf = Fields(bounds, path, problems, f"threshold {metric!r}")
        tf.only(("min", "max", "max_drop"))
        # A share's bounds and max_drop lie in [0, 1] (0.02 is 2 points).
        bound = _share_bound if REGISTRY[metric].share else _any_bound
        thresholds[metric] = Threshold(
            metric=metric,
            min=bound(tf, "min", low=-1e18),
            max=bound(tf, "max", low=-1e18),
            max_drop=bound(tf, "max_drop", low=0.0),
        )
    return thresholds


def _any_bound(tf: Fields, key: str, low: float) -> float | None:
    return tf.number(key, None, low=low)


def _share_bound(tf: Fields, key: str, low: float) -> float | None:
    """A bound on a share must lie in [0, 1]: `max_drop: 2` meant as 2 points would switch the gate
    off, and `min: 90` meant as 90% could never pass."""
    value = tf.get(key, float, None)
    if value is None or 0.0 <= value <= 1.0:
        return float(value) if value is not None else None
    hint = ""
    if 1.0 < value <= 100.0:
        hint = f"; use {value / 100:g} for {value:g} points" if key == "max_drop" else f"; use {value / 100:g} for {value:g}%"
    tf.bad(key, f"{key!r} in {tf.what} must be a share between 0 and 1, got {value:g}{hint}")
    return None
