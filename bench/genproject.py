"""Generate benchmark projects: one prompt (system + user, output schema), one suite, N cases.

Each case renders to a distinct request (the ticket carries the case number), so N cases are N
calls and N cache entries. The answers come from the stand-in server, which classifies the
ticket (refund / bug / other); every case asserts the category with `json_field`, and the suite
asserts the output schema, so scoring does real work on every call.

The same cases are also written in promptfoo's shape (`promptfoo_tests.jsonl`), and the same
rendered messages in `requests.jsonl` for the raw litellm loop, so every tool sends the same
requests to the same server.
"""

from __future__ import annotations

import json
from pathlib import Path

KEY_ENV = "LLMOPS_BENCH_KEY"
KEY_VALUE = "sk-bench-dummy-0123456789abcdef"  # a dummy: the stand-in accepts anything
MODEL = "openai/gpt-4o-mini"

SYSTEM = ("You are the support desk of {{ product }}. Classify the ticket as refund, bug or other. "
          "Answer in JSON with keys category and reply.")
USER = "{{ ticket }}"

PROMPT = """description: Classify a support ticket (benchmark)
model: default
params: {temperature: 0}
messages:
  - {role: system, content: "{system}"}
  - {role: user, content: "{user}"}
output:
  schema: {type: object, required: [category, reply], properties: {category: {enum: [refund, bug, other]}, reply: {type: string}}}
""".replace("{system}", SYSTEM).replace("{user}", USER)

SUITE = """prompt: support
models: [default]
assert: [{type: schema}]
thresholds:
  correctness: {min: 0.8}
  schema_validity: {min: 1.0}
"""

TICKETS = [("refund", "I want my money back for order"), ("refund", "Please refund my purchase, ticket"),
           ("bug", "The app crashes on start, build"), ("bug", "Export is broken since version"),
           ("other", "Do you have a dark mode? Asking about plan"), ("other", "Where is your office? Visitor")]
PRODUCTS = ["Acme", "Globex", "Initech", "Umbrella"]


def case(i: int) -> dict:
    label, text = TICKETS[i % len(TICKETS)]
    return {"id": f"case-{i:06d}", "vars": {"product": PRODUCTS[i % len(PRODUCTS)], "ticket": f"{text} {i}"},
            "assert": [{"type": "json_field", "path": "category", "equals": label}]}


def render(c: dict) -> list[dict[str, str]]:
    """What llmops renders for a case (plain substitution is exact for these templates)."""
    v = c["vars"]
    return [{"role": "system", "content": SYSTEM.replace("{{ product }}", v["product"])},
            {"role": "user", "content": v["ticket"]}]


def config_yaml(base_url: str, concurrency: int = 32) -> str:
    return (f"version: 1\nmodels:\n  default: {{model: {MODEL}, api_base: '{base_url}', api_key_env: {KEY_ENV}}}\n"
            f"limits: {{concurrency: {concurrency}, timeout_s: 60, retries: 2}}\n"
            "gate: {baseline: main}\n")


def write_project(root: Path, n: int, base_url: str, concurrency: int = 32) -> Path:
    """An llmops project with n cases, plus the same work for promptfoo and the raw loop."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "support").mkdir(parents=True, exist_ok=True)
    (root / "llmops.yaml").write_text(config_yaml(base_url, concurrency))
    (root / "prompts" / "support.yaml").write_text(PROMPT)
    (root / "evals" / "support" / "suite.yaml").write_text(SUITE)
    (root / ".gitignore").write_text(".llmops/\npromptfoo/\n")
    cases = [case(i) for i in range(n)]
    with open(root / "evals" / "support" / "cases.jsonl", "w") as fh:
        for c in cases:
            fh.write(json.dumps(c) + "\n")
    with open(root / "requests.jsonl", "w") as fh:
        for c in cases:
            fh.write(json.dumps(render(c)) + "\n")
    return root


def write_promptfoo(folder: Path, n: int, base_url: str) -> Path:
    """promptfoo's config for the same n cases: openai chat provider at the stand-in."""
    folder.mkdir(parents=True, exist_ok=True)
    prompt = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    (folder / "prompt.json").write_text(json.dumps(prompt))
    with open(folder / "tests.jsonl", "w") as fh:
        for i in range(n):
            c = case(i)
            label = c["assert"][0]["equals"]
            fh.write(json.dumps({"description": c["id"], "vars": c["vars"], "assert": [
                {"type": "is-json", "value": {"type": "object", "required": ["category", "reply"],
                                              "properties": {"category": {"enum": ["refund", "bug", "other"]},
                                                             "reply": {"type": "string"}}}},
                {"type": "javascript", "value": f"JSON.parse(output).category === {json.dumps(label)}"}]}) + "\n")
    config = {
        "description": "llmops bench",
        "prompts": ["file://prompt.json"],
        "providers": [{"id": "openai:chat:gpt-4o-mini",
                       "config": {"apiBaseUrl": base_url, "apiKeyEnvar": KEY_ENV, "temperature": 0}}],
        "tests": "file://tests.jsonl",
    }
    (folder / "promptfooconfig.yaml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    return folder
