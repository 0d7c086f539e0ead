package sdktest

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host"
)

// WasmOnlineStore loads the online store module at path through the real host
// (host.LoadOnlineStore), granting what opts binds for the phases the plugin asks for,
// as NativeOnlineStore does. It is closed at test cleanup.
func WasmOnlineStore(t testing.TB, path string, opts Options) host.OnlineStore {
	t.Helper()
	ctx := context.Background()
	cfg := host.PluginConfig{Path: path, Config: opts.Config, Limits: opts.Limits,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}

	// Learn the requested phases first: the grants mirror the manifest, as an operator's
	// grants would, so phase rules behave as in NativeOnlineStore.
	probe, err := host.LoadPlugin(ctx, cfg)
	if err != nil {
		t.Fatalf("sdktest: loading %s: %v", path, err)
	}
	m := probe.Manifest()
	probe.Close(ctx)
	bound := map[string]bool{}
	for _, c := range m.Capabilities {
		if c.Kind != abi.CapSQL {
			continue
		}
		if db, ok := opts.SQL[c.Name]; ok {
			cfg.Grants = append(cfg.Grants, host.Grant{Kind: c.Kind, Name: c.Name, Phases: c.Phases,
				SQL: &host.SQLGrant{Path: db}})
			bound[c.Name] = true
		}
	}
	for name := range opts.SQL {
		if !bound[name] {
			t.Fatalf("sdktest: Options.SQL binds %q, but plugin %q requests no sql capability of that name", name, m.ID)
		}
	}
	s, err := host.LoadOnlineStore(ctx, cfg)
	if err != nil {
		t.Fatalf("sdktest: loading online store %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// testWriter sends the host's plugin log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
