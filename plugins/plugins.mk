# First-party plugins: every plugins/<name>/ with a go.mod is a Go plugin (package main,
# built with sdk-go) and becomes $(BUILD)/plugins/<name>.wasm. Included by the root Makefile.

PLUGIN_OUT     ?= $(BUILD)/plugins
GO_PLUGIN_DIRS := $(patsubst %/go.mod,%,$(wildcard plugins/*/go.mod))
GO_PLUGINS     := $(patsubst plugins/%,$(PLUGIN_OUT)/%.wasm,$(GO_PLUGIN_DIRS))
# Sources a plugin module may depend on: any plugin's (over-approximated to keep the rule
# simple), the SDK's and the ABI's.
PLUGIN_DEPS    := $(wildcard plugins/*/*.go sdk-go/*.go sdk-go/go.mod sdk-go/internal/*/*.go abi/*.go abi/go.mod)
# Plugins with sub-packages (plugins/duckdb/planner).
PLUGIN_DEPS    += $(wildcard plugins/*/*/*.go)

.PHONY: plugins
plugins: $(GO_PLUGINS) ## build every first-party plugin into build/plugins/

# -trimpath and -s -w: reproducible modules without paths or DWARF (about a third smaller).
$(PLUGIN_OUT)/%.wasm: plugins/%/go.mod $(PLUGIN_DEPS)
	@mkdir -p $(PLUGIN_OUT)
	cd plugins/$* && GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -ldflags='-s -w' -o $@ .

.PHONY: plugins-test
plugins-test: plugins ## run the plugins' own tests, natively and against build/plugins/*.wasm
	@for d in $(GO_PLUGIN_DIRS); do (cd $$d && go test -count=1 ./...) || exit 1; done
