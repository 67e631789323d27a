"""`llmops import promptfoo`: convert a promptfoo config into llmops files.

Reads `promptfooconfig.yaml` (and the prompt, test and schema files it names with `file://`),
writes `llmops.yaml`, `prompts/<name>.yaml`, `evals/<suite>/suite.yaml` and
`evals/<suite>/cases.jsonl`, and lists, one line each as `file: where: what`, everything it
could not convert (dropped) and everything it converted with a change of meaning (notes).

Mapping
-------
providers / targets
    `openai:gpt-4o-mini`, `openai:chat:X`, `openai:responses:X` -> `openai/X`;
    `anthropic:messages:X` -> `anthropic/X`; `vertex:X` -> `vertex_ai/X`; `bedrock:X` ->
    `bedrock/X`; `ollama:X`, `ollama:chat:X` -> `ollama/X`; `azure:chat:X` -> `azure/X`;
    `google:X` -> `gemini/X`; mistral, groq, deepseek, openrouter, togetherai, perplexity,
    cohere, fireworks, xai, cerebras, huggingface, replicate likewise; `litellm:X` -> `X`.
    Each becomes a `models:` alias (the first is `default`, the others take their label or
    model name). `config.apiBaseUrl` -> `api_base`, `config.apiKeyEnvar` -> `api_key_env`
    (a literal `apiKey` is never copied); temperature, max_tokens, top_p, top_k, penalties,
    stop, seed, response_format -> prompt `params` when every provider agrees, else each
    model's `params`. http, exec, file:// and other custom providers are listed, not converted.
prompts
    each prompt -> `prompts/<name>.yaml` (name from label, file stem or `prompt-N`): text
    (inline, .txt, .md, .j2; `---` lines split a file into several prompts) -> one user
    message; a JSON/YAML list of {role, content} (file or inline) -> those messages. Several
    prompts -> the suite lists `prompts: [a, b]` (an A/B comparison). Prompt functions
    (.py, .js) are listed. Nunjucks `{{ var }}` is kept as Jinja.
tests / defaultTest
    inline tests, `file://` YAML, JSON, JSONL and CSV files (`__expected`, `__expectedN`,
    `__description`, `__metadata:*` columns) -> `evals/<suite>/cases.jsonl`; ids from the
    description slug, else `case-001`...; defaultTest.vars merged under each case's vars; a
    var that is a list of strings expands into one case per value (as promptfoo does);
    `file://` vars are read in; a var a prompt uses but a case lacks is set to "" (promptfoo
    renders it empty, llmops refuses). defaultTest.assert -> suite `assert:`; an assertion whose
    value uses `{{ var }}` is rendered per case instead. `evaluateOptions.repeat` -> `repeat`,
    `maxConcurrency` -> `limits.concurrency`, `timeoutMs` -> `limits.timeout_s`.
    The suite gets `correctness: {min: 1.0}`: promptfoo fails a run on any failed test.
graders
    `defaultTest.options.provider` (or `commandLineOptions.grader`; `{text, embedding}` too)
    -> a `judge` / `embedding` alias and `judge_model` / `embedding_model`; an assertion's own
    `provider` -> that assertion's `model`. When a config uses llm-rubric or similar but names
    no grader, promptfoo picks one from the credentials it finds; llmops pins promptfoo's
    documented OpenAI defaults (openai/gpt-4.1-2025-04-14, openai/text-embedding-3-large),
    with a note.
assertions (promptfoo -> llmops)
    equals -> equals (object value -> schema {const}); contains, icontains, not-contains ->
    contains, icontains, not_contains; contains-all / icontains-all -> one (i)contains each;
    contains-any / icontains-any -> regex alternation; regex -> regex; starts-with -> regex
    `^escaped`; not-icontains, not-equals, not-regex, not-starts-with, not-contains-all,
    not-(i)contains-any -> an exact negative-lookahead regex (llmops has no negated regex);
    is-json, contains-json -> schema (value as the schema, else {}); llm-rubric,
    model-graded-closedqa, g-eval -> judge {rubric, threshold}; factuality -> judge with a
    rubric built from the reference answer; similar -> similarity {value, threshold (default
    0.75, 0.8 in CSV)}; python `file://x.py:fn` -> python {function: x:fn} (and `allow_python: true`);
    is-refusal -> `expect_refusal: true`; not-is-refusal -> implied; latency -> thresholds
    `latency_max_s` max (ms / 1000: every call, as promptfoo checks each call); cost ->
    thresholds `cost_usd` max (per-call limit x cases x repeat: llmops limits the suite's
    total). javascript, inline python, webhook, assert-set, is-valid-*-call, moderation, and
    any other type are listed as unconverted; so are `transform`s and weight-0 assertions.
    `equals` keeps llmops's one leniency: surrounding whitespace of the answer is ignored.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from llmops_cli.errors import InputError
from llmops_cli.yamlfile import YamlError, load_yaml, plain

Spec = dict[str, Any]
SIMILAR_DEFAULT = 0.75      # promptfoo's default for `similar` in YAML
# promptfoo's documented OpenAI defaults, pinned when a config names no grader of its own
DEFAULT_GRADER = "openai:gpt-4.1-2025-04-14"
DEFAULT_EMBEDDING = "openai:embedding:text-embedding-3-large"
CSV_SIMILAR_DEFAULT = 0.8   # ... and in a CSV `__expected` cell
ROLES = ("system", "user", "assistant")
CODE_FILES = (".py", ".js", ".ts", ".cjs", ".mjs", ".cts", ".mts", ".rb")
_PATHLIKE = re.compile(r"[^\s{}]+\.(txt|md|j2|json|jsonl|ya?ml|py|js|ts|cjs|mjs|csv|tsv|xlsx)(:\w+)?")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_PARAMS = {"temperature": "temperature", "max_tokens": "max_tokens", "maxTokens": "max_tokens",
           "max_output_tokens": "max_tokens", "maxOutputTokens": "max_tokens",
           "max_completion_tokens": "max_completion_tokens", "top_p": "top_p", "topP": "top_p", "top_k": "top_k",
           "topK": "top_k", "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
           "stop": "stop", "seed": "seed", "response_format": "response_format"}
# promptfoo provider family -> litellm prefix ("" = the rest is already a litellm model string)
_FAMILIES = {"openai": "openai", "anthropic": "anthropic", "vertex": "vertex_ai", "bedrock": "bedrock",
             "ollama": "ollama", "azure": "azure", "azureopenai": "azure", "google": "gemini", "gemini": "gemini",
             "mistral": "mistral", "groq": "groq", "deepseek": "deepseek", "openrouter": "openrouter",
             "togetherai": "together_ai", "perplexity": "perplexity", "cohere": "cohere", "fireworks": "fireworks_ai",
             "xai": "xai", "cerebras": "cerebras", "huggingface": "huggingface", "replicate": "replicate", "litellm": ""}
_KINDS = ("chat", "messages", "responses", "completion", "text-generation", "converse")
_ADVICE = {
    "javascript": "rewrite it as a python assertion",
    "is-valid-openai-function-call": "llmops checks text answers; check tool calls in a python assertion",
    "is-valid-openai-tools-call": "llmops checks text answers; check tool calls in a python assertion",
    "is-valid-function-call": "llmops checks text answers; check tool calls in a python assertion",
    "assert-set": "list its assertions directly (llmops requires every assertion to pass)",
    "levenshtein": "use a similarity or python assertion",
}
# the types a CSV `__expected` cell may name (promptfoo's assertionFromString)
_CSV_TYPES = ("answer-relevance", "assert-set", "bleu", "classifier", "contains-all", "contains-any", "contains-html",
              "contains-json", "contains-sql", "contains-xml", "contains", "context-faithfulness", "context-recall",
              "context-relevance", "conversation-relevance", "cost", "equals", "factuality", "finish-reason", "g-eval",
              "gleu", "guardrails", "icontains-all", "icontains-any", "icontains", "is-html", "is-json", "is-refusal",
              "is-sql", "is-valid-function-call", "is-valid-openai-function-call", "is-valid-openai-tools-call",
              "is-xml", "javascript", "latency", "levenshtein", "llm-rubric", "meteor", "model-graded-closedqa",
              "model-graded-factuality", "moderation", "perplexity-score", "perplexity", "pi", "python", "regex",
              "rouge-n", "select-best", "similar", "starts-with", "webhook", "word-count")
_CSV_ASSERT = re.compile(rf"^(not-)?({'|'.join(map(re.escape, _CSV_TYPES))})(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")


class _Skip(Exception):
    """This item has no llmops equivalent; the message says what to do instead."""


@dataclass
class ImportResult:
    suite: str
    written: list[str]
    mapped: list[str]
    notes: list[str]
    unconverted: list[str]
    check_problems: list[str] = field(default_factory=list)


@dataclass
class _Prompt:
    name: str
    messages: list[dict[str, str]]
    params: dict[str, Any]
    source: str


@dataclass
class _Model:
    alias: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Case:
    spec: dict[str, Any]


@dataclass
class _Converted:
    asserts: list[Spec] = field(default_factory=list)
    refusal: bool = False


def import_promptfoo(config: Path, out: Path, suite: str | None = None, force: bool = False) -> ImportResult:
    """Convert `config` into llmops files under `out`; raises InputError on bad input or when a
    file exists and not `force`. Runs `llmops check` on the result and reports its problems."""
    files, result = _Importer(config, out).run(suite)
    existing = [rel for rel in files if (out / rel).exists()]
    if existing and not force:
        raise InputError([f"{out / rel}: already exists; use --force to overwrite" for rel in existing])
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    result.written = list(files)
    from llmops_cli.commands.check import check

    try:
        check(out)
    except InputError as error:
        result.check_problems = [str(p) for p in error.problems]
    return result


class _Importer:
    def __init__(self, config: Path, out: Path) -> None:
        self.label = str(config)
        self.path = config
        self.out = out
        self.base = config.resolve().parent
        self.mapped: dict[str, None] = {}
        self.notes: dict[str, None] = {}
        self.unconverted: dict[str, None] = {}
        self.type_counts: dict[str, int] = {}
        self.latency_ms: list[tuple[float, str, str]] = []  # (limit, scope, where)
        self.cost: list[tuple[float, str, str]] = []
        self.needs_python = False
        self.metrics: set[str] = set()
        self.python_files: dict[str, str] = {}  # file as referenced -> where
        self.models: list[_Model] = []           # the models under test
        self.graders: list[_Model] = []          # judge and embedding models
        self.judge_model: str | None = None
        self.embedding_model: str | None = None
        self.uses_judge = False
        self.uses_similarity = False

    # -- reporting ---------------------------------------------------------------------------
    def skip(self, where: str, message: str, file: str | None = None) -> None:
        self.unconverted[f"{file or self.label}: {where}: {message}"] = None

    def note(self, where: str, message: str, file: str | None = None) -> None:
        self.notes[f"{file or self.label}: {where}: {message}"] = None

    def fail(self, where: str, message: str) -> InputError:
        return InputError(f"{self.label}: {where}: {message}")

    # -- files -------------------------------------------------------------------------------
    def shown(self, ref: str) -> str:
        """A referenced file as the user would type it (next to the config they named)."""
        return str(Path(self.label).parent / ref)

    def expand(self, where: str, ref: str) -> list[str]:
        if not any(c in ref for c in "*?["):
            return [ref]
        matches = sorted(str(p.relative_to(self.base)) for p in self.base.glob(ref) if p.is_file())
        if not matches:
            raise self.fail(where, f"no file matches {ref!r} (looked in {self.base}); fix the pattern")
        return matches

    def read(self, where: str, ref: str) -> str:
        path = self.base / ref
        if not path.is_file():
            raise self.fail(where, f"file {ref!r} not found (looked for {path}); fix the path or create the file")
        try:
            return path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeError) as exc:
            raise self.fail(where, f"cannot read {ref!r} as UTF-8 text ({exc})") from None

    def data(self, where: str, ref: str) -> Any:
        """A JSON, JSONL or YAML file, parsed."""
        text = self.read(where, ref)
        try:
            if ref.endswith(".jsonl"):
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            if ref.endswith(".json"):
                return json.loads(text)
            return plain(load_yaml(text))
        except json.JSONDecodeError as exc:
            raise self.fail(where, f"{ref}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        except YamlError as exc:
            raise self.fail(where, f"{ref}:{exc.line or ''} {exc.message}") from None

    def value_file(self, where: str, value: Any) -> Any:
        """`file://x` values of assertions and vars: JSON/YAML parsed, text read."""
        if not (isinstance(value, str) and value.startswith("file://")):
            return value
        ref = value[len("file://"):]
        if ref.endswith((".json", ".jsonl", ".yaml", ".yml")):
            return self.data(where, ref)
        if ref.endswith(CODE_FILES) or re.search(r"\.\w+:\w+$", ref) or not ref.endswith((".txt", ".md", ".j2", ".csv")):
            raise _Skip(f"loads {value!r}, which llmops cannot inline; paste the value in")
        return self.read(where, ref)

    # -- the whole config --------------------------------------------------------------------
    def run(self, suite_name: str | None) -> tuple[dict[str, str], ImportResult]:
        if not self.path.is_file():
            raise InputError(f"{self.label}: not found; pass the path of a promptfoo config (promptfooconfig.yaml)")
        if self.path.suffix in (".js", ".ts", ".cjs", ".mjs"):
            raise InputError(f"{self.label}: a JavaScript config cannot be read; export it as YAML first")
        try:
            data = plain(load_yaml(self.path.read_text(encoding="utf-8-sig")))
        except YamlError as exc:
            where = f"{self.label}:{exc.line}" if exc.line else self.label
            raise InputError(f"{where}: {exc.message}; a promptfoo config must be YAML or JSON") from None
        except (OSError, UnicodeError) as exc:
            raise InputError(f"{self.label}: cannot read ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{self.label}: top level must be a mapping with prompts, providers and tests")
        if not data.get("prompts"):
            raise InputError(f"{self.label}: no 'prompts'; a promptfoo config lists the prompts to test, "
                             "e.g. prompts: [file://prompt.txt]")
        suite = suite_name or _slug(str(data.get("description") or ""), 40) or "promptfoo"
        if not _NAME.fullmatch(suite):
            raise InputError(f"--suite {suite!r}: use letters, digits, '_', '.' or '-'")
        for key in ("scenarios", "nunjucksFilters", "extensions", "derivedMetrics", "redteam", "env"):
            if key in data:
                advice = {"env": "llmops reads keys only from the environment; export them",
                          "scenarios": "expand them into tests"}.get(key, "no llmops equivalent")
                self.skip(key, f"not converted: {advice}")

        prompts = self.prompts(data["prompts"])
        if not prompts:
            raise InputError(f"{self.label}: prompts: none of the prompts could be converted (see above); "
                             "add a text or chat prompt")
        models = self.models = self.providers(data.get("providers", data.get("targets")))
        default = self.default_test(data.get("defaultTest"))
        options = data.get("evaluateOptions") or {}
        repeat = options.get("repeat") if isinstance(options.get("repeat"), int) and options["repeat"] > 1 else 1
        self.default_graders((default.get("options") or {}).get("provider")
                             or (data.get("commandLineOptions") or {}).get("grader"))
        cases, suite_asserts = self.cases(data.get("tests"), default)
        self.pin_graders()
        self.fill_missing_vars(prompts, cases)

        files = self.files(suite, str(data.get("description") or f"imported from {self.label}"), prompts, models,
                           cases, suite_asserts, repeat, options)
        if self.metrics:
            self.note("assert", f"metric names ({', '.join(sorted(self.metrics))}) dropped: llmops reports each "
                                "assertion and the suite's metrics")
        for ref, where in self.python_files.items():
            if not (self.out / ref).is_file():
                self.note(where, f"copy {self.shown(ref)} to {self.out / ref}: llmops imports python assertions "
                                 "from the project root")
        return files, ImportResult(suite, [], list(self.mapped), list(self.notes), list(self.unconverted))

    def files(self, suite: str, description: str, prompts: list[_Prompt], models: list[_Model], cases: list[_Case],
              suite_asserts: list[Spec], repeat: int, options: Mapping[str, Any]) -> dict[str, str]:
        """The text of every file to write, by path relative to the output folder."""
        params = [m.params for m in models]
        shared = params[0] if all(p == params[0] for p in params) else None
        for prompt in prompts:
            prompt.params = {**(shared or {}), **prompt.params}
        if shared is None:
            self.note("providers", "providers have different settings: each model keeps its own params")
        for model in models:
            model.params = {} if shared is not None else model.params

        files: dict[str, str] = {"llmops.yaml": self.config_yaml(models, options)}
        for prompt in prompts:
            files[f"prompts/{prompt.name}.yaml"] = _dump({"description": f"imported from promptfoo: {prompt.source}",
                                                          "model": "default",
                                                          **({"params": prompt.params} if prompt.params else {}),
                                                          "messages": prompt.messages})
            self.mapped[f"{prompt.source} -> prompts/{prompt.name}.yaml ({len(prompt.messages)} message"
                        f"{'s' if len(prompt.messages) != 1 else ''})"] = None
        thresholds = self.thresholds(len(cases), repeat, f"evals/{suite}/suite.yaml")
        suite_doc: dict[str, Any] = {"description": description}
        names = [p.name for p in prompts]
        suite_doc.update({"prompt": names[0]} if len(names) == 1 else {"prompts": names})
        suite_doc.update({"models": [m.alias for m in models], "cases": "cases.jsonl"})
        if repeat > 1:
            suite_doc["repeat"] = repeat
        if suite_asserts:
            suite_doc["assert"] = suite_asserts
        suite_doc["thresholds"] = thresholds
        files[f"evals/{suite}/suite.yaml"] = _dump(suite_doc)
        files[f"evals/{suite}/cases.jsonl"] = "".join(json.dumps(c.spec, ensure_ascii=False, default=str) + "\n"
                                                      for c in cases)
        self.mapped[f"tests -> evals/{suite}/cases.jsonl ({len(cases)} cases); defaultTest.assert -> "
                    f"evals/{suite}/suite.yaml assert ({len(suite_asserts)})"] = None
        if len(names) > 1:
            self.mapped[f"{len(names)} prompts -> suite prompts: [{', '.join(names)}] (compared side by side)"] = None
        for pair, count in sorted(self.type_counts.items()):
            self.mapped[f"assert {pair} (x{count})"] = None
        return files

    def config_yaml(self, models: list[_Model], options: Mapping[str, Any]) -> str:
        entries: dict[str, Any] = {}
        for m in [*models, *self.graders]:
            extra = {k: v for k, v in (("api_base", m.api_base), ("api_key_env", m.api_key_env),
                                       ("params", m.params or None)) if v is not None}
            entries[m.alias] = {"model": m.model, **extra} if extra else m.model
        doc: dict[str, Any] = {"version": 1, "models": entries}
        if self.judge_model:
            doc["judge_model"] = self.judge_model
        if self.embedding_model:
            doc["embedding_model"] = self.embedding_model
        if self.needs_python:
            doc["allow_python"] = True
            self.note("allow_python", "set to true because the promptfoo config runs python assertions", "llmops.yaml")
        limits = {}
        if isinstance(options.get("maxConcurrency"), int) and options["maxConcurrency"] > 0:
            limits["concurrency"] = options["maxConcurrency"]
        if isinstance(options.get("timeoutMs"), (int, float)) and options["timeoutMs"] > 0:
            limits["timeout_s"] = options["timeoutMs"] / 1000
        if limits:
            doc["limits"] = limits
        header = f"# imported from {self.label} by `llmops import promptfoo`; API keys come only from the environment\n"
        return header + _dump(doc)

    # -- prompts -----------------------------------------------------------------------------
    def prompts(self, raw: Any) -> list[_Prompt]:
        if isinstance(raw, dict) and not ({"id", "raw"} & raw.keys()):
            raw = [{"id": k, "label": v} for k, v in raw.items()]  # legacy {path: label}
        items = raw if isinstance(raw, list) else [raw]
        found: list[_Prompt] = []
        taken: set[str] = set()
        for index, item in enumerate(items):
            where = f"prompts[{index}]"
            label = None
            config: Any = {}
            if isinstance(item, dict):
                label, config = item.get("label"), item.get("config") or {}
                text = item.get("raw")
                ref = item.get("id") if text is None else None
                if ref is None and text is None:
                    self.skip(where, "needs 'raw' (the prompt text) or 'id' (a file://); skipped")
                    continue
            elif isinstance(item, str):
                ref, text = (item, None) if _is_file(item) else (None, item)
            else:
                self.skip(where, "must be a string or a mapping with raw/id; skipped")
                continue
            params = self.params(where, config if isinstance(config, dict) else {}, "config")
            chunks: list[tuple[str | None, Any, int, int]] = []  # (file, body, part, parts in that file)
            if ref is not None:
                ref = str(ref).removeprefix("file://")
                for one in self.expand(where, ref):
                    parts = self.prompt_file(where, one)
                    chunks += [(one, part, n, len(parts)) for n, part in enumerate(parts)]
            else:
                chunks = [(None, text, 0, 1)]
            for file_ref, body, n, parts in chunks:
                stem = Path(file_ref.split(":")[0]).stem if file_ref else "prompt"
                base = _slug(str(label)) if label else (_slug(stem) or "prompt")
                if parts > 1:
                    base = f"{base}-{n + 1}"
                elif not file_ref and not label and len(items) > 1:
                    base = f"{base}-{index + 1}"
                name = _unique(base, taken)
                messages = self.messages(where, body)
                if messages is None:
                    continue
                source = f"{where} {file_ref}" if file_ref else f"{where} (inline)"
                found.append(_Prompt(name, messages, dict(params), source))
        return found

    def prompt_file(self, where: str, ref: str) -> list[Any]:
        """One file's prompts: text chunks, or parsed chat lists."""
        if ref.split(":")[0].endswith(CODE_FILES):
            self.skip(where, f"{ref} is a prompt function; llmops prompts are templates: render it once and save "
                             "the template as a .txt or chat .json file")
            return []
        if ref.endswith(".jsonl"):
            return list(self.data(where, ref))
        if ref.endswith((".yaml", ".yml")):
            return [self.data(where, ref)]
        text = self.read(where, ref)
        if ref.endswith(".json"):
            try:
                return [json.loads(text)]
            except json.JSONDecodeError:
                self.skip(where, f"{ref} is a chat prompt built by a template (JSON only once rendered); write its "
                                 "messages out as a JSON list of {role, content}")
                return []
        parts = re.split(r"(?m)^---[ \t]*$", text)
        return [p.strip() for p in parts if p.strip()]

    def messages(self, where: str, body: Any) -> list[dict[str, str]] | None:
        if isinstance(body, str):
            stripped = body.strip()
            if stripped.startswith("[") and stripped.endswith("]"):
                try:
                    body = json.loads(stripped)
                except json.JSONDecodeError:
                    if "{{" in stripped or "{%" in stripped:
                        self.skip(where, "a chat prompt built by a template (it is JSON only once rendered); "
                                         "write its messages out as a JSON list of {role, content}")
                        return None
            if isinstance(body, str):
                return [{"role": "user", "content": body.strip()}]
        if not isinstance(body, list) or not body:
            self.skip(where, "not a text prompt nor a list of {role, content} messages; skipped")
            return None
        messages = []
        for n, message in enumerate(body):
            if not (isinstance(message, dict) and message.get("role") in ROLES and isinstance(message.get("content"), str)):
                self.skip(where, f"message {n} is not {{role: system|user|assistant, content: text}} "
                                 "(llmops prompts are text only); skipped the prompt")
                return None
            messages.append({"role": message["role"], "content": message["content"]})
        return messages

    # -- providers ---------------------------------------------------------------------------
    def providers(self, raw: Any) -> list[_Model]:
        if raw is None:
            raise InputError(f"{self.label}: no 'providers'; list the models to test, e.g. providers: [openai:gpt-4o-mini]")
        if isinstance(raw, dict) and "id" not in raw:
            raw = [{"id": k, **(v if isinstance(v, dict) else {})} for k, v in raw.items()]
        models: list[_Model] = []
        taken: set[str] = {"default"}
        for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
            where = f"providers[{index}]"
            if isinstance(item, dict) and "id" not in item and len(item) == 1:
                (pid, options), = item.items()
                item = {"id": pid, **(options if isinstance(options, dict) else {})}
            spec = {"id": item} if isinstance(item, str) else item
            pid = spec.get("id") if isinstance(spec, dict) else None
            if not isinstance(pid, str):
                self.skip(where, "a custom provider (function or object without 'id'); add a models: alias by hand")
                continue
            model = _litellm(pid)
            if model is None:
                self.skip(where, f"provider {pid!r} has no litellm equivalent; add a models: alias by hand")
                continue
            alias = "default" if not models else _unique(_slug(str(spec.get("label") or "")) or
                                                           _slug(model.split("/")[-1]) or "model", taken)
            config = spec.get("config") if isinstance(spec.get("config"), dict) else {}
            entry = _Model(alias, model, params=self.params(where, config, "config"))
            entry.api_base = config.get("apiBaseUrl") or config.get("baseUrl") or (
                f"https://{config['apiHost']}" if model.startswith("azure/") and config.get("apiHost") else None)
            entry.api_key_env = config.get("apiKeyEnvar") if isinstance(config.get("apiKeyEnvar"), str) else None
            for key in spec:
                if key not in ("id", "label", "config"):
                    advice = ("llmops runs every prompt on every model" if key == "prompts"
                              else "no llmops equivalent; dropped")
                    self.skip(f"{where}.{key}", advice)
            models.append(entry)
            self.mapped[f"{where} {pid} -> models.{alias}: {model}"] = None
        if not models:
            self.skip("providers", "no provider could be converted; models.default is a placeholder: set it")
            models.append(_Model("default", "openai/REPLACE-ME"))
        return models

    def params(self, where: str, config: Mapping[str, Any], key: str) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, value in config.items():
            if name in _PARAMS:
                params[_PARAMS[name]] = value
            elif name == "generationConfig" and isinstance(value, dict):
                params.update(self.params(where, value, f"{key}.generationConfig"))
            elif name == "apiKey":
                self.skip(f"{where}.{key}.apiKey", "a literal API key is never copied into llmops.yaml; export it "
                                                    "and name the variable with api_key_env")
            elif name not in ("apiBaseUrl", "baseUrl", "apiKeyEnvar", "apiHost"):
                self.skip(f"{where}.{key}.{name}", "no llmops equivalent; dropped")
        return params

    def default_graders(self, raw: Any) -> None:
        """defaultTest.options.provider (or the --grader default): a string or {id}, or {text, embedding}."""
        where = "defaultTest.options.provider"
        if isinstance(raw, dict) and "id" not in raw:
            self.embedding_model = self.grader_alias(raw.get("embedding"), f"{where}.embedding", embedding=True)
            raw = raw.get("text")
        self.judge_model = self.grader_alias(raw, where)

    def grader_alias(self, raw: Any, where: str, embedding: bool = False, file: str | None = None) -> str | None:
        """The alias of a grader provider, reusing a model already defined; None when there is none."""
        if isinstance(raw, dict) and "id" not in raw:
            raw = raw.get("embedding" if embedding else "text")
        pid = raw.get("id") if isinstance(raw, dict) else raw
        if pid is None:
            return None
        model = _litellm(pid, embedding) if isinstance(pid, str) else None
        if model is None:
            self.skip(where, f"grader {pid!r} has no litellm equivalent; set "
                             f"{'embedding_model' if embedding else 'judge_model'} by hand", file)
            return None
        config = raw.get("config") if isinstance(raw, dict) and isinstance(raw.get("config"), dict) else {}
        api_base, key_env = config.get("apiBaseUrl"), config.get("apiKeyEnvar")
        for known in [*self.models, *self.graders]:
            if (known.model, known.api_base, known.api_key_env) == (model, api_base, key_env):
                return known.alias
        alias = _unique("embedding" if embedding else "judge", {m.alias for m in [*self.models, *self.graders]})
        self.graders.append(_Model(alias, model, api_base, key_env))
        self.mapped[f"{where} {pid} -> models.{alias}: {model}"] = None
        return alias

    def pin_graders(self) -> None:
        """promptfoo picks an unnamed grader from the credentials it finds; llmops pins one."""
        for used, setting, default, embedding in ((self.uses_judge, "judge_model", DEFAULT_GRADER, False),
                                                  (self.uses_similarity, "embedding_model", DEFAULT_EMBEDDING, True)):
            if used and getattr(self, setting) is None:
                setattr(self, setting, self.grader_alias(default, setting, embedding))
                what = "embedding provider" if embedding else "grader"
                self.note(setting, f"the config names no {what}, so {setting} is pinned to {default}, promptfoo's "
                                   "documented OpenAI default (promptfoo picks one from your credentials); change "
                                   "it if you graded with another model", "llmops.yaml")

    # -- tests -------------------------------------------------------------------------------
    def default_test(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, str):
            raw = self.data("defaultTest", raw[len("file://"):] if raw.startswith("file://") else raw)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail("defaultTest", "must be a mapping (vars, assert, options) or a file:// path")
        for key in raw:
            if key not in ("vars", "assert", "options", "metadata", "threshold"):
                self.skip(f"defaultTest.{key}", "no llmops equivalent; dropped")
        self.test_options("defaultTest", raw.get("options"), None)
        if "threshold" in raw:
            self.note("defaultTest.threshold", "a score threshold has no llmops equivalent: every assertion must pass")
        return raw

    def test_options(self, where: str, options: Any, file: str | None) -> None:
        for key in (options or {}) if isinstance(options, dict) else ():
            if key == "provider":
                continue
            advice = {"transform": "llmops checks the raw answer; fold the transform into a python assertion",
                      "prefix": "add it to the prompt", "suffix": "add it to the prompt"}.get(key, "no llmops equivalent")
            self.skip(_at(where, f"options.{key}"), f"not converted: {advice}", file)

    def load_tests(self, raw: Any) -> Iterable[tuple[Any, str, str | None]]:
        """(test, where, file label) for every test, from inline lists and files."""
        for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
            where = f"tests[{index}]" if isinstance(raw, list) else "tests"
            if isinstance(item, dict) and "path" in item:
                self.skip(where, "tests generated by code; run it once and save the tests as YAML")
            elif isinstance(item, dict):
                yield item, where, None
            elif isinstance(item, str):
                ref = item[len("file://"):] if item.startswith("file://") else item
                if "://" in ref or ref.split(":")[0].endswith(CODE_FILES + (".xlsx", ".xls")):
                    self.skip(where, f"tests from {item!r} cannot be read here; export them as CSV or YAML")
                    continue
                for one in self.expand(where, ref):
                    yield from self.test_file(where, one)
            else:
                self.skip(where, "must be a test mapping or a file:// path; skipped")

    def test_file(self, where: str, ref: str) -> Iterable[tuple[Any, str, str | None]]:
        shown = self.shown(ref)
        if ref.endswith((".csv", ".tsv")):
            reader = csv.DictReader(io.StringIO(self.read(where, ref)), delimiter="\t" if ref.endswith(".tsv") else ",")
            for row in reader:
                yield self.csv_test(row, f"line {reader.line_num}", shown), f"line {reader.line_num}", shown
            return
        loaded = self.data(where, ref)
        for n, test in enumerate(loaded if isinstance(loaded, list) else [loaded]):
            yield test, f"[{n}]", shown

    def csv_test(self, row: Mapping[str, Any], where: str, file: str) -> dict[str, Any]:
        test: dict[str, Any] = {"vars": {}, "assert": [], "metadata": {}}
        for key, value in row.items():
            value = "" if value is None else str(value)
            if key is None:
                self.skip(where, "more cells than columns; extra cells dropped", file)
            elif key.startswith("__expected"):
                if value.strip():
                    test["assert"].append(_assertion_from_string(value.strip()))
            elif key == "__description":
                test["description"] = value
            elif key.startswith("__metadata:"):
                name = key[len("__metadata:"):]
                test["metadata"][name.removesuffix("[]")] = (
                    [v.strip() for v in re.split(r"(?<!\\),", value) if v.strip()] if name.endswith("[]") else value)
            elif key == "__threshold":
                test["threshold"] = value
            elif key in ("__prefix", "__suffix"):
                test.setdefault("options", {})[key[2:]] = value
            elif key == "__metric":
                self.metrics.add(value)
            elif key.startswith("__"):
                self.skip(f"{where} column {key}", "no llmops equivalent; dropped", file)
            else:
                test["vars"][key] = value
        return test

    def cases(self, raw: Any, default: Mapping[str, Any]) -> tuple[list[_Case], list[Spec]]:
        default_vars = default.get("vars") or {}
        if isinstance(default_vars, str):
            default_vars = self.data("defaultTest.vars", default_vars.removeprefix("file://"))
        per_case: list[tuple[Any, str]] = []   # default assertions that depend on each case
        suite_asserts: list[Spec] = []
        for n, item in enumerate(default.get("assert") or []):
            where = f"defaultTest.assert[{n}]"
            if _has_template(item) or (isinstance(item, dict) and str(item.get("type")) in ("is-refusal", "not-is-refusal")):
                per_case.append((item, where))
                continue
            converted = self.assertion(item, where, None, None, scope="every case")
            suite_asserts += converted.asserts
        cases: list[_Case] = []
        taken: set[str] = set()
        tests = list(self.load_tests(raw)) if raw else []
        if not tests:
            self.note("tests", "no tests: one case with defaultTest.vars runs each prompt once, as promptfoo does")
            tests = [({}, "tests", None)]
        for test, where, file in tests:
            if not isinstance(test, dict):
                self.skip(where, "a test must be a mapping; skipped", file)
                continue
            for key in test:
                if key not in ("description", "vars", "assert", "options", "metadata", "threshold"):
                    advice = "llmops runs every case on every model" if key in ("provider", "providers") else \
                        "no llmops equivalent; dropped"
                    self.skip(_at(where, key), advice, file)
            self.test_options(where, test.get("options"), file)
            if test.get("threshold") not in (None, ""):
                self.note(_at(where, "threshold"), "a score threshold has no llmops equivalent: every assertion must pass",
                          file)
            variables = test.get("vars") or {}
            if isinstance(variables, str):
                variables = self.data(_at(where, "vars"), variables.removeprefix("file://"))
            if not isinstance(variables, dict):
                self.skip(_at(where, "vars"), "must be a mapping; the case is skipped", file)
                continue
            merged = self.load_vars(where, {**default_vars, **variables}, file)
            combos = _combinations(merged)
            if len(combos) > 1:
                self.note(_at(where, "vars"), f"list-valued vars expand into {len(combos)} cases, as in promptfoo", file)
            description = str(test.get("description") or "")
            base_id = _slug(description) or f"case-{len(cases) + 1:03d}"
            for k, values in enumerate(combos):
                converted = _Converted()
                for item, item_where in per_case:
                    self.merge(converted, self.assertion(item, item_where, None, values, scope=where))
                for m, item in enumerate(test.get("assert") or []):
                    self.merge(converted, self.assertion(item, _at(where, f"assert[{m}]"), file, values, scope=where))
                case_id = _unique(f"{base_id}-{k + 1}" if len(combos) > 1 else base_id, taken)
                spec: dict[str, Any] = {"id": case_id}
                if description:
                    spec["description"] = description
                spec["vars"] = values
                if converted.asserts:
                    spec["assert"] = converted.asserts
                if converted.refusal:
                    spec["expect_refusal"] = True
                metadata = {**(default.get("metadata") or {}), **(test.get("metadata") or {})}
                if metadata:
                    spec["metadata"] = metadata
                cases.append(_Case(spec))
        return cases, suite_asserts

    @staticmethod
    def merge(into: _Converted, more: _Converted) -> None:
        into.asserts += more.asserts
        into.refusal = into.refusal or more.refusal

    def load_vars(self, where: str, variables: Mapping[str, Any], file: str | None) -> dict[str, Any]:
        loaded = {}
        for key, value in variables.items():
            try:
                loaded[str(key)] = self.value_file(_at(where, f"vars.{key}"), value)
            except _Skip as skip:
                self.skip(_at(where, f"vars.{key}"), f"{skip}; the var keeps the file:// text", file)
                loaded[str(key)] = value
        return loaded

    def fill_missing_vars(self, prompts: list[_Prompt], cases: list[_Case]) -> None:
        from jinja2 import TemplateSyntaxError, meta

        env = _jinja()
        used: dict[str, str] = {}
        for prompt in prompts:
            for n, message in enumerate(prompt.messages):
                try:
                    names = meta.find_undeclared_variables(env.parse(message["content"]))
                    env.from_string(message["content"])
                except TemplateSyntaxError as exc:
                    self.note(f"messages[{n}]", f"not valid Jinja ({exc.message}); rewrite the Nunjucks-only part",
                              f"prompts/{prompt.name}.yaml")
                    continue
                for name in names - {"range"}:
                    used.setdefault(name, prompt.name)
        for name, prompt_name in sorted(used.items()):
            lacking = [c for c in cases if name not in c.spec["vars"]]
            for case in lacking:
                case.spec["vars"][name] = ""
            if lacking:
                ids = ", ".join(c.spec["id"] for c in lacking[:3]) + (" ..." if len(lacking) > 3 else "")
                self.note("tests", f"var {name!r} (used by prompts/{prompt_name}.yaml) missing in {len(lacking)} "
                                   f"case(s) ({ids}); set to '' as promptfoo renders a missing var empty")

    # -- assertions --------------------------------------------------------------------------
    def assertion(self, item: Any, where: str, file: str | None, variables: Mapping[str, Any] | None,
                  scope: str) -> _Converted:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            self.skip(where, "an assertion must be a mapping with a 'type'; skipped", file)
            return _Converted()
        kind = item["type"]
        try:
            if item.get("transform") or item.get("contextTransform"):
                raise _Skip("transforms the answer before checking it; llmops checks the raw answer: "
                            "fold the transform into a python assertion")
            if item.get("weight") == 0:
                raise _Skip("weight 0 (reported, never failing) has no llmops equivalent; every llmops assertion "
                            "must pass")
            if item.get("weight") not in (None, 1):
                self.note(where, f"weight {item['weight']} dropped: every llmops assertion must pass", file)
            if item.get("metric"):
                self.metrics.add(str(item["metric"]))
            negate = kind.startswith("not-")
            base = kind[4:] if negate else kind
            handler = _HANDLERS.get(base.split(":")[0] if base.startswith("similar") else base)
            if handler is None:
                raise _Skip(f"type {kind!r} has no llmops equivalent; {_ADVICE.get(base, 'rewrite it as a python assertion')}")
            value = item.get("value") if base == "python" else self.value_file(where, item.get("value"))
            if variables is not None:
                value = _render(value, variables)
            result = handler(_Context(self, item, value, negate, where, file, scope))
        except _Skip as skip:
            message = str(skip)
            if not message.startswith("type "):
                message = f"type {kind!r}: {message}"
            self.skip(where, message, file)
            return _Converted()
        for spec in result.asserts:
            pair = f"{kind} -> {spec['type']}"
            self.type_counts[pair] = self.type_counts.get(pair, 0) + 1
        if result.refusal:
            self.type_counts[f"{kind} -> expect_refusal"] = self.type_counts.get(f"{kind} -> expect_refusal", 0) + 1
        return result

    def thresholds(self, n_cases: int, repeat: int, suite_file: str) -> dict[str, Any]:
        found: dict[str, Any] = {"correctness": {"min": 1.0}}
        self.note("thresholds.correctness", "min 1.0 mirrors promptfoo failing a run on any failed test; lower it "
                                            "or gate on max_drop against the baseline instead", suite_file)
        if self.latency_ms:
            ms = max(v for v, _, _ in self.latency_ms)
            found["latency_max_s"] = {"max": ms / 1000}
            self._scope_note("latency", self.latency_ms, f"{ms:g} ms per call -> thresholds.latency_max_s max "
                                                         f"{ms / 1000:g} (every answered call)")
        if self.cost:
            per_call = max(v for v, _, _ in self.cost)
            total = round(per_call * n_cases * repeat, 10)
            found["cost_usd"] = {"max": total}
            self._scope_note("cost", self.cost, f"${per_call:g} per call -> thresholds.cost_usd max ${total:g} (the "
                                                f"suite total: {n_cases} cases x {repeat}; llmops has no per-call cost "
                                                "limit)")
        return found

    def _scope_note(self, kind: str, values: list[tuple[float, str, str]], message: str) -> None:
        scopes = {s for _, s, _ in values}
        distinct = {v for v, _, _ in values}
        if "every case" not in scopes:
            message += "; it now applies to every case, not only " + ", ".join(sorted(scopes))
        if len(distinct) > 1:
            message += f"; the largest of {len(distinct)} different limits was kept"
        self.note(values[0][2], f"{kind} {message}")


@dataclass
class _Context:
    """What a type handler sees: the promptfoo assertion, its (rendered) value, where it is."""

    importer: _Importer
    item: Mapping[str, Any]
    value: Any
    negate: bool
    where: str
    file: str | None
    scope: str

    def text(self) -> str:
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int, float)):
            raise _Skip("needs a text value")
        return str(self.value)

    def texts(self) -> list[str]:
        values = self.value if isinstance(self.value, list) else [self.value]
        if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
            raise _Skip("needs a list of text values")
        return [str(v) for v in values]

    def no_negation(self) -> None:
        if self.negate:
            raise _Skip(f"type {self.item['type']!r} has no llmops equivalent; rewrite it as a python assertion")

    def note(self, message: str) -> None:
        self.importer.note(self.where, message, self.file)

    def threshold(self, spec: Spec, low: float, high: float) -> None:
        value = self.item.get("threshold")
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise _Skip(f"'threshold' must be a number from {low:g} to {high:g}")
        spec["threshold"] = float(value)

    def grader_model(self, spec: Spec, embedding: bool) -> None:
        if self.item.get("provider") is not None:
            alias = self.importer.grader_alias(self.item["provider"], f"{self.where}.provider", embedding, self.file)
            if alias:
                spec["model"] = alias


def _absent(patterns: list[str], ignore_case: bool, every: bool = False) -> Spec:
    """A regex that matches only when none (or, with every=True, not all) of the patterns occur."""
    if every:
        body = "".join(rf"(?=[\s\S]*?(?:{p}))" for p in patterns)
    else:
        body = r"[\s\S]*?(?:" + "|".join(patterns) + ")"
    return _regex(rf"^(?!{body})", ignore_case)


def _at(where: str, part: str) -> str:
    """A location inside a test: `tests[2].assert[0]`, or `line 3, assert[0]` in a CSV file."""
    return f"{where}, {part}" if where.startswith("line ") else f"{where}.{part}"


def _escape(text: str) -> str:
    """Like re.escape, but leaves spaces and other harmless characters readable."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def _regex(pattern: str, ignore_case: bool = False) -> Spec:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _Skip(f"regex {pattern!r} is not valid in Python ({exc}); rewrite it") from None
    return {"type": "regex", "value": pattern, **({"ignore_case": True} if ignore_case else {})}


def _h_equals(c: _Context) -> _Converted:
    if isinstance(c.value, (dict, list)):
        c.no_negation()
        return _Converted([{"type": "schema", "schema": {"const": c.value}}])
    text = c.text()
    if c.negate:
        return _Converted([_regex(rf"^(?!\s*{_escape(text)}\s*\Z)")])
    return _Converted([{"type": "equals", "value": text}])


def _h_contains(c: _Context) -> _Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    text = c.text()
    if not c.negate:
        return _Converted([{"type": "icontains" if insensitive else "contains", "value": text}])
    if insensitive:
        return _Converted([_absent([_escape(text)], True)])
    return _Converted([{"type": "not_contains", "value": text}])


def _h_contains_all(c: _Context) -> _Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    values = c.texts()
    if c.negate:
        return _Converted([_absent([_escape(v) for v in values], insensitive, every=True)])
    return _Converted([{"type": "icontains" if insensitive else "contains", "value": v} for v in values])


def _h_contains_any(c: _Context) -> _Converted:
    insensitive = c.item["type"].removeprefix("not-").startswith("i")
    values = c.texts()
    if c.negate and not insensitive:
        return _Converted([{"type": "not_contains", "value": v} for v in values])
    if c.negate:
        return _Converted([_absent([_escape(v) for v in values], True)])
    return _Converted([_regex("|".join(_escape(v) for v in values), insensitive)])


def _h_starts_with(c: _Context) -> _Converted:
    text = _escape(c.text())
    return _Converted([_regex(rf"^(?!{text})" if c.negate else rf"^{text}")])


def _h_regex(c: _Context) -> _Converted:
    pattern = c.text()
    _regex(pattern)
    return _Converted([_absent([pattern], False) if c.negate else _regex(pattern)])


def _h_json(c: _Context) -> _Converted:
    c.no_negation()
    schema = c.value
    if isinstance(schema, str):
        try:
            schema = plain(load_yaml(schema))
        except YamlError:
            raise _Skip("value must be a JSON schema") from None
    schema = {} if schema is None else schema
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except (SchemaError, TypeError, AttributeError) as exc:
        raise _Skip(f"value is not a valid JSON schema ({getattr(exc, 'message', exc)})") from None
    if c.item["type"] == "contains-json":
        c.note("contains-json -> schema: llmops parses the whole answer (or a ```json fence) as JSON, not JSON "
               "found anywhere in the text")
    return _Converted([{"type": "schema", "schema": schema}])


def _h_judge(c: _Context) -> _Converted:
    c.no_negation()
    rubric = c.text()
    if not rubric.strip():
        raise _Skip("needs a rubric (the value)")
    spec: Spec = {"type": "judge", "rubric": rubric}
    if c.item["type"] in ("factuality", "model-graded-factuality"):
        spec["rubric"] = ("The answer is factually consistent with this reference answer: it may leave out or add "
                          f"details, but must not contradict it.\nReference answer: {rubric}")
        c.note("factuality -> judge: its five categories and their scores become one pass/fail rubric")
    c.grader_model(spec, embedding=False)
    c.threshold(spec, 0, 1)
    if "rubricPrompt" in c.item:
        c.note("rubricPrompt dropped: the judge uses llmops's versioned grading prompt")
    c.importer.uses_judge = c.importer.uses_judge or "model" not in spec
    return _Converted([spec])


def _h_similar(c: _Context) -> _Converted:
    c.no_negation()
    metric = c.item["type"].partition(":")[2]
    if metric and metric != "cosine":
        raise _Skip(f"the {metric} metric has no llmops equivalent (similarity is cosine); use similar")
    values = c.texts()
    if len(values) > 1:
        raise _Skip("several reference values (pass if similar to any) have no llmops equivalent; keep one")
    spec: Spec = {"type": "similarity", "value": values[0], "threshold": SIMILAR_DEFAULT}
    c.threshold(spec, -1, 1)
    c.grader_model(spec, embedding=True)
    c.importer.uses_similarity = c.importer.uses_similarity or "model" not in spec
    return _Converted([spec])


def _h_python(c: _Context) -> _Converted:
    c.no_negation()
    text = c.text().strip()
    match = re.fullmatch(r"(?:file://)?([^\s:]+\.py)(?::(\w+))?", text)
    if not match:
        raise _Skip("inline python code; move it into a function in a .py file and reference it as module:function")
    path, function = match.group(1), match.group(2) or "get_assert"
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise _Skip(f"{path!r} is outside the config's folder; move it into the project and reference it from there")
    module = ".".join(relative.with_suffix("").parts)
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise _Skip(f"{path!r} is not an importable module name; rename it (letters, digits, '_')")
    c.importer.needs_python = True
    c.importer.python_files.setdefault(path, c.where)
    c.note(f"python -> llmops calls {module}:{function}(output, vars, **args) and expects True/False or "
           "(bool, reason); promptfoo passed (output, context): adapt the function")
    spec: Spec = {"type": "python", "function": f"{module}:{function}"}
    if isinstance(c.item.get("config"), dict):
        spec["args"] = c.item["config"]
    if "threshold" in c.item:
        c.note("threshold dropped: a python assertion passes or fails")
    return _Converted([spec])


def _h_refusal(c: _Context) -> _Converted:
    if c.negate:
        c.note("not-is-refusal is implied: a case that expects an answer fails when the model refuses")
        return _Converted()
    return _Converted(refusal=True)


def _h_limit(c: _Context) -> _Converted:
    c.no_negation()
    threshold = c.item.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise _Skip("needs a numeric 'threshold'")
    target = c.importer.cost if c.item["type"] == "cost" else c.importer.latency_ms
    target.append((float(threshold), c.scope, c.where))
    return _Converted()


_HANDLERS: dict[str, Callable[[_Context], _Converted]] = {
    "equals": _h_equals, "contains": _h_contains, "icontains": _h_contains,
    "contains-all": _h_contains_all, "icontains-all": _h_contains_all,
    "contains-any": _h_contains_any, "icontains-any": _h_contains_any,
    "starts-with": _h_starts_with, "regex": _h_regex, "is-json": _h_json, "contains-json": _h_json,
    "llm-rubric": _h_judge, "model-graded-closedqa": _h_judge, "g-eval": _h_judge, "factuality": _h_judge,
    "model-graded-factuality": _h_judge, "similar": _h_similar, "python": _h_python,
    "is-refusal": _h_refusal, "cost": _h_limit, "latency": _h_limit,
}


# -- small helpers ---------------------------------------------------------------------------
def _assertion_from_string(text: str) -> dict[str, Any]:
    """A CSV `__expected` cell as a promptfoo assertion (promptfoo's documented cell syntax)."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if text.startswith(prefix):
            return {"type": "javascript", "value": text[len(prefix):].strip()}
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix):].strip()}
    if text.startswith("python:") or (text.startswith("file://") and (text.endswith(".py") or ".py:" in text)):
        return {"type": "python", "value": text.removeprefix("python:").strip()}
    if text.startswith("file://") and text.endswith((".js", ".ts", ".cjs", ".mjs")):
        return {"type": "javascript", "value": text}
    match = _CSV_ASSERT.match(text)
    if not match:
        return {"type": "equals", "value": text}
    negate, kind, threshold, value = match.groups()
    result: dict[str, Any] = {"type": f"{negate or ''}{kind}", "value": (value or "").strip()}
    if kind in ("contains-all", "contains-any", "icontains-all", "icontains-any"):
        result["value"] = [v.strip() for v in (value or "").split(",")]
    if kind in ("similar", "cost", "latency", "levenshtein", "rouge-n", "starts-with", "answer-relevance",
                "classifier", "perplexity", "perplexity-score", "context-faithfulness", "context-recall",
                "context-relevance"):
        result["threshold"] = float(threshold) if threshold else (CSV_SIMILAR_DEFAULT if kind == "similar" else 0.75)
    if kind in ("cost", "latency") and not value:
        result.pop("value")
    return result


def _litellm(provider_id: str, embedding: bool = False) -> str | None:
    """promptfoo provider id -> litellm model string (a chat model, or with embedding=True an
    embedding model), or None when there is none."""
    family, _, rest = provider_id.partition(":")
    if family not in _FAMILIES or not rest:
        return None
    kind, _, name = rest.partition(":")
    if embedding != (kind in ("embedding", "embeddings")) or kind in ("moderation", "image", "realtime"):
        return None
    if kind in _KINDS + ("embedding", "embeddings") and name:
        if family == "openai" and kind == "completion":
            return f"text-completion-openai/{name}"
        rest = name
    prefix = _FAMILIES[family]
    return f"{prefix}/{rest}" if prefix else rest


def _is_file(text: str) -> bool:
    """promptfoo reads a prompt string as a file when it is file:// or names an existing file."""
    if text.startswith("file://"):
        return True
    return "\n" not in text and bool(_PATHLIKE.fullmatch(text.strip()))


def _slug(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0] if "-" in slug[:limit] else slug[:limit]
    return slug


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _combinations(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """promptfoo runs one test per value of a var that is a list of strings."""
    keys = list(variables)
    choices = [variables[k] if isinstance(variables[k], list) and variables[k] and isinstance(variables[k][0], str)
               else [variables[k]] for k in keys]
    return [dict(zip(keys, combo)) for combo in product(*choices)]


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(v) for k, v in value.items() if k in ("value", "rubric"))
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _jinja() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render `{{ var }}` in an assertion value with the case's vars (llmops values are literal)."""
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if not (isinstance(value, str) and ("{{" in value or "{%" in value)):
        return value
    from jinja2 import TemplateError

    try:
        return _jinja().from_string(value).render(**variables)
    except TemplateError as exc:
        raise _Skip(f"its value {value!r} could not be rendered with the case's vars ({exc})") from None


class _Dumper(yaml.SafeDumper):
    """Block style, multi-line strings as `|` blocks, keys in the order written."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
