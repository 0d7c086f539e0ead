package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DuckDBOfflineTarget is the duckdb plugin (Feast's file offline store) over Parquet
// files written in each case's directory.
func DuckDBOfflineTarget(pluginDir string) OfflineTarget {
	return OfflineTarget{
		Name:      "duckdb",
		PluginDir: pluginDir,
		NewBackend: func(t testing.TB, dir string) OfflineBackend {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return fileBackend{dir: dir}
		},
	}
}

type fileBackend struct{ dir string }

func (fileBackend) StoreYAML() map[string]any { return map[string]any{"type": "file"} }

func (b fileBackend) PutTable(name string, cols []OfflineColumn, rows [][]any, _ bool) (map[string]any, error) {
	p := filepath.Join(b.dir, name+".parquet")
	if err := writeParquet(p, cols, rows); err != nil {
		return nil, err
	}
	return map[string]any{"type": "file", "path": p}, nil
}

// PostgresOfflineTarget is the postgres_offline plugin on a real PostgreSQL server (dsn, a
// URL as scripts/services.sh prints it). Each case gets a schema of its own, dropped at
// its end, named as the offline store's db_schema.
func PostgresOfflineTarget(pluginDir, dsn string) OfflineTarget {
	return OfflineTarget{
		Name:          "postgres",
		PluginDir:     pluginDir,
		ArbitraryTies: true, // a table has no row order PostgreSQL promises
		NewBackend: func(t testing.TB, dir string) OfflineBackend {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("connecting to PostgreSQL: %v", err)
			}
			var rnd [6]byte
			rand.Read(rnd[:])
			schema := "larder_offline_" + hex.EncodeToString(rnd[:])
			if _, err := conn.Exec(ctx, "CREATE SCHEMA "+quoteIdent(schema)); err != nil {
				conn.Close(ctx)
				t.Fatalf("creating schema %s: %v", schema, err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := conn.Exec(ctx, "DROP SCHEMA "+quoteIdent(schema)+" CASCADE"); err != nil {
					t.Errorf("dropping schema %s: %v", schema, err)
				}
				conn.Close(ctx)
			})
			return &pgBackend{conn: conn, dsn: dsn, schema: schema}
		},
	}
}

type pgBackend struct {
	conn   *pgx.Conn
	dsn    string
	schema string
}

// StoreYAML spells the DSN out in Feast's keys.
func (b *pgBackend) StoreYAML() map[string]any {
	u, err := url.Parse(b.dsn)
	if err != nil {
		return map[string]any{"type": "postgres", "error": err.Error()}
	}
	m := map[string]any{"type": "postgres", "host": u.Hostname(), "database": strings.TrimPrefix(u.Path, "/"), "db_schema": b.schema}
	if p := u.Port(); p != "" {
		m["port"] = p
	}
	if u.User != nil {
		m["user"] = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			m["password"] = pw
		}
	}
	if s := u.Query().Get("sslmode"); s != "" {
		m["sslmode"] = s
	}
	return m
}

var pgColumnTypes = map[string]string{
	"BIGINT": "bigint", "INTEGER": "integer", "VARCHAR": "text", "DOUBLE": "double precision",
	"BOOLEAN": "boolean", "BLOB": "bytea", "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamptz",
}

func (b *pgBackend) PutTable(name string, cols []OfflineColumn, rows [][]any, asQuery bool) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defs := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		pt := pgColumnTypes[c.Type]
		if pt == "" {
			return nil, fmt.Errorf("column %s: no PostgreSQL type for %s", c.Name, c.Type)
		}
		defs[i] = quoteIdent(c.Name) + " " + pt
		names[i] = c.Name
	}
	table := quoteIdent(b.schema) + "." + quoteIdent(name)
	if _, err := b.conn.Exec(ctx, "CREATE TABLE "+table+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return nil, err
	}
	if _, err := b.conn.CopyFrom(ctx, pgx.Identifier{b.schema, name}, names, pgx.CopyFromRows(rows)); err != nil {
		return nil, fmt.Errorf("copying rows into %s: %w", table, err)
	}
	if asQuery {
		return map[string]any{"type": "postgres", "query": "SELECT * FROM " + table}, nil
	}
	// Unqualified: found through the search_path the offline store's db_schema sets.
	return map[string]any{"type": "postgres", "table": name}, nil
}
