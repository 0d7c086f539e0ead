package host

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgOfflineRepo is a feature repo whose offline store is a real PostgreSQL (schema of its
// own) holding a table "stats" and whose online store is SQLite.
type pgOfflineRepo struct {
	dir, schema string
	conn        *pgx.Conn
	fs          *FeatureStore
}

func newPGOfflineRepo(t *testing.T, offlineType string) *pgOfflineRepo {
	t.Helper()
	dsn := os.Getenv("LARDER_PG_DSN")
	if dsn == "" {
		dsn = "postgres://larder@127.0.0.1:15432/larder?sslmode=disable" // scripts/services.sh's default
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("LARDER_REQUIRE_SERVICES") != "" {
			t.Fatalf("LARDER_REQUIRE_SERVICES is set but PostgreSQL at %s does not answer: %v", dsn, err)
		}
		t.Skipf("no PostgreSQL at %s (%v): run scripts/services.sh start", dsn, err)
	}
	r := &pgOfflineRepo{dir: t.TempDir(), schema: fmt.Sprintf("larder_offline_host_%d", time.Now().UnixNano()), conn: conn}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+r.schema+" CASCADE")
		conn.Close(context.Background())
	})
	r.exec(t, "CREATE SCHEMA "+r.schema,
		"CREATE TABLE "+r.schema+".stats (driver_id bigint, event_timestamp timestamptz, created timestamp, src_conv real)",
		"INSERT INTO "+r.schema+`.stats VALUES
			(1, '2026-03-01 00:00:00+00', NULL, 0.1),
			(1, '2026-03-01 02:00:00+00', '2026-03-01 05:00:00', 0.2),
			(1, '2026-03-01 02:00:00+00', '2026-03-01 03:00:00', 0.3),
			(1, '2026-03-01 04:00:00+00', NULL, 0.4),
			(2, '2026-03-01 01:00:00+00', NULL, 0.5),
			(NULL, '2026-03-01 01:00:00+00', NULL, 0.6)`)

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	store := fmt.Sprintf("offline_store:\n  type: %s\n", offlineType)
	if offlineType == "postgres" {
		store += fmt.Sprintf("  host: %s\n  port: %s\n  database: %s\n  db_schema: %s\n  user: %s\n  password: %q\n  sslmode: disable\n",
			u.Hostname(), u.Port(), strings.TrimPrefix(u.Path, "/"), r.schema, u.User.Username(), pw)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("feature_store.yaml", "project: pgoff\nregistry: data/registry.db\nprovider: local\nonline_store:\n  type: sqlite\n  path: data/online.db\n"+store+"entity_key_serialization_version: 3\n")
	write("features.yaml", `
entities:
  - name: driver
    join_keys: [driver_id]
    value_type: INT64
sources:
  - name: stats_source
    type: postgres
    table: stats
    timestamp_field: event_timestamp
    created_timestamp_column: created
    field_mapping: {src_conv: conv_rate}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_source
    schema:
      - {name: conv_rate, dtype: Float32}
`)
	plugins := t.TempDir()
	for _, name := range []string{"sqlite", "duckdb", "postgres_offline"} {
		if err := os.Symlink(testPlugin(t, name), filepath.Join(plugins, name+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	r.fs, err = Open(ctx, r.dir, OpenOptions{PluginDir: plugins, CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.fs.Close(context.Background()) })
	if _, err := r.fs.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *pgOfflineRepo) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := r.conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func hourOf(h int) time.Time { return time.Date(2026, 3, 1, h, 0, 0, 0, time.UTC) }

// TestPostgresOfflineMaterialize: materialization reads a PostgreSQL table through the
// postgres_offline plugin's pull-latest plan (half-open window, created timestamp breaking
// ties, null keys skipped, field_mapping) into the online store.
func TestPostgresOfflineMaterialize(t *testing.T) {
	r := newPGOfflineRepo(t, "postgres")
	ctx := context.Background()
	if err := r.fs.Materialize(ctx, MaterializeRequest{Start: hourOf(0), End: hourOf(4)}); err != nil {
		t.Fatal(err)
	}
	resp, err := r.fs.GetOnlineFeatures(ctx, OnlineFeaturesRequest{
		Entities: []Column{{Name: "driver_id", Values: []json.RawMessage{json.RawMessage("1"), json.RawMessage("2"), json.RawMessage("3")}}},
		Features: []string{"stats:conv_rate"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Results[1]
	// Driver 1: the 04:00 row is at the window's exclusive end; of the two 02:00 rows the
	// one created later wins. Driver 2: its only row. Driver 3: none.
	if v := got.Values[0]; v.Float != float64(float32(0.2)) || !got.EventTimestamps[0].Equal(hourOf(2)) {
		t.Errorf("driver 1: %+v at %v, want 0.2 at 02:00", v, got.EventTimestamps[0])
	}
	if v := got.Values[1]; v.Float != float64(float32(0.5)) {
		t.Errorf("driver 2: %+v, want 0.5", v)
	}
	if !got.Values[2].IsNull() {
		t.Errorf("driver 3: %+v, want no value", got.Values[2])
	}
}

// TestPostgresOfflineHistoricalQuery: an entity query is SQL for the offline store's
// database, described and run there (no entity file, no temporary table).
func TestPostgresOfflineHistoricalQuery(t *testing.T) {
	r := newPGOfflineRepo(t, "postgres")
	out := filepath.Join(t.TempDir(), "training.parquet")
	res, err := r.fs.GetHistoricalFeatures(context.Background(), HistoricalRequest{
		EntitiesQuery: `SELECT driver_id::int AS driver_id, at AS event_timestamp, 'x'::varchar AS note
			FROM (VALUES (1, timestamptz '2026-03-01 03:00:00+00'), (2, timestamptz '2026-03-01 00:30:00+00')) AS e(driver_id, at)
			ORDER BY at DESC`,
		Features: []string{"stats:conv_rate"},
	}, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || fmt.Sprint(res.Columns) != "[{driver_id INT32} {event_timestamp UNIX_TIMESTAMP} {note STRING} {conv_rate FLOAT}]" {
		t.Fatalf("result %+v", res)
	}
	rows := duckRows(t, "SELECT driver_id, conv_rate FROM read_parquet("+sqlQuote(out)+") ORDER BY driver_id")
	if fmt.Sprint(rows) != "[[1 0.2] [2 <nil>]]" {
		t.Fatalf("rows %v", rows)
	}
}

// TestPostgresSourceNeedsPostgresStore: a postgres source under the file offline store
// is refused with a message naming the problem, before anything runs.
func TestPostgresSourceNeedsPostgresStore(t *testing.T) {
	r := newPGOfflineRepo(t, "file")
	err := r.fs.Materialize(context.Background(), MaterializeRequest{Start: hourOf(0), End: hourOf(4)})
	if err == nil || !strings.Contains(err.Error(), "reads PostgreSQL tables and queries, not files") && !strings.Contains(err.Error(), "source.path is empty") {
		t.Fatalf("error %v", err)
	}
}
