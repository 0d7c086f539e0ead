package server

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/larder-dev/larder/host/registry"
)

// A feature view with online: false (Feast's offline-only view) over HTTP: historical
// retrieval serves it, online retrieval and a named materialization answer 422 naming it.
func TestOfflineOnlyViewOverHTTP(t *testing.T) {
	dir := quickstartRepo(t)
	st := registry.NewFileStore(filepath.Join(dir, "data", "registry.db"))
	reg, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fv := range reg.FeatureViews {
		if fv.Spec != nil && fv.Spec.Name == "driver_hourly_stats_fresh" {
			fv.Spec.Online, found = false, true
		}
	}
	if !found {
		t.Fatal("Feast's registry has no driver_hourly_stats_fresh")
	}
	if err := st.Save(reg); err != nil {
		t.Fatal(err)
	}
	h := historicalServerFor(t, dir).Handler()

	// driver_hourly_stats_fresh reads the same batch source as driver_hourly_stats.
	r := do(h, http.MethodPost, "/get-historical-features", `{"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats_fresh:conv_rate"],
		"full_feature_names": true,
		"entities": {"driver_id": [1001, 1002, 999999], "event_timestamp": ["2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z"]}}`)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != MIMEArrowStream {
		t.Fatalf("historical retrieval of an online: false view: status %d: %s", r.status, r.body)
	}
	rd, _ := arrowStream(t, r.body)
	var online, offline []any
	for rd.Next() {
		rec := rd.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			online = append(online, cell(rec.Column(2).(*array.Float32), i))
			offline = append(offline, cell(rec.Column(3).(*array.Float32), i))
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if len(offline) != 3 || offline[0] == nil || offline[1] == nil || offline[2] != nil ||
		offline[0] != online[0] || offline[1] != online[1] {
		t.Fatalf("offline-only view's conv_rate %v, the online view's %v", offline, online)
	}

	for _, tc := range []struct{ path, body, field string }{
		{"/get-online-features", `{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats_fresh:conv_rate"]}`, "features[0]"},
		{"/materialize", `{"start_ts": "2025-01-01T00:00:00", "end_ts": "2025-01-15T00:00:00", "feature_views": ["driver_hourly_stats_fresh"]}`, "feature_views[0]"},
	} {
		r := do(h, http.MethodPost, tc.path, tc.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `\"driver_hourly_stats_fresh\" is not`) ||
			!strings.Contains(string(r.body), tc.field) {
			t.Errorf("%s %s: status %d, body %s; want 422 on %s naming driver_hourly_stats_fresh", tc.path, tc.body, r.status, r.body, tc.field)
		}
	}
}

func cell(a *array.Float32, i int) any {
	if a.IsNull(i) {
		return nil
	}
	return a.Value(i)
}
