package main

import (
	"strconv"
	"strings"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// The statements below are Feast's SQLite online store layout (see README.md). The native
// store in host/nativestore runs the same statements; keep the two in step.

// tableName is Feast's table id "{project}_{view}".
func tableName(project, view string) (string, error) {
	if project == "" || view == "" {
		return "", sdk.Errorf(abi.ErrBadArgument, "table name needs a project and a feature view, got project %q view %q", project, view)
	}
	if strings.ContainsRune(project, 0) || strings.ContainsRune(view, 0) {
		return "", sdk.Errorf(abi.ErrBadArgument, "project %q or feature view %q contains a NUL byte", project, view)
	}
	return project + "_" + view, nil
}

// createTableSQL creates a feature view's table and its entity_key index. The columns are
// Feast's: value_text and value_num (search helpers) and vector_value stay NULL here but
// exist so Feast versions that write them can share the file.
func createTableSQL(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + quoteIdent(table) + " (entity_key BLOB, feature_name TEXT, value BLOB, " +
		"value_text TEXT, value_num REAL, vector_value BLOB, event_ts timestamp, created_ts timestamp, " +
		"PRIMARY KEY(entity_key, feature_name));\n" +
		"CREATE INDEX IF NOT EXISTS " + quoteIdent(table+"_ek") + " ON " + quoteIdent(table) + " (entity_key);\n"
}

func dropTableSQL(table string) string { return "DROP TABLE IF EXISTS " + quoteIdent(table) + ";\n" }

// upsertSQL writes one entity's features, Feast's way (INSERT … ON CONFLICT DO UPDATE, last
// write wins, whatever the timestamps): parameters are ?1 entity key, ?2 event time, ?3
// created time (Unix seconds, NULL = none), then one value per feature (NULL = not written:
// that feature's row is left alone). Feature names are quoted literals.
func upsertSQL(table string, features []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteIdent(table) + " (entity_key, feature_name, value, event_ts, created_ts) " +
		"SELECT ?1, column1, column2, ?2, ?3 FROM (VALUES ")
	for f, name := range features {
		if f > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + quoteLiteral(name) + ",?" + strconv.Itoa(f+4) + ")")
	}
	b.WriteString(") WHERE column2 IS NOT NULL ON CONFLICT(entity_key, feature_name) DO UPDATE SET " +
		"value = excluded.value, event_ts = excluded.event_ts, created_ts = excluded.created_ts")
	return b.String()
}

// quoteLiteral quotes a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// selectSQL reads n entity keys × nf features with Feast's semantics (the stored row of each
// (entity_key, feature_name), no timestamp filter) in the shape of a read response: the keys
// and the feature names come in as numbered VALUES lists, and their cross product is LEFT
// JOINed to the table on its primary key, so there is exactly one row per (key, feature),
// NULL where nothing is stored. pos = key position × nf + feature position lets the caller
// check the order; ordered adds ORDER BY pos (SQLite's plan already yields that order, so
// the plain variant skips the sort). event_ts comes back as UNIX_TIMESTAMP: the host
// converts integer seconds (current Feast) and ISO text (older Feast) alike.
//
// Parameters: the n keys (BLOB), then the nf feature names (TEXT).
func selectSQL(table string, n, nf int, ordered bool) string {
	var b strings.Builder
	b.WriteString("WITH k(i, key) AS (VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + strconv.Itoa(i) + ",?)")
	}
	b.WriteString("), f(j, name) AS (VALUES ")
	for j := 0; j < nf; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + strconv.Itoa(j) + ",?)")
	}
	b.WriteString(") SELECT k.i * " + strconv.Itoa(nf) + " + f.j AS pos, t.value AS value, t.event_ts AS event_ts FROM k CROSS JOIN f LEFT JOIN ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" AS t ON t.entity_key = k.key AND t.feature_name = f.name")
	if ordered {
		b.WriteString(" ORDER BY pos")
	}
	return b.String()
}
