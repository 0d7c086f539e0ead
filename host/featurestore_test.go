package host

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/larder-dev/larder/host/feast"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// These tests run the whole embedded default: the scaffolded repo of `larder init`, the
// real sqlite and duckdb plugins as .wasm, real SQLite and DuckDB.

// dataEnd is where the scaffolded data ends (its last hourly row).
var dataEnd = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

type testRepo struct {
	dir   string
	fs    *FeatureStore
	clock *testClock
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if err := repo.ScaffoldWith(dir, repo.ScaffoldOptions{Project: "demo", Now: dataEnd}); err != nil {
		t.Fatal(err)
	}
	plugins := t.TempDir()
	for _, name := range []string{"sqlite", "duckdb"} {
		if err := os.Symlink(testPlugin(t, name), filepath.Join(plugins, name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	tr := &testRepo{dir: dir, clock: &testClock{t: dataEnd.Add(time.Hour)}}
	tr.fs = tr.open(t, plugins)
	return tr
}

func (tr *testRepo) open(t *testing.T, plugins string) *FeatureStore {
	t.Helper()
	fs, err := Open(context.Background(), tr.dir, OpenOptions{PluginDir: plugins, CacheDir: "-", Now: tr.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return fs
}

func (tr *testRepo) path(rel string) string { return filepath.Join(tr.dir, rel) }

func (tr *testRepo) edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(tr.path(file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(tr.path(file), bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tables lists the tables of the online SQLite database.
func (tr *testRepo) tables(t *testing.T) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+tr.path("data/online_store.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

func changes(p *Plan) []string {
	var out []string
	for _, c := range p.Objects {
		s := string(c.Op) + " " + c.Kind + " " + c.Name
		if len(c.Fields) > 0 {
			s += " (" + strings.Join(c.Fields, ",") + ")"
		}
		out = append(out, s)
	}
	for _, c := range p.Tables {
		out = append(out, string(c.Op)+" table "+c.View)
	}
	return out
}

func TestApplyPlanTeardown(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)

	plan, err := tr.fs.Apply(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create project demo",
		"create entity driver",
		"create data source driver_hourly_stats_source", "create data source vals_to_add", "create data source driver_stats_push_source",
		"create feature view driver_hourly_stats", "create feature view driver_hourly_stats_fresh",
		"create feature service driver_activity_v1", "create feature service driver_activity_v2", "create feature service driver_activity_v3",
		"create table driver_hourly_stats", "create table driver_hourly_stats_fresh",
	}
	if got := changes(plan); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("plan of a new repo:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(tr.path("data/registry.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a dry run wrote the registry: %v", err)
	}

	if plan, err = tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !plan.Applied || len(plan.Objects) != len(want)-2 {
		t.Fatalf("apply: %+v", plan)
	}
	if got := tr.tables(t); strings.Join(got, ",") != "demo_driver_hourly_stats,demo_driver_hourly_stats_fresh" {
		t.Fatalf("online tables after apply: %v", got)
	}
	reg, err := tr.fs.Registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.FeatureViews) != 2 || reg.FeatureViews[0].Meta == nil || reg.FeatureViews[0].Meta.CreatedTimestamp == nil {
		t.Fatalf("registry after apply: %+v", reg.FeatureViews)
	}
	created := *reg.FeatureViews[0].Meta.CreatedTimestamp
	before, _ := os.ReadFile(tr.path("data/registry.db"))

	// Applying the same repo again changes nothing, not even the registry's version id.
	if plan, err = tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	if plan.HasChanges() {
		t.Fatalf("second apply: %v", changes(plan))
	}
	if after, _ := os.ReadFile(tr.path("data/registry.db")); !bytes.Equal(before, after) {
		t.Fatal("an apply without changes rewrote the registry")
	}

	// A changed ttl is an update of that view, keeping its creation time.
	tr.edit(t, "features.yaml", "    ttl: 1d\n    schema:\n      - {name: conv_rate, dtype: Float32}\n      - {name: acc_rate, dtype: Float32}\n      - {name: avg_daily_trips, dtype: Int64, description",
		"    ttl: 2d\n    schema:\n      - {name: conv_rate, dtype: Float32}\n      - {name: acc_rate, dtype: Float32}\n      - {name: avg_daily_trips, dtype: Int64, description")
	tr.clock.set(dataEnd.Add(2 * time.Hour))
	if plan, err = tr.fs.Apply(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := changes(plan); strings.Join(got, ";") != "update feature view driver_hourly_stats (ttl)" {
		t.Fatalf("plan after a ttl change: %v", got)
	}
	if _, err = tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	reg, _ = tr.fs.Registry(ctx)
	fv := findView(reg, "driver_hourly_stats")
	if fv.Spec.TTL.Std() != 48*time.Hour || *fv.Meta.CreatedTimestamp != created ||
		fv.Meta.LastUpdatedTimestamp.Time().Equal(created.Time()) {
		t.Fatalf("updated view: ttl %v, meta %+v (created before: %v)", fv.Spec.TTL.Std(), fv.Meta, created)
	}

	// Removing a view from the repo deletes it and drops its table.
	tr.edit(t, "features.yaml", "  - name: driver_activity_v3\n    features: [driver_hourly_stats_fresh]\n", "")
	b, _ := os.ReadFile(tr.path("features.yaml"))
	start := bytes.Index(b, []byte("  # The same features, fed by the push source."))
	end := bytes.Index(b, []byte("# An on-demand feature view"))
	os.WriteFile(tr.path("features.yaml"), append(b[:start:start], b[end:]...), 0o644)
	if plan, err = tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := changes(plan); strings.Join(got, ";") != "delete feature view driver_hourly_stats_fresh;delete feature service driver_activity_v3;delete table driver_hourly_stats_fresh" {
		t.Fatalf("apply after removing a view: %v", got)
	}
	if got := tr.tables(t); strings.Join(got, ",") != "demo_driver_hourly_stats" {
		t.Fatalf("online tables after removing a view: %v", got)
	}

	// Teardown drops the tables and the registry.
	if plan, err = tr.fs.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if len(plan.Tables) != 1 || plan.Tables[0].Op != OpDelete {
		t.Fatalf("teardown plan: %v", changes(plan))
	}
	if got := tr.tables(t); len(got) != 0 {
		t.Fatalf("online tables after teardown: %v", got)
	}
	if _, err := os.Stat(tr.path("data/registry.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("registry after teardown: %v", err)
	}
	// Teardown again is harmless.
	if _, err := tr.fs.Teardown(ctx); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}

func findView(reg *registry.Registry, name string) *registry.FeatureView {
	for _, fv := range reg.FeatureViews {
		if fv.Spec.Name == name {
			return fv
		}
	}
	return nil
}

func TestInvalidApplyKeepsRegistry(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(tr.path("data/registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	tablesBefore := tr.tables(t)

	// A view that references an entity that does not exist, plus the removal of another
	// view: had the removal gone through, a table would be dropped.
	tr.edit(t, "features.yaml", "    entities: [driver]\n    ttl: 1d", "    entities: [rider]\n    ttl: 1d")
	_, err = tr.fs.Apply(ctx, false)
	if err == nil {
		t.Fatal("apply of an invalid repo succeeded")
	}
	if !strings.Contains(err.Error(), "features.yaml:") || !strings.Contains(err.Error(), "rider") {
		t.Fatalf("error does not point at the definition: %v", err)
	}
	after, _ := os.ReadFile(tr.path("data/registry.db"))
	if !bytes.Equal(before, after) {
		t.Fatal("an invalid apply changed the registry")
	}
	if got := tr.tables(t); strings.Join(got, ",") != strings.Join(tablesBefore, ",") {
		t.Fatalf("an invalid apply changed the online tables: %v, before %v", got, tablesBefore)
	}
	// The plan refuses the same way.
	if _, err := tr.fs.Apply(ctx, true); err == nil {
		t.Fatal("plan of an invalid repo succeeded")
	}
}

// countingStore counts the rows written through it.
type countingStore struct {
	OnlineStore
	mu   sync.Mutex
	rows map[string]int
}

func (c *countingStore) Write(ctx context.Context, req WriteRequest) error {
	c.mu.Lock()
	c.rows[req.View] += len(req.Rows)
	c.mu.Unlock()
	return c.OnlineStore.Write(ctx, req)
}

func (c *countingStore) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rows
	c.rows = map[string]int{}
	return r
}

// read returns view's features for driver ids as Go values (nil = not found).
func readDrivers(t *testing.T, fs *FeatureStore, view string, ids ...int64) map[int64][]feast.Value {
	t.Helper()
	st, err := fs.onlineStore(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	feats := []string{"conv_rate", "acc_rate", "avg_daily_trips"}
	rv := ReadView{Name: view, Features: feats}
	for _, id := range ids {
		k, err := feast.SerializeEntityKey([]string{"driver_id"}, []feast.Value{feast.Int64Value(id)}, 3)
		if err != nil {
			t.Fatal(err)
		}
		rv.EntityKeys = append(rv.EntityKeys, k)
	}
	res, err := st.Read(context.Background(), ReadRequest{Project: "demo", Views: []ReadView{rv}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]feast.Value{}
	for i, id := range ids {
		for f := range feats {
			fv := res.Views[0][i*len(feats)+f]
			if fv.Value == nil {
				continue
			}
			v, err := feast.UnmarshalValue(fv.Value)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = append(out[id], v)
		}
	}
	return out
}

// latestInParquet computes what materialization must load, with plain DuckDB.
func latestInParquet(t *testing.T, path string, start, end time.Time) map[int64][3]float64 {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT driver_id, conv_rate, acc_rate, avg_daily_trips FROM read_parquet($1)
		WHERE event_timestamp >= $2 AND event_timestamp < $3
		QUALIFY row_number() OVER (PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC) = 1`, path, start, end)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][3]float64{}
	for rows.Next() {
		var id, trips int64
		var conv, acc float32
		if err := rows.Scan(&id, &conv, &acc, &trips); err != nil {
			t.Fatal(err)
		}
		out[id] = [3]float64{float64(conv), float64(acc), float64(trips)}
	}
	return out
}

func TestMaterializeAndIncremental(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	st, err := tr.fs.onlineStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingStore{OnlineStore: st, rows: map[string]int{}}
	tr.fs.online = counter
	parquet := tr.path("data/driver_stats.parquet")

	// Materialize the first ten days of driver_hourly_stats only.
	mid := dataEnd.Add(-5 * 24 * time.Hour)
	var out bytes.Buffer
	err = tr.fs.Materialize(ctx, MaterializeRequest{Start: time.Unix(0, 0), End: mid, FeatureViews: []string{"driver_hourly_stats"}, Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); got["driver_hourly_stats"] != 5 || len(got) != 1 {
		t.Fatalf("rows written: %v, want 5 to driver_hourly_stats", got)
	}
	if !strings.Contains(out.String(), "Materializing 1 feature view from 1970-01-01T00:00:00Z to 2026-01-05T12:00:00Z into the sqlite online store.") ||
		!strings.Contains(out.String(), "100% (5 rows in") {
		t.Fatalf("progress output:\n%s", out.String())
	}
	checkOnline(t, tr.fs, "driver_hourly_stats", latestInParquet(t, parquet, time.Unix(0, 0), mid))

	// Incremental: driver_hourly_stats continues from mid; driver_hourly_stats_fresh was
	// never materialized, so it starts at now - ttl (one day).
	end := dataEnd.Add(time.Hour)
	if err := tr.fs.MaterializeIncremental(ctx, MaterializeIncrementalRequest{End: end}); err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); got["driver_hourly_stats"] != 5 || got["driver_hourly_stats_fresh"] != 5 {
		t.Fatalf("rows written by the first incremental run: %v", got)
	}
	want := latestInParquet(t, parquet, time.Unix(0, 0), end)
	checkOnline(t, tr.fs, "driver_hourly_stats", want)
	checkOnline(t, tr.fs, "driver_hourly_stats_fresh", want)
	// Driver 1001's newest hour has a late correction with an older created timestamp:
	// the original row (created later) must win.
	if want[1001][2] == 0 {
		t.Fatalf("the scaffold's late correction won the tie: %v", want[1001])
	}

	reg, _ := tr.fs.Registry(ctx)
	iv := findView(reg, "driver_hourly_stats").Meta.MaterializationIntervals
	if len(iv) != 2 || !iv[0].EndTime.Time().Equal(mid) || !iv[1].StartTime.Time().Equal(mid) || !iv[1].EndTime.Time().Equal(end) {
		t.Fatalf("intervals of driver_hourly_stats: %+v", iv)
	}
	fresh := findView(reg, "driver_hourly_stats_fresh").Meta.MaterializationIntervals
	if len(fresh) != 1 || !fresh[0].StartTime.Time().Equal(tr.clock.now().Add(-24*time.Hour)) {
		t.Fatalf("intervals of driver_hourly_stats_fresh: %+v", fresh)
	}

	// Running it again with the same end loads nothing.
	out.Reset()
	if err := tr.fs.MaterializeIncremental(ctx, MaterializeIncrementalRequest{End: end, Progress: &out}); err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); len(got) != 0 {
		t.Fatalf("a repeated incremental run wrote rows: %v", got)
	}
	if !strings.Contains(out.String(), "already materialized up to") {
		t.Fatalf("progress of a no-op run:\n%s", out.String())
	}

	// New data arrives: one new hour for driver 1002. The next run loads only that row.
	appendRow(t, parquet, 1002, end, 0.5, 0.25, 777)
	tr.clock.set(end.Add(2 * time.Hour))
	later := end.Add(2 * time.Hour)
	if err := tr.fs.MaterializeIncremental(ctx, MaterializeIncrementalRequest{End: later, FeatureViews: []string{"driver_hourly_stats"}}); err != nil {
		t.Fatal(err)
	}
	if got := counter.take(); got["driver_hourly_stats"] != 1 || len(got) != 1 {
		t.Fatalf("rows written after new data: %v, want exactly the new row", got)
	}
	vals := readDrivers(t, tr.fs, "driver_hourly_stats", 1002)[1002]
	if len(vals) != 3 || vals[2].Int != 777 {
		t.Fatalf("driver 1002 after the new row: %v", vals)
	}

	// Unknown views are the caller's mistake.
	err = tr.fs.Materialize(ctx, MaterializeRequest{Start: mid, End: end, FeatureViews: []string{"nope"}})
	if re, ok := AsRequestError(err); !ok || re.Kind != NotFound {
		t.Fatalf("unknown view: %v", err)
	}
	err = tr.fs.Materialize(ctx, MaterializeRequest{Start: end, End: mid})
	if re, ok := AsRequestError(err); !ok || re.Kind != BadRequest {
		t.Fatalf("reversed window: %v", err)
	}
}

func checkOnline(t *testing.T, fs *FeatureStore, view string, want map[int64][3]float64) {
	t.Helper()
	var ids []int64
	for id := range want {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	got := readDrivers(t, fs, view, ids...)
	for _, id := range ids {
		v := got[id]
		if len(v) != 3 {
			t.Fatalf("%s: driver %d has %d values, want 3", view, id, len(v))
		}
		w := want[id]
		if v[0].Type != feast.TypeFloat || v[0].Float != w[0] || v[1].Float != w[1] || v[2].Type != feast.TypeInt64 || float64(v[2].Int) != w[2] {
			t.Fatalf("%s: driver %d = %v, want %v", view, id, v, w)
		}
	}
}

// appendRow adds a row to the scaffolded Parquet file, as a new day of data would.
func appendRow(t *testing.T, path string, id int64, ts time.Time, conv, acc float32, trips int64) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tmp := path + ".new"
	_, err = db.Exec(`COPY (SELECT * FROM read_parquet($1) UNION ALL
		SELECT $2::BIGINT, $3::TIMESTAMPTZ, $4::FLOAT, $5::FLOAT, $6::BIGINT, $3::TIMESTAMPTZ) TO '`+tmp+`' (FORMAT parquet)`,
		path, id, ts, conv, acc, trips)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The registry cache serves its snapshot until cache_ttl_seconds have passed, then picks
// up a registry written by someone else, without making the caller wait for the reload.
func TestRegistryCacheRefresh(t *testing.T) {
	ctx := context.Background()
	writer := newTestRepo(t)
	if _, err := writer.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	readerClock := &testClock{t: writer.clock.now()}
	reader, err := Open(ctx, writer.dir, OpenOptions{CacheDir: "-", Now: readerClock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	ttlOf := func() time.Duration {
		reg, err := reader.Registry(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return findView(reg, "driver_hourly_stats").Spec.TTL.Std()
	}
	if got := ttlOf(); got != 24*time.Hour {
		t.Fatalf("ttl = %v", got)
	}

	writer.edit(t, "features.yaml", "    entities: [driver]\n    ttl: 1d", "    entities: [driver]\n    ttl: 3d")
	if _, err := writer.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Within the TTL (600 s by default) the reader keeps its snapshot.
	readerClock.set(readerClock.now().Add(599 * time.Second))
	if got := ttlOf(); got != 24*time.Hour {
		t.Fatalf("the cache refreshed before its TTL: ttl = %v", got)
	}
	// Past it, the next read starts a background refresh; the change shows up shortly.
	readerClock.set(readerClock.now().Add(2 * time.Second))
	deadline := time.Now().Add(30 * time.Second)
	for ttlOf() != 72*time.Hour {
		if time.Now().After(deadline) {
			t.Fatal("the registry cache never picked up the new registry")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if err := tr.fs.Health(ctx); err == nil || !strings.Contains(err.Error(), "larder apply") {
		t.Fatalf("health before apply: %v", err)
	}
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := tr.fs.Refresh(); err != nil {
		t.Fatal(err)
	}
	if err := tr.fs.Health(ctx); err != nil {
		t.Fatalf("health after apply: %v", err)
	}
}

// failingStore fails every write.
type failingStore struct{ OnlineStore }

func (failingStore) Write(context.Context, WriteRequest) error { return errors.New("disk full") }

// A materialization that fails to write reports the store's error and records no
// interval, so the next incremental run retries the same window.
func TestMaterializeWriteFailure(t *testing.T) {
	ctx := context.Background()
	tr := newTestRepo(t)
	if _, err := tr.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	st, err := tr.fs.onlineStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tr.fs.online = failingStore{st}
	err = tr.fs.MaterializeIncremental(ctx, MaterializeIncrementalRequest{End: dataEnd.Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "driver_hourly_stats") {
		t.Fatalf("err = %v, want the store's error naming the view", err)
	}
	reg, _ := tr.fs.Registry(ctx)
	for _, fv := range reg.FeatureViews {
		if len(fv.Meta.MaterializationIntervals) != 0 {
			t.Fatalf("%s recorded an interval despite the failure", fv.Spec.Name)
		}
	}
}
