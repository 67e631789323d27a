from llmops_cli._standin.server import main

raise SystemExit(main())
