package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/larder-dev/larder/conformance"
)

// offlineBackends decides which backends the offline suite runs an offline-store module
// on. asked is --offline-backends ("" = decide from the manifest); dsn is the PostgreSQL
// server (--postgres, else $LARDER_PG_DSN). The manifest's features say what the module
// reads: "postgres" for PostgreSQL tables, "parquet"/"csv" for files. By default a module
// runs on DuckDB over Parquet files in a temporary directory unless it declares postgres
// and no file format, and on PostgreSQL when it declares postgres and a server is given;
// a backend left out is a SKIP line saying why.
func offlineBackends(info *conformance.PluginInfo, asked, dsn string) (run []string, skips []conformance.CaseResult, err error) {
	skip := func(backend, why string) {
		skips = append(skips, conformance.CaseResult{Suite: "offline", Group: backend, Name: backend, Status: conformance.Skip, Message: why})
	}
	if asked != "" {
		for _, b := range strings.Split(asked, ",") {
			switch b = strings.TrimSpace(b); b {
			case "duckdb":
			case "postgres":
				if dsn == "" {
					return nil, nil, fmt.Errorf("--offline-backends postgres needs a PostgreSQL server: pass --postgres DSN or set LARDER_PG_DSN")
				}
			default:
				return nil, nil, fmt.Errorf("--offline-backends: unknown backend %q (want duckdb, postgres)", b)
			}
			if !slices.Contains(run, b) {
				run = append(run, b)
			}
		}
		return run, nil, nil
	}
	pg := slices.Contains(info.Features, "postgres")
	files := slices.Contains(info.Features, "parquet") || slices.Contains(info.Features, "csv")
	if !pg || files {
		run = append(run, "duckdb")
	} else {
		skip("duckdb", fmt.Sprintf("plugin %s declares the postgres feature and no file format (parquet, csv); pass --offline-backends duckdb to run it anyway", info.ID))
	}
	switch {
	case pg && dsn != "":
		run = append(run, "postgres")
	case pg:
		skip("postgres", "no PostgreSQL server: pass --postgres DSN or set LARDER_PG_DSN (scripts/services.sh start prints one)")
	}
	return run, skips, nil
}

// runOfflineConformance runs the offline suite (conformance.RunOffline) on an offline
// store module: the module is installed under the first-party name each backend's
// feature_store.yaml loads (duckdb.wasm for type file, postgres_offline.wasm for type
// postgres) in a private plugin directory.
func runOfflineConformance(ctx context.Context, path string, backends []string, dsn string, opts conformance.Options) (conformance.Report, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return conformance.Report{}, err
	}
	dir, err := os.MkdirTemp(opts.TempDir, "larder-offline-plugins-")
	if err != nil {
		return conformance.Report{}, fmt.Errorf("creating the plugin directory: %w", err)
	}
	defer os.RemoveAll(dir)
	var targets []conformance.OfflineTarget
	for _, b := range backends {
		var tg conformance.OfflineTarget
		name := "duckdb"
		switch b {
		case "duckdb":
			tg = conformance.DuckDBOfflineTarget(dir)
		case "postgres":
			name = "postgres_offline"
			tg = conformance.PostgresOfflineTarget(dir, dsn)
		}
		if err := os.Symlink(abs, filepath.Join(dir, name+".wasm")); err != nil {
			return conformance.Report{}, fmt.Errorf("installing %s as %s.wasm: %w", path, name, err)
		}
		targets = append(targets, tg)
	}
	return conformance.RunOffline(ctx, targets, opts), nil
}
