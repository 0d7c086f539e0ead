package host

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

func TestDuckDBPluginPullLatest(t *testing.T) {
	ctx := context.Background()
	store, err := LoadOfflineStore(ctx, PluginConfig{Path: testPlugin(t, "duckdb"), CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)

	src := filepath.Join(t.TempDir(), "stats.parquet")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`COPY (SELECT * FROM (VALUES
		(1, TIMESTAMP '2021-04-12 08:00:00', 0.1), (1, TIMESTAMP '2021-04-12 09:00:00', 0.2),
		(2, TIMESTAMP '2021-04-12 08:30:00', 0.3), (2, TIMESTAMP '2021-04-13 08:30:00', 0.9)) t(id, ts, v))
		TO '` + src + `' (FORMAT parquet)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	req := PullLatestRequest{
		Project: "p", View: "v",
		Source:         OfflineSource{Path: src, FileFormat: "parquet", TimestampField: "event_timestamp", FieldMapping: map[string]string{"ts": "event_timestamp", "id": "driver_id"}},
		JoinKeys:       []PlanColumn{{"driver_id", abi.TypeInt64}},
		FeatureColumns: []PlanColumn{{"v", abi.TypeDouble}},
		Start:          time.Date(2021, 4, 12, 0, 0, 0, 0, time.UTC),
		End:            time.Date(2021, 4, 13, 0, 0, 0, 0, time.UTC),
	}
	got := map[int64]float64{}
	_, n, err := pullLatest(ctx, store, req, offlineengine.Options{}, func(b *offlineengine.Batch) error {
		for _, r := range b.Rows {
			got[r[0].(int64)] = r[3].(float64)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || got[1] != 0.2 || got[2] != 0.3 {
		t.Fatalf("got %v (%d rows), want {1: 0.2, 2: 0.3}", got, n)
	}

	// A request the plugin cannot plan comes back as BAD_ARGUMENT with its message.
	req.Source.FileFormat = "delta"
	_, err = store.PlanPullLatest(ctx, req)
	if err == nil || !strings.Contains(err.Error(), `file_format "delta"`) {
		t.Fatalf("err = %v, want the plugin's complaint about the format", err)
	}
}
