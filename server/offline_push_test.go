package server

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/mattn/go-sqlite3"

	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/offlineengine"
)

// The quickstart's push source driver_stats_push_source feeds driver_hourly_stats_fresh;
// its batch source is data/driver_stats.parquet, which /push with to=offline appends to.

const offlinePushBody = `{"push_source_name": "driver_stats_push_source", "to": "%s", "df": {
	"driver_id": [4242], "event_timestamp": ["2025-01-14T00:00:00Z"], "created": ["2025-01-14T00:00:01Z"],
	"conv_rate": [0.5], "acc_rate": [0.25], "avg_daily_trips": [%s]}}`

func offlinePush(h http.Handler, to, trips string) result {
	return do(h, "POST", "/push", sprintf(offlinePushBody, to, trips))
}

func sprintf(format string, args ...string) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a, 1)
	}
	return format
}

// pushedRows returns the rows of driver 4242 the offline store holds, through pull-all.
func pushedRows(t *testing.T, fs *host.FeatureStore) [][]any {
	t.Helper()
	var rows [][]any
	_, err := fs.PullAll(context.Background(), host.PullAllRequest{FeatureView: "driver_hourly_stats_fresh",
		Start: time.Date(2025, 1, 13, 0, 0, 0, 0, time.UTC)}, func(b *offlineengine.Batch) error {
		for _, r := range b.Rows {
			if r[0] == int64(4242) {
				rows = append(rows, append([]any(nil), r...))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func onlineStatus(h http.Handler) string {
	r := do(h, "POST", "/get-online-features", `{"entities": {"driver_id": [4242]}, "features": ["driver_hourly_stats_fresh:conv_rate"]}`)
	switch {
	case bytes.Contains(r.body, []byte(`"NOT_FOUND"`)):
		return "NOT_FOUND"
	case bytes.Contains(r.body, []byte(`"PRESENT"`)):
		return "PRESENT"
	}
	return string(r.body)
}

func TestOfflinePush(t *testing.T) {
	for _, tc := range []struct {
		to     string
		online string
	}{
		{"offline", "NOT_FOUND"},
		{"online_and_offline", "PRESENT"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			fs := openStore(t, quickstartRepo(t), fixtureNow)
			h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()
			if r := offlinePush(h, tc.to, "7"); r.status != http.StatusOK {
				t.Fatalf("push: %d %s", r.status, r.body)
			}
			rows := pushedRows(t, fs)
			if len(rows) != 1 || rows[0][3] == nil || rows[0][5] == nil {
				t.Fatalf("offline rows of driver 4242 after the push: %v", rows)
			}
			if got := onlineStatus(h); got != tc.online {
				t.Errorf("online: %s, want %s", got, tc.online)
			}
		})
	}
}

// TestOfflinePushBadColumnsWriteNothing: a frame whose columns do not match the batch
// source is a 400 naming the column; the file and the online store are untouched.
func TestOfflinePushBadColumnsWriteNothing(t *testing.T) {
	dir := quickstartRepo(t)
	fs := openStore(t, dir, fixtureNow)
	h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()
	data := filepath.Join(dir, "data", "driver_stats.parquet")
	original, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"extra column", `{"push_source_name": "driver_stats_push_source", "to": "online_and_offline", "df": {
			"driver_id": [4242], "event_timestamp": ["2025-01-14T00:00:00Z"], "created": [null], "conv_rate": [0.5],
			"acc_rate": [0.25], "avg_daily_trips": [7], "speed": [3]}}`, "df.speed", `is not a column of the offline source`},
		{"missing column", `{"push_source_name": "driver_stats_push_source", "to": "offline", "df": {
			"driver_id": [4242], "event_timestamp": ["2025-01-14T00:00:00Z"], "conv_rate": [0.5],
			"acc_rate": [0.25], "avg_daily_trips": [7]}}`, "df", `lacks column created`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(h, "POST", "/push", tc.body)
			if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) || !strings.Contains(string(r.body), `"field":"`+tc.field+`"`) {
				t.Fatalf("%d %s, want 400 on %s containing %q", r.status, r.body, tc.field, tc.want)
			}
			if b, _ := os.ReadFile(data); !bytes.Equal(b, original) {
				t.Error("the batch source changed")
			}
			if got := onlineStatus(h); got != "NOT_FOUND" {
				t.Errorf("a rejected push wrote online: %s", got)
			}
		})
	}
}

// TestOfflinePushFailureKeepsTheFile: with avg_daily_trips stored as TINYINT, 300 passes
// the request checks and fails in the engine while the new file is being written; the
// original file stays byte for byte, no temp file remains, nothing is written online.
func TestOfflinePushFailureKeepsTheFile(t *testing.T) {
	dir := quickstartRepo(t)
	data := filepath.Join(dir, "data", "driver_stats.parquet")
	narrow := filepath.Join(dir, "data", "narrow.parquet")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`COPY (SELECT * REPLACE (CAST(avg_daily_trips % 100 AS TINYINT) AS avg_daily_trips) FROM read_parquet('` + data + `'))
		TO '` + narrow + `' (FORMAT parquet)`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(narrow, data); err != nil {
		t.Fatal(err)
	}
	original, _ := os.ReadFile(data)
	fs := openStore(t, dir, fixtureNow)
	h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()

	r := offlinePush(h, "online_and_offline", "300")
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "does not fit") {
		t.Fatalf("%d %s, want 400 saying the value does not fit", r.status, r.body)
	}
	if b, _ := os.ReadFile(data); !bytes.Equal(b, original) {
		t.Error("the batch source changed after a failed write")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "data", ".*.tmp")); len(m) > 0 {
		t.Errorf("temp files left: %v", m)
	}
	if got := onlineStatus(h); got != "NOT_FOUND" {
		t.Errorf("the online write ran after the offline append failed: %s", got)
	}
	// The same push with a value that fits goes through: the failure was the cast.
	if r := offlinePush(h, "offline", "30"); r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if rows := pushedRows(t, fs); len(rows) != 1 {
		t.Errorf("rows after the good push: %v", rows)
	}
}

// TestOfflinePushThenOnlineFailure: the online table is gone, so online_and_offline appends
// offline and fails online. The client learns both: the cause's status (a plugin error,
// 500) and a message saying the rows were appended and to retry with to=online.
func TestOfflinePushThenOnlineFailure(t *testing.T) {
	dir := quickstartRepo(t)
	fs := openStore(t, dir, fixtureNow)
	h := New(fs, Options{Now: func() time.Time { return fixtureNow }}).Handler()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "data", "online.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE quickstart_driver_hourly_stats_fresh`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := offlinePush(h, "online_and_offline", "7")
	if r.status != http.StatusInternalServerError || !strings.Contains(string(r.body), "appended to the offline source(s)") ||
		!strings.Contains(string(r.body), `retry with to=\"online\"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	t.Logf("%s", r.body)
	if rows := pushedRows(t, fs); len(rows) != 1 {
		t.Errorf("offline rows: %v", rows)
	}
}
