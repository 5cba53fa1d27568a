#!/usr/bin/env bash
# test.sh — the whole test suite, from a fresh clone: installs what the tests
# need (scripts/setup.sh, idempotent), then vets and tests every package
# against the real components (ONNX Runtime with the real model, Azurite,
# SQLite, and SQL Server: Babelfish from ../shared/babelfish, started here by
# scripts/babelfish.sh, or the database TINYHEAD_TEST_MSSQL_DSN names when it
# is set; without either, the SQL Server tests skip, loudly), and the
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

if [ -n "${TINYHEAD_TEST_MSSQL_DSN:-}" ]; then
	echo "test.sh: SQL Server tests use TINYHEAD_TEST_MSSQL_DSN as set"
else
	status=0
	dsn=$(bash scripts/babelfish.sh start) || status=$?
	case $status in
	0)
		trap 'bash scripts/babelfish.sh stop' EXIT
		export TINYHEAD_TEST_MSSQL_DSN=$dsn
		;;
	3)
		echo "test.sh: ******** NO SQL SERVER: the SQL Server tests SKIP (no ../shared/babelfish; set TINYHEAD_TEST_MSSQL_DSN to use a database) ********" >&2
		;;
	*)
		echo "test.sh: Babelfish did not start" >&2
		exit 1
		;;
	esac
fi

# staticcheck, pinned, in its own module graph (go run pkg@version), so it
# never moves the product's dependencies; Go caches it after the first run.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -count=1 -timeout 20m ./...
# The trainer's portable loops, as on a CPU without AVX2: bit for bit the
# same weights (TestTrainGolden).
go test -count=1 -tags noasm ./internal/mlp/
# The store benchmarks once each, as a smoke test (SQLite, and SQL Server
# with the DSN).
go test -count=1 -run XXX -bench . -benchtime 1x ./internal/sqlstore/
