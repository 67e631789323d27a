"""Importers: other tools' eval configs converted into llmops files (`llmops import ...`)."""

from llmops_cli.importers.promptfoo import ImportResult, import_promptfoo

__all__ = ["ImportResult", "import_promptfoo"]
