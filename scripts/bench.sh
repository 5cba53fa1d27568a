#!/usr/bin/env bash
# bench.sh — the benchmarks behind BENCHMARKS.md, in one run:
#   ingest     raw model throughput vs. end-to-end ingest (blob → SQL) on the same texts
#   sqlstore   row writes and embedding reads on SQLite
#   mlp        one training run over 100,000 synthetic 512-d rows, 10 classes
#   training   SpamAssassin "spam" and "group" from the local run's database
#              (skipped unless .cache/local/tinyhead.db exists: run
#              ./scripts/run-local.sh first)
# Arguments are passed to `go test` (e.g. -count 3).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "go: $(go version)"
go test -run XXX -bench EmbedThroughput -benchtime 2x "$@" ./internal/ingest/
go test -run XXX -bench . -benchtime 3x "$@" ./internal/sqlstore/
go test -run XXX -bench 'Train100k|Precision' -benchtime 3x "$@" ./internal/mlp/
if [[ -f .cache/local/tinyhead.db ]]; then
  TINYHEAD_BENCH_DB="$ROOT/.cache/local/tinyhead.db" go test -run XXX -bench TrainStored -benchtime 1x "$@" ./internal/training/
else
  echo "training on SpamAssassin skipped: run ./scripts/run-local.sh first"
fi
