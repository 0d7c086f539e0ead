package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/repo"
	"github.com/larder-dev/larder/server"
)

// openStore opens the feature repo named by the shared flags.
func openStore(ctx context.Context, g *globals, stderr io.Writer, extra func(*host.OpenOptions)) (*host.FeatureStore, error) {
	o := host.OpenOptions{ConfigFile: g.configFile, Logger: logger(g, stderr)}
	if extra != nil {
		extra(&o)
	}
	return host.Open(ctx, g.repoDir, o)
}

func logger(g *globals, stderr io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// withStore opens the store, runs f and closes the store.
func withStore(ctx context.Context, g *globals, name string, stderr io.Writer, f func(*host.FeatureStore) error) int {
	fs, err := openStore(ctx, g, stderr, nil)
	if err != nil {
		return fail(stderr, name, err)
	}
	err = f(fs)
	cerr := fs.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fail(stderr, name, err)
	}
	if cerr != nil {
		return fail(stderr, name, cerr)
	}
	return 0
}

func cmdInit(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("init", "init [DIR] [--project NAME]", g, stderr)
	project := fs.String("project", "", "project `NAME` (default: the directory's name)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return usageError(stderr, "init", "expected at most one DIR, got %d arguments", len(pos))
	}
	dir := g.repoDir
	if len(pos) == 1 {
		dir = pos[0]
		if !filepath.IsAbs(dir) && g.repoDir != "." {
			dir = filepath.Join(g.repoDir, dir)
		}
	}
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: *project}); err != nil {
		return fail(stderr, "init", err)
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(stdout, "Created a feature repo in %s\n\n", abs)
	fmt.Fprintf(stdout, "  %-28s stores, registry and project\n", repo.ConfigFileName)
	fmt.Fprintf(stdout, "  %-28s entities, sources, feature views, feature services\n", repo.ScaffoldDefinitions)
	fmt.Fprintf(stdout, "  %-28s 15 days of hourly driver statistics\n\n", repo.ScaffoldData)
	fmt.Fprintf(stdout, "Next:\n  cd %s\n  larder apply\n  larder materialize-incremental $(date -u +%%Y-%%m-%%dT%%H:%%M:%%S)\n  larder serve\n", dir)
	return 0
}

func cmdPlan(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("plan", "plan", g, stderr)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "plan", "unexpected arguments: %s", strings.Join(pos, " "))
	}
	return withStore(ctx, g, "plan", stderr, func(s *host.FeatureStore) error {
		p, err := s.Apply(ctx, true)
		if err != nil {
			return err
		}
		_, err = p.WriteTo(stdout)
		return err
	})
}

func cmdApply(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("apply", "apply", g, stderr)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "apply", "unexpected arguments: %s", strings.Join(pos, " "))
	}
	return withStore(ctx, g, "apply", stderr, func(s *host.FeatureStore) error {
		fmt.Fprintf(stdout, "Applying changes for project %s\n", s.Project())
		p, err := s.Apply(ctx, false)
		if err != nil {
			return err
		}
		_, err = p.WriteTo(stdout)
		return err
	})
}

func cmdTeardown(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("teardown", "teardown", g, stderr)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "teardown", "unexpected arguments: %s", strings.Join(pos, " "))
	}
	return withStore(ctx, g, "teardown", stderr, func(s *host.FeatureStore) error {
		p, err := s.Teardown(ctx)
		if err != nil {
			return err
		}
		if !p.HasChanges() {
			fmt.Fprintf(stdout, "Nothing to tear down for project %s.\n", s.Project())
			return nil
		}
		_, err = p.WriteTo(stdout)
		return err
	})
}

// parseTime reads a CLI timestamp: RFC 3339, or Feast's ISO forms without a zone (taken
// as UTC, as Feast does), or "now".
func parseTime(s string) (time.Time, error) {
	if s == "now" {
		return time.Now().UTC(), nil
	}
	t, err := feast.ParseTimestampText(s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func splitViews(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// viewsFlag collects --views a,b and repeated -v a -v b, as Feast's -v/--views.
type viewsFlag []string

func (v *viewsFlag) String() string     { return strings.Join(*v, ",") }
func (v *viewsFlag) Set(s string) error { *v = append(*v, splitViews(s)...); return nil }

func cmdMaterialize(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("materialize", "materialize START END [--views a,b] [--disable-event-timestamp]", g, stderr)
	var views viewsFlag
	fs.Var(&views, "views", "materialize only these comma-separated feature `VIEWS`")
	fs.Var(&views, "v", "same as --views")
	noTS := fs.Bool("disable-event-timestamp", false, "materialize all data regardless of event timestamps (window: epoch to now); START and END must be omitted")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	var req host.MaterializeRequest
	switch {
	case *noTS:
		if len(pos) != 0 {
			return usageError(stderr, "materialize", "START and END must be omitted with --disable-event-timestamp")
		}
		req.Start, req.End = time.Unix(0, 0).UTC(), time.Now().UTC()
	case len(pos) != 2:
		return usageError(stderr, "materialize", "expected START and END, got %d arguments", len(pos))
	default:
		var err error
		if req.Start, err = parseTime(pos[0]); err != nil {
			return usageError(stderr, "materialize", "START: %v", err)
		}
		if req.End, err = parseTime(pos[1]); err != nil {
			return usageError(stderr, "materialize", "END: %v", err)
		}
	}
	req.FeatureViews = []string(views)
	req.Progress = stdout
	return withStore(ctx, g, "materialize", stderr, func(s *host.FeatureStore) error {
		return s.Materialize(ctx, req)
	})
}

func cmdMaterializeIncremental(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("materialize-incremental", "materialize-incremental END [--views a,b]", g, stderr)
	var views viewsFlag
	fs.Var(&views, "views", "materialize only these comma-separated feature `VIEWS`")
	fs.Var(&views, "v", "same as --views")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "materialize-incremental", "expected END, got %d arguments", len(pos))
	}
	end, err := parseTime(pos[0])
	if err != nil {
		return usageError(stderr, "materialize-incremental", "END: %v", err)
	}
	req := host.MaterializeIncrementalRequest{End: end, FeatureViews: []string(views), Progress: stdout}
	return withStore(ctx, g, "materialize-incremental", stderr, func(s *host.FeatureStore) error {
		return s.MaterializeIncremental(ctx, req)
	})
}

func cmdServe(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("serve", "serve [--host HOST] [--port PORT]", g, stderr)
	hostName := fs.String("host", "127.0.0.1", "`HOST` to listen on (Feast: -h/--host; here -h is help)")
	port := fs.Int("port", 6566, "`PORT` to listen on")
	fs.IntVar(port, "p", 6566, "same as --port")
	metrics := fs.String("metrics-addr", "", "also serve /metrics on `ADDR` (e.g. 127.0.0.1:8000)")
	cert := fs.String("cert", "", "TLS certificate `FILE` (with --key: serve HTTPS)")
	key := fs.String("key", "", "TLS private key `FILE`")
	ttl := fs.Int("registry_ttl_sec", -1, "registry cache TTL in `SECONDS` (default: the registry's cache_ttl_seconds)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "serve", "unexpected arguments: %s", strings.Join(pos, " "))
	}
	if (*cert == "") != (*key == "") {
		return usageError(stderr, "serve", "--cert and --key go together")
	}
	log := logger(g, stderr)
	store, err := openStore(ctx, g, stderr, func(o *host.OpenOptions) {
		if *ttl >= 0 {
			o.RegistryTTL = time.Duration(*ttl) * time.Second
			o.RegistryTTLSet = true
		}
	})
	if err != nil {
		return fail(stderr, "serve", err)
	}
	defer store.Close(context.WithoutCancel(ctx))
	// Load the registry and every plugin now: a missing plugin stops serve here, not on
	// the first request, and no request ever waits for a plugin to compile.
	if err := store.Warm(ctx); err != nil {
		return fail(stderr, "serve", err)
	}
	srv := server.New(store, server.Options{Logger: log, MetricsAddr: *metrics, TLSCertFile: *cert, TLSKeyFile: *key, Version: version})
	addr := net.JoinHostPort(*hostName, strconv.Itoa(*port))
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "Serving project %s at %s://%s (Ctrl-C to stop)\n", store.Project(), scheme, addr)
	if err := srv.Run(ctx, addr); err != nil {
		return fail(stderr, "serve", err)
	}
	return 0
}

func cmdRegistryDump(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("registry-dump", "registry-dump", g, stderr)
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(stderr, "registry-dump", "unexpected arguments: %s", strings.Join(pos, " "))
	}
	return withStore(ctx, g, "registry-dump", stderr, func(s *host.FeatureStore) error {
		b, err := s.RegistryDump(ctx)
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	})
}

func cmdPlugin(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "inspect" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, "usage: larder plugin inspect PLUGIN.wasm [--config JSON]\n")
			return 0
		}
		return usageError(stderr, "plugin", "expected a subcommand: inspect PLUGIN.wasm")
	}
	fs := newFlags("plugin inspect", "plugin inspect PLUGIN.wasm [--config JSON]", g, stderr)
	config := fs.String("config", "", "larder_init config `JSON` object (default {})")
	asJSON := fs.Bool("json", false, "print everything as one JSON object")
	pos, code, ok := parseArgs(fs, args[1:])
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(stderr, "plugin", "expected one PLUGIN.wasm, got %d arguments", len(pos))
	}
	var cfg json.RawMessage
	if *config != "" {
		if !json.Valid([]byte(*config)) || !strings.HasPrefix(strings.TrimSpace(*config), "{") {
			return usageError(stderr, "plugin", "--config must be a JSON object, got %q", *config)
		}
		cfg = json.RawMessage(*config)
	}
	if _, err := os.Stat(pos[0]); err != nil {
		return fail(stderr, "plugin inspect", err)
	}
	p, err := host.LoadPlugin(ctx, host.PluginConfig{Path: pos[0], Config: cfg, CacheDir: "-", Logger: logger(g, stderr)})
	if err != nil {
		return fail(stderr, "plugin inspect", err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	info := p.Info()
	var manifest any
	if err := json.Unmarshal(info.Manifest.Raw, &manifest); err != nil {
		manifest = string(info.Manifest.Raw)
	}
	if *asJSON {
		out := map[string]any{
			"path": info.Path, "sha256": info.SHA256, "abi_version": info.ABIVersion, "exports": info.Exports,
			"memory_limit_bytes": info.MemoryBytes, "interruptible": info.Interruptible, "manifest": manifest,
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	m := info.Manifest
	fmt.Fprintf(stdout, "path:        %s\nsha256:      %s\nabi:         v%s\nid:          %s\nkind:        %s\nversion:     %s\nsdk:         %s\n",
		info.Path, info.SHA256, info.ABIVersion, m.ID, m.Kind, m.Version, m.SDK)
	fmt.Fprintf(stdout, "exports:     %s\n", strings.Join(info.Exports, ", "))
	if len(m.Capabilities) == 0 {
		fmt.Fprintf(stdout, "capabilities: none\n")
	} else {
		fmt.Fprintf(stdout, "capabilities:\n")
		for _, c := range m.Capabilities {
			fmt.Fprintf(stdout, "  %s %q in phases %s\n", c.Kind, c.Name, strings.Join(c.Phases, ", "))
		}
	}
	b, _ := json.MarshalIndent(manifest, "", "  ")
	fmt.Fprintf(stdout, "manifest:\n%s\n", b)
	return 0
}
