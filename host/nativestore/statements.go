package nativestore

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/larder-dev/larder/abi"
)

// These statements are the ones plugins/sqlite sends through the sql capability (its
// sql.go); keep the two in step so the native/wasm benchmark compares like with like.

func tableName(project, view string) (string, error) {
	if project == "" || view == "" {
		return "", fmt.Errorf("table name needs a project and a feature view, got project %q view %q: %w", project, view, abi.ErrBadArgument)
	}
	if strings.ContainsRune(project, 0) || strings.ContainsRune(view, 0) {
		return "", fmt.Errorf("project %q or feature view %q contains a NUL byte: %w", project, view, abi.ErrBadArgument)
	}
	return project + "_" + view, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func createTableSQL(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + quoteIdent(table) + " (entity_key BLOB, feature_name TEXT, value BLOB, " +
		"value_text TEXT, value_num REAL, vector_value BLOB, event_ts timestamp, created_ts timestamp, " +
		"PRIMARY KEY(entity_key, feature_name));\n" +
		"CREATE INDEX IF NOT EXISTS " + quoteIdent(table+"_ek") + " ON " + quoteIdent(table) + " (entity_key);\n"
}

func dropTableSQL(table string) string { return "DROP TABLE IF EXISTS " + quoteIdent(table) + ";\n" }

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

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
