#!/usr/bin/env bash
# Test services on 127.0.0.1: redis-server, a throwaway PostgreSQL 15 cluster and dynalite
# (a DynamoDB-compatible server). Installs what is missing, keeps all state under
# build/services, and never touches a system-wide instance.
#
#   scripts/services.sh start    install if missing, start (idempotent), print the env lines
#   scripts/services.sh env      print `export LARDER_…=…` lines for running services
#   scripts/services.sh status   exit 0 when every service is running
#   scripts/services.sh stop     stop what start started
#
# Typical use: eval "$(scripts/services.sh start)"; … ; scripts/services.sh stop
#
# Exported: LARDER_REDIS_URL (redis://127.0.0.1:PORT/0), LARDER_REDIS_CLUSTER_URL (a one-node
# Redis Cluster), LARDER_REDIS_SENTINEL_ADDR (a Sentinel whose master "mymaster" is the
# LARDER_REDIS_URL server), LARDER_PG_DSN
# (postgres://larder@127.0.0.1:PORT/larder?sslmode=disable) and LARDER_DYNAMODB_ENDPOINT
# (http://127.0.0.1:PORT). Ports default to 16379, 15432 and 18000 (override with
# LARDER_REDIS_PORT, LARDER_PG_PORT, LARDER_DYNAMODB_PORT); a port held by something else
# is replaced by a free one, remembered in build/services/*.port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SV=$ROOT/build/services
PGBIN=${LARDER_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PGUSER_OS=postgres # PostgreSQL refuses to run as root

log() { echo "services: $*" >&2; }
die() { echo "services: $*" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_port NAME DEFAULT: the remembered port if we own it, else DEFAULT if free, else any free port.
pick_port() {
	local name=$1 def=$2 f=$SV/$1.port p
	if [ -f "$f" ] && running "$name"; then cat "$f"; return; fi
	p=$def
	if port_busy "$p"; then
		p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		log "port $def is taken; $name uses $p"
	fi
	echo "$p" >"$f"
	echo "$p"
}

pid_of() { [ -f "$SV/$1.pid" ] && cat "$SV/$1.pid" || true; }
running() {
	local pid
	pid=$(pid_of "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# wait_port PORT WHAT: up to 30 s for a listener.
wait_port() {
	for _ in $(seq 1 300); do
		port_busy "$1" && return 0
		sleep 0.1
	done
	die "$2 did not start listening on 127.0.0.1:$1 (logs in $SV)"
}

install_missing() {
	local apt=()
	command -v redis-server >/dev/null || apt+=(redis-server)
	[ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] || apt+=(postgresql)
	command -v node >/dev/null || apt+=(nodejs npm)
	command -v python3 >/dev/null || apt+=(python3)
	if [ ${#apt[@]} -gt 0 ]; then
		log "installing apt packages: ${apt[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq "${apt[@]}" >/dev/null
		PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	fi
	if [ ! -x "$ROOT/build/node_modules/.bin/dynalite" ]; then
		log "installing dynalite from npm into build/node_modules"
		npm install --prefix "$ROOT/build" --no-audit --no-fund --loglevel=error dynalite@4.0.0 >&2
	fi
	id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home "$PGUSER_OS"
}

start_redis() {
	running redis && return
	local port
	port=$(pick_port redis "${LARDER_REDIS_PORT:-16379}")
	mkdir -p "$SV/redis"
	# No persistence: the data is throwaway, and fsyncs would only slow the tests down.
	redis-server --bind 127.0.0.1 --port "$port" --dir "$SV/redis" --save "" --appendonly no \
		--daemonize yes --pidfile "$SV/redis.pid" --logfile "$SV/redis.log" --databases 64
	wait_port "$port" redis-server
	for _ in $(seq 1 50); do [ -s "$SV/redis.pid" ] && break; sleep 0.1; done
}

# A one-node Redis Cluster (every slot on one master) and a Sentinel watching the plain
# server: enough to exercise the cluster and sentinel code paths of the redis capability.
start_redis_cluster() {
	running redis-cluster && return
	local port
	port=$(pick_port redis-cluster "${LARDER_REDIS_CLUSTER_PORT:-16380}")
	rm -rf "$SV/redis-cluster"
	mkdir -p "$SV/redis-cluster"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$SV/redis-cluster" --save "" --appendonly no \
		--cluster-enabled yes --cluster-config-file nodes.conf \
		--daemonize yes --pidfile "$SV/redis-cluster.pid" --logfile "$SV/redis-cluster.log"
	wait_port "$port" "redis-server (cluster)"
	redis-cli -h 127.0.0.1 -p "$port" cluster addslotsrange 0 16383 >/dev/null
	for _ in $(seq 1 100); do
		redis-cli -h 127.0.0.1 -p "$port" cluster info | grep -q 'cluster_state:ok' && break
		sleep 0.1
	done
	for _ in $(seq 1 50); do [ -s "$SV/redis-cluster.pid" ] && break; sleep 0.1; done
}

start_redis_sentinel() {
	running redis-sentinel && return
	local port
	port=$(pick_port redis-sentinel "${LARDER_REDIS_SENTINEL_PORT:-16381}")
	mkdir -p "$SV/redis-sentinel"
	# Sentinel rewrites its config file, so it gets a fresh one each start.
	cat >"$SV/redis-sentinel/sentinel.conf" <<-EOF2
		bind 127.0.0.1
		port $port
		daemonize yes
		pidfile $SV/redis-sentinel.pid
		logfile $SV/redis-sentinel.log
		dir $SV/redis-sentinel
		sentinel monitor mymaster 127.0.0.1 $(cat "$SV/redis.port") 1
	EOF2
	redis-server "$SV/redis-sentinel/sentinel.conf" --sentinel
	wait_port "$port" redis-sentinel
	for _ in $(seq 1 50); do [ -s "$SV/redis-sentinel.pid" ] && break; sleep 0.1; done
}

# The cluster lives where the postgres user can reach it: build/services/pg, or a
# directory under /tmp when the checkout's parents are closed to other users.
pg_dir() {
	if su "$PGUSER_OS" -s /bin/sh -c "test -x '$SV'" 2>/dev/null; then
		echo "$SV/pg"
	else
		echo "/tmp/larder-pg-$(echo "$ROOT" | md5sum | cut -c1-12)"
	fi
}

start_pg() {
	running pg && return
	local port pgd data sock
	pgd=$(pg_dir)
	data=$pgd/data
	sock=$pgd/sock
	port=$(pick_port pg "${LARDER_PG_PORT:-15432}")
	mkdir -p "$pgd" "$sock"
	chown "$PGUSER_OS" "$pgd" "$sock"
	if [ ! -f "$data/PG_VERSION" ]; then
		rm -rf "$data"
		su "$PGUSER_OS" -s /bin/sh -c "'$PGBIN/initdb' -D '$data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$SV/pg-initdb.log" 2>&1 ||
			die "initdb failed, see $SV/pg-initdb.log"
	fi
	# Durability off: a crash loses a throwaway test cluster, nothing else.
	su "$PGUSER_OS" -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$data' -l '$pgd/pg.log' -w -t 60 start -o \"-h 127.0.0.1 -p $port -k '$sock' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\"" >/dev/null ||
		die "PostgreSQL did not start, see $pgd/pg.log"
	head -1 "$data/postmaster.pid" >"$SV/pg.pid"
	local psql=("$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtA)
	"${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='larder'" | grep -q 1 ||
		"${psql[@]}" -c "CREATE ROLE larder LOGIN SUPERUSER" >/dev/null
	"${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='larder'" | grep -q 1 ||
		"${psql[@]}" -c "CREATE DATABASE larder OWNER larder" >/dev/null
}

start_dynalite() {
	running dynalite && return
	local port
	port=$(pick_port dynalite "${LARDER_DYNAMODB_PORT:-18000}")
	# In memory; tables become ACTIVE at once so tests do not wait on CREATING.
	nohup node "$ROOT/build/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$port" \
		--createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >"$SV/dynalite.log" 2>&1 &
	echo $! >"$SV/dynalite.pid"
	wait_port "$port" dynalite
}

print_env() {
	running redis && echo "export LARDER_REDIS_URL=redis://127.0.0.1:$(cat "$SV/redis.port")/0"
	running redis-cluster && echo "export LARDER_REDIS_CLUSTER_URL=redis://127.0.0.1:$(cat "$SV/redis-cluster.port")"
	running redis-sentinel && echo "export LARDER_REDIS_SENTINEL_ADDR=127.0.0.1:$(cat "$SV/redis-sentinel.port")"
	running pg && echo "export LARDER_PG_DSN='postgres://larder@127.0.0.1:$(cat "$SV/pg.port")/larder?sslmode=disable'"
	running dynalite && echo "export LARDER_DYNAMODB_ENDPOINT=http://127.0.0.1:$(cat "$SV/dynalite.port")"
	return 0
}

stop_one() {
	local name=$1 pid
	pid=$(pid_of "$name")
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		if [ "$name" = pg ]; then
			su "$PGUSER_OS" -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$(pg_dir)/data' -m immediate -w stop" >/dev/null 2>&1 || kill "$pid"
		else
			kill "$pid"
		fi
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$SV/$name.pid"
}

case "${1:-}" in
start)
	mkdir -p "$SV"
	install_missing
	start_redis
	start_redis_cluster
	start_redis_sentinel
	start_pg
	start_dynalite
	print_env
	;;
env) print_env ;;
status) running redis && running redis-cluster && running redis-sentinel && running pg && running dynalite ;;
stop)
	for s in dynalite pg redis-sentinel redis-cluster redis; do stop_one "$s"; done
	# The Redis and DynamoDB data lives in memory; the Postgres cluster is kept for a faster
	# next start (it holds nothing but test tables).
	;;
*) die "usage: $0 start|env|status|stop" ;;
esac
