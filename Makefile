# Larder — run `make` for the list of targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BUILD     := $(CURDIR)/build
LARDER    := $(BUILD)/larder
export LARDER_PLUGIN_DIR ?= $(BUILD)/plugins
# Debian's rustc 1.63 carries the wasm32 targets; rustup's toolchain here does not.
DEB_RUSTC := /usr/bin/rustc
DEB_CARGO := /usr/bin/cargo

-include plugins/plugins.mk
-include conformance/fixtures/fixtures.mk
-include sdk-rust/sdk-rust.mk

.PHONY: help
help: ## list the targets
	@echo "Larder make targets:"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort -u | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install what the build and tests need (apt packages, Go modules) if missing
	@./scripts/install-deps.sh

.PHONY: build
build: deps plugins ## build the larder binary and every first-party plugin
	$(GO) build -o $(LARDER) ./cmd/larder

.PHONY: demo
demo: build ## the main job: init an example repo, apply, materialize, serve and query it
	@./scripts/demo.sh

.PHONY: test
test: build fixtures ## run every test (Go modules, plugins, conformance) against real stores
	@./scripts/test.sh

.PHONY: bench
bench: build fixtures ## run the benchmarks and print results (see BENCHMARKS.md)
	@./scripts/bench.sh

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	@./scripts/fuzz.sh $${FUZZTIME:-60s}

FEAST_PY ?= /opt/feast-venv/bin/python

.PHONY: interop
interop: build ## cross-check the Redis, Postgres and DynamoDB stores with Feast 0.67 (FEAST_PY venv), both ways (~6 min)
	@$(FEAST_PY) -c 'import redis, psycopg, boto3, aiobotocore' 2>/dev/null || $(FEAST_PY) -m pip install -q 'feast[redis,postgres,aws]==0.67.0'
	@started=0; scripts/services.sh status 2>/dev/null || started=1; \
	eval "$$(scripts/services.sh start)"; rc=0; \
	for s in redis postgres dynamodb; do $(FEAST_PY) interop/store_interop.py --store $$s || rc=1; done; \
	[ $$started = 1 ] && scripts/services.sh stop; exit $$rc

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BUILD)
