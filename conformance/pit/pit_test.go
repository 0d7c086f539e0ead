package pit

import (
	"reflect"
	"testing"
	"time"
)

func at(h int) *time.Time {
	t := time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC)
	return &t
}

// The reference itself is checked against hand-worked cases (Feast's backfill test among them).
func TestReferenceHistorical(t *testing.T) {
	ents := Entities{
		Columns:         []string{"driver", "event_timestamp"},
		TimestampColumn: "event_timestamp",
		Rows: [][]any{
			{int64(1), *at(10)}, // latest event wins even with an earlier created
			{int64(1), *at(10)}, // duplicate kept
			{int64(2), *at(10)}, // same event: greater created wins
			{int64(3), *at(10)}, // only row is outside the TTL
			{int64(3), *at(6)},  // the same row is within the TTL of an earlier entity row
			{nil, *at(10)},      // null key never matches
			{int64(1), nil},     // null timestamp never matches
			{int64(4), *at(10)}, // full tie: the later row wins
		},
	}
	v := View{
		Name: "v", JoinKeys: []string{"driver"}, Features: []string{"x"}, TTL: 4 * time.Hour,
		Rows: []Row{
			{Keys: []any{int64(1)}, EventTS: at(8), CreatedTS: at(20), Values: []any{"old"}},
			{Keys: []any{int64(1)}, EventTS: at(9), CreatedTS: at(1), Values: []any{"new"}},
			{Keys: []any{int64(1)}, EventTS: at(11), Values: []any{"future"}},
			{Keys: []any{int64(2)}, EventTS: at(9), CreatedTS: at(3), Values: []any{"hi"}},
			{Keys: []any{int64(2)}, EventTS: at(9), Values: []any{"nullcreated"}},
			{Keys: []any{int64(2)}, EventTS: at(9), CreatedTS: at(2), Values: []any{"lo"}},
			{Keys: []any{int64(3)}, EventTS: at(5), Values: []any{"stale"}},
			{Keys: []any{nil}, EventTS: at(9), Values: []any{"nullkey"}},
			{Keys: []any{int64(4)}, EventTS: at(9), CreatedTS: at(1), Values: []any{"first"}},
			{Keys: []any{int64(4)}, EventTS: at(9), CreatedTS: at(1), Values: []any{"second"}},
		},
	}
	global := View{Name: "g", Features: []string{"y"}, Rows: []Row{{EventTS: at(7), Values: []any{int64(7)}}}}
	cols, rows, err := ReferenceHistorical(ents, []View{v, global}, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"driver", "event_timestamp", "v__x", "g__y"}; !reflect.DeepEqual(cols, want) {
		t.Fatalf("columns %v, want %v", cols, want)
	}
	want := []any{"new", "new", "hi", nil, "stale", nil, nil, "second"}
	wantG := []any{int64(7), int64(7), int64(7), int64(7), nil, int64(7), nil, int64(7)}
	for i, r := range rows {
		if !reflect.DeepEqual(r[2], want[i]) || !reflect.DeepEqual(r[3], wantG[i]) {
			t.Errorf("row %d: got %v, %v; want %v, %v", i, r[2], r[3], want[i], wantG[i])
		}
	}
}

func TestReferenceHistoricalErrors(t *testing.T) {
	ents := Entities{Columns: []string{"k", "ts"}, TimestampColumn: "ts"}
	for name, tc := range map[string]struct {
		e     Entities
		views []View
		full  bool
	}{
		"missing timestamp": {e: Entities{Columns: []string{"k"}, TimestampColumn: "ts"}},
		"unknown join key":  {e: ents, views: []View{{Name: "v", JoinKeys: []string{"nope"}}}},
		"name collision":    {e: ents, views: []View{{Name: "a", Features: []string{"x"}}, {Name: "b", Features: []string{"x"}}}},
		"entity collision":  {e: ents, views: []View{{Name: "a", Features: []string{"k"}}}},
	} {
		if _, _, err := ReferenceHistorical(tc.e, tc.views, tc.full); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
