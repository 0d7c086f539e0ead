#!/usr/bin/env bash
# Historical retrieval at scale (issue 5, BENCHMARKS.md "Historical retrieval"): in one run,
# on the same Parquet files, for each entity frame size,
#   larder  — `build/larder historical … --out` (the CLI, a feature repo over the files),
#   duckdb  — the hand-written ASOF query (BenchmarkHistorical/duckdb-asof, its own process),
#             and the same made to give Feast's values (…/duckdb-asof-feast: TTLs, created dedup),
#   feast   — Feast 0.67's get_historical_features (file offline store = Dask), under a timeout,
# each as its own process under /usr/bin/time -v: wall time, CPU time and peak RSS.
#
# Data (generated once into $HIST_DATA): three views of $HIST_VIEW_ROWS rows over 100 000
# entities and entity frames of each size in $HIST_ENTITY_ROWS. The 10 M-row run takes the
# better part of an hour (Feast); scripts/bench.sh runs this only when LARDER_BENCH_HISTORICAL=1.
#
#   HIST_ENTITY_ROWS="100000 1000000 10000000" HIST_ROUNDS=2 scripts/bench-historical.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ENTITY_ROWS=${HIST_ENTITY_ROWS:-"100000 1000000 10000000"}  # ascending: Feast's biggest run last
VIEW_ROWS=${HIST_VIEW_ROWS:-10000000}
ROUNDS=${HIST_ROUNDS:-2}                     # larder/duckdb pairs per size, interleaved
FEAST_ROWS=${HIST_FEAST_ROWS:-$ENTITY_ROWS}  # sizes Feast runs at
FEAST_TIMEOUT=${HIST_FEAST_TIMEOUT:-1200}    # seconds; a timeout is recorded as such
# Feast's address space cap (KiB): on a shared machine its merge (every entity row × every
# feature row of the key) must fail with MemoryError rather than wake the OOM killer.
FEAST_MEM_KB=${HIST_FEAST_MEM_KB:-$((14 * 1024 * 1024))}
STREAM_ROWS=${HIST_STREAM_ROWS:-}            # sizes to also run larder-stream at (rows through Go)
MEMORY_LIMIT=${HIST_MEMORY_LIMIT:-}          # e.g. 2GB: one more larder run per size with --memory-limit
DATA=${HIST_DATA:-$root/build/bench/historical-data}
OUT=${HIST_OUT:-$root/build/bench/historical}
FEAST_PY=${FEAST_PY:-/opt/feast-venv/bin/python}
export LARDER_PLUGIN_DIR=${LARDER_PLUGIN_DIR:-$root/build/plugins}
mkdir -p "$DATA" "$OUT"
results=$OUT/results.txt

log() { echo "$*" | tee -a "$results"; }
# timed NAME CMD...: runs CMD under /usr/bin/time -v, logs wall/cpu/RSS and the exit code.
timed() {
	local name=$1; shift
	local tf=$OUT/$name.time rc=0
	/usr/bin/time -v -o "$tf" "$@" > "$OUT/$name.out" 2>&1 || rc=$?
	local wall cpu rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tf")
	cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.1f", u+s}' "$tf")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$tf")
	log "$(printf '%-28s rc=%-3s wall=%-9s cpu=%-7ss maxrss=%sMB  load=%s' "$name" "$rc" "$wall" "$cpu" "$rss" "$(cut -d' ' -f1-3 /proc/loadavg)")"
	tail -n 3 "$OUT/$name.out" | sed 's/^/    /' | tee -a "$results"
}

log "== $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(go version | cut -d' ' -f3)"
log "views: $VIEW_ROWS rows each; entity frames: $ENTITY_ROWS; feast at: $FEAST_ROWS (timeout ${FEAST_TIMEOUT}s, address space ${FEAST_MEM_KB} KiB)"

go build -o build/larder ./cmd/larder
go test -c -o "$OUT/host.test" ./host
# Data, once: the benchmark's setup writes whatever file is missing (no sub-benchmark matches).
for n in $ENTITY_ROWS; do
	(cd host && LARDER_BENCH_DATA=$DATA LARDER_BENCH_ENTITY_ROWS=$n LARDER_BENCH_VIEW_ROWS=$VIEW_ROWS \
		"$OUT/host.test" -test.run '^$' -test.bench 'BenchmarkHistorical/^generate-only$' -test.benchtime 1x > /dev/null)
done

# Larder's feature repo over the files (absolute paths), applied once.
repo=$OUT/larder-repo
rm -rf "$repo" && mkdir -p "$repo/data"
cat > "$repo/feature_store.yaml" <<EOF
project: bench
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: duckdb
entity_key_serialization_version: 3
EOF
cat > "$repo/features.yaml" <<EOF
entities:
  - {name: driver, join_keys: [driver_id], value_type: INT64}
  - {name: customer, join_keys: [customer_id], value_type: INT64}
sources:
  - {name: driver_stats_source, type: file, path: $DATA/driver_stats_$VIEW_ROWS.parquet, timestamp_field: event_timestamp, created_timestamp_column: created}
  - {name: customer_stats_source, type: file, path: $DATA/customer_stats_$VIEW_ROWS.parquet, timestamp_field: event_timestamp}
  - {name: driver_quality_source, type: file, path: $DATA/driver_quality_$VIEW_ROWS.parquet, timestamp_field: event_timestamp}
feature_views:
  - name: driver_stats
    entities: [driver]
    ttl: 7d
    source: driver_stats_source
    schema: [{name: conv_rate, dtype: Float64}, {name: acc_rate, dtype: Float64}, {name: avg_daily_trips, dtype: Int64}]
  - name: customer_stats
    entities: [customer]
    ttl: 2d
    source: customer_stats_source
    schema: [{name: spend, dtype: Float64}, {name: orders, dtype: Int64}]
  - name: driver_quality
    entities: [driver]
    source: driver_quality_source
    schema: [{name: rating, dtype: Float64}]
EOF
build/larder apply -C "$repo" > /dev/null
features=driver_stats:conv_rate,driver_stats:acc_rate,driver_stats:avg_daily_trips,customer_stats:spend,customer_stats:orders,driver_quality:rating
# Warm-up: compiles the DuckDB plugin into the CLI's cache, a start-up cost not timed below.
build/larder historical -C "$repo" --features "$features" --out "$OUT/warmup.parquet" \
	--entities-query "SELECT 1::BIGINT AS driver_id, 1::BIGINT AS customer_id, TIMESTAMPTZ '2026-01-10 00:00:00+00' AS event_timestamp" > /dev/null

for n in $ENTITY_ROWS; do
	log "-- $n entity rows"
	for r in $(seq 1 "$ROUNDS"); do
		timed "larder-$n-r$r" build/larder historical -C "$repo" --entities "$DATA/entities_$n.parquet" \
			--features "$features" --out "$OUT/larder_$n.parquet"
		timed "duckdb-asof-$n-r$r" env -C host LARDER_BENCH_DATA="$DATA" LARDER_BENCH_ENTITY_ROWS="$n" LARDER_BENCH_VIEW_ROWS="$VIEW_ROWS" \
			"$OUT/host.test" -test.run '^$' -test.bench 'BenchmarkHistorical/duckdb-asof$' -test.benchtime 1x
		timed "duckdb-asof-feast-$n-r$r" env -C host LARDER_BENCH_DATA="$DATA" LARDER_BENCH_ENTITY_ROWS="$n" LARDER_BENCH_VIEW_ROWS="$VIEW_ROWS" \
			"$OUT/host.test" -test.run '^$' -test.bench 'BenchmarkHistorical/duckdb-asof-feast$' -test.benchtime 1x
	done
	if [ -n "$MEMORY_LIMIT" ]; then
		# DuckDB spills joins and sorts to its temp directory (.tmp in the working directory).
		mkdir -p "$OUT/spill"
		timed "larder-$n-mem$MEMORY_LIMIT" env -C "$OUT/spill" "$root/build/larder" historical -C "$repo" --entities "$DATA/entities_$n.parquet" \
			--features "$features" --out "$OUT/larder_$n.parquet" --memory-limit "$MEMORY_LIMIT"
	fi
	if [[ " $STREAM_ROWS " == *" $n "* ]]; then
		timed "larder-stream-$n" env -C host LARDER_BENCH_DATA="$DATA" LARDER_BENCH_ENTITY_ROWS="$n" LARDER_BENCH_VIEW_ROWS="$VIEW_ROWS" \
			"$OUT/host.test" -test.run '^$' -test.bench 'BenchmarkHistorical/larder-stream$' -test.benchtime 1x
	fi
	if [[ " $FEAST_ROWS " == *" $n "* ]]; then
		if ! "$FEAST_PY" -c 'import feast' 2>/dev/null; then
			log "feast-$n: no Feast at $FEAST_PY (see /tmp/feast-install.log); skipped"
			continue
		fi
		# rc 124 = timed out, 1 with MemoryError = over the cap, 137 = killed; all are results.
		timed "feast-$n" bash -c 'ulimit -v "$1"; shift; exec "$@"' _ "$FEAST_MEM_KB" \
			timeout -k 30 "$FEAST_TIMEOUT" "$FEAST_PY" scripts/bench-historical-feast.py \
			--data "$DATA" --view-rows "$VIEW_ROWS" --entities "$DATA/entities_$n.parquet" \
			--repo "$OUT/feast-repo" --out "$OUT/feast_$n.parquet" --compare "$OUT/larder_$n.parquet"
	fi
done
log "== done $(date -u +%FT%TZ)"
