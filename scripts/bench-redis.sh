#!/usr/bin/env bash
# Issue 6's Redis benchmark: POST /get-online-features served from Redis by three servers
# in one run, on the same Redis and the same data:
#
#   wasm    `larder serve`: the Rust plugins/redis in the sandbox, over the redis capability
#   native  `larder-bench serve-native`: the same server, reading Redis with go-redis in
#           the host (host/nativestore.Redis); benchmark only
#   feast   `feast serve` (Feast's Python feature server, gunicorn+uvicorn workers)
#
# Cases: 1 entity × 10 features, 1 × 50 and 100 × 50, the features spread over 5 views.
# For each: the highest open-loop rate whose p99 stays ≤ 10 ms, the closed-loop saturated
# rate with the server's CPU time per request (its process and children, from /proc: less
# sensitive than latency to other work on a shared machine), and p50/p99 at fixed rates
# (cmd/larder-bench load; targets interleaved per case).
# Also materialization rows/s into Redis, Feast and Larder (interop/bench_redis.py), and
# a check that both wrote the same keys and bytes. The servers serve what Feast wrote.
#
# Needs Feast (0.67, /opt/feast-venv; FEAST_PYTHON overrides) and redis-server. Starts
# its own redis-server on a free port and stops everything it started.
#
#   scripts/bench-redis.sh
#   BENCH_REDIS_ENTITIES=10000 BENCH_FEAST_WORKERS=4 BENCH_STEP=3s scripts/bench-redis.sh
#
# Output: the Markdown table on stdout and in build/bench/bench-redis.md, the
# materialization numbers in build/bench/bench-redis-materialize.json, logs in build/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build/bench
mkdir -p "$out"
feast_py=${FEAST_PYTHON:-/opt/feast-venv/bin/python}
entities=${BENCH_REDIS_ENTITIES:-10000}
workers=${BENCH_FEAST_WORKERS:-4}
step=${BENCH_STEP:-3s}
export LARDER_PLUGIN_DIR=${LARDER_PLUGIN_DIR:-$root/build/plugins}

[ -x "$feast_py" ] || { echo "bench-redis.sh: no Feast interpreter at $feast_py (set FEAST_PYTHON)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "bench-redis.sh: redis-server is missing (scripts/services.sh start installs it)" >&2; exit 1; }
[ -f "$LARDER_PLUGIN_DIR/redis.wasm" ] || make -s "$LARDER_PLUGIN_DIR/redis.wasm"
go build -o build/larder ./cmd/larder
go build -o build/larder-bench ./cmd/larder-bench

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		# Each server was started as a session leader (setsid): stop its whole group
		# (gunicorn's workers), and nothing else.
		kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url pid log
	for _ in $(seq 1 600); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench-redis.sh: $1 did not come up; log:" >&2
	cat "$3" >&2
	exit 1
}

rport=$(free_port)
setsid redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
	--logfile "$out/bench-redis-redis.log" &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "materialization ($entities entities × 5 views, one row each):"
"$feast_py" interop/bench_redis.py --redis "127.0.0.1:$rport" --work "$work/repo" --entities "$entities" \
	--larder "$root/build/larder" 2>"$out/bench-redis-setup.log" | tee "$out/bench-redis-materialize.json"

repo=$work/repo/feast # Feast's data in database 1, Feast's registry
p_wasm=$(free_port)
p_native=$(free_port)
p_feast=$(free_port)
setsid build/larder serve -C "$repo" --port "$p_wasm" >"$out/bench-redis-wasm.log" 2>&1 &
pids+=($!)
pid_wasm=$!
wait_http "http://127.0.0.1:$p_wasm/health" "${pids[-1]}" "$out/bench-redis-wasm.log"
setsid build/larder-bench serve-native -C "$repo" --port "$p_native" --redis "127.0.0.1:$rport" --db 1 \
	>"$out/bench-redis-native.log" 2>&1 &
pids+=($!)
pid_native=$!
wait_http "http://127.0.0.1:$p_native/health" "${pids[-1]}" "$out/bench-redis-native.log"
# Feast's server tuned for this: 4 workers (of 1, 2 and 4 tried on the 2-core machine, 4
# gave the most requests/s at both 1x10 and 100x50), no access log, no registry refreshes
# and no worker recycling during the run (its default recycles each worker after 1000
# requests).
feast_cmd=("$(dirname "$feast_py")/feast" serve -h 127.0.0.1 -p "$p_feast" --workers "$workers" --no-access-log
	--registry_ttl_sec 3600 --max-requests 100000000 --keep-alive-timeout 60)
(cd "$repo" && TZ=UTC FEAST_USAGE=False exec setsid "${feast_cmd[@]}") >"$out/bench-redis-feast.log" 2>&1 &
pids+=($!)
pid_feast=$!
wait_http "http://127.0.0.1:$p_feast/health" "${pids[-1]}" "$out/bench-redis-feast.log"

echo "feast: ${feast_cmd[*]}"
echo "load average at start of serving runs: $(cut -d' ' -f1-3 /proc/loadavg)"
build/larder-bench load --step "$step" \
	--target "wasm=http://127.0.0.1:$p_wasm/get-online-features" \
	--target "native=http://127.0.0.1:$p_native/get-online-features" \
	--target "feast=http://127.0.0.1:$p_feast/get-online-features" \
	--pid "wasm=$pid_wasm" --pid "native=$pid_native" --pid "feast=$pid_feast" \
	--case "1x10=$work/repo/request-1x10.json" \
	--case "1x50=$work/repo/request-1x50.json" \
	--case "100x50=$work/repo/request-100x50.json" \
	--fixed 1x10=100,500,2000 --fixed 1x50=100,500,2000 --fixed 100x50=10,50,200 \
	2> >(tee "$out/bench-redis-progress.log" >&2) | tee "$out/bench-redis.md"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
