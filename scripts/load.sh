#!/usr/bin/env bash
# Load test of the feature server: throughput and latency percentiles of
# POST /get-online-features for 1 entity × 10 features and 100 entities × 50 features,
# served by `larder serve` from SQLite through the Wasm plugin, over real HTTP.
#
# Load generator: wrk (Debian's package `wrk`), closed loop, keep-alive connections.
#
#   scripts/load.sh                      # 10 s per case, 8 connections, 2 threads
#   LOAD_DURATION=30s LOAD_CONNECTIONS=16 scripts/load.sh
#
# Output: one line per case with requests/s and p50/p90/p99 latency, plus wrk's full
# report in build/bench/load-<case>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
duration=${LOAD_DURATION:-10s}
conns=${LOAD_CONNECTIONS:-8}
threads=${LOAD_THREADS:-2}
port=${LOAD_PORT:-16566}
out=$root/build/bench
mkdir -p "$out"
export LARDER_PLUGIN_DIR=${LARDER_PLUGIN_DIR:-$root/build/plugins}

if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
	else
		echo "load.sh: wrk is missing; install Debian's wrk package (apt-get install wrk)" >&2
		exit 1
	fi
fi
[ -f "$LARDER_PLUGIN_DIR/sqlite.wasm" ] || make -s plugins
larder=${LARDER:-$root/build/larder}
if [ ! -x "$larder" ] || [ -n "$(find cmd host server abi -name '*.go' -newer "$larder" -print -quit)" ]; then
	go build -o "$larder" ./cmd/larder
fi

repo=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$repo"
}
trap cleanup EXIT

# The benchmark repo (1,000 entities × 50 features) and the request bodies come from the
# same code as BenchmarkGetOnlineFeatures.
if ! LARDER_BENCH_REPO=$repo go test -vet=off -count=1 -run '^TestWriteBenchRepo$' ./server/ >"$out/load-setup.log" 2>&1; then
	cat "$out/load-setup.log" >&2
	exit 1
fi

"$larder" --repo "$repo" serve --port "$port" >"$out/load-server.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 600); do
	curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { ready=1; break; }
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "load.sh: larder serve did not become healthy:" >&2
	cat "$out/load-server.log" >&2
	exit 1
fi

cat >"$repo/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
function response(status, headers, body)
	if status ~= 200 then
		io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
		os.exit(1)
	end
end
EOF

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t$threads -c$conns -d$duration"
printf '%-8s %12s %10s %10s %10s\n' case "requests/s" p50 p90 p99
for c in 1x10 100x50; do
	if ! curl -sf -X POST --data-binary "@$repo/request-$c.json" "http://127.0.0.1:$port/get-online-features" | grep -q PRESENT; then
		echo "load.sh: the $c request does not return stored values" >&2
		exit 1
	fi
	LOAD_BODY=$repo/request-$c.json wrk -t"$threads" -c"$conns" -d"$duration" --latency -s "$repo/post.lua" \
		"http://127.0.0.1:$port/get-online-features" >"$out/load-$c.txt"
	rps=$(awk '/^Requests\/sec/ {print $2}' "$out/load-$c.txt")
	pct() { awk -v p="$1" '$1 == p {print $2}' "$out/load-$c.txt"; }
	printf '%-8s %12s %10s %10s %10s\n' "$c" "$rps" "$(pct 50%)" "$(pct 90%)" "$(pct 99%)"
done
