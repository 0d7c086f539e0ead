package host

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Feature views with online: false (Feast's offline-only views) are never materialized
// but are read for training data: historical retrieval serves them, online retrieval
// refuses them by name, materialization skips them or, when they are named, refuses them
// (as Feast's materialize does).

// offlineOnlyRepo is the scaffolded repo with driver_hourly_stats_fresh (same batch source
// as driver_hourly_stats) switched to online: false, applied.
func offlineOnlyRepo(t *testing.T) *testRepo {
	t.Helper()
	tr := newTestRepo(t)
	tr.edit(t, "features.yaml", "online: true\n    source: driver_stats_push_source", "online: false\n    source: driver_stats_push_source")
	if _, err := tr.fs.Apply(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	return tr
}

// sampleEntities writes n entity rows half an hour after source rows to a Parquet file.
func offlineOnlyEntities(t *testing.T, tr *testRepo, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "entities.parquet")
	duckExec(t, `COPY (SELECT driver_id, event_timestamp + INTERVAL 30 MINUTE AS event_timestamp
		FROM read_parquet(`+sqlQuote(tr.path("data/driver_stats.parquet"))+`)
		ORDER BY event_timestamp, driver_id LIMIT `+strconv.Itoa(n)+`) TO `+sqlQuote(p)+` (FORMAT parquet)`)
	return p
}

func TestOfflineOnlyViewHistorical(t *testing.T) {
	ctx := context.Background()
	tr := offlineOnlyRepo(t)
	dir := t.TempDir()
	const n = 40
	ents := offlineOnlyEntities(t, tr, dir, n)

	// Both views read the same batch source, so the offline-only view's column must equal
	// the online view's row for row.
	out := filepath.Join(dir, "out.parquet")
	res, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, FullFeatureNames: true,
		Features: []string{"driver_hourly_stats:conv_rate", "driver_hourly_stats_fresh:conv_rate"}}, out)
	if err != nil {
		t.Fatalf("historical retrieval of an online: false view: %v", err)
	}
	if res.Rows != n {
		t.Fatalf("%d rows, want %d", res.Rows, n)
	}
	rows := duckRows(t, `SELECT driver_hourly_stats__conv_rate, driver_hourly_stats_fresh__conv_rate FROM read_parquet(`+sqlQuote(out)+`)`)
	matched := 0
	for i, r := range rows {
		if r[0] != r[1] {
			t.Fatalf("row %d: offline-only view gives %v, the online view over the same source %v", i, r[1], r[0])
		}
		if r[1] != nil {
			matched++
		}
	}
	if matched < n/2 {
		t.Fatalf("only %d of %d rows matched a feature row: the data does not exercise the join", matched, n)
	}

	// A feature service over the offline-only view.
	out = filepath.Join(dir, "svc.parquet")
	if res, err = tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents, FeatureService: "driver_activity_v3"}, out); err != nil {
		t.Fatalf("historical retrieval of a feature service over an online: false view: %v", err)
	}
	if res.Rows != n || len(res.Columns) != 5 {
		t.Fatalf("feature service result: %d rows, columns %v", res.Rows, res.Columns)
	}
}

func TestOfflineOnlyViewOnlineAndMaterialize(t *testing.T) {
	ctx := context.Background()
	tr := offlineOnlyRepo(t)
	ents := []Column{{Name: "driver_id", Values: []json.RawMessage{json.RawMessage("1001")}}}
	for _, tc := range []struct {
		name  string
		req   OnlineFeaturesRequest
		field string
	}{
		{"reference", OnlineFeaturesRequest{Entities: ents, Features: []string{"driver_hourly_stats:conv_rate", "driver_hourly_stats_fresh:conv_rate"}}, "features[1]"},
		{"feature service", OnlineFeaturesRequest{Entities: ents, FeatureService: "driver_activity_v3"}, "feature_service"},
	} {
		t.Run("online "+tc.name, func(t *testing.T) {
			_, err := tr.fs.GetOnlineFeatures(ctx, tc.req)
			re, ok := AsRequestError(err)
			if !ok || re.Kind != Unprocessable || re.Field != tc.field ||
				!strings.Contains(err.Error(), `"driver_hourly_stats_fresh" is not served online (online: false)`) {
				t.Fatalf("error %v, want a 422 on %s naming driver_hourly_stats_fresh", err, tc.field)
			}
		})
	}

	st, err := tr.fs.onlineStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingStore{OnlineStore: st, rows: map[string]int{}}
	tr.fs.online = counter
	end := dataEnd.Add(time.Hour)

	// Named: refused, nothing written.
	err = tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: end, FeatureViews: []string{"driver_hourly_stats", "driver_hourly_stats_fresh"}})
	if re, ok := AsRequestError(err); !ok || re.Kind != Unprocessable || re.Field != "feature_views[1]" || !strings.Contains(err.Error(), `"driver_hourly_stats_fresh" is not online`) {
		t.Fatalf("materializing a named online: false view: %v, want a 422 on feature_views[1]", err)
	}
	if got := counter.take(); len(got) != 0 {
		t.Fatalf("a refused materialization wrote %v", got)
	}

	// Every view: the offline-only one is skipped, the others are loaded.
	var progress bytes.Buffer
	if err := tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: end, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); got["driver_hourly_stats"] == 0 || len(got) != 1 {
		t.Fatalf("rows written: %v, want driver_hourly_stats only", got)
	}
	if !strings.Contains(progress.String(), "Materializing 1 feature view ") {
		t.Fatalf("progress output:\n%s", progress.String())
	}
	if err := tr.fs.MaterializeIncremental(ctx, MaterializeIncrementalRequest{End: end.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); got["driver_hourly_stats_fresh"] != 0 {
		t.Fatalf("incremental materialization wrote the online: false view: %v", got)
	}
}

// TestOfflineOnlyODFVSource: an on-demand feature view over an online: false view is
// computed in historical retrieval; online it is refused, naming the source view.
func TestOfflineOnlyODFVSource(t *testing.T) {
	ctx := context.Background()
	tr := histODFVRepo(t, exampleODFV(t, "odfv_conv_rate_go"), "")
	tr.edit(t, "features.yaml", "online: true\n    source: driver_hourly_stats_source", "online: false\n    source: driver_hourly_stats_source")
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 40
	ents := histODFVEntities(t, tr, dir, n)
	out := filepath.Join(dir, "odfv.parquet")
	res, err := tr.fs.GetHistoricalFeatures(ctx, HistoricalRequest{EntitiesPath: ents,
		Features: []string{"driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1"}}, out)
	if err != nil {
		t.Fatalf("historical ODFV over an online: false view: %v", err)
	}
	if res.Rows != n {
		t.Fatalf("%d rows, want %d", res.Rows, n)
	}
	computed := 0
	for i, r := range duckRows(t, `SELECT conv_rate, val_to_add, conv_rate_plus_val1 FROM read_parquet(`+sqlQuote(out)+`)`) {
		if want := nativeConvRateCell(r[0], r[1]); !sameCell(r[2], want) {
			t.Fatalf("row %d: conv_rate_plus_val1 = %v, native %v", i, r[2], want)
		} else if want != nil {
			computed++
		}
	}
	if computed < n/2 {
		t.Fatalf("only %d of %d rows computed", computed, n)
	}

	_, err = tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{
		Entities: []Column{
			{Name: "driver_id", Values: []json.RawMessage{json.RawMessage("1001")}},
			{Name: "val_to_add", Values: []json.RawMessage{json.RawMessage("1")}},
			{Name: "val_to_add_2", Values: []json.RawMessage{json.RawMessage("2")}},
		},
		Features: []string{"transformed_conv_rate:conv_rate_plus_val1"},
	})
	if re, ok := AsRequestError(err); !ok || re.Kind != Unprocessable || re.Field != "features[0]" ||
		!strings.Contains(err.Error(), `source feature view "driver_hourly_stats" is not served online (online: false)`) {
		t.Fatalf("online ODFV over an online: false view: %v, want a 422 naming driver_hourly_stats", err)
	}
}
