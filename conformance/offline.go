package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb": writes the Parquet files, reads results

	"github.com/larder-dev/larder/conformance/pit"
	"github.com/larder-dev/larder/host"
)

// OfflineTarget says how to run the offline-store suite (RunOfflineStore) against one
// offline store plugin, end to end: a feature repo whose sources live in the target's
// backend, `larder apply`, then historical retrieval through the real host (plugin plans,
// host engine executes) into a Parquet file, compared row for row with the reference
// point-in-time join of conformance/pit.
type OfflineTarget struct {
	// Name labels the target in test names ("duckdb", "postgres").
	Name string
	// PluginDir holds the first-party plugin modules (<name>.wasm), as `make plugins`
	// builds them.
	PluginDir string
	// NewBackend prepares a case's backend in dir (empty, private to the case).
	NewBackend func(t testing.TB, dir string) OfflineBackend
	// ArbitraryTies: the store may pick any of the rows tied on event and created
	// timestamps (spec §9.4: "arbitrary otherwise"). Without it the last such row of the
	// source must win, as in Parquet files.
	ArbitraryTies bool
}

// OfflineBackend is where a case's source tables live.
type OfflineBackend interface {
	// StoreYAML is the offline_store mapping of feature_store.yaml, without the key.
	StoreYAML() map[string]any
	// PutTable stores rows (in order) as a table with the given columns and returns the
	// repo YAML of a source reading it (type, path or table/query), timestamp keys aside.
	// asQuery asks for a query source where the backend has them.
	PutTable(name string, cols []OfflineColumn, rows [][]any, asQuery bool) (map[string]any, error)
}

// OfflineColumn is a column of a test table; Type is one of BIGINT, INTEGER, VARCHAR,
// DOUBLE, BOOLEAN, BLOB, TIMESTAMP (no time zone) and TIMESTAMPTZ.
type OfflineColumn struct{ Name, Type string }

// RunOfflineStore runs the offline suite: named cases for each rule of ABI spec §9.6,
// then randomized cases (seeded: seed N is reproducible as subtest random/N; set
// LARDER_OFFLINE_SEED to start from another seed). Every case compares the store's
// training data with the reference join, row for row.
func RunOfflineStore(t *testing.T, target OfflineTarget) {
	cache := t.TempDir() // one compilation cache for the whole run
	run := func(t *testing.T, c *offlineCase) {
		t.Helper()
		runOfflineCase(context.Background(), t, target, cache, c)
	}
	t.Run("cases", func(t *testing.T) {
		for _, c := range namedOfflineCases() {
			t.Run(c.name, func(t *testing.T) { run(t, c) })
		}
	})
	base, n, err := offlineSeeds(testing.Short())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("random", func(t *testing.T) {
		for seed := base; seed < base+int64(n); seed++ {
			t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
				c := randomOfflineCase(seed)
				defer func() {
					if t.Failed() {
						t.Logf("seed %d: reproduce with go test -run '%s' (or LARDER_OFFLINE_SEED=%d)", seed, t.Name(), seed)
					}
				}()
				run(t, c)
			})
		}
	})
}

// offlineSeeds returns the first seed of the random cases (1, or LARDER_OFFLINE_SEED)
// and how many to run.
func offlineSeeds(short bool) (base int64, n int, err error) {
	n = 30
	if short {
		n = 8
	}
	base = 1
	if s := os.Getenv("LARDER_OFFLINE_SEED"); s != "" {
		if base, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("LARDER_OFFLINE_SEED=%q is not an integer", s)
		}
	}
	return base, n, nil
}

// offlineCase is one historical retrieval: an entity frame (driver_id BIGINT, customer
// VARCHAR, event_timestamp TIMESTAMP, label DOUBLE) and three views of fixed shape:
//
//   - drv: entity driver (driver_id), features conv (Float64, source column src_conv
//     through field_mapping), tag (String), ok (Bool); a created timestamp column.
//   - cust: entity customer whose join key cid is matched with the entity column
//     "customer" (a feature service's join_key_map); feature n (Int64), raw (Bytes).
//   - glob: entity-less; feature g (Int32); a created timestamp column.
type offlineCase struct {
	name            string
	ents            pit.Entities
	drv, cust, glob pit.View
	full            bool
	queries         bool // sources as queries where the backend has them
}

var offlineEpoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func hour(h int) time.Time      { return offlineEpoch.Add(time.Duration(h) * time.Hour) }
func at(h int) *time.Time       { t := hour(h); return &t }
func atUS(h, us int) *time.Time { t := hour(h).Add(time.Duration(us) * time.Microsecond); return &t }

func newOfflineCase(name string) *offlineCase {
	return &offlineCase{
		name: name,
		ents: pit.Entities{Columns: []string{"driver_id", "customer", "event_timestamp", "label"}, TimestampColumn: "event_timestamp"},
		drv:  pit.View{Name: "drv", JoinKeys: []string{"driver_id"}, Features: []string{"conv", "tag", "ok"}},
		cust: pit.View{Name: "cust", JoinKeys: []string{"customer"}, Features: []string{"n", "raw"}},
		glob: pit.View{Name: "glob", Features: []string{"g"}},
	}
}

func (c *offlineCase) entity(driver any, customer any, ts *time.Time, label any) {
	c.ents.Rows = append(c.ents.Rows, []any{driver, customer, tsValue(ts), label})
}

func tsValue(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// namedOfflineCases pin each rule of spec §9.6 with a small hand-written case.
func namedOfflineCases() []*offlineCase {
	var cases []*offlineCase
	add := func(name string, build func(c *offlineCase)) {
		c := newOfflineCase(name)
		build(c)
		cases = append(cases, c)
	}
	add("ttl edges are inclusive", func(c *offlineCase) {
		c.drv.TTL = 2 * time.Hour
		c.drv.Rows = []pit.Row{
			{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.0, "exactly ttl old", true}},
			{Keys: []any{int64(2)}, EventTS: atUS(0, -1), Values: []any{2.0, "one µs too old", false}},
			{Keys: []any{int64(3)}, EventTS: at(2), Values: []any{3.0, "same instant", true}},
			{Keys: []any{int64(3)}, EventTS: atUS(2, 1), Values: []any{4.0, "one µs in the future", true}},
		}
		for d := 1; d <= 3; d++ {
			c.entity(int64(d), nil, at(2), float64(d))
		}
	})
	add("created timestamp breaks ties, late or null", func(c *offlineCase) {
		c.drv.Rows = []pit.Row{
			{Keys: []any{int64(1)}, EventTS: at(1), CreatedTS: at(9), Values: []any{1.0, "created late: wins", true}},
			{Keys: []any{int64(1)}, EventTS: at(1), CreatedTS: at(2), Values: []any{2.0, "created early", false}},
			{Keys: []any{int64(1)}, EventTS: at(1), Values: []any{3.0, "no created: lowest", false}},
			{Keys: []any{int64(2)}, EventTS: at(1), Values: []any{4.0, "null created", false}},
			{Keys: []any{int64(2)}, EventTS: at(1), CreatedTS: at(0), Values: []any{5.0, "any created beats null", true}},
		}
		c.glob.Rows = []pit.Row{
			{EventTS: at(1), CreatedTS: at(5), Values: []any{int32(1)}},
			{EventTS: at(1), CreatedTS: at(3), Values: []any{int32(2)}},
		}
		c.entity(int64(1), nil, at(3), nil)
		c.entity(int64(2), nil, at(3), nil)
	})
	add("duplicate entity rows stay one-for-one and extra columns pass through", func(c *offlineCase) {
		c.drv.Rows = []pit.Row{{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.5, "a", nil}}}
		c.cust.Rows = []pit.Row{{Keys: []any{"c1"}, EventTS: at(0), Values: []any{int64(7), []byte{0, 1, 2}}}}
		for i := 0; i < 3; i++ {
			c.entity(int64(1), "c1", at(1), 0.25)
		}
		c.entity(int64(1), "c1", at(1), 0.5)
	})
	add("unmatched keys, null keys and null timestamps give nulls", func(c *offlineCase) {
		c.drv.Rows = []pit.Row{
			{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.0, "x", true}},
			{Keys: []any{nil}, EventTS: at(0), Values: []any{2.0, "null key", true}},
			{Keys: []any{int64(1)}, EventTS: nil, Values: []any{3.0, "null event", true}},
		}
		c.glob.Rows = []pit.Row{{EventTS: at(0), Values: []any{int32(5)}}}
		c.entity(int64(9), "nobody", at(1), nil)
		c.entity(nil, nil, at(1), nil)
		c.entity(int64(1), nil, nil, nil)
		c.entity(int64(1), nil, at(1), nil)
	})
	add("empty entity frame", func(c *offlineCase) {
		c.drv.Rows = []pit.Row{{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.0, "x", true}}}
	})
	add("empty sources", func(c *offlineCase) {
		c.entity(int64(1), "c1", at(1), 1.0)
		c.entity(int64(2), "c2", at(2), 2.0)
	})
	add("full feature names", func(c *offlineCase) {
		c.full = true
		c.drv.Rows = []pit.Row{{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.0, "x", true}}}
		c.cust.Rows = []pit.Row{{Keys: []any{"c1"}, EventTS: at(0), Values: []any{int64(1), []byte("r")}}}
		c.glob.Rows = []pit.Row{{EventTS: at(0), Values: []any{int32(3)}}}
		c.entity(int64(1), "c1", at(1), 1.0)
	})
	add("query sources", func(c *offlineCase) {
		c.queries = true
		c.drv.TTL = time.Hour
		c.drv.Rows = []pit.Row{
			{Keys: []any{int64(1)}, EventTS: at(0), Values: []any{1.0, "old", true}},
			{Keys: []any{int64(1)}, EventTS: at(2), Values: []any{2.0, "new", false}},
		}
		c.cust.Rows = []pit.Row{{Keys: []any{"c1"}, EventTS: at(1), Values: []any{int64(1), nil}}}
		c.entity(int64(1), "c1", at(1), nil)
		c.entity(int64(1), "c1", at(3), nil)
	})
	return cases
}

// randomOfflineCase draws a case from seed: timestamps from a few hours (so they
// collide), sometimes a microsecond off (TTL edges), nulls everywhere, created
// timestamps later than events, duplicate entity rows, empty inputs.
func randomOfflineCase(seed int64) *offlineCase {
	g := rand.New(rand.NewSource(seed))
	c := newOfflineCase(fmt.Sprintf("random %d", seed))
	ts := func(nullP float64) *time.Time {
		if g.Float64() < nullP {
			return nil
		}
		return atUS(g.Intn(12), []int{0, 0, 0, 0, -1, 1}[g.Intn(6)])
	}
	maybe := func(v any) any {
		if g.Intn(8) == 0 {
			return nil
		}
		return v
	}
	size := func(max int) int {
		if g.Intn(6) == 0 {
			return 0
		}
		return g.Intn(max)
	}
	ttl := func() time.Duration { return []time.Duration{0, 0, time.Hour, 3 * time.Hour}[g.Intn(4)] }
	for i, n := 0, size(40); i < n; i++ {
		t := ts(0.05)
		if t != nil && g.Intn(3) == 0 {
			tt := t.Truncate(time.Hour) // exactly on the hour: the TTL edges of hour-stamped rows
			t = &tt
		}
		row := []any{maybe(int64(g.Intn(5))), maybe(fmt.Sprintf("c%d", g.Intn(4))), tsValue(t), maybe(float64(i) / 4)}
		c.ents.Rows = append(c.ents.Rows, row)
		if g.Intn(5) == 0 {
			c.ents.Rows = append(c.ents.Rows, row)
		}
	}
	c.drv.TTL, c.cust.TTL, c.glob.TTL = ttl(), ttl(), ttl()
	for i, n := 0, size(60); i < n; i++ {
		c.drv.Rows = append(c.drv.Rows, pit.Row{
			Keys: []any{maybe(int64(g.Intn(5)))}, EventTS: ts(0.1), CreatedTS: ts(0.3),
			Values: []any{maybe(float64(g.Intn(100)) / 8), maybe(fmt.Sprintf("t%d", i)), maybe(g.Intn(2) == 0)},
		})
	}
	for i, n := 0, size(60); i < n; i++ {
		c.cust.Rows = append(c.cust.Rows, pit.Row{
			Keys: []any{maybe(fmt.Sprintf("c%d", g.Intn(4)))}, EventTS: ts(0.1),
			Values: []any{maybe(int64(i)), maybe([]byte{byte(i), 0, byte(g.Intn(256))})},
		})
	}
	for i, n := 0, size(10); i < n; i++ {
		c.glob.Rows = append(c.glob.Rows, pit.Row{EventTS: ts(0.1), CreatedTS: ts(0.5), Values: []any{maybe(int32(i))}})
	}
	c.full = g.Intn(2) == 0
	c.queries = g.Intn(3) == 0
	return c
}

// runOfflineCase writes the case's repo, applies it, retrieves its training data and
// compares it with the reference. t is a *testing.T under go test and a caseTB in the
// CLI (RunOffline).
func runOfflineCase(ctx context.Context, t testing.TB, target OfflineTarget, cache string, c *offlineCase) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	be := target.NewBackend(t, filepath.Join(dir, "backend"))

	flat := func(v pit.View, withCreated bool) [][]any {
		out := make([][]any, len(v.Rows))
		for i, r := range v.Rows {
			row := append([]any(nil), r.Keys...)
			row = append(row, tsValue(r.EventTS))
			if withCreated {
				row = append(row, tsValue(r.CreatedTS))
			}
			out[i] = append(row, r.Values...)
		}
		return out
	}
	put := func(name string, cols []OfflineColumn, rows [][]any) map[string]any {
		src, err := be.PutTable(name, cols, rows, c.queries)
		if err != nil {
			t.Fatalf("storing table %s: %v", name, err)
		}
		return src
	}
	drvSrc := put("drv_rows", []OfflineColumn{{"driver_id", "BIGINT"}, {"ts", "TIMESTAMPTZ"}, {"created", "TIMESTAMP"},
		{"src_conv", "DOUBLE"}, {"tag", "VARCHAR"}, {"ok", "BOOLEAN"}}, flat(c.drv, true))
	drvSrc["timestamp_field"], drvSrc["created_timestamp_column"] = "ts", "created"
	drvSrc["field_mapping"] = map[string]any{"src_conv": "conv"}
	custSrc := put("cust_rows", []OfflineColumn{{"cid", "VARCHAR"}, {"event_timestamp", "TIMESTAMP"}, {"n", "BIGINT"}, {"raw", "BLOB"}}, flat(c.cust, false))
	custSrc["timestamp_field"] = "event_timestamp"
	globSrc := put("glob_rows", []OfflineColumn{{"ts", "TIMESTAMP"}, {"created", "TIMESTAMPTZ"}, {"g", "INTEGER"}}, flat(c.glob, true))
	globSrc["timestamp_field"], globSrc["created_timestamp_column"] = "ts", "created"

	ttl := func(d time.Duration) int64 { return int64(d / time.Second) }
	named := func(m map[string]any, name string) map[string]any { m["name"] = name; return m }
	defs := map[string]any{
		"entities": []any{
			map[string]any{"name": "driver", "join_keys": []any{"driver_id"}, "value_type": "INT64"},
			map[string]any{"name": "customer", "join_keys": []any{"cid"}, "value_type": "STRING"},
		},
		"sources": []any{named(drvSrc, "drv_src"), named(custSrc, "cust_src"), named(globSrc, "glob_src")},
		"feature_views": []any{
			map[string]any{"name": "drv", "entities": []any{"driver"}, "source": "drv_src", "ttl": ttl(c.drv.TTL),
				"schema": []any{field("conv", "Float64"), field("tag", "String"), field("ok", "Bool")}},
			map[string]any{"name": "cust", "entities": []any{"customer"}, "source": "cust_src", "ttl": ttl(c.cust.TTL),
				"schema": []any{field("n", "Int64"), field("raw", "Bytes")}},
			map[string]any{"name": "glob", "source": "glob_src", "ttl": ttl(c.glob.TTL),
				"schema": []any{field("g", "Int32")}},
		},
		"feature_services": []any{map[string]any{"name": "all", "features": []any{
			"drv",
			map[string]any{"view": "cust", "join_key_map": map[string]any{"cid": "customer"}},
			"glob",
		}}},
	}
	fs, entPath := applyCaseRepo(ctx, t, dir, target, cache, be, defs, c.ents.Rows)
	defer fs.Close(context.Background())
	out := filepath.Join(dir, "training.parquet")
	if _, err := fs.GetHistoricalFeatures(ctx, host.HistoricalRequest{EntitiesPath: entPath, FeatureService: "all", FullFeatureNames: c.full}, out); err != nil {
		t.Fatalf("historical retrieval: %v", err)
	}
	gotCols, got, err := readParquet(out)
	if err != nil {
		t.Fatal(err)
	}

	views := []pit.View{c.drv, c.cust, c.glob}
	wantCols, want, err := pit.ReferenceHistorical(c.ents, views, c.full)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotCols, ",") != strings.Join(wantCols, ",") {
		t.Fatalf("result columns %v, want %v", gotCols, wantCols)
	}
	if len(got) != len(want) {
		t.Fatalf("%d result rows, want %d (one per entity row)", len(got), len(want))
	}
	var winners [][][]*pit.Row
	if target.ArbitraryTies {
		if winners, err = pit.Winners(c.ents, views); err != nil {
			t.Fatal(err)
		}
	}
	for i := range want {
		if err := compareRow(got[i], want[i], c.ents, views, winners, i); err != nil {
			t.Fatalf("row %d: %v\nentity row %v\ngot  %v\nwant %v", i, err, c.ents.Rows[i], got[i], want[i])
		}
	}
}

// compareRow checks one result row. With winners set (a store whose ties are arbitrary),
// a view's features may come from any row tied for the win, but all from the same row.
func compareRow(got, want []any, ents pit.Entities, views []pit.View, winners [][][]*pit.Row, i int) error {
	col := len(ents.Columns)
	for j := 0; j < col; j++ {
		if !equalValue(got[j], want[j]) {
			return fmt.Errorf("entity column %s: got %#v, want %#v", ents.Columns[j], got[j], want[j])
		}
	}
	for vi, v := range views {
		seg := got[col : col+len(v.Features)]
		ok := true
		for fi := range v.Features {
			ok = ok && equalValue(seg[fi], want[col+fi])
		}
		if !ok && winners != nil {
			for _, r := range winners[i][vi] {
				same := true
				for fi := range v.Features {
					same = same && equalValue(seg[fi], r.Values[fi])
				}
				if same {
					ok = true
					break
				}
			}
		}
		if !ok {
			return fmt.Errorf("view %s: features %v = %#v, want %#v", v.Name, v.Features, seg, want[col:col+len(v.Features)])
		}
		col += len(v.Features)
	}
	return nil
}

// equalValue is pit.Equal with the reference's bools and the engines' agreeing.
func equalValue(a, b any) bool { return pit.Equal(a, b) }

func field(name, dtype string) map[string]any { return map[string]any{"name": name, "dtype": dtype} }

// applyCaseRepo writes a case's repo under dir/repo (feature_store.yaml with the backend's
// offline store, features.yaml from defs) and its entity file, then opens and applies it.
// The caller closes the store.
func applyCaseRepo(ctx context.Context, t testing.TB, dir string, target OfflineTarget, cache string,
	be OfflineBackend, defs map[string]any, ents [][]any) (fs *host.FeatureStore, entPath string) {
	t.Helper()
	repoDir := filepath.Join(dir, "repo")
	if err := os.MkdirAll(repoDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeYAML(t, filepath.Join(repoDir, "feature_store.yaml"), map[string]any{
		"project": "conf", "registry": "data/registry.db", "provider": "local",
		"online_store": nil, "offline_store": be.StoreYAML(), "entity_key_serialization_version": 3,
	})
	writeYAML(t, filepath.Join(repoDir, "features.yaml"), defs)

	entPath = filepath.Join(dir, "entities.parquet")
	if err := writeParquet(entPath, []OfflineColumn{{"driver_id", "BIGINT"}, {"customer", "VARCHAR"}, {"event_timestamp", "TIMESTAMP"}, {"label", "DOUBLE"}}, ents); err != nil {
		t.Fatal(err)
	}

	fs, err := host.Open(ctx, repoDir, host.OpenOptions{PluginDir: target.PluginDir, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Apply(ctx, false); err != nil {
		fs.Close(context.Background())
		t.Fatalf("apply: %v", err)
	}
	return fs, entPath
}

// writeYAML writes v as YAML. JSON is YAML, and encoding it needs no YAML library here.
func writeYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeParquet writes rows (in order) to a Parquet file through a real DuckDB.
func writeParquet(path string, cols []OfflineColumn, rows [][]any) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	defs := []string{"__i INTEGER"}
	for _, c := range cols {
		defs = append(defs, quoteIdent(c.Name)+" "+c.Type)
	}
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		return err
	}
	if _, err := db.Exec("CREATE TABLE t (" + strings.Join(defs, ", ") + ")"); err != nil {
		return err
	}
	if len(rows) > 0 {
		stmt, err := db.Prepare("INSERT INTO t VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)+1), ", ") + ")")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range rows {
			if _, err := stmt.Exec(append([]any{i}, r...)...); err != nil {
				return fmt.Errorf("inserting row %d %v: %w", i, r, err)
			}
		}
	}
	_, err = db.Exec("COPY (SELECT * EXCLUDE (__i) FROM t ORDER BY __i) TO " + sqlString(path) + " (FORMAT parquet)")
	return err
}

// readParquet reads a result file back in order, values as the reference holds them.
func readParquet(path string) ([]string, [][]any, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		return nil, nil, err
	}
	rows, err := db.Query("SELECT * FROM read_parquet(" + sqlString(path) + ", file_row_number = true) ORDER BY file_row_number")
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	cols = cols[:len(cols)-1] // file_row_number
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols)+1)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		vals = vals[:len(cols)]
		for i, v := range vals {
			if ts, ok := v.(time.Time); ok {
				vals[i] = ts.UTC()
			}
		}
		out = append(out, vals)
	}
	return cols, out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func sqlString(s string) string  { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
