#!/usr/bin/env bash
# Runs every test: each Go module, the plugins' own tests, and conformance of every plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
export LARDER_PLUGIN_DIR=${LARDER_PLUGIN_DIR:-$PWD/build/plugins}
export LARDER_FIXTURE_DIR=${LARDER_FIXTURE_DIR:-$PWD/build/fixtures}

# Real Redis, PostgreSQL and DynamoDB (dynalite) on 127.0.0.1. This always sets
# LARDER_REDIS_URL, LARDER_PG_DSN and LARDER_DYNAMODB_ENDPOINT, so under `make test` no
# server-backed test skips; run by hand without them, those tests skip and say why.
# Services someone else already started are left running.
if ! scripts/services.sh status 2>/dev/null; then
	trap 'scripts/services.sh stop' EXIT
fi
eval "$(scripts/services.sh start)"
# The services are up, so a test that finds one missing fails instead of skipping.
export LARDER_REQUIRE_SERVICES=1

fail=0
run() { echo "== $*"; "$@" || fail=1; }

for mod in $(git ls-files '*go.mod'); do
	dir=$(dirname "$mod")
	case "$dir" in conformance/fixtures*) continue ;; esac
	# Plugin and SDK modules reach the root module through replace directives (their tests
	# drive plugins through the host), so a dependency the root gains must not break them:
	# -mod=mod lets go fill their go.sum from the module proxy instead of failing.
	flags=""
	[ "$dir" = . ] || flags=-mod=mod
	run bash -c "cd '$dir' && GOFLAGS=$flags go vet ./... && GOFLAGS=$flags go test -count=1 ./..."
done

run make --no-print-directory rust-test

# Offline store plugins (duckdb, postgres_offline) are checked against the reference
# point-in-time join by conformance.RunOfflineStore, which the root module's go test above
# runs in full (TestOfflineDuckDB, TestOfflinePostgres); `larder conformance` below runs the
# same cases through the CLI with --short (8 random seeds instead of 30), postgres_offline
# on $LARDER_PG_DSN.

for wasm in build/plugins/*.wasm; do
	[ -e "$wasm" ] || continue
	extra=()
	# The postgres plugin speaks PostgreSQL's dialect: bind its sql capability to the server.
	[ "$(basename "$wasm")" = postgres.wasm ] && extra=(--postgres "$LARDER_PG_DSN")
	# dynalite needs over a minute for the 100k-row bulk case; 5k rows here.
	[ "$(basename "$wasm")" = dynamodb.wasm ] && extra=(--short)
	case "$(basename "$wasm")" in duckdb.wasm | postgres_offline.wasm) extra=(--short) ;; esac
	run build/larder conformance "${extra[@]}" "$wasm"
done

exit $fail
