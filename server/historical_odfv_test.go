package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/larder-dev/larder/host/hosttest"
)

// POST /get-historical-features with Feast quickstart's on-demand feature view (compiled
// to Wasm): the ODFV's columns are computed from the joined rows and the request data in
// the entity columns; a missing request column is a 422 before any byte is streamed.
func TestGetHistoricalFeaturesODFV(t *testing.T) {
	h := historicalServerFor(t, odfvQuickstartRepo(t, "odfv_conv_rate_go")).Handler()

	body := `{"features": ["driver_hourly_stats:conv_rate", "transformed_conv_rate:conv_rate_plus_val1"],
		"entities": {"driver_id": [1001, 1002, 999999, 1003],
		             "event_timestamp": ["2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z"],
		             "val_to_add": [1000, null, 5, -3], "val_to_add_2": [1, 2, 3, 4]}}`
	r := do(h, http.MethodPost, "/get-historical-features", body)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != MIMEArrowStream {
		t.Fatalf("status %d, content type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	rd, got := arrowStream(t, r.body)
	if got != "driver_id,event_timestamp,val_to_add,val_to_add_2,conv_rate,conv_rate_plus_val1" {
		t.Fatalf("columns %s", got)
	}
	var rows, computed int
	for rd.Next() {
		rec := rd.RecordBatch()
		add := rec.Column(2).(*array.Int64)
		conv := rec.Column(4).(*array.Float32)
		out := rec.Column(5).(*array.Float64)
		for i := 0; i < int(rec.NumRows()); i++ {
			rows++
			if conv.IsNull(i) || add.IsNull(i) {
				if out.IsValid(i) {
					t.Errorf("row %d: conv_rate_plus_val1 = %v from a null input", i, out.Value(i))
				}
				continue
			}
			computed++
			if want := float64(conv.Value(i)) + float64(add.Value(i)); out.IsNull(i) || out.Value(i) != want {
				t.Errorf("row %d: conv_rate_plus_val1 = %v, native %v", i, out.ValueStr(i), want)
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	// 1001 and 1003 have data and request values; 1002 has a null value; 999999 no data.
	if rows != 4 || computed != 2 {
		t.Fatalf("%d rows, %d computed; want 4 and 2", rows, computed)
	}

	r = do(h, http.MethodPost, "/get-historical-features", `{"features": ["transformed_conv_rate:conv_rate_plus_val2"],
		"entities": {"driver_id": [1001], "event_timestamp": ["2025-01-14T00:00:00Z"], "val_to_add": [1]}}`)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `missing request data [\"val_to_add_2\"]`) {
		t.Fatalf("missing request column: status %d, body %s", r.status, r.body)
	}
}

// An ODFV whose plugin returns a column of the wrong type fails on the first batch, before
// the stream starts: a JSON error, not a cut stream.
func TestGetHistoricalFeaturesODFVBadPlugin(t *testing.T) {
	fixtures, err := hosttest.BuildFixtures()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join(fixtures, "xform.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	h := historicalServerFor(t, wasmODFVRepo(t, body, "xform.wasm", "wrong_type")).Handler()
	r := do(h, http.MethodPost, "/get-historical-features", `{"features": ["transformed_conv_rate:conv_rate_plus_val1"],
		"entities": {"driver_id": [1001], "event_timestamp": ["2025-01-14T00:00:00Z"], "val_to_add": [1], "val_to_add_2": [2]}}`)
	// A plugin fault is the server's problem: 500, details in the log (as everywhere).
	if r.status != http.StatusInternalServerError || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") ||
		!strings.Contains(string(r.body), `"status_code":500`) {
		t.Fatalf("status %d, content type %q, body %s", r.status, r.header.Get("Content-Type"), r.body)
	}
}
