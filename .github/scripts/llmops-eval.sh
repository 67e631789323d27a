#!/usr/bin/env bash
# Run `llmops eval` against the pull request's base branch and record the outcome for the
# following steps of the llmops GitHub Action (action.yml). Also runs outside Actions.
#
# Reads (all optional):
#   LLMOPS_SUITES            suites to run, separated by spaces or commas (default: all)
#   LLMOPS_BASELINE          git ref to compare with; "none" skips the comparison; empty: the
#                            PR's base branch (origin/$GITHUB_BASE_REF), else gate.baseline
#   LLMOPS_BASELINE_RESULTS  a results.json saved on the base branch, used instead of a ref
#   LLMOPS_ARGS              extra `llmops eval` arguments, shell-quoted
#   LLMOPS_FORMAT            report formats (md and json are always added)
#   LLMOPS_REPORT_DIR        report folder (default: $RUNNER_TEMP/llmops-report)
#   LLMOPS_PYTHON            interpreter that has llmops installed (default: python, else python3)
#   LLMOPS_ALLOW_NEW_ENDPOINTS  "true": on a pull request, models whose api_base or
#                            api_key_env the base branch does not use get their keys (read
#                            by llmops itself; off by default)
#   LLMOPS_DEFER_EXIT        "true": exit 0 and leave failing to llmops-gate.sh (the action
#                            does this so the report is uploaded and commented first)
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_BASE_REF, RUNNER_TEMP  as set by GitHub
# Writes step outputs: exit-code, gate (passed|failed|incomplete, or error when llmops
# stopped before writing results: invalid input), report-dir, baseline.
set -uo pipefail

PY=${LLMOPS_PYTHON:-$(command -v python || command -v python3)}
REPORT_DIR=${LLMOPS_REPORT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/llmops-report}

log() { printf 'llmops-action: %s\n' "$*" >&2; }

# Workflow-command escaping (data and properties), so text from llmops cannot inject commands.
escape_data() { local s=${1//'%'/%25}; s=${s//$'\r'/%0D}; printf '%s' "${s//$'\n'/%0A}"; }
escape_prop() { local s; s=$(escape_data "$1"); s=${s//:/%3A}; printf '%s' "${s//,/%2C}"; }

set_output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
  log "output $1=$2"
}

# Make sure REF resolves to a commit here; shallow CI clones lack the base branch.
# Prints the ref to pass to llmops (the fetched commit when only FETCH_HEAD names it).
ensure_ref() {
  local ref=$1
  if git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
    printf '%s' "$ref"
    return
  fi
  if ! git remote get-url origin >/dev/null 2>&1; then
    log "baseline $ref is not in this clone and there is no origin remote to fetch it from"
    printf '%s' "$ref"
    return
  fi
  log "baseline $ref is not in this clone; fetching it (shallow clone?)"
  case $ref in
    origin/*)
      local branch=${ref#origin/}
      git fetch --no-tags --depth=50 origin "+refs/heads/$branch:refs/remotes/origin/$branch" >&2 \
        || log "could not fetch $branch from origin"
      printf '%s' "$ref"
      ;;
    *)
      if git fetch --no-tags --depth=50 origin "$ref" >&2 \
          && ! git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
        git rev-parse FETCH_HEAD  # a tag or branch name of origin: compare with what it names
      else
        printf '%s' "$ref"
      fi
      ;;
  esac
}

# llmops compares with the merge base of the baseline and HEAD; a shallow PR checkout lacks it.
# Deepen both histories a few times, then fetch everything, until git can name it.
ensure_merge_base() {
  local ref=$1 tries=0
  case $ref in *...*) return 0 ;; esac
  [ -f "$(git rev-parse --git-common-dir)/shallow" ] || return 0
  git remote get-url origin >/dev/null 2>&1 || return 0
  while ! git merge-base "$ref" HEAD >/dev/null 2>&1; do
    if [ "$tries" -ge 4 ]; then
      log "no merge base of $ref and HEAD after deepening; fetching the full history"
      git fetch --no-tags --unshallow origin >&2 || log "could not fetch the full history"
      return 0
    fi
    tries=$((tries + 1))
    log "no merge base of $ref and HEAD in this shallow clone yet; deepening it by 50 commits"
    git fetch --no-tags --deepen=50 origin >&2 || { log "could not deepen the clone"; return 0; }
  done
}

configured_baseline() {
  # gate.baseline from llmops.yaml (pyyaml comes with llmops); empty when unreadable.
  "$PY" - <<'PY' 2>/dev/null || true
import yaml
with open("llmops.yaml", encoding="utf-8") as handle:
    config = yaml.safe_load(handle) or {}
gate = config.get("gate") or {}
print(gate.get("baseline") or "origin/main" if isinstance(gate, dict) else "", end="")
PY
}

args=(eval)

# Suites: "a b", "a,b" or empty for all.
suites_text=${LLMOPS_SUITES:-}
read -r -a suites <<<"${suites_text//,/ }"
args+=("${suites[@]}")

baseline=""
if [ -n "${LLMOPS_BASELINE_RESULTS:-}" ]; then
  args+=(--baseline-results "$LLMOPS_BASELINE_RESULTS")
  baseline="results:$LLMOPS_BASELINE_RESULTS"
elif [ "${LLMOPS_BASELINE:-}" = none ]; then
  args+=(--no-baseline)
  baseline=none
else
  baseline=${LLMOPS_BASELINE:-}
  if [ -z "$baseline" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
    baseline="origin/$GITHUB_BASE_REF"
  fi
  if [ -z "$baseline" ]; then
    baseline=$(configured_baseline)
  fi
  if [ -n "$baseline" ]; then
    if git rev-parse --git-dir >/dev/null 2>&1; then
      baseline=$(ensure_ref "$baseline")
      ensure_merge_base "$baseline"
    fi
    args+=(--baseline "$baseline")
  fi
fi

# Formats: the comment needs report.md and the outputs need results.json.
format=${LLMOPS_FORMAT:-md,json,junit,html}
for needed in md json; do
  case ",${format// /}," in *",$needed,"*) ;; *) format="$format,$needed" ;; esac
done
args+=(--format "$format" --out "$REPORT_DIR")

finish() {  # finish EXIT_CODE GATE: write the outputs, then exit (0 when the exit is deferred)
  set_output exit-code "$1"
  set_output gate "$2"
  set_output report-dir "$REPORT_DIR"
  set_output baseline "$baseline"
  if [ "${LLMOPS_DEFER_EXIT:-}" = true ]; then
    exit 0
  fi
  exit "$1"
}

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# Extra arguments, split like a shell would (quotes respected), without evaluating them.
if [ -n "${LLMOPS_ARGS:-}" ]; then
  if ! "$PY" -c 'import os, shlex, sys
for arg in shlex.split(os.environ["LLMOPS_ARGS"]):
    sys.stdout.write(arg + "\0")' >"$errors" 2>/dev/null; then
    echo "::error title=llmops::args: cannot split $(escape_data "$LLMOPS_ARGS") (unbalanced quotes?)"
    finish 2 error
  fi
  mapfile -d '' extra <"$errors"
  args+=("${extra[@]}")
fi

rm -rf "$REPORT_DIR"

log "running: llmops ${args[*]}"
# Nothing llmops prints (case ids, reasons) is read as a workflow command.
stop_token="llmops-$RANDOM$RANDOM$RANDOM"
[ -n "${GITHUB_ACTIONS:-}" ] && echo "::stop-commands::$stop_token"
{ "$PY" -m llmops_cli "${args[@]}" 2>&1 1>&3 3>&- | tee "$errors" >&2; } 3>&1
code=${PIPESTATUS[0]}
[ -n "${GITHUB_ACTIONS:-}" ] && echo "::$stop_token::"

gate=error
if [ -f "$REPORT_DIR/results.json" ]; then
  gate=$("$PY" -c 'import json, sys
print(json.load(open(sys.argv[1], encoding="utf-8"))["gate"]["status"])' "$REPORT_DIR/results.json" 2>/dev/null) || gate=error
fi

# llmops writes its own summary to $GITHUB_STEP_SUMMARY; only say something when it could not.
if [ ! -f "$REPORT_DIR/report.md" ]; then
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    {
      echo "## llmops eval: ⚠️ could not run (exit $code)"
      echo
      echo '```'
      grep -E '^(error|interrupted)' "$errors" | head -n 50
      echo '```'
    } >>"$GITHUB_STEP_SUMMARY"
  fi
  # One annotation per problem, on the file and line when llmops names them.
  prefix=$(git rev-parse --show-prefix 2>/dev/null || true)
  while IFS= read -r line; do
    problem=${line#error: }
    if [[ $problem =~ ^([^:[:space:]]+):([0-9]+):\ (.*)$ ]]; then
      echo "::error file=$(escape_prop "$prefix${BASH_REMATCH[1]}"),line=${BASH_REMATCH[2]},title=llmops::$(escape_data "${BASH_REMATCH[3]}")"
    else
      echo "::error title=llmops::$(escape_data "$problem")"
    fi
  done < <(grep -E '^error: ' "$errors" | head -n 20)
fi

finish "$code" "$gate"
