#!/usr/bin/env bash
# Installs what Larder's build and tests need when it is missing. Safe to run repeatedly.
set -euo pipefail

need_apt=()
[ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || need_apt+=(rustc cargo libstd-rust-dev-wasm32)
command -v redis-server >/dev/null || need_apt+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v curl >/dev/null || need_apt+=(curl)

if [ ${#need_apt[@]} -gt 0 ]; then
	echo "installing apt packages: ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Go modules of every module in the repository.
for mod in $(git ls-files '*go.mod' 2>/dev/null || find . -name go.mod -not -path './build/*'); do
	(cd "$(dirname "$mod")" && go mod download)
done
