"""`llmops import promptfoo`: convert a promptfoo config into llmops files.

The conversion lives in `llmops_cli.importers.promptfoo`, whose docstring holds the full mapping.
"""

from llmops_cli.importers.promptfoo import ImportResult, import_promptfoo

__all__ = ["ImportResult", "import_promptfoo"]
