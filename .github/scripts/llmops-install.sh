#!/usr/bin/env bash
# Install llmops for the llmops GitHub Action.
#   LLMOPS_SPEC         empty: the action's own checkout (LLMOPS_ACTION_PATH); a bare version
#                       such as 0.2.0: llmops-cli==0.2.0; anything else is passed to pip as is
#                       (llmops-cli>=0.2, git+https://..., ./vendor/llmops)
#   LLMOPS_ACTION_PATH  the action's folder (github.action_path)
#   LLMOPS_PYTHON       interpreter to install into (default: python, else python3)
set -euo pipefail

PY=${LLMOPS_PYTHON:-$(command -v python || command -v python3)}
spec=${LLMOPS_SPEC:-}
if [ -z "$spec" ]; then
  spec=${LLMOPS_ACTION_PATH:?LLMOPS_ACTION_PATH or LLMOPS_SPEC is required}
elif [[ $spec =~ ^v?[0-9][0-9A-Za-z.+!-]*$ ]]; then
  spec="llmops-cli==${spec#v}"
fi
echo "llmops-action: pip install $spec"
"$PY" -m pip install --disable-pip-version-check --quiet "$spec"
