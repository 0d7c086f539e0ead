package main

import (
	"encoding/binary"
	"math"
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

// valueText is what Feast's writer puts in value_text for a serialized feast.types.Value
// (helpers.extract_text_and_num): a string as is, a number or bool as Python's str() of
// it, NULL (ok false) for anything else. Only a Value with exactly that one field counts.
func valueText(v []byte) (string, bool) {
	if len(v) < 2 {
		return "", false
	}
	tag, rest := v[0], v[1:]
	switch tag {
	case 0x12: // string_val
		n, k := uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) != n {
			return "", false
		}
		return string(rest[k:]), true
	case 0x18, 0x20, 0x38: // int32_val, int64_val, bool_val
		n, k := uvarint(rest)
		if k <= 0 || k != len(rest) {
			return "", false
		}
		switch tag {
		case 0x18:
			return strconv.FormatInt(int64(int32(n)), 10), true
		case 0x20:
			return strconv.FormatInt(int64(n), 10), true
		}
		if n != 0 {
			return "True", true
		}
		return "False", true
	case 0x29: // double_val
		if len(rest) != 8 {
			return "", false
		}
		return pyFloat(math.Float64frombits(binary.LittleEndian.Uint64(rest))), true
	case 0x35: // float_val: Python widens it to a double before str()
		if len(rest) != 4 {
			return "", false
		}
		return pyFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(rest)))), true
	}
	return "", false
}

func uvarint(b []byte) (uint64, int) {
	var n uint64
	for i := 0; i < len(b) && i < 10; i++ {
		n |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return n, i + 1
		}
	}
	return 0, -1
}

// pyFloat formats f as Python's repr/str of a float: the shortest digits that round-trip,
// positional for 1e-4 <= |f| < 1e16 (always with a fractional part), else d.ddde±XX.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		es := strconv.Itoa(abs(exp))
		if len(es) < 2 {
			es = "0" + es
		}
		if exp < 0 {
			return sign + m + "e-" + es
		}
		return sign + m + "e+" + es
	}
	if exp < 0 {
		return sign + "0." + strings.Repeat("0", -exp-1) + digits
	}
	if len(digits) <= exp+1 {
		return sign + digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
	}
	return sign + digits[:exp+1] + "." + digits[exp+1:]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
