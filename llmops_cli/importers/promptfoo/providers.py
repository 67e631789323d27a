"""promptfoo providers and graders -> llmops `models:` aliases (litellm model strings) and params."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import InputError
from llmops_cli.importers.promptfoo.names import slug, unique
from llmops_cli.importers.promptfoo.tools import ImportedTool, convert_tool_choice, convert_tools

if TYPE_CHECKING:
    from llmops_cli.importers.promptfoo.importer import Importer

# promptfoo's documented OpenAI defaults, pinned when a config names no grader of its own
DEFAULT_GRADER = "openai:gpt-4.1-2025-04-14"
DEFAULT_EMBEDDING = "openai:embedding:text-embedding-3-large"
_PARAMS = {"temperature": "temperature", "max_tokens": "max_tokens", "maxTokens": "max_tokens",
           "max_output_tokens": "max_tokens", "maxOutputTokens": "max_tokens",
           "max_completion_tokens": "max_completion_tokens", "top_p": "top_p", "topP": "top_p", "top_k": "top_k",
           "topK": "top_k", "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty",
           "stop": "stop", "seed": "seed", "response_format": "response_format", "max_new_tokens": "max_tokens",
           "reasoning_effort": "reasoning_effort", "thinking": "thinking"}
# provider config keys that say where the model runs: kept on the model, never moved to a prompt
_CONNECTION = {("bedrock", "region"): "aws_region_name", ("sagemaker", "region"): "aws_region_name",
               ("vertex_ai", "region"): "vertex_location", ("azure", "apiVersion"): "api_version"}
_TOOLS = ("functions", "function_call", "toolConfig", "functionToolCallbacks", "mcp")
_ADVICE = {"instructions": "add it to the prompt as a system message",
           **{k: "not converted (llmops tools are tools/<name>.yaml files offered by a prompt; `tools` and "
                 "`tool_choice` convert); the model is tested without them" for k in _TOOLS}}
_SAGEMAKER_TYPES = ("openai", "llama", "huggingface", "jumpstart", "anthropic", "custom")
# promptfoo provider family -> litellm prefix ("" = the rest is already a litellm model string)
_FAMILIES = {"openai": "openai", "anthropic": "anthropic", "vertex": "vertex_ai", "bedrock": "bedrock",
             "ollama": "ollama", "azure": "azure", "azureopenai": "azure", "google": "gemini", "gemini": "gemini",
             "mistral": "mistral", "groq": "groq", "deepseek": "deepseek", "openrouter": "openrouter",
             "togetherai": "together_ai", "perplexity": "perplexity", "cohere": "cohere", "fireworks": "fireworks_ai",
             "xai": "xai", "cerebras": "cerebras", "huggingface": "huggingface", "replicate": "replicate", "litellm": "",
             "sagemaker": "sagemaker", "hyperbolic": "hyperbolic", "watsonx": "watsonx", "databricks": "databricks",
             "aimlapi": "aiml", "nscale": "nscale", "docker": "docker_model_runner", "cometapi": "cometapi",
             "cloudflare-ai": "cloudflare", "sambanova": "sambanova"}
_KINDS = ("chat", "messages", "responses", "completion", "text-generation", "converse")


@dataclass
class Model:
    alias: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)   # where it runs (region, API version): model only
    tools: list[ImportedTool] = field(default_factory=list)  # offered by every prompt when this is the first model
    tool_choice: str | None = None


def litellm_model(provider_id: str, embedding: bool = False) -> str | None:
    """promptfoo provider id -> litellm model string (a chat model, or with embedding=True an
    embedding model), or None when there is none."""
    family, _, rest = provider_id.partition(":")
    if family == "adaline":        # a gateway in front of the provider named next: the same model
        return litellm_model(rest, embedding) if rest else None
    if family == "sagemaker" and rest.partition(":")[0] in _SAGEMAKER_TYPES:
        rest = rest.partition(":")[2]  # sagemaker:<model type>:<endpoint>: litellm needs the endpoint only
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


def load_providers(imp: Importer, raw: Any) -> list[Model]:
    """`providers` (or `targets`) -> the models under test; the first is `default`."""
    if raw is None:
        raise InputError(f"{imp.label}: no 'providers'; list the models to test, e.g. providers: [openai:gpt-4o-mini]")
    if isinstance(raw, dict) and "id" not in raw:
        raw = [{"id": k, **(v if isinstance(v, dict) else {})} for k, v in raw.items()]
    models: list[Model] = []
    taken: set[str] = {"default"}
    for index, item in enumerate(raw if isinstance(raw, list) else [raw]):
        where = f"providers[{index}]"
        if isinstance(item, dict) and "id" not in item and len(item) == 1:
            (pid, options), = item.items()
            item = {"id": pid, **(options if isinstance(options, dict) else {})}
        spec = {"id": item} if isinstance(item, str) else item
        pid = spec.get("id") if isinstance(spec, dict) else None
        if not isinstance(pid, str):
            imp.skip(where, "a custom provider (function or object without 'id'); add a models: alias by hand")
            continue
        model = litellm_model(pid)
        if model is None:
            imp.skip(where, f"provider {pid!r} has no litellm equivalent; add a models: alias by hand")
            continue
        alias = "default" if not models else unique(slug(str(spec.get("label") or "")) or
                                                    slug(model.split("/")[-1]) or "model", taken)
        given = spec.get("config")
        config: dict[str, Any] = given if isinstance(given, dict) else {}
        family = model.split("/")[0]
        settings = {_CONNECTION[(family, k)]: v for k, v in config.items() if (family, k) in _CONNECTION}
        rest = {k: v for k, v in config.items() if (family, k) not in _CONNECTION and k not in ("tools", "tool_choice")}
        entry = Model(alias, model, params=convert_params(imp, where, rest, "config"), settings=settings)
        if "tools" in config:
            entry.tools = convert_tools(imp, f"{where}.config.tools", config["tools"])
        entry.tool_choice = convert_tool_choice(imp, f"{where}.config.tool_choice", config.get("tool_choice"),
                                                entry.tools)
        entry.api_base = config.get("apiBaseUrl") or config.get("baseUrl") or (
            f"https://{config['apiHost']}" if model.startswith("azure/") and config.get("apiHost") else None)
        entry.api_key_env = config.get("apiKeyEnvar") if isinstance(config.get("apiKeyEnvar"), str) else None
        for key in spec:
            if key not in ("id", "label", "config"):
                advice = ("llmops runs every prompt on every model" if key == "prompts"
                          else "no llmops equivalent; dropped")
                imp.skip(f"{where}.{key}", advice)
        models.append(entry)
        imp.mapped[f"{where} {pid} -> models.{alias}: {model}"] = None
    if not models:
        imp.skip("providers", "no provider could be converted; models.default is a placeholder: set it")
        models.append(Model("default", "openai/REPLACE-ME"))
    return models


def convert_params(imp: Importer, where: str, config: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A provider's or prompt's `config` -> llmops params; the rest is listed as dropped."""
    params: dict[str, Any] = {}
    for name, value in config.items():
        if name in _PARAMS:
            params[_PARAMS[name]] = value
        elif name == "generationConfig" and isinstance(value, dict):
            params.update(convert_params(imp, where, value, f"{key}.generationConfig"))
        elif name == "apiKey":
            imp.skip(f"{where}.{key}.apiKey", "a literal API key is never copied into llmops.yaml; export it "
                                              "and name the variable with api_key_env")
        elif name == "reasoning" and isinstance(value, dict) and "effort" in value:
            params["reasoning_effort"] = value["effort"]
            for extra in [k for k in value if k != "effort"]:
                imp.skip(f"{where}.{key}.reasoning.{extra}", "no llmops equivalent; dropped")
        elif name not in ("apiBaseUrl", "baseUrl", "apiKeyEnvar", "apiHost"):
            imp.skip(f"{where}.{key}.{name}", _ADVICE.get(name, "no llmops equivalent; dropped"))
    return params


def default_graders(imp: Importer, raw: Any) -> None:
    """defaultTest.options.provider (or the --grader default): a string or {id}, or {text, embedding}."""
    where = "defaultTest.options.provider"
    if isinstance(raw, dict) and "id" not in raw:
        imp.embedding_model = grader_alias(imp, raw.get("embedding"), f"{where}.embedding", embedding=True)
        raw = raw.get("text")
    imp.judge_model = grader_alias(imp, raw, where)


def grader_alias(imp: Importer, raw: Any, where: str, embedding: bool = False, file: str | None = None) -> str | None:
    """The alias of a grader provider, reusing a model already defined; None when there is none."""
    if isinstance(raw, dict) and "id" not in raw:
        raw = raw.get("embedding" if embedding else "text")
    pid = raw.get("id") if isinstance(raw, dict) else raw
    if pid is None:
        return None
    model = litellm_model(pid, embedding) if isinstance(pid, str) else None
    if model is None:
        imp.skip(where, f"grader {pid!r} has no litellm equivalent; set "
                        f"{'embedding_model' if embedding else 'judge_model'} by hand", file)
        return None
    given = raw.get("config") if isinstance(raw, dict) else None
    config: dict[str, Any] = given if isinstance(given, dict) else {}
    api_base, key_env = config.get("apiBaseUrl"), config.get("apiKeyEnvar")
    for known in [*imp.models, *imp.graders]:
        if (known.model, known.api_base, known.api_key_env) == (model, api_base, key_env):
            return known.alias
    alias = unique("embedding" if embedding else "judge", {m.alias for m in [*imp.models, *imp.graders]})
    imp.graders.append(Model(alias, model, api_base, key_env))
    imp.mapped[f"{where} {pid} -> models.{alias}: {model}"] = None
    return alias


def pin_graders(imp: Importer) -> None:
    """promptfoo picks an unnamed grader from the credentials it finds; llmops pins one."""
    for used, setting, default, embedding in ((imp.uses_judge, "judge_model", DEFAULT_GRADER, False),
                                              (imp.uses_similarity, "embedding_model", DEFAULT_EMBEDDING, True)):
        if used and getattr(imp, setting) is None:
            setattr(imp, setting, grader_alias(imp, default, setting, embedding))
            what = "embedding provider" if embedding else "grader"
            imp.note(setting, f"the config names no {what}, so {setting} is pinned to {default}, promptfoo's "
                              "documented OpenAI default (promptfoo picks one from your credentials); change "
                              "it if you graded with another model", "llmops.yaml")
