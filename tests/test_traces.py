"""Trace readers on samples written from the specifications: OTLP JSON with the GenAI conventions
(current and older), OpenInference attributes, our JSONL shapes, and the skip rules."""

from __future__ import annotations

import json
from pathlib import Path

from otlp_samples import av, export, genai_chat, openinference_llm, span

from llmops_cli.traces import Ignored, Skip, Trace, read_traces


def read(path: Path, vars_attribute: str | None = None, sample: float = 1.0, seed: int = 0) -> list[object]:
    return list(read_traces(path, sample, seed, vars_attribute))


def write(path: Path, document: object, pretty: bool = True) -> Path:
    path.write_text(json.dumps(document, indent=2 if pretty else None))
    return path


def test_otlp_genai_current_conventions(tmp_path: Path) -> None:
    http = span("http1", {"http.request.method": "POST", "url.full": "https://api.openai.com/v1/chat/completions"},
                name="POST")
    embeddings = span("emb1", {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small"})
    spans = [genai_chat("a1", "You are a support desk.", "Where is my parcel?", "It ships today."),
             genai_chat("a2", None, "Hi", '{"category": "other"}', structured=False), http, embeddings]
    items = read(write(tmp_path / "export.json", export(spans)))
    first, second, *rest = items
    assert isinstance(first, Trace) and first.source == "genai" and first.id == "a1"
    assert first.messages == [{"role": "system", "content": "You are a support desk."},
                              {"role": "user", "content": "Where is my parcel?"}]
    assert first.output == "It ships today." and first.model == "gpt-4o-mini" and first.vars is None
    assert first.position == "export.json: resourceSpans[0].scopeSpans[0].spans[0]"
    assert isinstance(second, Trace) and second.messages == [{"role": "user", "content": "Hi"}]  # JSON-string form
    assert second.output == '{"category": "other"}'
    assert [type(i) for i in rest] == [Ignored, Ignored]  # an HTTP span and an embeddings call are not chat calls


def test_otlp_typed_values_and_vars_attribute(tmp_path: Path) -> None:
    variables = {"product": "Acme", "ticket": "refund please", "priority": 2, "vip": True, "score": 0.5,
                 "tags": ["a", "b"]}
    spans = [genai_chat("v1", None, "x", "y", extra={"app.prompt.vars": variables}),
             genai_chat("v2", None, "x", "y", extra={"app.prompt.vars": json.dumps(variables)})]
    items = read(write(tmp_path / "e.json", export(spans)), vars_attribute="app.prompt.vars")
    assert all(isinstance(i, Trace) and i.vars == variables for i in items)
    assert av(7) == {"intValue": "7"}  # the JSON encoding carries 64-bit integers as strings


def test_otlp_genai_older_attributes_and_events(tmp_path: Path) -> None:
    legacy_json = span("l1", {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4",
                              "gen_ai.prompt": json.dumps([{"role": "user", "content": "What is the capital of France?"}]),
                              "gen_ai.completion": json.dumps([{"role": "assistant", "content": "Paris."}])})
    flattened = span("l2", {"gen_ai.request.model": "gpt-4", "gen_ai.prompt.0.role": "system",
                            "gen_ai.prompt.0.content": "Be brief.", "gen_ai.prompt.1.role": "user",
                            "gen_ai.prompt.1.content": "Hi", "gen_ai.completion.0.role": "assistant",
                            "gen_ai.completion.0.content": "Hello."})
    content_events = span("l3", {"gen_ai.request.model": "gpt-4"}, events=[
        ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "2 + 3?"}])}),
        ("gen_ai.content.completion", {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "5"}])})])
    message_events = span("l4", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4"}, events=[
        ("gen_ai.system.message", {"content": "Be brief."}), ("gen_ai.user.message", {"content": "Hi"}),
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hey."}})])
    items = read(write(tmp_path / "old.json", export([legacy_json, flattened, content_events, message_events])))
    assert all(isinstance(i, Trace) and i.source == "genai" for i in items), items
    assert [(i.messages, i.output) for i in items if isinstance(i, Trace)] == [
        ([{"role": "user", "content": "What is the capital of France?"}], "Paris."),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "Hello."),
        ([{"role": "user", "content": "2 + 3?"}], "5"),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "Hey.")]


def test_openinference_spans_in_otlp_and_as_jsonl(tmp_path: Path) -> None:
    with_vars = openinference_llm("o1", {"product": "Acme", "ticket": "app crashes"},
                                  [("system", "You are Acme's desk."), ("user", "app crashes")], "bug")
    without = openinference_llm("o2", None, [("user", "2 + 3?")], "5")
    chain = span("c1", {"openinference.span.kind": "CHAIN", "input.value": "q", "output.value": "a"})
    items = read(write(tmp_path / "oi.json", export([with_vars, without, chain])))
    assert isinstance(items[0], Trace) and items[0].source == "openinference"
    assert items[0].vars == {"product": "Acme", "ticket": "app crashes"} and items[0].output == "bug"
    assert isinstance(items[1], Trace) and items[1].vars is None
    assert items[1].messages == [{"role": "user", "content": "2 + 3?"}] and items[1].model == "gpt-4o-mini"
    assert isinstance(items[2], Ignored)  # a chain span is not an LLM call
    # Phoenix-style span JSON, attributes nested instead of dotted, one a line
    nested = {"context": {"span_id": "p1"}, "span_kind": "LLM", "attributes": {
        "openinference": {"span": {"kind": "LLM"}},
        "llm": {"model_name": "gpt-4o-mini", "prompt_template": {"variables": {"ticket": "refund"}},
                "input_messages": [{"message": {"role": "user", "content": "refund"}}]},
        "output": {"value": "ok"}}}
    (tmp_path / "p.jsonl").write_text(json.dumps(nested) + "\n")
    [trace] = read(tmp_path / "p.jsonl")
    assert isinstance(trace, Trace) and trace.id == "p1" and trace.vars == {"ticket": "refund"} and trace.output == "ok"


def test_jsonl_shapes_and_jsonl_of_exports(tmp_path: Path) -> None:
    lines = [{"id": "f1", "vars": {"ticket": "x"}, "output": "y"},
             {"id": "l1", "messages": [{"role": "user", "content": "hi"}],
              "response": {"choices": [{"message": {"content": "hello"}}]}},
             export([genai_chat("g1", None, "hi", "hello")])]  # the Collector's file exporter: one export a line
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    items = read(tmp_path / "t.jsonl")
    assert [(i.id, i.source) for i in items if isinstance(i, Trace)] == [("f1", "jsonl"), ("l1", "jsonl"), ("g1", "genai")]
    assert items[2].position == "t.jsonl:3: resourceSpans[0].scopeSpans[0].spans[0]"


def test_unusable_traces_are_skipped_with_position_and_reason(tmp_path: Path) -> None:
    spans = [genai_chat("ok", None, "hi", "hello"),
             genai_chat("no-output", None, "hi", None),
             span("bad-json", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[{'role': 'user'",
                               "gen_ai.output.messages": "[]"}),
             span("bad-int", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "x"}),
             span("tool", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": [
                 {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}],
                 "gen_ai.output.messages": [{"role": "assistant", "finish_reason": "tool_call", "parts": [
                     {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"location": "Paris"}}]}]})]
    spans[3]["attributes"][1]["value"] = {"intValue": "not-a-number"}
    items = read(write(tmp_path / "e.json", export(spans)))
    assert isinstance(items[0], Trace)
    skips = {s.id: s for s in items if isinstance(s, Skip)}
    assert set(skips) == {"no-output", "bad-json", "bad-int", "tool"}
    assert "no output captured" in skips["no-output"].reason
    assert skips["no-output"].position == "e.json: resourceSpans[0].scopeSpans[0].spans[1]"
    assert "gen_ai.input.messages" in skips["bad-json"].reason and "not parsable JSON" in skips["bad-json"].reason
    assert "gen_ai.usage.input_tokens" in skips["bad-int"].reason
    assert "tool call (get_weather)" in skips["tool"].reason
    (tmp_path / "t.jsonl").write_text('{"id": "a", "output": "x"}\nnot json\n{"id": "c", "vars": {}, "output": "z"}\n'
                                      '{"id": "c", "vars": {}, "output": "z"}\n{"id": "e", "vars": {"t": 1}}\n')
    items = read(tmp_path / "t.jsonl")
    assert [(i.position, type(i).__name__) for i in items] == [
        ("t.jsonl:1", "Skip"), ("t.jsonl:2", "Skip"), ("t.jsonl:3", "Trace"), ("t.jsonl:4", "Skip"), ("t.jsonl:5", "Skip")]
    reasons = [i.reason for i in items if isinstance(i, Skip)]
    assert "unknown shape" in reasons[0] and "not JSON" in reasons[1] and "repeats the trace at t.jsonl:3" in reasons[2]
    assert "no output captured" in reasons[3]


def test_sampling_is_seeded_per_chat_span(tmp_path: Path) -> None:
    path = write(tmp_path / "e.json", export([genai_chat(f"s{i}", None, "hi", "yo") for i in range(200)]))
    first = [i.id for i in read(path, sample=0.1, seed=7) if isinstance(i, Trace)]
    again = [i.id for i in read(path, sample=0.1, seed=7) if isinstance(i, Trace)]
    other = [i.id for i in read(path, sample=0.1, seed=8) if isinstance(i, Trace)]
    assert first == again and first != other and 5 <= len(first) <= 40


def test_openllmetry_spans_with_llm_attributes_read_as_genai(tmp_path: Path) -> None:
    traceloop = span("t1", {"llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
                            "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "Hi",
                            "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "Hello"})
    [trace] = read(write(tmp_path / "e.json", export([traceloop])))
    assert isinstance(trace, Trace) and trace.source == "genai" and trace.output == "Hello"


def test_a_broken_first_line_of_jsonl_is_a_skip_and_a_list_document_is_read(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"id": "a", "vars": {}, \n{"id": "b", "vars": {}, "output": "z"}\n')
    items = read(tmp_path / "t.jsonl")
    assert [(type(i).__name__, i.position) for i in items] == [("Skip", "t.jsonl:1"), ("Trace", "t.jsonl:2")]
    write(tmp_path / "list.json", [{"id": "a", "vars": {}, "output": "x"}, {"id": "b"}])
    items = read(tmp_path / "list.json")
    assert [(type(i).__name__, i.position) for i in items] == [("Trace", "list.json[0]"), ("Skip", "list.json[1]")]


def test_messages_that_cannot_be_replayed_do_not_matter_when_variables_are_rendered(tmp_path: Path) -> None:
    tool_turns = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                  {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": {}}]},
                  {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rainy"}]}]
    spans = [span("w1", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": tool_turns, "app.vars": {"city": "Paris"},
                         "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}]}]}),
             span("w2", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": tool_turns,
                         "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}]}]})]
    rendered, replayed = read(write(tmp_path / "e.json", export(spans)), vars_attribute="app.vars")
    assert isinstance(rendered, Trace) and rendered.vars == {"city": "Paris"} and rendered.messages is None
    assert isinstance(replayed, Skip) and "tool_call part (get_weather)" in replayed.reason
