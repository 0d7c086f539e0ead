# Rust: sdk-rust and every plugins/<name>/ with a Cargo.toml (built to $(BUILD)/plugins/<name>.wasm).
# Debian's rustc/cargo carry the wasm32 targets; rustup's toolchain on our machines does not.
# Included by the root Makefile.

RUST_ENV          := RUSTC=$(DEB_RUSTC) RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=$(BUILD)/cargo
RUST_PLUGIN_DIRS  := $(patsubst %/Cargo.toml,%,$(wildcard plugins/*/Cargo.toml))
RUST_PLUGINS      := $(patsubst plugins/%,$(BUILD)/plugins/%.wasm,$(RUST_PLUGIN_DIRS))
RUST_DEPS         := $(wildcard sdk-rust/Cargo.toml sdk-rust/src/*.rs plugins/*/src/*.rs plugins/*/Cargo.toml)

plugins: $(RUST_PLUGINS)

# Every plugin's library is named "plugin", and cargo leaves the hash out of a cdylib
# crate's file names, so each plugin gets its own target directory: in a shared one the
# plugins overwrite each other's libplugin.rlib and plugin.wasm (tests then link against
# another plugin, and a build copies another plugin's module under its name).
$(BUILD)/plugins/%.wasm: plugins/%/Cargo.toml $(RUST_DEPS)
	@mkdir -p $(BUILD)/plugins
	cd plugins/$* && $(RUST_ENV) CARGO_TARGET_DIR=$(BUILD)/cargo-wasm/$* $(DEB_CARGO) build --offline --quiet --release --target wasm32-unknown-unknown
	cp $(BUILD)/cargo-wasm/$*/wasm32-unknown-unknown/release/plugin.wasm $@.tmp && mv $@.tmp $@

.PHONY: rust-test
rust-test: ## cargo test sdk-rust and the Rust plugins with Debian's toolchain
	cd sdk-rust && $(RUST_ENV) $(DEB_CARGO) test --offline --quiet
	@for d in $(RUST_PLUGIN_DIRS); do (cd $$d && $(RUST_ENV) CARGO_TARGET_DIR=$(BUILD)/cargo-test/$$(basename $$d) $(DEB_CARGO) test --offline --quiet) || exit 1; done
