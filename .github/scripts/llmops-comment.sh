#!/usr/bin/env bash
# Post the llmops Markdown report on the pull request, or update the comment posted by an
# earlier run (found by the hidden marker), so a PR carries one current report.
#
# Reads: LLMOPS_GITHUB_TOKEN (required), LLMOPS_REPORT_DIR, LLMOPS_EXIT_CODE, LLMOPS_GATE,
#   GITHUB_REPOSITORY, GITHUB_EVENT_NAME, GITHUB_EVENT_PATH (the PR number comes from the
#   event; LLMOPS_PR_NUMBER overrides it), GITHUB_API_URL (default https://api.github.com),
#   GITHUB_SERVER_URL + GITHUB_RUN_ID (a link to the run), LLMOPS_ARTIFACT_URL (a link to the
#   uploaded report), LLMOPS_PYTHON (default python, else python3).
# The body (trimmed to GitHub's limit on structure) is built by llmops_comment.py beside this file.
# Writes the step output comment-url. A comment that cannot be posted (a fork's read-only
# token, say) is a warning, never a failed job: the gate is decided elsewhere.
set -uo pipefail

MARKER='<!-- llmops-report -->'
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${LLMOPS_PYTHON:-$(command -v python || command -v python3)}
API=${GITHUB_API_URL:-https://api.github.com}
API=${API%/}

warn() { echo "::warning title=llmops comment::$*"; exit 0; }

[ -n "${LLMOPS_GITHUB_TOKEN:-}" ] || warn "no github-token given; not commenting"
repo=${GITHUB_REPOSITORY:-}
[ -n "$repo" ] || warn "GITHUB_REPOSITORY is not set; not commenting"

pr=${LLMOPS_PR_NUMBER:-}
if [ -z "$pr" ]; then
  case ${GITHUB_EVENT_NAME:-} in
    pull_request | pull_request_target) ;;
    *) echo "llmops-action: not a pull request event (${GITHUB_EVENT_NAME:-none}); not commenting"; exit 0 ;;
  esac
  pr=$("$PY" -c 'import json, sys
print(json.load(open(sys.argv[1], encoding="utf-8"))["pull_request"]["number"])' "${GITHUB_EVENT_PATH:-}" 2>/dev/null) \
    || warn "could not read the pull request number from GITHUB_EVENT_PATH"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The token goes to curl through a header file, never on a command line.
(umask 077; printf 'Authorization: Bearer %s\n' "$LLMOPS_GITHUB_TOKEN" >"$work/auth")

api() {  # api METHOD PATH [BODY_FILE] -> response body in $work/response, prints the status code
  local method=$1 path=$2 extra=(--retry 2)  # only reads are retried: a retried POST could post twice
  [ $# -ge 3 ] && extra=(--data-binary "@$3" -H "Content-Type: application/json")
  : >"$work/response"
  curl -sS -X "$method" -o "$work/response" -w '%{http_code}' --max-time 60 \
    -H "@$work/auth" -H "Accept: application/vnd.github+json" -H "X-GitHub-Api-Version: 2022-11-28" \
    "${extra[@]}" "$API$path" || true
}

# The comment: marker, report (trimmed to GitHub's limit), links to the run and the full report.
run_url=""
if [ -n "${GITHUB_RUN_ID:-}" ]; then
  run_url="${GITHUB_SERVER_URL:-https://github.com}/$repo/actions/runs/$GITHUB_RUN_ID"
fi
LLMOPS_MARKER=$MARKER LLMOPS_RUN_URL=$run_url "$PY" "$HERE/llmops_comment.py" body "$work/body.json"
[ -s "$work/body.json" ] || warn "could not build the comment body"

# Find our earlier comment: the first one carrying the marker, page by page.
existing=""
page=1
while [ -z "$existing" ]; do
  status=$(api GET "/repos/$repo/issues/$pr/comments?per_page=100&page=$page")
  [ "$status" = 200 ] || warn "listing comments on #$pr failed (HTTP $status)"
  found=$(LLMOPS_MARKER=$MARKER "$PY" -c 'import json, os, sys
comments = json.load(open(sys.argv[1], encoding="utf-8"))
hit = next((c["id"] for c in comments if os.environ["LLMOPS_MARKER"] in (c.get("body") or "")), None)
print("empty" if not comments else hit or "", end="")' "$work/response") || warn "unreadable comment list"
  case $found in
    empty) break ;;
    "") page=$((page + 1)) ;;
    *) existing=$found ;;
  esac
done

if [ -n "$existing" ]; then
  status=$(api PATCH "/repos/$repo/issues/comments/$existing" "$work/body.json")
  action=updated
else
  status=$(api POST "/repos/$repo/issues/$pr/comments" "$work/body.json")
  action=posted
fi
case $status in
  200 | 201) ;;
  *)
    why=$("$PY" "$HERE/llmops_comment.py" message "$work/response" 2>/dev/null || true)
    why="HTTP $status${why:+: $why}"
    fork=$("$PY" "$HERE/llmops_comment.py" fork "${GITHUB_EVENT_PATH:-/nonexistent}" 2>/dev/null || true)
    if [ "$status" = 403 ] && [ "$fork" = fork ]; then
      warn "commenting on #$pr failed ($why): a pull request from a fork gets a read-only token; the report is in the step summary"
    elif [ "$status" = 403 ] || [ "$status" = 401 ]; then
      warn "commenting on #$pr failed ($why): give the action a github-token with pull-requests: write"
    else
      warn "commenting on #$pr failed ($why); the report is in the step summary"
    fi
    ;;
esac
url=$("$PY" -c 'import json, sys
print(json.load(open(sys.argv[1], encoding="utf-8")).get("html_url", ""), end="")' "$work/response" 2>/dev/null || true)
echo "llmops-action: $action the report comment on #$pr ${url}"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "comment-url=$url" >>"$GITHUB_OUTPUT"
fi
