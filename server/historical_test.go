package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/hosttest"
)

// historicalServer serves the quickstart repo with freshly built plugins (build/plugins
// may hold a duckdb.wasm from before historical retrieval).
func historicalServer(t *testing.T) *Server {
	t.Helper()
	return historicalServerFor(t, quickstartRepo(t))
}

// historicalServerFor serves the repo in dir with freshly built sqlite and duckdb plugins.
func historicalServerFor(t *testing.T, dir string) *Server {
	t.Helper()
	plugins := t.TempDir()
	for _, p := range []string{"sqlite", "duckdb"} {
		path, err := hosttest.BuildPlugin(p)
		if err != nil {
			t.Skipf("building plugin %s: %v", p, err)
		}
		if err := os.Symlink(path, filepath.Join(plugins, p+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := host.Open(context.Background(), dir, host.OpenOptions{PluginDir: plugins, CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return New(fs, Options{})
}

// arrowStream opens an Arrow IPC stream response body and returns the reader, released
// when the test ends, and its column names joined by commas.
func arrowStream(t *testing.T, body []byte) (*ipc.Reader, string) {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Release)
	var names []string
	for _, f := range rd.Schema().Fields() {
		names = append(names, f.Name)
	}
	return rd, strings.Join(names, ",")
}

func TestGetHistoricalFeatures(t *testing.T) {
	h := historicalServer(t).Handler()
	body := `{"features": ["driver_hourly_stats:conv_rate", "global_stats:active_drivers"], "full_feature_names": true,
		"entities": {"driver_id": [1001, 1002, 999999, 1001],
		             "event_timestamp": ["2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z", "2025-01-14T00:00:00Z", "2000-01-01T00:00:00Z"],
		             "label": [0.5, null, 1, 2]}}`
	r := do(h, http.MethodPost, "/get-historical-features", body)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != MIMEArrowStream {
		t.Fatalf("status %d, content type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	rd, got := arrowStream(t, r.body)
	if got != "driver_id,event_timestamp,label,driver_hourly_stats__conv_rate,global_stats__active_drivers" {
		t.Fatalf("columns %s", got)
	}
	var rows int64
	var conv []bool // which rows found a conv_rate
	for rd.Next() {
		rec := rd.RecordBatch()
		rows += rec.NumRows()
		c := rec.Column(3).(*array.Float32)
		for i := 0; i < c.Len(); i++ {
			conv = append(conv, c.IsValid(i))
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	// Known drivers at a time with data match; an unknown driver and a time before any
	// data do not.
	if rows != 4 || !conv[0] || !conv[1] || conv[2] || conv[3] {
		t.Fatalf("%d rows, conv_rate present %v", rows, conv)
	}

	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1], "event_timestamp": ["2025-01-14T00:00:00Z"]}}`, 404, `feature \"nope\" not found`},
		{`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1, 2], "event_timestamp": ["2025-01-14T00:00:00Z"]}}`, 400, "has 1 values but driver_id has 2"},
		{`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ["1"], "event_timestamp": ["2025-01-14T00:00:00Z"]}}`, 422, "has type STRING"},
		{`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1], "event_timestamp": ["yesterday"]}}`, 400, "not RFC 3339"},
		{`{"features": ["driver_hourly_stats:conv_rate"], "entities": [1]}`, 400, "want an object of columns"},
		{`{`, 400, "decoding the request JSON"},
	} {
		r := do(h, http.MethodPost, "/get-historical-features", tc.body)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: status %d, body %s; want %d and %q", tc.body, r.status, r.body, tc.status, tc.want)
		}
	}
}
