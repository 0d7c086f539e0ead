package host

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// pushOfflineRepo is the scaffolded repo, applied: driver_hourly_stats_fresh is fed by the
// push source driver_stats_push_source, whose batch source data/driver_stats.parquet also
// feeds driver_hourly_stats.
func pushOfflineRepo(t *testing.T) *testRepo {
	t.Helper()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	return tr
}

// pullAll returns every row of view at or after start, keyed "driver_id@event_ts".
func pullAll(t *testing.T, fs *FeatureStore, view string, start time.Time) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	res, err := fs.PullAll(context.Background(), PullAllRequest{FeatureView: view, Start: start}, func(b *offlineengine.Batch) error {
		for _, r := range b.Rows {
			out[fmt.Sprintf("%v@%s", r[0], r[1].(time.Time).Format(time.RFC3339))] = append([]any(nil), r...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if int(res.Rows) < len(out) {
		t.Fatalf("PullAll counted %d rows for %d distinct keys", res.Rows, len(out))
	}
	return out
}

func TestPushOfflineThenPullAllAndHistorical(t *testing.T) {
	ctx := context.Background()
	tr := pushOfflineRepo(t)
	at := dataEnd.Add(30 * time.Minute)
	before := pullAll(t, tr.fs, "driver_hourly_stats", dataEnd)

	err := tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOffline, DF: cols(t, `{
		"driver_id": [1001, 9999],
		"event_timestamp": ["`+at.Format(time.RFC3339)+`", "`+at.Format(time.RFC3339)+`"],
		"conv_rate": [0.5, 0.25],
		"acc_rate": [0.75, null],
		"avg_daily_trips": [123, 456],
		"created": [null, "`+at.Format(time.RFC3339)+`"]}`)})
	if err != nil {
		t.Fatal(err)
	}

	// Pull-all over either view of the batch source sees the old rows and the two pushed.
	after := pullAll(t, tr.fs, "driver_hourly_stats", dataEnd)
	if len(after) != len(before)+2 {
		t.Errorf("pull-all: %d rows after pushing 2 to %d", len(after), len(before))
	}
	for k, want := range map[string]string{
		"1001@" + at.Format(time.RFC3339): fmt.Sprint([]any{int64(1001), at, nil, float32(0.5), float32(0.75), int64(123)}),
		"9999@" + at.Format(time.RFC3339): fmt.Sprint([]any{int64(9999), at, at, float32(0.25), nil, int64(456)}),
	} {
		if got := fmt.Sprint(after[k]); got != want {
			t.Errorf("pull-all row %s: %s, want %s", k, got, want)
		}
	}
	if fresh := pullAll(t, tr.fs, "driver_hourly_stats_fresh", at); len(fresh) != 2 {
		t.Errorf("pull-all of the push view from %s: %d rows, want the 2 pushed", at, len(fresh))
	}

	// Historical retrieval joins the pushed rows.
	var got [][]any
	_, err = tr.fs.StreamHistoricalFeatures(ctx, HistoricalRequest{
		EntitiesQuery: `SELECT 9999::BIGINT AS driver_id, TIMESTAMPTZ '` + dataEnd.Add(time.Hour).Format("2006-01-02 15:04:05") + `+00' AS event_timestamp`,
		Features:      []string{"driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"},
	}, func([]offlineengine.Column) (func(*offlineengine.Batch) error, error) {
		return func(b *offlineengine.Batch) error {
			for _, r := range b.Rows {
				got = append(got, append([]any(nil), r...))
			}
			return nil
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0][2] != float32(0.25) || got[0][3] != int64(456) {
		t.Errorf("historical row for the pushed driver: %v", got)
	}

	// to=offline writes nothing online.
	resp, err := tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [9999]}`),
		Features: []string{"driver_hourly_stats_fresh:conv_rate"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := column(t, resp, "conv_rate").Statuses[0]; s != abi.FieldNotFound {
		t.Errorf("online status after an offline-only push: %v", s)
	}
}

func TestPushOnlineAndOfflineWritesBoth(t *testing.T) {
	ctx := context.Background()
	tr := pushOfflineRepo(t)
	at := dataEnd.Add(10 * time.Minute)
	err := tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOnlineAndOffline, DF: cols(t, `{
		"driver_id": [7777], "event_timestamp": ["`+at.Format(time.RFC3339)+`"], "created": [null],
		"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [7]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if rows := pullAll(t, tr.fs, "driver_hourly_stats_fresh", at); len(rows) != 1 {
		t.Errorf("offline rows at %s: %v", at, rows)
	}
	resp, err := tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [7777]}`),
		Features: []string{"driver_hourly_stats_fresh:avg_daily_trips"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := renderValues(column(t, resp, "avg_daily_trips").Values); got != "[7]" {
		t.Errorf("online value %s", got)
	}
}

// TestPushOfflineRejectsBadFramesWritingNothing: a frame the offline side cannot take gets
// a request error naming the column or cell, and neither the file nor the online store
// changes, even with to=online_and_offline.
func TestPushOfflineRejectsBadFramesWritingNothing(t *testing.T) {
	ctx := context.Background()
	tr := pushOfflineRepo(t)
	data := tr.path("data/driver_stats.parquet")
	original, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]string{"driver_id": "[4242]", "event_timestamp": `["` + dataEnd.Format(time.RFC3339) + `"]`, "created": "[null]",
		"conv_rate": "[0.5]", "acc_rate": "[0.5]", "avg_daily_trips": "[1]"}
	frame := func(edit func(map[string]string)) string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		edit(m)
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%q: %s", k, m[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	for _, tc := range []struct {
		name, df, field, want string
	}{
		// The host types every pushed column by the source column it lands in.
		{"unknown column", frame(func(m map[string]string) { m["speed"] = "[3]" }), "df.speed", `column "speed" is not a column of the offline source`},
		{"bad cell", frame(func(m map[string]string) { m["avg_daily_trips"] = `["many"]` }), "df.avg_daily_trips[0]", ""},
		{"reserved column", frame(func(m map[string]string) { m["__row"] = "[1]" }), "df.__row", "reserved"},
		// The plugin checks that every source column is pushed (Feast requires the
		// source's columns exactly).
		{"missing column", frame(func(m map[string]string) { delete(m, "created") }), "df", `lacks column created`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, to := range []string{PushOffline, PushOnlineAndOffline} {
				err := tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: to, DF: cols(t, tc.df)})
				re, ok := AsRequestError(err)
				if !ok || re.Kind != BadRequest || re.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("to=%s: err = %v, want a bad request on %s containing %q", to, err, tc.field, tc.want)
				}
			}
			if b, _ := os.ReadFile(data); !bytes.Equal(b, original) {
				t.Error("the batch source changed")
			}
			resp, err := tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [4242]}`),
				Features: []string{"driver_hourly_stats_fresh:conv_rate"}})
			if err != nil {
				t.Fatal(err)
			}
			if s := column(t, resp, "conv_rate").Statuses[0]; s != abi.FieldNotFound {
				t.Errorf("a rejected push wrote online (status %v)", s)
			}
		})
	}
}

// TestPushOfflineEngineFailureLeavesTheFile: a value that passes the host's typing but not
// the engine's cast to the file's column (300 into a TINYINT) fails while the new file is
// being written: the push is a 400, the source keeps its bytes, no temp file is left and
// nothing is written online.
func TestPushOfflineEngineFailureLeavesTheFile(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	data := tr.path("data/driver_stats.parquet")
	narrow := tr.path("data/narrow.parquet")
	duckExec(t, `COPY (SELECT * REPLACE (CAST(avg_daily_trips % 100 AS TINYINT) AS avg_daily_trips) FROM read_parquet(`+sqlQuote(data)+`))
		TO `+sqlQuote(narrow)+` (FORMAT parquet)`)
	if err := os.Rename(narrow, data); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	original, _ := os.ReadFile(data)
	err := tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOnlineAndOffline, DF: cols(t, `{
		"driver_id": [4243], "event_timestamp": ["`+dataEnd.Format(time.RFC3339)+`"], "created": [null],
		"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [300]}`)})
	if re, ok := AsRequestError(err); !ok || re.Kind != BadRequest || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("err = %v, want a bad request saying the value does not fit", err)
	}
	if b, _ := os.ReadFile(data); !bytes.Equal(b, original) {
		t.Error("the batch source changed after a failed write")
	}
	if m, _ := filepath.Glob(tr.path("data/.*.tmp")); len(m) > 0 {
		t.Errorf("temp files left: %v", m)
	}
	resp, err := tr.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{Entities: cols(t, `{"driver_id": [4243]}`),
		Features: []string{"driver_hourly_stats_fresh:conv_rate"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := column(t, resp, "conv_rate").Statuses[0]; s != abi.FieldNotFound {
		t.Errorf("a failed offline append was followed by the online write (status %v)", s)
	}
	// A value that fits goes through, so the failure above was the cast.
	if err := tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOffline, DF: cols(t, `{
		"driver_id": [4243], "event_timestamp": ["`+dataEnd.Format(time.RFC3339)+`"], "created": [null],
		"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [30]}`)}); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentOfflinePushesKeepEveryRow: pushes to one source from many goroutines,
// while materialization reads it, lose no row.
func TestConcurrentOfflinePushesKeepEveryRow(t *testing.T) {
	ctx := context.Background()
	tr := pushOfflineRepo(t)
	before := pullAll(t, tr.fs, "driver_hourly_stats", time.Time{})
	const pushes = 6
	var wg sync.WaitGroup
	errs := make(chan error, pushes+1)
	for i := 0; i < pushes; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			at := dataEnd.Add(time.Duration(i+1) * time.Minute).Format(time.RFC3339)
			errs <- tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOffline, DF: cols(t, fmt.Sprintf(`{
				"driver_id": [%d], "event_timestamp": [%q], "created": [null], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [%d]}`,
				8000+i, at, i))})
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- tr.fs.Materialize(ctx, MaterializeRequest{Start: dataEnd.Add(-time.Hour), End: dataEnd.Add(time.Hour)})
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if after := pullAll(t, tr.fs, "driver_hourly_stats", time.Time{}); len(after) != len(before)+pushes {
		t.Errorf("%d rows after %d concurrent pushes to %d", len(after), pushes, len(before))
	}
}

func TestPullAllErrors(t *testing.T) {
	tr := pushOfflineRepo(t)
	noop := func(*offlineengine.Batch) error { return nil }
	for _, tc := range []struct {
		req  PullAllRequest
		kind ErrorKind
		want string
	}{
		{PullAllRequest{FeatureView: "nope"}, NotFound, `feature view "nope"`},
		{PullAllRequest{FeatureView: "driver_hourly_stats", Features: []string{"conv_rate", "speed"}}, NotFound, `no feature "speed"`},
		{PullAllRequest{FeatureView: "driver_hourly_stats", Start: dataEnd, End: dataEnd.Add(-time.Hour)}, BadRequest, "before start"},
	} {
		_, err := tr.fs.PullAll(context.Background(), tc.req, noop)
		if re, ok := AsRequestError(err); !ok || re.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want kind %v containing %q", tc.req, err, tc.kind, tc.want)
		}
	}
	// A selection of features comes back in the requested order after the keys and times.
	res, err := tr.fs.PullAll(context.Background(), PullAllRequest{FeatureView: "driver_hourly_stats", Features: []string{"avg_daily_trips", "conv_rate"},
		Start: dataEnd, End: dataEnd.Add(time.Second)}, noop)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Columns {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "driver_id,__event_ts,__created_ts,avg_daily_trips,conv_rate" {
		t.Errorf("columns %s", got)
	}
	if res.Rows == 0 {
		t.Error("no rows at the data's last hour")
	}

}

// TestPushOnlineFailsAfterOfflineAppend: with the online table gone, an online_and_offline
// push appends offline and then fails online; the error says the rows were appended and
// to retry with to=online, keeps the cause, and the rows are in the file once.
func TestPushOnlineFailsAfterOfflineAppend(t *testing.T) {
	ctx := context.Background()
	tr := pushOfflineRepo(t)
	var table string
	for _, n := range tr.tables(t) {
		if strings.HasSuffix(n, "driver_hourly_stats_fresh") {
			table = n
		}
	}
	if table == "" {
		t.Fatalf("no online table for driver_hourly_stats_fresh among %v", tr.tables(t))
	}
	db, err := sql.Open("sqlite3", "file:"+tr.path("data/online_store.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE "` + table + `"`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	at := dataEnd.Add(20 * time.Minute)
	err = tr.fs.Push(ctx, PushRequest{PushSourceName: "driver_stats_push_source", To: PushOnlineAndOffline, DF: cols(t, `{
		"driver_id": [6666], "event_timestamp": ["`+at.Format(time.RFC3339)+`"], "created": [null],
		"conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [6]}`)})
	var partial *PartialPushError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), `appended to the offline source(s) ["driver_hourly_stats_source"]`) ||
		!strings.Contains(err.Error(), `retry with to="online"`) {
		t.Fatalf("err = %v, want a partial push error", err)
	}
	var se *PluginStatusError
	if !errors.As(err, &se) {
		t.Errorf("the cause (the online store's status) is lost: %v", err)
	}
	if rows := pullAll(t, tr.fs, "driver_hourly_stats_fresh", at); len(rows) != 1 {
		t.Errorf("offline rows after the partial push: %v", rows)
	}
}
