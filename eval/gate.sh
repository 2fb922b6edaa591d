#!/usr/bin/env bash
# The answer-quality gate CI runs, on sets the answerer was never fitted on:
#   1. the bundled set (eval/cecot.jsonl) on a fresh temporary index of documents/, against
#      eval/thresholds.txt;
#   2. the SQuAD 2.0 test article (../shared/benchmarks/squad2/computational_complexity_theory.json,
#      one document per paragraph), against eval/thresholds-squad.txt.
# Exit 1 when any metric misses its threshold. The SQuAD file is read where it lies, never copied:
# where ../shared exists (the project's CI) a missing file fails the gate; in a clone without
# ../shared the second step is skipped with a message.
# Reports go to $EVAL_REPORT_DIR (default build/eval, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${EVAL_REPORT_DIR:-build/eval}"
mkdir -p "$out"

thresholds() {
  grep -Ev '^[[:space:]]*(#|$)' "$1" | sed 's/[[:space:]]*#.*//'
}

status=0
mapfile -t bundled < <(thresholds eval/thresholds.txt)
cecot-rag eval --set eval/cecot.jsonl --corpus documents \
  --json "$out/cecot.json" --html "$out/cecot.html" --fail-under "${bundled[@]}" || status=$?

squad=../shared/benchmarks/squad2/computational_complexity_theory.json
if [ -f "$squad" ]; then
  mapfile -t squad_floors < <(thresholds eval/thresholds-squad.txt)
  cecot-rag eval --set "$squad" --corpus-from-set \
    --json "$out/squad.json" --html "$out/squad.html" --fail-under "${squad_floors[@]}" || status=$?
elif [ -d ../shared ]; then
  echo "gate: $squad is missing (../shared exists, so the SQuAD test article must be there)" >&2
  status=1
else
  echo "gate: skipping the SQuAD test article: ../shared is not beside this checkout" >&2
fi
exit "$status"
