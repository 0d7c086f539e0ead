package host

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/larder-dev/larder/host/config"
	"github.com/larder-dev/larder/host/offlineengine"
	"github.com/larder-dev/larder/host/pgengine"
	"github.com/larder-dev/larder/host/registry"
	"github.com/larder-dev/larder/host/repo"
)

// postgresConnection turns Feast's PostgreSQL store keys (host, port, database, user,
// password, sslmode, ssl*_path, min_conn/max_conn) into a DSN, returns db_schema apart,
// and the keys left over for the plugin's larder_init. The password stays on the host.
func postgresConnection(s *config.Store) (dsn, schema string, rest map[string]any) {
	u := &url.URL{Scheme: "postgres", Host: "localhost:5432", Path: "/postgres"}
	q := url.Values{}
	host, port, user, password := "localhost", "5432", "", ""
	rest = map[string]any{}
	for k, v := range s.Options {
		str := fmt.Sprint(v)
		switch k {
		case "host":
			host = str
		case "port":
			port = str
		case "database":
			u.Path = "/" + str
		case "user":
			user = str
		case "password":
			password = str
		case "db_schema":
			schema = str
		case "sslmode":
			q.Set("sslmode", str)
		case "sslkey_path":
			q.Set("sslkey", str)
		case "sslcert_path":
			q.Set("sslcert", str)
		case "sslrootcert_path":
			q.Set("sslrootcert", str)
		case "max_conn":
			q.Set("pool_max_conns", str)
		case "min_conn":
			q.Set("pool_min_conns", str)
		default:
			rest[k] = v
		}
	}
	u.Host = net.JoinHostPort(host, port)
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	u.RawQuery = q.Encode()
	return u.String(), schema, rest
}

func init() {
	// Feast's PostgreSQL offline store. The plugin only plans; the host runs the plans on
	// its own connection, so the connection keys never reach the plugin and it gets no
	// grant. Feast's default db_schema for the offline store is "public".
	firstPartyBindings["postgres_offline"] = func(s *config.Store, project string) ([]Grant, map[string]any, error) {
		_, _, rest := postgresConnection(s)
		// pgx's pool settings mean nothing to a connection per plan; drop them quietly.
		return nil, rest, nil
	}
}

// offlinePostgresConfig is where postgres-dialect plans run, for an offline store of type
// postgres; nil otherwise.
func offlinePostgresConfig(s *config.Store) *pgengine.Config {
	if s == nil || s.Plugin != "postgres_offline" {
		return nil
	}
	dsn, schema, _ := postgresConnection(s)
	// The pool keys are for pgxpool; a plain connection refuses them.
	if u, err := url.Parse(dsn); err == nil {
		q := u.Query()
		q.Del("pool_max_conns")
		q.Del("pool_min_conns")
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	if schema == "" {
		schema = "public"
	}
	return &pgengine.Config{DSN: dsn, Schema: schema}
}

// executePlan runs a plan on the engine its dialect names: the sandboxed DuckDB, or the
// offline store's PostgreSQL (pg; nil when the offline store is not PostgreSQL). ents is
// the entity frame a postgres plan reads from pgengine.EntityTable.
func executePlan(ctx context.Context, pg *pgengine.Config, plan *offlineengine.Plan, opts offlineengine.Options,
	ents *pgengine.Entities, fn func(*offlineengine.Batch) error) (int64, error) {
	switch plan.Dialect {
	case offlineengine.DialectPostgres:
		if pg == nil {
			return 0, fmt.Errorf("the offline store planned in PostgreSQL's dialect, but feature_store.yaml's offline_store is not of type postgres, so there is no database to run it on")
		}
		return pgengine.Execute(ctx, *pg, plan, opts, ents, fn)
	default:
		return offlineengine.Execute(ctx, plan, opts, fn)
	}
}

// postgresEntities prepares a historical request for a PostgreSQL offline store. An
// entity file cannot be read by the database, so the request names the temporary table
// the file is loaded into instead, and the returned loader fills it with the rows as
// DuckDB reads them from the file (same sandbox, same access). An entity query is SQL for
// the database and needs nothing. It returns nil when there is nothing to load.
func postgresEntities(preq *HistoricalPlanRequest, opts offlineengine.Options) *pgengine.Entities {
	es := &preq.Entities
	if es.Path == "" {
		return nil
	}
	path, format, cols := es.Path, es.FileFormat, es.Columns
	es.Path, es.FileFormat = "", ""
	es.Table, es.RowColumn = pgengine.EntityTable, pgengine.RowColumn

	// Read the file in its own order, every column cast to the type the request declares
	// (Describe widens some types, which Execute would otherwise refuse).
	from := "read_parquet($1, filename = true, file_row_number = true)"
	order := "\nORDER BY filename, file_row_number"
	if format == "csv" {
		from, order = "read_csv_auto($1)", ""
	}
	sel := make([]string, len(cols))
	schema := make([]offlineengine.Column, len(cols))
	for i, c := range cols {
		sel[i] = "CAST(" + duckIdent(c.Name) + " AS " + duckType(c.Type.String()) + ") AS " + duckIdent(c.Name)
		schema[i] = offlineengine.Column{Name: c.Name, Type: c.Type}
	}
	plan := &offlineengine.Plan{
		Dialect: offlineengine.DialectDuckDB, SQL: "SELECT " + strings.Join(sel, ", ") + "\nFROM " + from + order,
		Params: []any{path}, ResultSchema: schema,
	}
	return &pgengine.Entities{Columns: schema, Produce: func(ctx context.Context, fn func(*offlineengine.Batch) error) error {
		_, err := offlineengine.Execute(ctx, plan, opts, fn)
		return err
	}}
}

var duckTypes = map[string]string{
	"BYTES": "BLOB", "STRING": "VARCHAR", "INT32": "INTEGER", "INT64": "BIGINT",
	"DOUBLE": "DOUBLE", "FLOAT": "FLOAT", "BOOL": "BOOLEAN", "UNIX_TIMESTAMP": "TIMESTAMPTZ",
}

// duckType is the DuckDB type whose values the engine reads as the ABI type t.
func duckType(t string) string {
	if e, ok := strings.CutSuffix(t, "_LIST"); ok {
		return duckTypes[e] + "[]"
	}
	return duckTypes[t]
}

func duckIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// postgresSource reads Feast's PostgreSQLSource out of a registry data source: ok is
// false for any other kind of source.
func postgresSource(src *registry.DataSource) (s OfflineSource, ok bool, err error) {
	if src == nil || src.Type != registry.SourceCustom || src.DataSourceClassType != repo.ClassPostgresSource {
		return s, false, nil
	}
	var opts struct {
		Name  string `json:"name"`
		Query string `json:"query"`
		Table string `json:"table"`
	}
	if src.CustomOptions == nil {
		return s, true, fmt.Errorf("the PostgreSQL source has no options (table or query)")
	}
	if err := json.Unmarshal(src.CustomOptions.Configuration, &opts); err != nil {
		return s, true, fmt.Errorf("decoding the PostgreSQL source options: %w", err)
	}
	if opts.Table == "" && opts.Query == "" {
		return s, true, fmt.Errorf("the PostgreSQL source has neither table nor query")
	}
	return OfflineSource{Name: src.Name, Table: opts.Table, Query: opts.Query, TimestampField: src.TimestampField,
		CreatedTimestampColumn: src.CreatedTimestampColumn, FieldMapping: src.FieldMapping}, true, nil
}

// describe names a source for messages: its file, table or query.
func (s OfflineSource) describe() string {
	switch {
	case s.Path != "":
		return s.Path
	case s.Table != "":
		return "PostgreSQL table " + s.Table
	case s.Query != "":
		return "the PostgreSQL query of source " + s.Name
	}
	return "source " + s.Name
}

// offlinePostgres is the PostgreSQL database of an offline store of type postgres (nil
// for any other offline store). It needs no plugin loaded: it comes from the config.
func (fs *FeatureStore) offlinePostgres() *pgengine.Config {
	return offlinePostgresConfig(fs.cfg.OfflineStore)
}
