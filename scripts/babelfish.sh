#!/usr/bin/env bash
# babelfish.sh — a SQL Server-compatible database for the tests: Babelfish for
# PostgreSQL (a PostgreSQL that speaks SQL Server's TDS protocol and T-SQL),
# from the prebuilt archive and start.sh in ../shared/babelfish next to the
# repository. scripts/test.sh uses it; by hand:
#
#   export TINYHEAD_TEST_MSSQL_DSN=$(scripts/babelfish.sh start)
#   go test ./internal/sqlstore/ ...
#   scripts/babelfish.sh stop
#
#   start   start the server on a free loopback port (stopping one this
#           checkout left running), create an empty database tinyhead_test,
#           print the engine's version on stderr and the database's DSN on
#           stdout. Exit status 3 when ../shared/babelfish is not there.
#   stop    stop it
#
# The server's files live in the git-ignored cache, one directory per
# checkout ($TINYHEAD_CACHE/babelfish/<hash of the checkout's path>), so that
# checkouts sharing a cache do not share a server. One test run per checkout
# at a time.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh
SHARED=${TINYHEAD_BABELFISH_DIR:-$ROOT/../shared/babelfish}
DIR=$TINYHEAD_CACHE/babelfish/$(printf %s "$ROOT" | sha256sum | cut -c1-12)
DATABASE=tinyhead_test
readonly SHARED DIR DATABASE

say() { echo "babelfish.sh: $*" >&2; }

# free_port prints a loopback TCP port that is free, and whose successor
# (PostgreSQL's own port) is free too.
free_port() {
	local port
	for _ in $(seq 1 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
			! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	say "no free port found"
	return 1
}

# tsql runs T-SQL batches over TDS (scripts/tsql.go: go-mssqldb, as the store
# uses it) and prints the first column of the rows they return.
tsql() { go run scripts/tsql.go -dsn "$@"; }

start() {
	if [ ! -x "$SHARED/start.sh" ]; then
		say "no Babelfish in $SHARED (expected next to the repository, as in CI)"
		exit 3
	fi
	# A server this checkout left running (an interrupted run) is stopped
	# first: start.sh would keep it on its old port.
	if [ -f "$DIR/data/postmaster.pid" ]; then
		bash "$SHARED/start.sh" stop "$DIR" >/dev/null 2>&1 || true
	fi
	local port master dsn
	port=$(free_port)
	say "starting Babelfish on 127.0.0.1:$port (files in $DIR)"
	master=$(bash "$SHARED/start.sh" start "$DIR" "$port" | tail -n 1)
	dsn=${master/database=master/database=$DATABASE}
	tsql "$master" "SELECT @@VERSION" | sed 's/^/babelfish.sh: engine: /' >&2
	tsql "$master" "IF DB_ID(N'$DATABASE') IS NOT NULL DROP DATABASE $DATABASE" "CREATE DATABASE $DATABASE" >&2
	say "database $DATABASE is empty"
	echo "$dsn"
}

stop() {
	if [ -f "$DIR/data/postmaster.pid" ]; then
		bash "$SHARED/start.sh" stop "$DIR" >&2
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
	echo "usage: scripts/babelfish.sh start|stop" >&2
	exit 2
	;;
esac
