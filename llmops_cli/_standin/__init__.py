"""The stand-in model server: a deterministic OpenAI-compatible endpoint for tests, CI and `llmops demo`.

Private to llmops: no engine module imports it; only the `standin` and `demo` commands, the tests
and the benchmarks do. `answers` holds the rules (pure functions), `server` the HTTP side."""

from llmops_cli._standin.answers import REFUSAL, REPLIES, answer, classify, embed, is_grading_request, judge_answer
from llmops_cli._standin.server import StandinServer, main

__all__ = ["REFUSAL", "REPLIES", "StandinServer", "answer", "classify", "embed", "is_grading_request", "judge_answer",
           "main"]
