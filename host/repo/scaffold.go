package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Files Scaffold writes, relative to the repo dir.
const (
	ScaffoldDefinitions = "features.yaml"
	ScaffoldData        = "data/driver_stats.parquet"
)

// ScaffoldOptions tune Scaffold. The zero value is what `larder init` uses.
type ScaffoldOptions struct {
	// Project names the project; default: the directory's base name made into a valid
	// project name (as `feast init my_project` does), or "my_project".
	Project string
	// Now ends the generated data (rounded down to the hour); default time.Now(). The data
	// must be recent for the 1-day TTL of the example views to let values through.
	Now time.Time
}

// Scaffold writes an example feature repo into dir, like Feast's quickstart: a
// feature_store.yaml (SQLite online store, DuckDB offline store), driver statistics
// definitions, and hourly driver statistics in Parquet. It creates dir if needed and
// refuses to overwrite any file that already exists.
func Scaffold(dir string) error { return ScaffoldWith(dir, ScaffoldOptions{}) }

// ScaffoldWith is Scaffold with options.
func ScaffoldWith(dir string, o ScaffoldOptions) error {
	if o.Project == "" {
		o.Project = projectName(dir)
	}
	if !projectRE.MatchString(o.Project) {
		return fmt.Errorf("scaffolding feature repo: invalid project name %q: use letters, digits and underscores, starting with a letter", o.Project)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	files := []string{ConfigFileName, ScaffoldDefinitions, ScaffoldData}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("scaffolding feature repo: %s already exists; not overwriting it", filepath.Join(dir, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("scaffolding feature repo: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return fmt.Errorf("scaffolding feature repo: %w", err)
	}
	if err := writeNew(filepath.Join(dir, ConfigFileName), []byte(fmt.Sprintf(scaffoldConfig, o.Project))); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, ScaffoldDefinitions), []byte(scaffoldDefinitions)); err != nil {
		return err
	}
	return writeDriverStats(filepath.Join(dir, ScaffoldData), o.Now)
}

var projectRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

func projectName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "my_project"
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, filepath.Base(abs))
	if !projectRE.MatchString(name) {
		return "my_project"
	}
	return name
}

// writeNew creates path exclusively, so a file created since the existence check is not
// overwritten either.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("scaffolding feature repo: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("scaffolding feature repo: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("scaffolding feature repo: writing %s: %w", path, err)
	}
	return nil
}

// Example data, as in Feast's quickstart: drivers 1001-1005, one row per driver per hour
// over the 15 days ending at the hour of "now".
const (
	firstDriver = 1001
	numDrivers  = 5
	dataDays    = 15
	// A fixed seed makes the values the same on every run; only the timestamps move.
	dataSeed1, dataSeed2 = 20210407, 1001
)

// writeDriverStats writes the example Parquet file. Besides the hourly rows it holds one
// late correction with the same event_timestamp as driver 1001's newest row and an older
// `created`: readers must prefer the row created last, and this row makes that visible.
func writeDriverStats(path string, now time.Time) error {
	end := now.UTC().Truncate(time.Hour)
	start := end.Add(-dataDays * 24 * time.Hour)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "driver_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "event_timestamp", Type: ts},
		{Name: "conv_rate", Type: arrow.PrimitiveTypes.Float32},
		{Name: "acc_rate", Type: arrow.PrimitiveTypes.Float32},
		{Name: "avg_daily_trips", Type: arrow.PrimitiveTypes.Int64},
		{Name: "created", Type: ts},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	events := b.Field(1).(*array.TimestampBuilder)
	conv := b.Field(2).(*array.Float32Builder)
	acc := b.Field(3).(*array.Float32Builder)
	trips := b.Field(4).(*array.Int64Builder)
	created := b.Field(5).(*array.TimestampBuilder)

	rng := rand.New(rand.NewPCG(dataSeed1, dataSeed2))
	createdAt := arrow.Timestamp(end.UnixMicro())
	for t := start; !t.After(end); t = t.Add(time.Hour) {
		for id := int64(firstDriver); id < firstDriver+numDrivers; id++ {
			ids.Append(id)
			events.Append(arrow.Timestamp(t.UnixMicro()))
			conv.Append(rng.Float32())
			acc.Append(rng.Float32())
			trips.Append(rng.Int64N(1000))
			created.Append(createdAt)
		}
	}
	ids.Append(firstDriver)
	events.Append(arrow.Timestamp(end.UnixMicro()))
	conv.Append(0)
	acc.Append(0)
	trips.Append(0)
	created.Append(arrow.Timestamp(end.Add(-time.Hour).UnixMicro()))

	rec := b.NewRecordBatch()
	defer rec.Release()

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("scaffolding feature repo: %w", err)
	}
	if err := writeParquet(f, schema, rec); err != nil {
		os.Remove(path) // a truncated Parquet file would only fail later, less clearly
		return fmt.Errorf("scaffolding feature repo: writing %s: %w", path, err)
	}
	return nil
}

// writeParquet writes rec to f and closes f (pqarrow's FileWriter.Close closes its sink).
func writeParquet(f *os.File, schema *arrow.Schema, rec arrow.RecordBatch) error {
	w, err := pqarrow.NewFileWriter(schema, f,
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

const scaffoldConfig = `project: %s
# The registry is one file in Feast's registry format, written by ` + "`larder apply`" + `.
registry: data/registry.db
provider: local
# Stores are sandboxed WebAssembly plugins; "sqlite" and "duckdb" are built in.
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: duckdb
entity_key_serialization_version: 3
`

const scaffoldDefinitions = `# Feature definitions for the driver statistics example (Feast's quickstart).
# Every *.yaml file of the repo except feature_store.yaml holds definitions; see
# docs/feature-repo.md for the schema.

# An entity is a named join key: rows of every view keyed by "driver" are looked up
# by driver_id.
entities:
  - name: driver
    join_keys: [driver_id]
    value_type: INT64
    description: A driver of the ride-hailing example

sources:
  # Hourly driver statistics (generated by larder init). Paths are relative to the repo.
  - name: driver_hourly_stats_source
    type: file
    path: data/driver_stats.parquet
    timestamp_field: event_timestamp
    created_timestamp_column: created

  # Values only known at request time, for on-demand feature views.
  - name: vals_to_add
    type: request
    schema:
      - {name: val_to_add, dtype: Int64}
      - {name: val_to_add_2, dtype: Int64}

  # Fresh rows can be pushed through POST /push; they also land in the batch source.
  - name: driver_stats_push_source
    type: push
    batch_source: driver_hourly_stats_source

feature_views:
  - name: driver_hourly_stats
    entities: [driver]
    ttl: 1d
    schema:
      - {name: conv_rate, dtype: Float32}
      - {name: acc_rate, dtype: Float32}
      - {name: avg_daily_trips, dtype: Int64, description: Average daily trips}
    online: true
    source: driver_hourly_stats_source
    tags: {team: driver_performance}

  # The same features, fed by the push source.
  - name: driver_hourly_stats_fresh
    entities: [driver]
    ttl: 1d
    schema:
      - {name: conv_rate, dtype: Float32}
      - {name: acc_rate, dtype: Float32}
      - {name: avg_daily_trips, dtype: Int64}
    online: true
    source: driver_stats_push_source
    tags: {team: driver_performance}

# An on-demand feature view runs a Wasm function on features and request values, online
# and in historical retrieval alike. Build one with sdk-go or sdk-rust, then uncomment
# this and add transformed_conv_rate to the feature services below.
#
# on_demand_feature_views:
#   - name: transformed_conv_rate
#     sources: [driver_hourly_stats, vals_to_add]
#     schema:
#       - {name: conv_rate_plus_val1, dtype: Float64}
#       - {name: conv_rate_plus_val2, dtype: Float64}
#     module: transforms/transformed_conv_rate.wasm
#     sha256: <output of sha256sum transforms/transformed_conv_rate.wasm>

feature_services:
  # One service per model version.
  - name: driver_activity_v1
    features:
      - view: driver_hourly_stats
        features: [conv_rate]
  - name: driver_activity_v2
    features: [driver_hourly_stats]
  - name: driver_activity_v3
    features: [driver_hourly_stats_fresh]
`
