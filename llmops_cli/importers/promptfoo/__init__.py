"""`llmops import promptfoo`: convert a promptfoo config into llmops files.

Reads `promptfooconfig.yaml` (and the prompt, test and schema files it names with `file://`)
as promptfoo does, as YAML 1.2 (`yes`/`no`/`on`/`off` and `1:20` stay text, `012` is 12), with
local `$ref`s (`#/assertionTemplates/x`) resolved; writes `llmops.yaml`, `prompts/<name>.yaml`, `evals/<suite>/suite.yaml` and
`evals/<suite>/cases.jsonl`, and lists, one line each as `file: where: what`, everything it
could not convert (dropped) and everything it converted with a change of meaning (notes).

Mapping
-------
providers / targets
    `openai:gpt-4o-mini`, `openai:chat:X`, `openai:responses:X` -> `openai/X`;
    `anthropic:messages:X` -> `anthropic/X`; `vertex:X` -> `vertex_ai/X`; `bedrock:X` ->
    `bedrock/X`; `ollama:X`, `ollama:chat:X` -> `ollama/X`; `azure:chat:X` -> `azure/X`;
    `google:X` -> `gemini/X`; mistral, groq, deepseek, openrouter, togetherai, perplexity,
    cohere, fireworks, xai, cerebras, huggingface, replicate, hyperbolic, watsonx, databricks, nscale,
    cometapi, sambanova likewise; `aimlapi:X` -> `aiml/X`; `docker:X` -> `docker_model_runner/X`;
    `cloudflare-ai:X` -> `cloudflare/X`; `sagemaker:[type:]ENDPOINT` -> `sagemaker/ENDPOINT`;
    `adaline:P:...` (a gateway) -> what `P:...` maps to; `litellm:X` -> `X`.
    Each becomes a `models:` alias (the first is `default`, the others take their label or
    model name). `config.apiBaseUrl` -> `api_base`, `config.apiKeyEnvar` -> `api_key_env`
    (a literal `apiKey` is never copied); temperature, max_tokens, top_p, top_k, penalties,
    stop, seed, response_format, reasoning_effort (or `reasoning.effort`), thinking ->
    prompt `params` when every provider agrees, else each model's `params`; `region` (bedrock,
    sagemaker -> `aws_region_name`; vertex -> `vertex_location`) and azure `apiVersion`
    (-> `api_version`) stay on the model. The first provider's `tools` (OpenAI
    `{type: function, function}` or Anthropic `{name, input_schema}`) -> `tools/<name>.yaml`,
    offered by every prompt with its `tool_choice`; hosted tools (web_search, ...), a schema
    llmops refuses, another provider's different tools, `functions` and `instructions` (add it
    as a system message) are listed. http, exec,
    file:// and other custom providers are listed, not converted.
prompts
    each prompt -> `prompts/<name>.yaml` (name from label, file stem or `prompt-N`): text
    (inline, .txt, .md, .j2; `---` lines split a file into several prompts) -> one user
    message; an `id` that is not a path is prompt text; a JSON/YAML list of {role, content}
    (file or inline) -> those messages, text-only content parts joined one per line. Several
    prompts -> the suite lists `prompts: [a, b]` (an A/B comparison). Prompt functions
    (.py, .js) are listed. Nunjucks `{{ var }}` is kept as Jinja; `| dump` -> `| tojson`;
    `x | load` (JSON.parse) -> a var `x_loaded` holding the parsed value; a prompt using a
    filter Jinja lacks (a JavaScript `nunjucksFilters` one) is listed, not written. Every case is
    rendered with llmops's renderer before writing: one that cannot render is listed, not
    written; when no prompt or no test converts, the import stops and prints why.
tests / defaultTest
    inline tests, `file://` YAML, JSON, JSONL and CSV files (`__expected`, `__expectedN`,
    `__config:__expectedN:threshold`, `__description`, `__metadata:*` columns, escaped commas in lists) ->
    `evals/<suite>/cases.jsonl`; a test's `vars: file.yaml` (a glob or a list) is read from the
    tests file's folder and merged; `huggingface://` and other remote tests are listed; ids from the
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
    is-json, contains-json -> schema (value as the schema, else {}: any JSON); llm-rubric,
    model-graded-closedqa, g-eval -> judge {rubric, threshold}; factuality -> judge with a
    rubric built from the reference answer; similar -> similarity {value, threshold (default
    0.75, 0.8 in CSV)}; python `file://x.py:fn` -> python {function: x:fn} (and `allow_python: true`);
    is-refusal -> `expect_refusal: true`; not-is-refusal -> implied; latency -> thresholds
    `latency_max_s` max (ms / 1000: every call, as promptfoo checks each call); cost ->
    thresholds `cost_usd` max (per-call limit x cases x repeat: llmops limits the suite's
    total). is-valid-openai-tools-call -> tool_args_schema (with a note: promptfoo also fails an
    answer without a tool call); tool-call-f1 at threshold 1 -> one tool_call per expected tool
    (a lower threshold is listed). javascript, inline python, webhook, assert-set, the legacy
    is-valid-function-call types, moderation, and
    any other type are listed as unconverted; so are `transform`s and weight-0 assertions.
    `equals` keeps llmops's one leniency: surrounding whitespace of the answer is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmops_cli.importers.promptfoo.convert import convert
from llmops_cli.importers.promptfoo.importer import Importer
from llmops_cli.importers.promptfoo.write import check_problems, write_files

__all__ = ["ImportResult", "import_promptfoo"]


@dataclass
class ImportResult:
    suite: str
    written: list[str]
    mapped: list[str]
    notes: list[str]
    unconverted: list[str]
    check_problems: list[str] = field(default_factory=list)


def import_promptfoo(config: Path, out: Path, suite: str | None = None, force: bool = False) -> ImportResult:
    """Convert `config` into llmops files under `out`; raises InputError on bad input or when a
    file exists and not `force`. Runs `llmops check` on the result and reports its problems."""
    importer = Importer(config, out)
    files, suite_name = convert(importer, suite)
    write_files(files, out, force)
    result = ImportResult(suite_name, list(files), list(importer.mapped), list(importer.notes),
                          list(importer.unconverted))
    result.check_problems = check_problems(out)
    return result
