#!/usr/bin/env bash
# Last step of the llmops GitHub Action: fail the job with llmops' exit code, after the
# report has been uploaded and commented. Reads LLMOPS_EXIT_CODE and LLMOPS_GATE.
#   0 gate passed · 1 gate failed · 2 invalid input · 3 could not complete
set -uo pipefail

code=${LLMOPS_EXIT_CODE:-}
gate=${LLMOPS_GATE:-unknown}
case $code in
  0) echo "llmops: gate passed"; exit 0 ;;
  1) echo "::error title=llmops::gate failed: a metric regressed or broke a threshold (see the report)" ;;
  2) echo "::error title=llmops::invalid input: llmops could not run (see the problems above)" ;;
  3) echo "::error title=llmops::run incomplete ($gate): provider errors, budget or cache misses (see the report)" ;;
  '') echo "::error title=llmops::the eval step reported no exit code"; exit 3 ;;
  *) echo "::error title=llmops::llmops exited with $code" ;;
esac
exit "$code"
