#!/usr/bin/env bash
# Runs the paired benchmarks recorded in BENCHMARKS.md. Output goes to build/bench/ and stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench
mkdir -p "$out"
benchtime=${BENCHTIME:-1s}
export LARDER_PLUGIN_DIR=${LARDER_PLUGIN_DIR:-$PWD/build/plugins}
export LARDER_FIXTURE_DIR=${LARDER_FIXTURE_DIR:-$PWD/build/fixtures}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version)" | tee "$out/machine.txt"

run() { # dir pattern pkgs...
	local dir=$1 pat=$2; shift 2
	echo "== (cd $dir && go test -run '^\$' -bench '$pat' -benchmem -benchtime $benchtime $*)"
	(cd "$dir" && go test -run '^$' -bench "$pat" -benchmem -benchtime "$benchtime" "$@") | tee -a "$out/go-bench.txt"
}
: > "$out/go-bench.txt"
# Redis, PostgreSQL and dynalite for the store benchmarks, as in the tests.
if ! scripts/services.sh status 2>/dev/null; then
	trap 'scripts/services.sh stop' EXIT
fi
eval "$(scripts/services.sh start)"

run abi 'BenchmarkBatch' .
# native vs wasm SQLite store (issue 2's 1.3x bound): compare the cpu-ns/op column.
run plugins/sqlite 'BenchmarkOnline(Read|Write)' .
run . 'Benchmark' ./host/... ./server/... ./conformance/...
if [ -x scripts/load.sh ]; then
	echo "== scripts/load.sh"
	scripts/load.sh | tee "$out/load.txt"
fi
# Issue 6's Redis comparison with Feast's Python server: needs Feast (/opt/feast-venv or
# FEAST_PYTHON) and takes ~10 minutes, so it runs only when asked: BENCH_FEAST=1.
if [ -n "${BENCH_FEAST:-}" ]; then
	echo "== scripts/bench-redis.sh"
	scripts/bench-redis.sh | tee "$out/bench-redis.txt"
fi
# Issue 5's historical retrieval at 100k/1M/10M entity rows vs the hand-written DuckDB query
# and Feast's get_historical_features: generates ~500 MB of Parquet once and takes about an
# hour (Feast), so it runs only when asked: LARDER_BENCH_HISTORICAL=1.
if [ -n "${LARDER_BENCH_HISTORICAL:-}" ]; then
	echo "== scripts/bench-historical.sh"
	scripts/bench-historical.sh | tee "$out/bench-historical.txt"
fi
