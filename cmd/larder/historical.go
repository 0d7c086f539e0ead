package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/larder-dev/larder/host"
)

// featureRefsFlag collects "view:feature" references, comma-separated or repeated.
type featureRefsFlag []string

func (f *featureRefsFlag) String() string { return strings.Join(*f, ",") }
func (f *featureRefsFlag) Set(s string) error {
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			*f = append(*f, r)
		}
	}
	return nil
}

func cmdHistorical(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) int {
	const name = "historical"
	fs := newFlags(name, "historical --entities FILE (--features v:f,... | --feature-service S) --out FILE.parquet [--full-feature-names]", g, stderr)
	entities := fs.String("entities", "", "entity rows: a Parquet or CSV `FILE` with the join keys and a timestamp column")
	query := fs.String("entities-query", "", "entity rows as a `SQL` SELECT instead of a file: DuckDB SQL that may read only --allow paths, or PostgreSQL SQL with offline_store type postgres")
	var allow featureRefsFlag
	fs.Var(&allow, "allow", "comma-separated `PATHS` --entities-query may read")
	tsCol := fs.String("timestamp-column", "", "the entity rows' timestamp `COLUMN` (default event_timestamp, else the only timestamp column)")
	var refs featureRefsFlag
	fs.Var(&refs, "features", "comma-separated feature `REFS` (view:feature)")
	service := fs.String("feature-service", "", "the feature `SERVICE` whose features to retrieve")
	out := fs.String("out", "", "the Parquet `FILE` to write (written whole or not at all)")
	full := fs.Bool("full-feature-names", false, "name output columns view__feature")
	memLimit := fs.String("memory-limit", "", "cap on the DuckDB engine's memory (e.g. `2GB`); beyond it joins and sorts spill to disk (default: offline_store.engine.memory_limit, else DuckDB's 80% of RAM)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 0:
		return usageError(stderr, name, "unexpected arguments %q", pos)
	case (*entities == "") == (*query == ""):
		return usageError(stderr, name, "give exactly one of --entities and --entities-query")
	case (len(refs) == 0) == (*service == ""):
		return usageError(stderr, name, "give exactly one of --features and --feature-service")
	case *out == "":
		return usageError(stderr, name, "--out is required")
	}
	req := host.HistoricalRequest{
		EntitiesPath: *entities, EntitiesQuery: *query, TimestampColumn: *tsCol,
		Features: refs, FeatureService: *service, FullFeatureNames: *full,
	}
	req.EngineAccess.Paths = allow
	req.Engine.MemoryLimit = *memLimit
	return withStore(ctx, g, name, stderr, func(s *host.FeatureStore) error {
		start := time.Now()
		res, err := s.GetHistoricalFeatures(ctx, req, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %d rows × %d columns to %s in %s\n", res.Rows, len(res.Columns), *out, time.Since(start).Round(time.Millisecond))
		return nil
	})
}
