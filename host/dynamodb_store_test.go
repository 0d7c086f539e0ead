package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/repo"
)

// TestDynamoDBOnlineStore runs apply, materialize, read and teardown through the real
// Rust dynamodb plugin on dynalite, configured with Feast's keys.
func TestDynamoDBOnlineStore(t *testing.T) {
	ep := os.Getenv("LARDER_DYNAMODB_ENDPOINT")
	if ep == "" {
		t.Skip("LARDER_DYNAMODB_ENDPOINT is not set: run scripts/services.sh start (make test does) to test against dynalite")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "repo")
	// A project of its own: the tables are {project}.{view} on a shared dynalite.
	project := fmt.Sprintf("demo%d", time.Now().UnixNano())
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: project, Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	if err := os.Symlink(testPlugin(t, "duckdb"), filepath.Join(plugins, "duckdb.wasm")); err != nil {
		t.Fatal(err)
	}
	dyn := filepath.Join("..", "build", "plugins", "dynamodb.wasm")
	if p := FindPlugin([]string{os.Getenv(PluginDirEnv), filepath.Join("..", "build", "plugins")}, "", "dynamodb"); p != "" {
		dyn = p
	}
	if _, err := os.Stat(dyn); err != nil {
		t.Fatalf("the Rust dynamodb plugin is not built (make plugins): %v", err)
	}
	abs, _ := filepath.Abs(dyn)
	if err := os.Symlink(abs, filepath.Join(plugins, "dynamodb.wasm")); err != nil {
		t.Fatal(err)
	}
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd.Add(time.Hour)}}
	tr.edit(t, "feature_store.yaml", "  type: sqlite\n  path: data/online_store.db\n",
		"  type: dynamodb\n  region: us-west-2\n  endpoint_url: "+ep+"\n  consistent_reads: true\n")
	tr.fs = tr.open(t, plugins)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	end := dataEnd.Add(time.Hour)
	if err := tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: end}); err != nil {
		t.Fatal(err)
	}
	// readDrivers (featurestore_test.go) reads project "demo": read through the store here.
	st, err := tr.fs.onlineStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := latestInParquet(t, tr.path("data/driver_stats.parquet"), time.Unix(0, 0), end)
	keys, ids := entityKeys(t, want)
	res, err := st.Read(ctx, ReadRequest{Project: project, Views: []ReadView{{Name: "driver_hourly_stats", Features: []string{"conv_rate", "acc_rate", "avg_daily_trips"}, EntityKeys: keys}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		for f := 0; f < 3; f++ {
			if res.Views[0][i*3+f].Value == nil {
				t.Fatalf("driver %d feature %d not found after materialize", ids[i], f)
			}
		}
	}
	if _, err := tr.fs.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
}

// entityKeys serializes the driver ids of want (v3), in id order.
func entityKeys(t *testing.T, want map[int64][3]float64) ([][]byte, []int64) {
	t.Helper()
	var ids []int64
	for id := range want {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var keys [][]byte
	for _, id := range ids {
		k, err := feast.SerializeEntityKey([]string{"driver_id"}, []feast.Value{feast.Int64Value(id)}, 3)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys, ids
}
