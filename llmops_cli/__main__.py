from llmops_cli.cli import entry

entry()
