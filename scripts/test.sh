#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh clone: installs what the tests
# need (scripts/setup.sh, idempotent), then vets and tests every package
# against the real components (ONNX Runtime with the real model, Azurite,
# SQLite; SQL Server too when TINYHEAD_TEST_MSSQL_DSN is set).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
go vet ./...
go test -count=1 -timeout 20m ./...
