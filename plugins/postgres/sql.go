package main

import (
	"strconv"
	"strings"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// The statements below are Feast's Postgres online store layout (see README.md).

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

// createTableSQL is Feast's DDL (without pgvector, without the optional value_num): the
// same columns and index names, so Feast and Larder share the tables.
func createTableSQL(table string) string {
	return "CREATE TABLE IF NOT EXISTS " + quoteIdent(table) + " (entity_key BYTEA, feature_name TEXT, value BYTEA, " +
		"value_text TEXT NULL, vector_value BYTEA NULL, event_ts TIMESTAMPTZ, created_ts TIMESTAMPTZ, " +
		"PRIMARY KEY(entity_key, feature_name));\n" +
		"CREATE INDEX IF NOT EXISTS " + quoteIdent(table+"_ek") + " ON " + quoteIdent(table) + " (entity_key);\n"
}

func dropTableSQL(table string) string {
	return "DROP TABLE IF EXISTS " + quoteIdent(table) + ";\nDROP INDEX IF EXISTS " + quoteIdent(table+"_ek") + ";\n"
}

// upsertSQL is Feast's write (last write wins, whatever the timestamps) for a whole
// chunk of rows in one statement: the columns arrive as arrays, unnested in step.
// value_text holds a string feature's text ("" = NULL), as Feast's writer fills it for
// its text search; timestamps are microseconds since the epoch, created_ts
// nullCreated = NULL. The keys of one chunk are distinct (ON CONFLICT may touch a row
// only once per statement).
//
// Parameters: entity keys (bytea[]), feature names (text[]), values (bytea[]), texts
// (text[]), event times and created times (int8[]).
func upsertSQL(table string) string {
	return "INSERT INTO " + quoteIdent(table) + " (entity_key, feature_name, value, value_text, event_ts, created_ts) " +
		"SELECT u.k, u.f, u.v, NULLIF(u.x, ''), 'epoch'::timestamptz + u.e * interval '1 microsecond', " +
		"CASE WHEN u.c = " + strconv.FormatInt(nullCreated, 10) + " THEN NULL ELSE 'epoch'::timestamptz + u.c * interval '1 microsecond' END " +
		"FROM unnest($1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::int8[], $6::int8[]) AS u(k, f, v, x, e, c) " +
		"ON CONFLICT (entity_key, feature_name) DO UPDATE SET " +
		"value = EXCLUDED.value, value_text = EXCLUDED.value_text, event_ts = EXCLUDED.event_ts, created_ts = EXCLUDED.created_ts"
}

// nullCreated marks a row without a created timestamp in the created-times array.
const nullCreated = -1 << 63

// selectSQL reads n entity keys × nf features in the shape of a read response: the keys
// and feature names come in as numbered VALUES lists whose cross product is LEFT JOINed to
// the table on its primary key, one row per (key, feature), NULL where nothing is stored,
// ordered by pos = key position × nf + feature position.
//
// Parameters: the n keys ($1…$n, BYTEA), then the nf feature names (TEXT).
func selectSQL(table string, n, nf int) string {
	var b strings.Builder
	b.WriteString("WITH k(i, key) AS (VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + strconv.Itoa(i) + ", $" + strconv.Itoa(i+1) + "::bytea)")
	}
	b.WriteString("), f(j, name) AS (VALUES ")
	for j := 0; j < nf; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(" + strconv.Itoa(j) + ", $" + strconv.Itoa(n+j+1) + "::text)")
	}
	b.WriteString(") SELECT (k.i * " + strconv.Itoa(nf) + " + f.j)::bigint AS pos, t.value AS value, t.event_ts AS event_ts FROM k CROSS JOIN f LEFT JOIN ")
	b.WriteString(quoteIdent(table))
	b.WriteString(" AS t ON t.entity_key = k.key AND t.feature_name = f.name ORDER BY pos")
	return b.String()
}

// quoteIdent quotes a SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// stringVal returns the string_val of a serialized feast.types.Value (field 2, the only
// field set), which Feast copies into value_text; ok is false for any other value.
func stringVal(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != 0x12 {
		return "", false
	}
	var n, shift uint64
	i := 1
	for ; i < len(v) && i < 11; i++ {
		n |= uint64(v[i]&0x7f) << shift
		shift += 7
		if v[i] < 0x80 {
			i++
			if uint64(len(v)-i) != n {
				return "", false
			}
			return string(v[i:]), true
		}
	}
	return "", false
}
