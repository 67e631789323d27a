"""Production traces for `llmops rerun`: readers for our JSONL shapes, OTLP JSON exports and the
OpenTelemetry GenAI and OpenInference span conventions. See files.py for how a file is read."""

from llmops_cli.traces.files import read_traces
from llmops_cli.traces.model import Skip, Trace
from llmops_cli.traces.otlp import Ignored
from llmops_cli.traces.spans import CONVENTIONS

__all__ = ["CONVENTIONS", "Ignored", "Skip", "Trace", "read_traces"]
