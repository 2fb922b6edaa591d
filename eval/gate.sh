#!/usr/bin/env bash
# The answer-quality gate CI runs: the bundled set on a fresh temporary index of documents/,
# failing (exit 1) when a metric misses its threshold in eval/thresholds.txt.
# Reports go to $EVAL_REPORT_DIR (default build/eval, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${EVAL_REPORT_DIR:-build/eval}"
mkdir -p "$out"
mapfile -t thresholds < <(grep -Ev '^[[:space:]]*(#|$)' eval/thresholds.txt | sed 's/[[:space:]]*#.*//')
exec cecot-rag eval --set eval/cecot.jsonl --corpus documents \
  --json "$out/cecot.json" --html "$out/cecot.html" --fail-under "${thresholds[@]}"
