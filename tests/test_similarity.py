"""The `similarity` assertion: cosine similarity through real `litellm.aembedding` calls to the stand-in's
/v1/embeddings (a deterministic hashed bag of words), cached like any call.

Expected similarities are computed here from the stand-in's own embedding function, so each test first
proves its texts fall on the intended side of the threshold, then that the engine agrees.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_KEY
from test_judge import cases_of, run

from llmops_cli import providers
from llmops_cli._standin import StandinServer, embed
from llmops_cli.errors import InputError
from llmops_cli.scoring import similarity
from llmops_cli.scoring.base import GraderError

EXPECTED = "Your refund is on its way."
CLOSE = "Your refund is on its way today."
FAR = "Please restart the app and try again."
PROMPT = """model: default
messages:
  - {role: user, content: "{{ ticket }}"}
"""


def config(base_url: str, embed_base: str | None = None, embedding_model: str | None = "embed") -> str:
    chat = f"api_base: '{base_url}', api_key_env: STANDIN_KEY"
    emb = f"api_base: '{embed_base or base_url}', api_key_env: STANDIN_KEY"
    return (f"version: 1\nmodels:\n  default: {{model: openai/gpt-4o-mini, {chat}}}\n"
            f"  embed: {{model: openai/text-embedding-3-small, {emb}}}\n"
            + (f"embedding_model: {embedding_model}\n" if embedding_model else "")
            + "limits: {concurrency: 4, timeout_s: 5, retries: 1}\ngate: {baseline: main}\n")


def write(root: Path, config_text: str, assertion: dict[str, Any]) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "evals" / "qa").mkdir(parents=True)
    (root / "llmops.yaml").write_text(config_text)
    (root / "prompts" / "qa.yaml").write_text(PROMPT)
    (root / "evals" / "qa" / "suite.yaml").write_text(f"prompt: qa\nmodels: [default]\nassert: [{json.dumps(assertion)}]\n")
    cases = [{"id": "close", "vars": {"ticket": f"[standin: reply={CLOSE}]"}},
             {"id": "far", "vars": {"ticket": f"[standin: reply={FAR}]"}}]
    (root / "evals" / "qa" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return root


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_KEY", FAKE_KEY)
    monkeypatch.setattr(providers, "BACKOFF_BASE_S", 0.01)


def expected_cosine(text: str) -> float:
    return similarity.cosine(embed(text), embed(EXPECTED))


def test_above_and_below_the_threshold_and_cached_on_rerun(tmp_path: Path, server: StandinServer) -> None:
    close, far = expected_cosine(CLOSE), expected_cosine(FAR)
    assert close >= 0.8 > far, (close, far)
    root = write(tmp_path / "proj", config(server.base_url), {"type": "similarity", "value": EXPECTED, "threshold": 0.8})
    result = run(root)
    stats = server.stats()
    assert (stats["chat"], stats["embeddings"]) == (2, 2), "one embedding call (answer + expected) per case"
    cases = cases_of(result)
    (good,), (bad,) = cases["close"]["runs"], cases["far"]["runs"]
    assert good["passed"] and good["graders"][0]["score"] == pytest.approx(close, abs=1e-5)
    assert good["assertions"][0]["message"] == f"cosine similarity {close:.3f} >= 0.8"
    assert not bad["passed"] and bad["error"] is None
    assert bad["assertions"][0]["message"] == f"cosine similarity {far:.3f} < 0.8"
    m = result.document.to_json()["groups"][0]["metrics"]
    assert (m["similarity_calls"], m["similarity_errors"], m["judge_calls"]) == (2, 0, 0)
    assert m["similarity_cost_usd"] is not None and m["similarity_cost_usd"] > 0, "priced from litellm's table"
    assert m["cost_usd"] == pytest.approx(sum(c["runs"][0]["cost_usd"] for c in cases.values()))

    server.reset()
    again = run(root)
    assert server.stats()["requests"] == 0, "embeddings are cached like any call"
    assert again.document.to_json()["groups"][0]["metrics"]["similarity_cached"] == 2
    assert {k: c["passed"] for k, c in cases_of(again).items()} == {"close": True, "far": False}


def test_a_per_assertion_model_needs_no_default(tmp_path: Path, server: StandinServer) -> None:
    text = config(server.base_url, embedding_model=None)
    root = write(tmp_path / "proj", text, {"type": "similarity", "value": EXPECTED, "model": "embed"})
    assert {k: c["passed"] for k, c in cases_of(run(root)).items()} == {"close": True, "far": False}

    root = write(tmp_path / "bare", text, {"type": "similarity", "value": EXPECTED})
    with pytest.raises(InputError) as raised:
        run(root)
    assert "similarity assertion needs a model: set embedding_model in llmops.yaml" in str(raised.value.problems[0])


def test_an_embedding_outage_is_an_error_not_a_pass(tmp_path: Path, server: StandinServer) -> None:
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    root = write(tmp_path / "proj", config(server.base_url, embed_base=dead),
                 {"type": "similarity", "value": EXPECTED, "threshold": -1})  # any score would pass
    result = run(root)
    for case in cases_of(result).values():
        (r,) = case["runs"]
        assert not r["passed"] and r["error_class"] == "similarity_connection" and r["graders"][0]["attempts"] == 2
    m = result.document.to_json()["groups"][0]["metrics"]
    assert (m["similarity_errors"], m["error_rate"]) == (2, 1.0)
    assert result.exit_code == 3


@pytest.mark.parametrize(("spec", "problem"), [
    ({}, "missing required key 'value'"),
    ({"value": ""}, "non-empty string"),
    ({"value": "x", "threshold": 1.5}, "from -1 to 1"),
    ({"value": "x", "treshold": 0.5}, "unknown key 'treshold'"),
])
def test_similarity_spec_validation(spec: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in similarity.SIMILARITY.validate(spec)), similarity.SIMILARITY.validate(spec)


def test_cosine() -> None:
    assert similarity.cosine([1.0, 0.0], [1.0, 0.0]) == 1.0
    assert similarity.cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert similarity.cosine([1.0, 0.0], [-1.0, 0.0]) == -1.0
    assert similarity.cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(GraderError):
        similarity.parse("[[1.0, 2.0], [1.0]]")
