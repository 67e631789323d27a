"""`llmops import promptfoo`: promptfoo configs in their documented shapes become llmops files
that pass `llmops check`, with every conversion checked and every dropped item listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llmops_cli._standin import StandinServer
from llmops_cli.commands.import_promptfoo import ImportResult, import_promptfoo
from llmops_cli.errors import InputError
from llmops_cli.project import load_project
from llmops_cli.scoring.base import Output
from llmops_cli.scoring.registry import REGISTRY
from llmops_cli.source import WorkTree
from tests.conftest import ENV, llmops, results_json

FIXTURES = Path(__file__).parent / "fixtures" / "promptfoo"


def copy_fixture(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def cases_of(root: Path, suite: str) -> dict[str, dict]:
    lines = (root / "evals" / suite / "cases.jsonl").read_text().splitlines()
    return {c["id"]: c for c in map(json.loads, lines)}


def passes(spec: dict, text: str) -> bool:
    """Score one converted assertion on an answer, with llmops's own checker."""
    kind = REGISTRY[spec["type"]]
    assert kind.validate({k: v for k, v in spec.items() if k != "type"}) == []
    return kind.check(Output(text), {k: v for k, v in spec.items() if k != "type"}).passed


def test_translation_example_converts_and_passes_check(tmp_path: Path) -> None:
    work = copy_fixture("translate", tmp_path)
    run = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "proj", cwd=work)
    assert run.code == 0, run.stderr
    proj = work / "proj"
    suite_dir = "evals/translate-short-phrases"
    for rel in ("llmops.yaml", "prompts/prompt1.yaml", "prompts/prompt2.yaml", f"{suite_dir}/suite.yaml",
                f"{suite_dir}/cases.jsonl"):
        assert (proj / rel).is_file(), rel
        assert f"wrote {rel}" in run.stdout

    check = llmops("check", cwd=proj)
    assert check.code == 0, check.stderr
    assert "ok: 1 suites, 2 prompts, 4 cases, 8 renders" in check.stdout

    project = load_project(WorkTree(proj))
    config = project.config
    assert config.models["default"].model == "openai/gpt-4o-mini"
    assert config.models["default"].api_base == "https://llm-proxy.example/v1"
    assert config.models["default"].api_key_env == "PROXY_OPENAI_KEY"
    assert config.models["haiku-3-5"].model == "anthropic/claude-3-5-haiku-latest"
    assert config.models["judge"].model == "openai/gpt-4o" and config.judge_model == "judge"
    assert config.models[config.embedding_model].model == "openai/text-embedding-3-large"

    prompt1, prompt2 = project.prompts["prompt1"], project.prompts["prompt2"]
    assert [(m.role, m.content) for m in prompt1.messages] == [
        ("user", "Translate the following text into {{language}}: {{input}}")]
    assert prompt2.messages[0].content.startswith("You are a careful translator who writes in a {{register}} register.")
    assert dict(prompt1.params) == dict(prompt2.params) == {"temperature": 0.2, "max_tokens": 200}

    suite = project.suites["translate-short-phrases"]
    assert suite.prompts == ("prompt1", "prompt2")          # A/B: both prompts run on every case
    assert suite.models == ("default", "haiku-3-5")
    assert [(a.type, dict(a.spec)) for a in suite.asserts] == [
        ("regex", {"value": r"^(?![\s\S]*?(?:as an AI))", "ignore_case": True})]
    assert not passes({"type": "regex", **suite.asserts[0].spec}, "As an ai model, I cannot")
    assert passes({"type": "regex", **suite.asserts[0].spec}, "Bonjour le monde")
    thresholds = {m: (t.min, t.max) for m, t in suite.thresholds.items()}
    assert thresholds == {"correctness": (1.0, None), "latency_max_s": (None, 4.0), "cost_usd": (None, 0.008)}

    cases = cases_of(proj, "translate-short-phrases")
    assert list(cases) == ["french-greeting", "german-question", "case-003", "italian-as-json"]
    assert cases["french-greeting"]["vars"] == {"register": "neutral", "language": "French", "input": "Hello world"}
    assert cases["french-greeting"]["assert"] == [
        {"type": "icontains", "value": "bonjour"},
        {"type": "judge", "rubric": "Reads as if a native French speaker wrote it"}]   # {{language}} rendered
    assert cases["german-question"]["assert"] == [
        {"type": "contains", "value": "?"}, {"type": "regex", "value": r"^(Wie|Was)\b"},
        {"type": "similarity", "value": "Wie geht es dir?", "threshold": 0.8}]
    starts, any_of = cases["case-003"]["assert"]
    assert starts == {"type": "regex", "value": "^Buenos"}
    assert passes(any_of, "Buenos días, nos vemos a las 3 p.m.") and not passes(any_of, "Buenos días, a las tres")
    schema, factual = cases["italian-as-json"]["assert"]
    assert schema == {"type": "schema", "schema": {"type": "object", "required": ["translation"],
                                                   "properties": {"translation": {"type": "string"}}}}
    assert factual["type"] == "judge" and 'The translation means "thank you"' in factual["rubric"]

    javascript = ("promptfooconfig.yaml: tests[0].assert[2]: type 'javascript' has no llmops equivalent; "
                  "rewrite it as a python assertion")
    assert run.stdout.splitlines().count(javascript) == 1
    assert "not converted (1):" in run.stdout
    assert "cost $0.002 per call -> thresholds.cost_usd max $0.008" in run.stdout
    assert "assert not-icontains -> regex (x1)" in run.stdout


def test_chat_csv_and_python_example(tmp_path: Path) -> None:
    work = copy_fixture("support", tmp_path)
    run = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "proj", "--suite", "support", cwd=work)
    assert run.code == 0, run.stderr
    proj = work / "proj"
    written = "".join(p.read_text() for p in proj.rglob("*") if p.is_file())
    assert "sk-not-a-real-key" not in written          # a literal key is never copied

    check = llmops("check", cwd=proj)
    assert check.code == 0, check.stderr
    project = load_project(WorkTree(proj))
    assert project.config.allow_python
    models = project.config.models
    assert models["default"].model == "ollama/llama3.1:8b" and dict(models["default"].extra) == {"temperature": 0.7}
    assert models["mini"].model == "openai/gpt-4o-mini" and dict(models["mini"].extra) == {"temperature": 0}
    prompt = project.prompts["support-chat"]
    assert [m.role for m in prompt.messages] == ["system", "user"] and prompt.messages[1].content == "{{question}}"
    suite = project.suites["support"]
    assert suite.repeat == 2 and suite.models == ("default", "mini")
    assert [(a.type, dict(a.spec)) for a in suite.asserts] == [
        ("schema", {"schema": {"type": "object", "required": ["reply"], "properties": {"reply": {"type": "string"}}}}),
        ("python", {"function": "checks:is_polite"})]

    cases = cases_of(proj, "support")
    assert list(cases) == ["order-status", "cancellation", "case-003", "greeting-in-two-brands-1",
                           "greeting-in-two-brands-2", "refuses-to-share-other-customers-data"]
    assert cases["order-status"]["assert"] == [{"type": "icontains", "value": "order"},
                                               {"type": "not_contains", "value": "sorry"}]
    assert cases["greeting-in-two-brands-2"]["vars"] == {"product": "Globex", "question": "Hi there",
                                                         "policy": "Refunds within 30 days.\n"}
    assert cases["greeting-in-two-brands-2"]["assert"][0] == {"type": "not_contains", "value": "Globex is down"}
    refusal = cases["refuses-to-share-other-customers-data"]
    assert refusal["expect_refusal"] is True and refusal["vars"]["policy"] == ""

    out = run.stdout.splitlines()
    assert "tests.csv: line 3, assert[1]: type 'javascript' has no llmops equivalent; rewrite it as a python assertion" in out
    assert ("promptfooconfig.yaml: providers[2]: provider 'http://localhost:8080/generate' has no litellm equivalent; "
            "add a models: alias by hand") in out
    assert any(line.startswith("promptfooconfig.yaml: providers[1].config.apiKey: a literal API key") for line in out)
    assert any("copy checks.py to proj/checks.py" in line for line in out)


def test_overwrite_is_refused_without_force(tmp_path: Path) -> None:
    work = copy_fixture("translate", tmp_path)
    assert llmops("import", "promptfoo", "promptfooconfig.yaml", cwd=work).code == 0
    (work / "prompts" / "prompt1.yaml").write_text("edited by hand\n")
    again = llmops("import", "promptfoo", "promptfooconfig.yaml", cwd=work)
    assert again.code == 2
    lines = again.stderr.splitlines()
    assert len(lines) == 5 and all(line.endswith(": already exists; use --force to overwrite") for line in lines)
    assert "error: prompts/prompt1.yaml: already exists; use --force to overwrite" in lines
    assert (work / "prompts" / "prompt1.yaml").read_text() == "edited by hand\n"
    forced = llmops("import", "promptfoo", "promptfooconfig.yaml", "--force", cwd=work)
    assert forced.code == 0, forced.stderr
    assert "Translate the following text" in (work / "prompts" / "prompt1.yaml").read_text()


@pytest.mark.parametrize("config, text, expected", [
    ("bad.yaml", "prompts: [unclosed\nproviders: x\n", "bad.yaml:2: invalid YAML"),
    ("bad.yaml", "description: no prompts\nproviders: [openai:gpt-4o-mini]\n", "bad.yaml: no 'prompts'"),
    ("bad.yaml", "prompts: [file://missing.txt]\nproviders: [openai:gpt-4o-mini]\n",
     "bad.yaml: prompts[0]: file 'missing.txt' not found"),
    ("bad.yaml", "prompts: ['hi {{x}}']\nproviders: [openai:gpt-4o-mini]\ntests: file://rows.csv\n",
     "bad.yaml: tests: file 'rows.csv' not found"),
    ("bad.yaml", "- just\n- a list\n", "bad.yaml: top level must be a mapping"),
    ("bad.yaml", "prompts: ['hi {{x}}']\nproviders: [openai:gpt-4o-mini]\nevaluateOptions: [1]\n",
     "bad.yaml: evaluateOptions: must be a mapping, not list"),
    ("bad.yaml", "prompts: ['hi {{x}}']\nproviders: [openai:gpt-4o-mini]\ncommandLineOptions: x\n",
     "bad.yaml: commandLineOptions: must be a mapping, not str"),
    ("bad.yaml", "prompts: ['hi {{x}}']\nproviders: [openai:gpt-4o-mini]\ndefaultTest: {options: [1]}\n",
     "bad.yaml: defaultTest.options: must be a mapping, not list"),
    ("absent.yaml", None, "absent.yaml: not found"),
])
def test_bad_config_exits_2_without_traceback(tmp_path: Path, config: str, text: str | None, expected: str) -> None:
    if text is not None:
        (tmp_path / config).write_text(text)
    run = llmops("import", "promptfoo", config, "--out", "out", cwd=tmp_path)
    assert run.code == 2
    assert run.stderr.startswith(f"error: {expected}"), run.stderr
    assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr + run.stdout
    assert not (tmp_path / "out").exists()


PROVIDERS = [
    ("openai:gpt-4o-mini", "openai/gpt-4o-mini"),
    ("openai:chat:gpt-4o", "openai/gpt-4o"),
    ("anthropic:messages:claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku-latest"),
    ("vertex:gemini-2.0-flash-exp", "vertex_ai/gemini-2.0-flash-exp"),
    ("bedrock:anthropic.claude-3-haiku-20240307-v1:0", "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("ollama:chat:llama3.1:8b", "ollama/llama3.1:8b"),
    ("ollama:mistral", "ollama/mistral"),
    ("azure:chat:my-deployment", "azure/my-deployment"),
    ("google:gemini-1.5-pro", "gemini/gemini-1.5-pro"),
]


def test_provider_ids_become_litellm_models(tmp_path: Path) -> None:
    ids = "".join(f"  - {pid}\n" for pid, _ in PROVIDERS)
    (tmp_path / "pf.yaml").write_text(f"prompts: ['Hi {{{{name}}}}']\nproviders:\n{ids}  - exec:./run.sh\n"
                                      "tests: [{vars: {name: Ada}}]\n")
    result = import_promptfoo(tmp_path / "pf.yaml", tmp_path / "out")
    assert result.check_problems == []
    models = load_project(WorkTree(tmp_path / "out")).config.models
    assert [m.model for m in models.values()] == [model for _, model in PROVIDERS]
    assert list(models)[0] == "default"
    assert any("providers[9]: provider 'exec:./run.sh' has no litellm equivalent" in line
               for line in result.unconverted)


def test_negations_and_lists_keep_promptfoo_semantics(tmp_path: Path) -> None:
    asserts = [
        {"type": "not-equals", "value": "Hello"},
        {"type": "not-regex", "value": r"\d+"},
        {"type": "not-starts-with", "value": "Sorry"},
        {"type": "not-contains-all", "value": ["foo", "bar"]},
        {"type": "not-icontains-any", "value": ["Foo", "Bar"]},
        {"type": "contains-all", "value": ["a", "b"]},
        {"type": "equals", "value": {"ok": True}},
    ]
    (tmp_path / "pf.yaml").write_text(json.dumps({
        "prompts": ["Answer {{q}}"], "providers": ["openai:gpt-4o-mini"],
        "tests": [{"description": "one", "vars": {"q": "x"}, "assert": asserts}]}))
    result = import_promptfoo(tmp_path / "pf.yaml", tmp_path / "out")
    assert result.check_problems == [] and result.unconverted == []
    specs = cases_of(tmp_path / "out", "promptfoo")["one"]["assert"]
    not_equals, not_regex, not_starts, not_all, not_any, has_a, has_b, equals_json = specs
    truth = {
        "not-equals": [(not_equals, "Hello", False), (not_equals, " Hello\n", False), (not_equals, "Hello you", True)],
        "not-regex": [(not_regex, "call 911", False), (not_regex, "no digits", True)],
        "not-starts-with": [(not_starts, "Sorry, no", False), (not_starts, "Yes. Sorry", True)],
        "not-contains-all": [(not_all, "bar and\nfoo", False), (not_all, "only foo", True)],
        "not-icontains-any": [(not_any, "a FOO", False), (not_any, "\nbar", False), (not_any, "baz", True)],
        "contains-all": [(has_a, "a", True), (has_b, "a", False)],
        "equals (JSON)": [(equals_json, '{"ok": true}', True), (equals_json, '{"ok": 1}', False)],
    }
    for name, rows in truth.items():
        for spec, answer, expected in rows:
            assert passes(spec, answer) is expected, (name, answer)


def test_missing_output_folder_is_created_and_errors_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "pf.yaml").write_text("prompts: ['{{q}}']\nproviders: [openai:gpt-4o-mini]\n")
    result = import_promptfoo(tmp_path / "pf.yaml", tmp_path / "a" / "b")
    assert result.check_problems == []
    assert cases_of(tmp_path / "a" / "b", "promptfoo") == {"case-001": {"id": "case-001", "vars": {"q": ""}}}
    with pytest.raises(InputError):
        import_promptfoo(tmp_path / "pf.yaml", tmp_path / "a" / "b")


def import_config(tmp_path: Path, config: dict | str, files: dict[str, str] | None = None) -> tuple[Path, ImportResult]:
    """Write a promptfoo config (and the files it names) under tmp_path/pf, import it into tmp_path/out."""
    work = tmp_path / "pf"
    work.mkdir(exist_ok=True)
    for rel, text in (files or {}).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    (work / "promptfooconfig.yaml").write_text(config if isinstance(config, str) else json.dumps(config))
    return tmp_path / "out", import_promptfoo(work / "promptfooconfig.yaml", tmp_path / "out")


def test_bare_is_json_and_contains_json_accept_any_json_in_a_real_eval(tmp_path: Path, server: StandinServer) -> None:
    """promptfoo's bare is-json passes any JSON answer; an empty schema must mean exactly that."""
    out, result = import_config(tmp_path, {
        "prompts": ["{{q}}"],
        "providers": [{"id": "openai:gpt-4o-mini", "config": {"apiBaseUrl": server.base_url,
                                                             "apiKeyEnvar": "STANDIN_KEY"}}],
        "tests": [{"description": "json answer", "vars": {"q": "Answer in json: hello"},
                   "assert": [{"type": "is-json"}, {"type": "contains-json"}]},
                  {"description": "text answer", "vars": {"q": "hello"}, "assert": [{"type": "is-json"}]}]})
    assert result.check_problems == [] and result.unconverted == []
    run = llmops("eval", "--no-baseline", cwd=out, env=ENV)
    assert run.code == 1, run.stdout + run.stderr          # the text answer fails is-json, as in promptfoo
    (group,) = results_json(out)["groups"]
    verdicts = {c["case_id"]: c["passed"] for c in group["cases"]}
    assert verdicts == {"json-answer": True, "text-answer": False}


def test_promptfoo_files_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """promptfoo reads YAML 1.2 (core schema): Yes/no/on/off and 1:20 stay text, 012 is twelve."""
    config = ("prompts: ['{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}} {{h}} {{i}}']\nproviders: [openai:gpt-4o-mini]\n"
              "tests:\n  - description: inline\n    vars: {a: Yes, b: no, c: on, d: off, e: 1:20, f: 012, g: true,\n"
              "           h: 0x1F, i: 2024-01-02}\n  - file://more.yaml\n")
    out, result = import_config(tmp_path, config, {"more.yaml": "- description: from a file\n  vars: {a: Y, b: NO, c: On,"
                                                                " d: Off, e: 190:20:30, f: 0o14, g: False, h: ~,"
                                                                " i: 1e3}\n"})
    assert result.check_problems == []
    cases = cases_of(out, "promptfoo")
    assert cases["inline"]["vars"] == {"a": "Yes", "b": "no", "c": "on", "d": "off", "e": "1:20", "f": 12, "g": True,
                                       "h": 31, "i": "2024-01-02"}
    assert cases["from-a-file"]["vars"] == {"a": "Y", "b": "NO", "c": "On", "d": "Off", "e": "190:20:30", "f": 12,
                                            "g": False, "h": "", "i": 1000.0}
    assert any("vars.h: null -> '' (promptfoo renders null as nothing" in line for line in result.notes)


def test_nunjucks_load_filter_becomes_a_parsed_var_and_every_case_renders(tmp_path: Path) -> None:
    """promptfoo's `load` filter (JSON.parse) has no Jinja twin: the var is parsed at import instead."""
    prompts = ("Tone: {{ (style | load).tone }}; length: {{ (style|load).length }}. {{ body }}\n---\n"
               "Raw style: {{ style }}. {{ body }}\n")
    rows = 'body,style\nHello,"{""tone"":""formal"",""length"":""brief""}"\nHi,not json\n'
    out, result = import_config(tmp_path, "prompts: [file://prompts.txt]\nproviders: [openai:gpt-4o-mini]\n"
                                          "tests: file://tests.csv\n", {"prompts.txt": prompts, "tests.csv": rows})
    assert result.check_problems == []
    first = (out / "prompts" / "prompts-1.yaml").read_text()
    assert "(style_loaded).tone" in first and "| load" not in first and "|load" not in first
    assert "{{ style }}" in (out / "prompts" / "prompts-2.yaml").read_text()
    cases = cases_of(out, "promptfoo")
    assert list(cases) == ["case-001"]              # the row whose style is not JSON cannot render: listed
    assert cases["case-001"]["vars"] == {"body": "Hello", "style": '{"tone":"formal","length":"brief"}',
                                         "style_loaded": {"tone": "formal", "length": "brief"}}
    assert any("tests.csv: line 3: not converted: var 'style' is not JSON" in line for line in result.unconverted)
    check = llmops("check", cwd=out)
    assert check.code == 0, check.stderr


def test_custom_nunjucks_filters_are_never_written_into_a_template(tmp_path: Path) -> None:
    config = ("prompts: ['Say {{ body | allcaps }}', 'Say {{ body | dump }}', 'Say {{ body }}']\n"
              "providers: [openai:gpt-4o-mini]\nnunjucksFilters: {allcaps: ./allcaps.js}\n"
              "tests: [{vars: {body: hi}}]\n")
    out, result = import_config(tmp_path, config)
    assert result.check_problems == []
    assert sorted(p.name for p in (out / "prompts").iterdir()) == ["prompt-2.yaml", "prompt-3.yaml"]
    assert "{{ body | tojson }}" in (out / "prompts" / "prompt-2.yaml").read_text()
    assert any("prompts[0]: uses the filter 'allcaps' (nunjucksFilters: ./allcaps.js, JavaScript)" in line
               for line in result.unconverted), result.unconverted
    # the only prompt uses it: the import stops and says why
    (tmp_path / "pf" / "promptfooconfig.yaml").write_text(config.replace(", 'Say {{ body | dump }}', 'Say {{ body }}'", ""))
    run = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "again", cwd=tmp_path / "pf")
    assert run.code == 2 and not (tmp_path / "pf" / "again").exists()
    assert "prompts[0]: uses the filter 'allcaps'" in run.stderr and "see above" not in run.stderr
    assert "Traceback" not in run.stderr


def test_huggingface_tests_are_listed_and_no_broken_case_is_written(tmp_path: Path) -> None:
    config = ("prompts: ['Q: {{question}} A) {{choices[0]}} B) {{choices[1]}}']\nproviders: [openai:gpt-4o-mini]\n"
              "tests:\n  - huggingface://datasets/cais/mmlu?split=test&limit=10\n"
              "  - {description: own, vars: {question: Why, choices: yn}}\n")
    out, result = import_config(tmp_path, config)
    assert result.check_problems == []
    assert list(cases_of(out, "promptfoo")) == ["own"]
    assert any("tests[0]: tests from 'huggingface://datasets/cais/mmlu?split=test&limit=10' cannot be read here"
               in line for line in result.unconverted)
    # only the dataset: no case to write (a placeholder case would not render): the import stops, saying why
    (tmp_path / "pf" / "promptfooconfig.yaml").write_text(config.rsplit("  - {", 1)[0])
    run = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "again", cwd=tmp_path / "pf")
    assert run.code == 2 and not (tmp_path / "pf" / "again").exists(), run.stdout + run.stderr
    assert "tests[0]: tests from 'huggingface://datasets/cais/mmlu" in run.stderr
    assert "tests: no test could be converted" in run.stderr and "Traceback" not in run.stderr


def test_prompt_ids_that_are_text_and_vars_files_named_by_a_tests_file(tmp_path: Path) -> None:
    """An `id` that is prompt text is text; `vars: ../vars/*.yaml` in a tests file is a glob from its folder."""
    config = ("prompts:\n  - {id: 'You are a pirate. Tell me about {{topic}} in {{style}}', label: text}\n"
              "providers: [openai:gpt-4o-mini]\ntests: [file://tests/*.yaml]\n")
    files = {"tests/one.yaml": "- description: from globbed files\n  vars: ../vars/vars_*.yaml\n"
                               "- description: from a list\n  vars: [file://../vars/vars_a.yaml, ../vars/other.yaml]\n",
             "vars/vars_a.yaml": "topic: the sea\n", "vars/vars_b.yaml": "style: haiku\n",
             "vars/other.yaml": "style: prose\n"}
    out, result = import_config(tmp_path, config, files)
    assert result.check_problems == [] and result.unconverted == []
    assert "You are a pirate. Tell me about {{topic}}" in (out / "prompts" / "text.yaml").read_text()
    cases = cases_of(out, "promptfoo")
    assert cases["from-globbed-files"]["vars"] == {"topic": "the sea", "style": "haiku"}
    assert cases["from-a-list"]["vars"] == {"topic": "the sea", "style": "prose"}
    (tmp_path / "pf" / "tests" / "one.yaml").write_text("- vars: ../vars/missing_*.yaml\n")
    with pytest.raises(InputError) as error:
        import_promptfoo(tmp_path / "pf" / "promptfooconfig.yaml", tmp_path / "out2")
    (line,) = [str(p) for p in error.value.problems]
    assert line.startswith(str(tmp_path / "pf" / "tests" / "one.yaml") + ": [0].vars: no file matches"), line


def test_text_only_content_parts_are_joined_and_other_parts_are_listed(tmp_path: Path) -> None:
    chat = [{"role": "system", "content": "Be brief"},
            {"role": "user", "content": [{"type": "text", "text": "{{q}}"}, {"type": "text", "text": "Thanks"}]}]
    image = [{"role": "user", "content": [{"type": "text", "text": "{{q}}"},
                                          {"type": "image_url", "image_url": {"url": "{{url}}"}}]}]
    bedrock = [{"role": "user", "content": [{"image": {"source": {"bytes": "{{image}}"}}}, {"text": "{{q}}"}]}]
    adaline = [{"role": "user", "content": [{"modality": "text", "value": "{{q}}"}]}]
    out, result = import_config(tmp_path, "prompts: [file://chat.json, file://image.json, file://bedrock.json, "
                                          "file://adaline.json]\nproviders: [openai:gpt-4o-mini]\n"
                                          "tests: [{vars: {q: hi}}]\n",
                                {"chat.json": json.dumps(chat), "image.json": json.dumps(image),
                                 "bedrock.json": json.dumps(bedrock), "adaline.json": json.dumps(adaline)})
    assert result.check_problems == []
    messages = load_project(WorkTree(out)).prompts["chat"].messages
    assert [(m.role, m.content) for m in messages] == [("system", "Be brief"), ("user", "{{q}}\nThanks")]
    assert not (out / "prompts" / "image.yaml").exists()
    assert any("prompts[1]: message 0 has a 'image_url' part" in line for line in result.unconverted), result.unconverted
    assert any("prompts[2]: message 0 has a 'image' part" in line for line in result.unconverted), result.unconverted
    assert [m.content for m in load_project(WorkTree(out)).prompts["adaline"].messages] == ["{{q}}"]


def test_local_refs_to_assertion_templates_are_resolved(tmp_path: Path) -> None:
    config = ("prompts: ['Talk like a pirate about {{topic}}']\nproviders: [openai:gpt-4o-mini]\n"
              "assertionTemplates:\n  noise: {type: icontains, value: arrr}\n  polite: {$ref: '#/assertionTemplates/base'}\n"
              "  base: {type: not-contains, value: 'shut up'}\n"
              "defaultTest: {assert: [{$ref: '#/assertionTemplates/polite'}]}\n"
              "tests:\n  - description: sea\n    vars: {topic: the sea}\n    assert: [{$ref: '#/assertionTemplates/noise'}]\n")
    out, result = import_config(tmp_path, config)
    assert result.check_problems == [] and result.unconverted == []
    assert cases_of(out, "promptfoo")["sea"]["assert"] == [{"type": "icontains", "value": "arrr"}]
    tools = "{id: 'openai:gpt-4o-mini', config: {tools: [{$ref: '#/definitions/t'}]}}"
    (tmp_path / "tools").mkdir()
    _, with_tools = import_config(tmp_path / "tools", config.replace("[openai:gpt-4o-mini]", f"[{tools}]"))
    assert any("providers[0].config.tools[0]: not a function tool" in line   # its own $ref is kept
               for line in with_tools.unconverted)
    suite = load_project(WorkTree(out)).suites["promptfoo"]
    assert [(a.type, dict(a.spec)) for a in suite.asserts] == [("not_contains", {"value": "shut up"})]
    (tmp_path / "pf" / "promptfooconfig.yaml").write_text(config.replace("'#/assertionTemplates/noise'",
                                                                         "'#/assertionTemplates/nowhere'"))
    with pytest.raises(InputError) as error:
        import_promptfoo(tmp_path / "pf" / "promptfooconfig.yaml", tmp_path / "out2")
    assert "tests[0].assert[0]: $ref '#/assertionTemplates/nowhere' points to nothing in the config" in str(error.value)


def test_summary_groups_repeated_lines_fits_one_screen_and_prints_user_text_literally(tmp_path: Path) -> None:
    tests = [{"vars": {"q": f"q{n}"}, "judge": n, "notes": n} for n in range(300)]
    tests[0].update({f"extra{k}": k for k in range(40)})
    config = {"prompts": ["{{q}}"], "providers": ["myproto:llama:x", "[bold]custom[/bold]:thing", "openai:gpt-4o-mini"],
              "tests": tests}
    (tmp_path / "promptfooconfig.yaml").write_text(json.dumps(config))
    run = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "out", cwd=tmp_path, env={"COLUMNS": "300"})
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) <= 60, "\n".join(lines)
    assert ("promptfooconfig.yaml: tests[0].judge, tests[1].judge, tests[2].judge and 297 more: no llmops "
            "equivalent; dropped") in lines
    assert "provider 'myproto:llama:x' has no litellm equivalent" in run.stdout and "\N{LLAMA}" not in run.stdout
    assert "provider '[bold]custom[/bold]:thing'" in run.stdout
    assert any(line.startswith("... and ") and line.endswith("more (--all lists every line)") for line in lines)
    every = llmops("import", "promptfoo", "promptfooconfig.yaml", "--out", "out", "--force", "--all", cwd=tmp_path)
    assert every.code == 0 and "tests[0].extra39: no llmops equivalent; dropped" in every.stdout
    assert "tests[299].notes" in every.stdout


def test_csv_config_thresholds_and_escaped_commas_in_metadata(tmp_path: Path) -> None:
    rows = ("q,__expected1,__expected2,__config:__expected2:threshold,__metadata:tags[],__metadata:team\n"
            'hi,contains:a,similar:hello world,0.9,"a\\,b, c\\,d,e",\n')
    out, result = import_config(tmp_path, "prompts: ['{{q}}']\nproviders: [openai:gpt-4o-mini]\n"
                                          "tests: file://rows.csv\n", {"rows.csv": rows})
    assert result.check_problems == [] and result.unconverted == []
    case = cases_of(out, "promptfoo")["case-001"]
    assert case["assert"][1] == {"type": "similarity", "value": "hello world", "threshold": 0.9}
    assert case["metadata"] == {"tags": ["a,b", "c,d", "e"], "threshold": 0.9}
    (tmp_path / "pf" / "rows.csv").write_text("q,__expected,__config:__expected:weight\nhi,contains:a,2\n")
    with pytest.raises(InputError) as error:
        import_promptfoo(tmp_path / "pf" / "promptfooconfig.yaml", tmp_path / "out2")
    assert "rows.csv: line 2, column __config:__expected:weight: only 'threshold' can be set" in str(error.value)


MORE_PROVIDERS = [
    ("sagemaker:huggingface:my-endpoint", "sagemaker/my-endpoint"),
    ("sagemaker:my-endpoint", "sagemaker/my-endpoint"),
    ("hyperbolic:deepseek-ai/DeepSeek-V3", "hyperbolic/deepseek-ai/DeepSeek-V3"),
    ("watsonx:ibm/granite-3-3-8b-instruct", "watsonx/ibm/granite-3-3-8b-instruct"),
    ("databricks:databricks-meta-llama-3-3-70b-instruct", "databricks/databricks-meta-llama-3-3-70b-instruct"),
    ("aimlapi:chat:deepseek-r1", "aiml/deepseek-r1"),
    ("nscale:openai/gpt-oss-120b", "nscale/openai/gpt-oss-120b"),
    ("docker:ai/llama3.2:3B-Q4_K_M", "docker_model_runner/ai/llama3.2:3B-Q4_K_M"),
    ("cometapi:chat:gpt-5-mini", "cometapi/gpt-5-mini"),
    ("adaline:anthropic:chat:claude-3-5-sonnet-20240620", "anthropic/claude-3-5-sonnet-20240620"),
    ("cloudflare-ai:chat:@cf/meta/llama-3.1-8b-instruct", "cloudflare/@cf/meta/llama-3.1-8b-instruct"),
]


def test_more_provider_families_and_config_keys_map_to_litellm(tmp_path: Path) -> None:
    providers = [pid for pid, _ in MORE_PROVIDERS] + [
        {"id": "bedrock:us.anthropic.claude-sonnet-4-20250514-v1:0", "label": "sonnet",
         "config": {"region": "us-west-2", "temperature": 0, "thinking": {"type": "enabled", "budget_tokens": 1024}}},
        {"id": "openai:responses:o4-mini", "label": "o4",
         "config": {"reasoning_effort": "low", "instructions": "Be terse", "tools": [{"type": "web_search"}],
                    "tool_choice": "auto"}},
        {"id": "vertex:gemini-2.5-pro", "label": "gem", "config": {"region": "europe-west4"}},
        {"id": "azure:chat:my-deployment", "label": "az", "config": {"apiHost": "x.openai.azure.com",
                                                                    "apiVersion": "2024-10-21"}},
    ]
    out, result = import_config(tmp_path, {"prompts": ["Hi {{name}}"], "providers": providers,
                                           "tests": [{"vars": {"name": "Ada"}}]})
    assert result.check_problems == []
    models = load_project(WorkTree(out)).config.models
    assert [m.model for m in models.values()][:len(MORE_PROVIDERS)] == [model for _, model in MORE_PROVIDERS]
    assert dict(models["sonnet"].extra) == {"aws_region_name": "us-west-2", "temperature": 0,
                                            "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert dict(models["o4"].extra) == {"reasoning_effort": "low"}
    assert dict(models["gem"].extra) == {"vertex_location": "europe-west4"}
    assert dict(models["az"].extra) == {"api_version": "2024-10-21"}
    unconverted = "\n".join(result.unconverted)
    assert "providers[12].config.tools[0]: not a function tool" in unconverted   # web_search is a hosted tool
    assert not (out / "tools").exists()
    assert "providers[12].config.instructions: add it to the prompt as a system message" in unconverted
    assert "region" not in unconverted and "reasoning_effort" not in unconverted


def test_unicode_line_separators_in_vars_keep_one_case_a_line(tmp_path: Path) -> None:
    text = "one\u2028two\u2029three\x85four"
    out, result = import_config(tmp_path, "prompts: ['{{review}}']\nproviders: [openai:gpt-4o-mini]\n"
                                          "tests: file://rows.csv\n", {"rows.csv": f'review\n"{text}"\n'})
    assert result.check_problems == []
    assert cases_of(out, "promptfoo")["case-001"]["vars"] == {"review": text}


def test_provider_tools_and_tool_assertions_convert_and_run(tmp_path: Path, server: StandinServer) -> None:
    """OpenAI-format tools on the first provider -> tools/<name>.yaml offered by every prompt;
    is-valid-openai-tools-call -> tool_args_schema, tool-call-f1 -> tool_call per expected tool."""
    tool = {"type": "function", "function": {"name": "get_capital", "description": "The capital of a country",
                                             "parameters": {"type": "object", "required": ["country"],
                                                            "properties": {"country": {"type": "string"}}}}}
    anthropic_style = {"name": "send_email", "description": "Send an email",
                       "input_schema": {"type": "object", "properties": {"to": {"type": "string"}}}}
    broken = {"type": "function", "function": {"name": "bad", "parameters": {"type": "object",
                                                                              "properties": {"x": {"type": "strng"}}}}}
    out, result = import_config(tmp_path, {
        "prompts": ["{{q}}"],
        "providers": [{"id": "openai:gpt-4o-mini", "config": {
            "apiBaseUrl": server.base_url, "apiKeyEnvar": "STANDIN_KEY", "tools": [tool, anthropic_style, broken],
            "tool_choice": {"type": "function", "function": {"name": "get_capital"}}}}],
        "tests": [{"description": "capital", "vars": {"q": "What is the capital of France?"},
                   "assert": [{"type": "is-valid-openai-tools-call"}, {"type": "tool-call-f1", "value": ["get_capital"]}]},
                  {"description": "partial", "vars": {"q": "hi"},
                   "assert": [{"type": "tool-call-f1", "value": "get_capital", "threshold": 0.5}]}]})
    assert result.check_problems == []
    unconverted = "\n".join(result.unconverted)
    assert "providers[0].config.tools[2]: tool 'bad': parameters is not a valid JSON Schema" in unconverted
    assert "tool-call-f1" in unconverted and "partial F1 score" in unconverted
    project = load_project(WorkTree(out))
    assert sorted(project.tools) == ["get_capital", "send_email"]
    assert dict(project.tools["send_email"].parameters) == anthropic_style["input_schema"]
    prompt = project.prompts["prompt-1"] if "prompt-1" in project.prompts else next(iter(project.prompts.values()))
    assert prompt.tools == ("get_capital", "send_email") and prompt.tool_choice == "get_capital"
    assert cases_of(out, "promptfoo")["capital"]["assert"] == [{"type": "tool_args_schema"},
                                                              {"type": "tool_call", "name": "get_capital"}]
    run = llmops("eval", "--no-baseline", cwd=out, env=ENV)
    assert run.code in (0, 1), run.stdout + run.stderr
    capital = next(c for g in results_json(out)["groups"] for c in g["cases"] if c["case_id"] == "capital")
    assert capital["passed"], capital["runs"][0]["assertions"]
