package host

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/config"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/repo"
)

func TestEngineOptionsFromConfig(t *testing.T) {
	fs := &FeatureStore{cfg: &config.Config{OfflineStore: &config.Store{Engine: config.Engine{
		MemoryBytes: 2 << 30, Threads: 3, TempDirectory: "/scratch"}}}}
	for _, tc := range []struct {
		name     string
		in, want offlineengine.Options
	}{
		{"unset takes the config", offlineengine.Options{BatchSize: 7},
			offlineengine.Options{BatchSize: 7, MemoryLimit: "2147483648B", Threads: 3, TempDir: "/scratch"}},
		{"the request wins", offlineengine.Options{MemoryLimit: "1GB", Threads: 1, TempDir: "/fast"},
			offlineengine.Options{MemoryLimit: "1GB", Threads: 1, TempDir: "/fast"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fs.engineOptions(tc.in); !equalOptions(got, tc.want) {
				t.Errorf("engineOptions(%+v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	none := &FeatureStore{cfg: &config.Config{}}
	if got := none.engineOptions(offlineengine.Options{Threads: 2}); !equalOptions(got, offlineengine.Options{Threads: 2}) {
		t.Errorf("without an offline store: %+v", got)
	}
}

func equalOptions(a, b offlineengine.Options) bool {
	return a.MemoryLimit == b.MemoryLimit && a.Threads == b.Threads && a.TempDir == b.TempDir && a.BatchSize == b.BatchSize
}

// feature_store.yaml's offline_store.engine reaches the DuckDB database of a historical
// retrieval: a temp_directory that is a file fails it, a directory receives the spill
// directory, which is gone afterwards, and the working directory stays clean.
func TestHistoricalUsesConfiguredEngine(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	for _, name := range []string{"sqlite", "duckdb"} {
		if err := os.Symlink(testPlugin(t, name), filepath.Join(plugins, name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	cwd := t.TempDir()
	t.Chdir(cwd) // after finding the plugins, which testPlugin looks up relative to the package
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd.Add(time.Hour)}}
	tr.edit(t, "feature_store.yaml", "offline_store:\n  type: duckdb\n",
		"offline_store:\n  type: duckdb\n  engine:\n    memory_limit: 64MiB\n    threads: 1\n    temp_directory: scratch\n")
	tr.fs = tr.open(t, plugins)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	ents := filepath.Join(t.TempDir(), "entities.parquet")
	duckExec(t, `COPY (SELECT driver_id, event_timestamp + INTERVAL 30 MINUTE AS event_timestamp
		FROM read_parquet(`+sqlQuote(tr.path("data/driver_stats.parquet"))+`) LIMIT 20) TO `+sqlQuote(ents)+` (FORMAT parquet)`)
	req := HistoricalRequest{EntitiesPath: ents, Features: []string{"driver_hourly_stats:conv_rate"}}
	out := filepath.Join(t.TempDir(), "out.parquet")

	scratch := tr.path("scratch")
	if err := os.WriteFile(scratch, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := tr.fs.GetHistoricalFeatures(ctx, req, out)
	if err == nil || !strings.Contains(err.Error(), "temp directory") || !strings.Contains(err.Error(), scratch) {
		t.Fatalf("with temp_directory a regular file: err %v, want the engine's temp directory error naming %s", err, scratch)
	}

	if err := os.Remove(scratch); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := tr.fs.GetHistoricalFeatures(ctx, req, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 20 {
		t.Errorf("got %d rows, want 20", res.Rows)
	}
	for _, d := range []string{scratch, cwd} {
		if es, err := os.ReadDir(d); err != nil || len(es) > 0 {
			t.Errorf("%s after the retrieval: %v (err %v), want empty", d, es, err)
		}
	}
}
