#!/usr/bin/env bash
# run.sh: runs every fuzzer for SECONDS each (default 60) from its seed corpus.
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
# A crash fails the run and leaves crash-* files in the current directory:
# turn each into a regression case in tests/fuzz/corpus/ once fixed.
set -euo pipefail
seconds=${1:-60}
build=${2:-build-fuzz}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for pair in FuzzFrontEnd:nn FuzzCsv:csv FuzzIdx:idx FuzzSafetensors:safetensors FuzzCheckpoint:checkpoint; do
  target=${pair%%:*}
  corpus=${pair##*:}
  mkdir -p "$work/$corpus"
  echo "fuzz: $target for ${seconds}s"
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    "$work/$corpus" "$here/corpus/$corpus" 2>"$work/$target.log" || { tail -n 40 "$work/$target.log"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$work/$target.log" | sed 's/^/  /'
done
