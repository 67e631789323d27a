from llmops_cli.cli import main

main()
