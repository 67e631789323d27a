#!/usr/bin/env bash
# Cache key for .llmops/llmops.db (the response cache): a hash of everything that decides
# which requests an eval sends (llmops.yaml, llmops.lock, prompts/, evals/). Run in the
# project folder; writes step outputs key and restore-prefix (the restore-keys fallback).
set -euo pipefail

PY=${LLMOPS_PYTHON:-$(command -v python || command -v python3)}
place=$(git rev-parse --show-prefix 2>/dev/null || pwd)  # keeps projects of one repository apart
key=$(LLMOPS_PLACE=$place "$PY" - <<'PY'
import hashlib, os
from pathlib import Path

files = [Path(p) for p in ("llmops.yaml", "llmops.lock") if Path(p).is_file()]
for folder in ("prompts", "evals"):
    files += [p for p in Path(folder).rglob("*") if p.is_file()]
content = hashlib.sha256()
for path in sorted(files, key=lambda p: p.as_posix()):
    content.update(f"{path.as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
place = hashlib.sha256(os.environ["LLMOPS_PLACE"].encode()).hexdigest()[:8]
print(f"{place} {content.hexdigest()[:16] if files else 'none'}")
PY
)
prefix="llmops-v1-${RUNNER_OS:-local}-${key% *}-"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  { echo "key=$prefix${key#* }"; echo "restore-prefix=$prefix"; } >>"$GITHUB_OUTPUT"
fi
echo "llmops-action: cache key $prefix${key#* }"
