package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/conformance/pit"
	"github.com/larder-dev/larder/host"
	"github.com/larder-dev/larder/host/offlineengine"
)

// RunOfflineWrite checks an offline store's writes and pull-all (ABI spec §9.8, §9.9)
// end to end through the real host: the drv view of a seeded random case is split, its
// first rows stored as the batch source, the rest pushed with /push's to=offline (half of
// the cases naming the mapped column by its feature name), then pull-all must return every
// row with an event timestamp, and historical retrieval must equal the reference join over
// all the rows in order, which holds only if the pushed rows landed after the stored ones
// with their values and types intact. A store whose plugin cannot take writes skips.
func RunOfflineWrite(t *testing.T, target OfflineTarget) {
	cache := t.TempDir()
	n := 16
	if testing.Short() {
		n = 5
	}
	for seed := int64(1); seed <= int64(n); seed++ {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			c := randomOfflineCase(seed)
			g := rand.New(rand.NewSource(seed))
			split := 0
			if len(c.drv.Rows) > 0 {
				split = g.Intn(len(c.drv.Rows) + 1)
			}
			if !target.ArbitraryTies {
				pushTie(c, split)
			}
			runOfflineWriteCase(t, target, cache, c, split, seed%2 == 0)
		})
	}
}

// pushTie adds a pushed row tied with the winning stored row of one driver (same key,
// event and created timestamps, other values) and an entity row asking for that driver at
// that time. Stores whose ties go to the last row (spec §9.4) must then answer with the
// pushed row: the pushed rows come after the stored ones (spec §9.9).
func pushTie(c *offlineCase, split int) {
	var win *pit.Row
	for i := range c.drv.Rows[:split] {
		r := &c.drv.Rows[i]
		if r.Keys[0] == nil || r.EventTS == nil {
			continue
		}
		if win == nil {
			win = r
			continue
		}
		if r.Keys[0] != win.Keys[0] {
			continue
		}
		switch {
		case r.EventTS.After(*win.EventTS),
			r.EventTS.Equal(*win.EventTS) && !createdBefore(r.CreatedTS, win.CreatedTS):
			win = r
		}
	}
	if win == nil {
		return
	}
	tie := pit.Row{Keys: []any{win.Keys[0]}, EventTS: win.EventTS, CreatedTS: win.CreatedTS,
		Values: []any{float64(-1), "pushed tie", true}}
	c.drv.Rows = append(c.drv.Rows, tie)
	c.entity(win.Keys[0], nil, win.EventTS, nil)
}

// createdBefore reports a < b with nil (NULL) lowest.
func createdBefore(a, b *time.Time) bool {
	switch {
	case a == nil:
		return b != nil
	case b == nil:
		return false
	}
	return a.Before(*b)
}

func runOfflineWriteCase(t *testing.T, target OfflineTarget, cache string, c *offlineCase, split int, mappedNames bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	be := target.NewBackend(t, filepath.Join(dir, "backend"))
	stored, pushed := c.drv.Rows[:split], c.drv.Rows[split:]
	flat := make([][]any, len(stored))
	for i, r := range stored {
		flat[i] = append([]any{r.Keys[0], tsValue(r.EventTS), tsValue(r.CreatedTS)}, r.Values...)
	}
	src, err := be.PutTable("drv_rows", []OfflineColumn{{"driver_id", "BIGINT"}, {"ts", "TIMESTAMPTZ"}, {"created", "TIMESTAMP"},
		{"src_conv", "DOUBLE"}, {"tag", "VARCHAR"}, {"ok", "BOOLEAN"}}, flat, false)
	if err != nil {
		t.Fatal(err)
	}
	src["name"], src["timestamp_field"], src["created_timestamp_column"] = "drv_src", "ts", "created"
	src["field_mapping"] = map[string]any{"src_conv": "conv"}

	defs := map[string]any{
		"entities": []any{map[string]any{"name": "driver", "join_keys": []any{"driver_id"}, "value_type": "INT64"}},
		"sources":  []any{src, map[string]any{"name": "drv_push", "type": "push", "batch_source": "drv_src"}},
		"feature_views": []any{map[string]any{"name": "drv", "entities": []any{"driver"}, "source": "drv_push",
			"ttl": int64(c.drv.TTL / time.Second), "schema": []any{field("conv", "Float64"), field("tag", "String"), field("ok", "Bool")}}},
	}
	fs, entPath := applyCaseRepo(ctx, t, dir, target, cache, be, defs, c.ents.Rows)
	defer fs.Close(context.Background())

	if len(pushed) > 0 {
		df, err := pushFrame(pushed, mappedNames)
		if err != nil {
			t.Fatal(err)
		}
		err = fs.Push(ctx, host.PushRequest{PushSourceName: "drv_push", To: host.PushOffline, DF: df})
		if errors.Is(err, abi.ErrUnimplemented) {
			t.Skipf("the %s offline store cannot take writes: %v", target.Name, err)
		}
		if err != nil {
			t.Fatalf("pushing %d rows offline: %v", len(pushed), err)
		}
	}

	// Pull-all: every row with an event timestamp, as stored or pushed.
	var got, want []string
	render := func(vals ...any) string {
		for i, v := range vals {
			if ts, ok := v.(time.Time); ok {
				vals[i] = ts.UTC().Format(time.RFC3339Nano)
			}
		}
		return fmt.Sprint(vals...)
	}
	_, err = fs.PullAll(ctx, host.PullAllRequest{FeatureView: "drv"}, func(b *offlineengine.Batch) error {
		for _, r := range b.Rows {
			got = append(got, render(append([]any(nil), r...)...))
		}
		return nil
	})
	if errors.Is(err, abi.ErrUnimplemented) {
		t.Skipf("the %s offline store does not plan pull-all: %v", target.Name, err)
	}
	if err != nil {
		t.Fatalf("pull-all: %v", err)
	}
	for _, r := range c.drv.Rows {
		if r.EventTS != nil {
			want = append(want, render(append([]any{r.Keys[0], tsValue(r.EventTS), tsValue(r.CreatedTS)}, r.Values...)...))
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pull-all after pushing rows %d.. of %d:\ngot  %v\nwant %v", split, len(c.drv.Rows), got, want)
	}

	// Historical retrieval over the stored and pushed rows equals the reference over all.
	out := filepath.Join(dir, "training.parquet")
	if _, err := fs.GetHistoricalFeatures(ctx, host.HistoricalRequest{EntitiesPath: entPath,
		Features: []string{"drv:conv", "drv:tag", "drv:ok"}, FullFeatureNames: c.full}, out); err != nil {
		t.Fatalf("historical retrieval: %v", err)
	}
	gotCols, rows, err := readParquet(out)
	if err != nil {
		t.Fatal(err)
	}
	views := []pit.View{c.drv}
	wantCols, wantRows, err := pit.ReferenceHistorical(c.ents, views, c.full)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotCols, ",") != strings.Join(wantCols, ",") || len(rows) != len(wantRows) {
		t.Fatalf("result %v × %d rows, want %v × %d", gotCols, len(rows), wantCols, len(wantRows))
	}
	var winners [][][]*pit.Row
	if target.ArbitraryTies {
		if winners, err = pit.Winners(c.ents, views); err != nil {
			t.Fatal(err)
		}
	}
	for i := range wantRows {
		if err := compareRow(rows[i], wantRows[i], c.ents, views, winners, i); err != nil {
			t.Fatalf("row %d after pushing rows %d.. of %d: %v\nentity row %v\ngot  %v\nwant %v",
				i, split, len(c.drv.Rows), err, c.ents.Rows[i], rows[i], wantRows[i])
		}
	}
}

// pushFrame is the /push frame of drv rows: source column names, or the feature name
// "conv" for src_conv (field_mapping) when mapped; timestamps as RFC 3339 strings.
func pushFrame(rows []pit.Row, mapped bool) ([]host.Column, error) {
	conv := "src_conv"
	if mapped {
		conv = "conv"
	}
	names := []string{"driver_id", "ts", "created", conv, "tag", "ok"}
	df := make([]host.Column, len(names))
	for i, n := range names {
		df[i].Name = n
	}
	for _, r := range rows {
		cells := append([]any{r.Keys[0], tsValue(r.EventTS), tsValue(r.CreatedTS)}, r.Values...)
		for i, v := range cells {
			if ts, ok := v.(time.Time); ok {
				v = ts.UTC().Format(time.RFC3339Nano)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			df[i].Values = append(df[i].Values, b)
		}
	}
	return df, nil
}
