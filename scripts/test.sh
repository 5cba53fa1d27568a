#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh clone: installs what the tests
# need (scripts/setup.sh, idempotent), then vets and tests every package
# against the real components (ONNX Runtime with the real model, Azurite,
# SQLite; SQL Server too when TINYHEAD_TEST_MSSQL_DSN is set), and the
# trainer once more without its assembly kernels (-tags noasm).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
# Every real component is installed by now: a test that cannot find one
# fails instead of skipping (internal/testenv).
export TINYHEAD_TEST_REQUIRE_SERVICES=1
go vet ./...
# staticcheck, pinned, in its own module graph (go run pkg@version), so it
# never moves the product's dependencies; Go caches it after the first run.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -count=1 -timeout 20m ./...
# The trainer's portable loops, as on a CPU without AVX2: bit for bit the
# same weights (TestTrainGolden).
go test -count=1 -tags noasm ./internal/mlp/
