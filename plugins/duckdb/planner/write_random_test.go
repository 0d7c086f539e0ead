package planner

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/larder-dev/larder/abi"
	"github.com/larder-dev/larder/host/offlineengine"
)

// randRow is one row of the random histories: driver_id, event_timestamp, created (nil =
// NULL), conv_rate (nil = NULL), trips.
type randRow struct {
	id      int64
	event   time.Time
	created *time.Time
	conv    *float64
	trips   int32
}

func (r randRow) values() []any {
	var created, conv any
	if r.created != nil {
		created = *r.created
	}
	if r.conv != nil {
		conv = *r.conv
	}
	return []any{r.id, r.event, created, conv, r.trips}
}

// randomRows draws rows over few drivers and few timestamps, so that event and created
// timestamps collide often and the tie rules decide.
func randomRows(rng *rand.Rand, n int, trips *int32) []randRow {
	base := time.Date(2021, 4, 12, 0, 0, 0, 0, time.UTC)
	out := make([]randRow, n)
	for i := range out {
		r := randRow{id: 1 + rng.Int63n(4), event: base.Add(time.Duration(rng.Intn(4)) * time.Hour)}
		if rng.Intn(3) > 0 {
			c := base.Add(time.Duration(rng.Intn(3)) * time.Hour)
			r.created = &c
		}
		if rng.Intn(4) > 0 {
			v := float64(rng.Intn(100)) / 4
			r.conv = &v
		}
		*trips++
		r.trips = *trips // unique: identifies the row
		out[i] = r
	}
	return out
}

// latestReference is pull-latest over rows in file order (spec §9.4): per driver the
// greatest event, then the greatest created (NULL lowest), then the last row.
func latestReference(rows []randRow) map[int64]int32 {
	best := map[int64]randRow{}
	for _, r := range rows {
		b, ok := best[r.id]
		if !ok || !r.event.Before(b.event) && (r.event.After(b.event) || !createdLess(r.created, b.created)) {
			best[r.id] = r
		}
	}
	out := map[int64]int32{}
	for id, r := range best {
		out[id] = r.trips
	}
	return out
}

// createdLess reports a < b with NULL lowest.
func createdLess(a, b *time.Time) bool {
	switch {
	case a == nil:
		return b != nil
	case b == nil:
		return false
	}
	return a.Before(*b)
}

// TestPlanWriteRandomPushes: seeded random histories, each followed by three pushes of
// random rows. After every push the file holds the old rows then the pushed ones, in
// order, and pull-latest over it agrees with the reference over that order (so a pushed
// row wins every remaining tie with an older one).
func TestPlanWriteRandomPushes(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			var trips int32
			all := randomRows(rng, 1+rng.Intn(30), &trips)
			path := filepath.Join(t.TempDir(), "stats.parquet")
			writeRandRows(t, path, all)
			for push := 0; push < 3; push++ {
				pushed := randomRows(rng, 1+rng.Intn(5), &trips)
				r, cols := writeRequest(t, path, "parquet", nil, Column{Name: "driver_id", Type: "INT64"},
					Column{Name: "event_timestamp", Type: "UNIX_TIMESTAMP"}, Column{Name: "created", Type: "UNIX_TIMESTAMP"},
					Column{Name: "conv_rate", Type: "DOUBLE"}, Column{Name: "trips", Type: "INT32"})
				rel := &offlineengine.Relation{Columns: []offlineengine.Column{{Name: "driver_id", Type: abi.TypeInt64},
					{Name: "event_timestamp", Type: abi.TypeUnixTimestamp}, {Name: "created", Type: abi.TypeUnixTimestamp},
					{Name: "conv_rate", Type: abi.TypeDouble}, {Name: "trips", Type: abi.TypeInt32}}}
				for _, p := range pushed {
					rel.Rows = append(rel.Rows, p.values())
				}
				if err := execWrite(t, r, cols, rel); err != nil {
					t.Fatal(err)
				}
				all = append(all, pushed...)

				// The file, in row order, is the old rows then the pushed ones.
				var got []int32
				p := &offlineengine.Plan{Dialect: "duckdb", Params: []any{path},
					SQL:          "SELECT trips FROM read_parquet($1, file_row_number = true) ORDER BY file_row_number",
					ResultSchema: []offlineengine.Column{{Name: "trips", Type: abi.TypeInt32}}}
				if _, err := offlineengine.Execute(context.Background(), p, offlineengine.Options{Access: offlineengine.Access{Paths: []string{path}}},
					func(b *offlineengine.Batch) error {
						for _, row := range b.Rows {
							got = append(got, row[0].(int32))
						}
						return nil
					}); err != nil {
					t.Fatal(err)
				}
				var want []int32
				for _, r := range all {
					want = append(want, r.trips)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("push %d: file order %v, want %v", push, got, want)
				}

				req := &PullLatestRequest{Source: Source{Path: path, FileFormat: "parquet", TimestampField: "event_timestamp", CreatedTimestampColumn: "created"},
					JoinKeys: []Column{{Name: "driver_id", Type: "INT64"}}, FeatureColumns: []Column{{Name: "trips", Type: "INT32"}},
					Start: micros("2021-04-01T00:00:00Z"), End: micros("2021-05-01T00:00:00Z")}
				latest := map[int64]int32{}
				for _, row := range run(t, req) {
					latest[row[0].(int64)] = row[3].(int32)
				}
				if ref := latestReference(all); !reflect.DeepEqual(latest, ref) {
					t.Fatalf("push %d: pull-latest %v, reference %v over %+v", push, latest, ref, all)
				}
			}
		})
	}
}

func writeRandRows(t *testing.T, path string, rows []randRow) {
	t.Helper()
	q := "SELECT * FROM (VALUES "
	for i, r := range rows {
		if i > 0 {
			q += ", "
		}
		created, conv := "NULL::TIMESTAMPTZ", "NULL::DOUBLE"
		if r.created != nil {
			created = "TIMESTAMPTZ '" + r.created.Format("2006-01-02 15:04:05") + "+00'"
		}
		if r.conv != nil {
			conv = fmt.Sprintf("%g::DOUBLE", *r.conv)
		}
		q += fmt.Sprintf("(%d::BIGINT, TIMESTAMPTZ '%s+00', %s, %s, %d::INTEGER)", r.id, r.event.Format("2006-01-02 15:04:05"), created, conv, r.trips)
	}
	q += ") AS t(driver_id, event_timestamp, created, conv_rate, trips)"
	write(t, path, "parquet", q)
}
