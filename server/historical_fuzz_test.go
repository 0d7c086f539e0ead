package server

import (
	"testing"

	"github.com/larder-dev/larder/host/arrowout"
)

// FuzzDecodeHistorical: any body either fails with a request error or yields rectangular,
// typed entity rows that the Parquet writer accepts.
func FuzzDecodeHistorical(f *testing.F) {
	f.Add([]byte(`{"features": ["v:f"], "entities": {"driver_id": [1, null], "event_timestamp": ["2025-01-14T00:00:00Z", 1.5], "x": [0.5, true]}}`))
	f.Add([]byte(`{"entities": {"a": ["x", null], "event_timestamp": [null, null], "b": [1e400, 2]}}`))
	f.Add([]byte(`{"entities": {}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeHistorical(body)
		if err != nil {
			return
		}
		b, err := arrowout.NewBuilder(req.columns)
		if err != nil {
			t.Fatalf("decoded columns without an Arrow form: %v", err)
		}
		defer b.Release()
		for _, r := range req.rows {
			if len(r) != len(req.columns) {
				t.Fatalf("row of %d values for %d columns", len(r), len(req.columns))
			}
		}
		if err := b.Append(req.rows); err != nil {
			t.Fatalf("decoded rows the writer rejects: %v", err)
		}
	})
}
