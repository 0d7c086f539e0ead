#!/usr/bin/env bash
# The main job, end to end (run by `make demo` after `make build`): create the example
# feature repo, register it, materialize its data into the online store, serve it over
# Feast's HTTP API, read features for three drivers, push a fresh value and read it back.
#
# Environment: LARDER (the binary, default build/larder), LARDER_PLUGIN_DIR (default
# build/plugins), KEEP=1 keeps the temporary repo for a look afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
LARDER="${LARDER:-$root/build/larder}"
export LARDER_PLUGIN_DIR="${LARDER_PLUGIN_DIR:-$root/build/plugins}"

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ -x "$LARDER" ] || die "$LARDER not found: run 'make build' first"
for p in sqlite duckdb; do
	[ -f "$LARDER_PLUGIN_DIR/$p.wasm" ] || die "$LARDER_PLUGIN_DIR/$p.wasm not found: run 'make build' first"
done
command -v curl >/dev/null || die "curl is needed (apt-get install curl)"

work="$(mktemp -d "${TMPDIR:-/tmp}/larder-demo.XXXXXX")"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept the demo repo in $work/driver_demo"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# pretty prints a /get-online-features response as a table (python3, else jq, else raw).
pretty() {
	if command -v python3 >/dev/null; then
		python3 -c '
import json, sys
r = json.load(sys.stdin)
names = r["metadata"]["feature_names"]
cols = [res["values"] for res in r["results"]]
stats = [res["statuses"] for res in r["results"]]
def cell(v, s):
    if s != "PRESENT": return s
    return ("%.4f" % v) if isinstance(v, float) else str(v)
rows = [[cell(cols[c][i], stats[c][i]) for c in range(len(names))] for i in range(len(cols[0]))]
w = [max(len(n), *(len(r[c]) for r in rows)) for c, n in enumerate(names)]
print("  " + "  ".join(n.ljust(w[c]) for c, n in enumerate(names)))
for row in rows:
    print("  " + "  ".join(v.ljust(w[c]) for c, v in enumerate(row)))
ts = r["results"][1]["event_timestamps"] if len(r["results"]) > 1 else []
if ts: print("  (event timestamps: %s)" % ", ".join(ts))
'
	elif command -v jq >/dev/null; then
		jq .
	else
		cat
		echo
	fi
}

# A free TCP port on 127.0.0.1, probed with bash's /dev/tcp.
free_port() {
	local p
	for p in $(seq 16566 16666); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port in 16566-16666"
}

cd "$work"
say "larder init driver_demo"
"$LARDER" init driver_demo
cd driver_demo

say "larder plan"
"$LARDER" plan

say "larder apply"
"$LARDER" apply

# The example data covers the 15 days up to the hour larder init ran; materialize all of it.
start="$(date -u -d '16 days ago' +%Y-%m-%dT%H:%M:%S)"
end="$(date -u -d '1 hour' +%Y-%m-%dT%H:%M:%S)"
say "larder materialize $start $end"
"$LARDER" materialize "$start" "$end"

port="$(free_port)"
base="http://127.0.0.1:$port"
say "larder serve --port $port"
"$LARDER" serve --port "$port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
	if curl -fsS "$base/health" >/dev/null 2>&1; then
		break
	fi
	kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; die "the server exited"; }
	sleep 0.1
done
curl -fsS "$base/health" >/dev/null || { cat "$work/serve.log" >&2; die "the server did not become healthy"; }
echo "healthy at $base"

say "POST /get-online-features for drivers 1001-1003"
query='{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"],
        "entities": {"driver_id": [1001, 1002, 1003]}}'
echo "$query"
curl -fsS -X POST "$base/get-online-features" -H 'Content-Type: application/json' -d "$query" | pretty

say "POST /push a fresh value for driver 1001"
now="$(date -u +%Y-%m-%dT%H:%M:%S)"
push='{"push_source_name": "driver_stats_push_source", "to": "online",
       "df": {"driver_id": [1001], "event_timestamp": ["'"$now"'"], "created": ["'"$now"'"],
              "conv_rate": [0.99], "acc_rate": [0.5], "avg_daily_trips": [4242]}}'
echo "$push"
curl -fsS -X POST "$base/push" -H 'Content-Type: application/json' -d "$push" -o /dev/null -w 'HTTP %{http_code}\n'

say "read it back through the driver_activity_v3 feature service"
readback='{"feature_service": "driver_activity_v3", "entities": {"driver_id": [1001, 1002]}}'
echo "$readback"
out="$(curl -fsS -X POST "$base/get-online-features" -H 'Content-Type: application/json' -d "$readback")"
echo "$out" | pretty
case "$out" in
*4242*) echo "the pushed value is served" ;;
*) die "the pushed value was not read back: $out" ;;
esac

say "stop the server"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "done"
