package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/larder-dev/larder/host"
)

// FuzzDecodeRequests feeds arbitrary bodies to every request decoder: none may panic, and
// every rejection must be a *host.RequestError (a 4xx), never an internal error.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"entities": {"driver_id": [1001, 1002]}, "features": ["driver_hourly_stats:conv_rate"], "full_feature_names": true}`,
		`{"entities": {"driver_id": [1]}, "feature_service": "svc", "request_context": {"val": [1.5]}}`,
		`{"push_source_name": "p", "df": {"driver_id": [1], "event_timestamp": ["2022-05-13 10:59:42+00:00"]}, "to": "online"}`,
		`{"feature_view_name": "v", "df": {"a": [[1, 2], null, {"k": "v"}]}}`,
		`{"start_ts": "2021-01-01T00:00:00", "end_ts": "2021-01-02T00:00:00", "feature_views": ["v"]}`,
		`{"end_ts": "2021-01-02"}`,
		`{"entities": {"a": [1], "a": [2]}}`, `{`, `[]`, `null`, ``, `{"entities": {"x": [1e999]}} {}`,
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "feast", "quickstart", "http", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			if _, ok := host.AsRequestError(err); !ok {
				t.Fatalf("%s: %v (%T) is not a RequestError", what, err, err)
			}
		}
		r, err := decodeGetOnlineFeatures(body)
		check("get-online-features", err)
		if err == nil {
			for _, c := range r.Entities {
				if c.Values == nil {
					t.Fatalf("column %q decoded without values", c.Name)
				}
			}
		}
		_, err = decodePush(body)
		check("push", err)
		_, err = decodeWrite(body)
		check("write", err)
		m, err := decodeMaterialize(body, now)
		check("materialize", err)
		if err == nil && !m.Start.Before(m.End) {
			t.Fatalf("materialize window %v..%v accepted", m.Start, m.End)
		}
		_, err = decodeMaterializeIncremental(body)
		check("materialize-incremental", err)
	})
}
