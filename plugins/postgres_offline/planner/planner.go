// Package planner turns offline-store requests (ABI spec §9.2, §9.6) into query plans in
// PostgreSQL's dialect over PostgreSQLSource tables and queries. It is pure: no I/O, no
// host calls, so the same input always gives the same plan, natively and in Wasm.
//
// Names from the request (tables, columns, mappings) reach the SQL only as quoted
// identifiers and values (the time window, TTLs) only as parameters. The one exception is
// SQL the operator wrote for the database: a source's `query` and the entity `query`,
// embedded verbatim as subqueries, as Feast's PostgreSQL store does.
package planner

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/larder-dev/larder/abi"
	sdk "github.com/larder-dev/larder/sdk-go"
)

// Aliases of the SDK's offline types, so the planner reads as the spec does.
type (
	PullLatestRequest = sdk.PullLatestRequest
	HistoricalRequest = sdk.HistoricalRequest
	Source            = sdk.OfflineSource
	Column            = sdk.PlanColumn
	Param             = sdk.PlanParam
	Plan              = sdk.QueryPlan
)

// Dialect is the plans' dialect, which the host runs on its PostgreSQL connection.
const Dialect = "postgres"

// Reserved result column names (spec §5.4).
const (
	colEventTS   = "__event_ts"
	colCreatedTS = "__created_ts"
)

// PlanPullLatestJSON decodes a request, plans it and encodes the plan.
func PlanPullLatestJSON(input []byte) ([]byte, error) {
	var req PullLatestRequest
	if err := json.Unmarshal(input, &req); err != nil {
		return nil, bad("decoding the pull-latest request JSON: %v", err)
	}
	p, err := PlanPullLatest(&req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// PlanPullLatest plans "the latest row per entity in [start, end)" (spec §9.4) with
// DISTINCT ON: rows with a null event timestamp or join key are skipped, the greatest
// event timestamp wins, then the greatest created timestamp (nulls lowest). A table has
// no row order PostgreSQL promises, so a remaining tie is arbitrary (spec §9.4 allows it).
func PlanPullLatest(r *PullLatestRequest) (*Plan, error) {
	if r.End <= r.Start {
		return nil, bad("end (%d) must be after start (%d)", r.End, r.Start)
	}
	src := &r.Source
	from, err := sourceFrom("source", src)
	if err != nil {
		return nil, err
	}
	if src.TimestampField == "" {
		return nil, bad("source.timestamp_field is empty: pull-latest needs an event timestamp")
	}
	column, err := mappedColumns(src.FieldMapping)
	if err != nil {
		return nil, err
	}
	seen := map[string]string{colEventTS: "a reserved column", colCreatedTS: "a reserved column"}
	claim := func(field, name string) error {
		if what, dup := seen[name]; dup {
			return bad("%s %q is also %s", field, name, what)
		}
		seen[name] = field
		return nil
	}
	event, created, err := timestamps("source", src, column)
	if err != nil {
		return nil, err
	}

	var selects, keys, where []string
	schema := make([]Column, 0, len(r.JoinKeys)+2+len(r.FeatureColumns))
	for i, k := range r.JoinKeys {
		field := fmt.Sprintf("join_keys[%d]", i)
		expr, typ, err := typedColumn(field, k, column)
		if err != nil {
			return nil, err
		}
		if err := claim(field, k.Name); err != nil {
			return nil, err
		}
		selects = append(selects, expr+" AS "+quoteIdent(k.Name))
		keys = append(keys, expr)
		where = append(where, expr+" IS NOT NULL")
		schema = append(schema, Column{Name: k.Name, Type: typ})
	}
	selects = append(selects, event+" AS "+quoteIdent(colEventTS), created+" AS "+quoteIdent(colCreatedTS))
	schema = append(schema, Column{Name: colEventTS, Type: "UNIX_TIMESTAMP"}, Column{Name: colCreatedTS, Type: "UNIX_TIMESTAMP"})
	for i, f := range r.FeatureColumns {
		field := fmt.Sprintf("feature_columns[%d]", i)
		expr, typ, err := typedColumn(field, f, column)
		if err != nil {
			return nil, err
		}
		if err := claim(field, f.Name); err != nil {
			return nil, err
		}
		selects = append(selects, expr+" AS "+quoteIdent(f.Name))
		schema = append(schema, Column{Name: f.Name, Type: typ})
	}
	where = append([]string{event + " >= CAST($1 AS timestamptz)", event + " < CAST($2 AS timestamptz)"}, where...)

	var sb strings.Builder
	sb.WriteString("SELECT ")
	if len(keys) > 0 {
		sb.WriteString("DISTINCT ON (")
		sb.WriteString(strings.Join(keys, ", "))
		sb.WriteString(") ")
	}
	sb.WriteString(strings.Join(selects, ", "))
	sb.WriteString("\nFROM ")
	sb.WriteString(from)
	sb.WriteString(" AS src\nWHERE ")
	sb.WriteString(strings.Join(where, " AND "))
	sb.WriteString("\nORDER BY ")
	sb.WriteString(strings.Join(append(keys, event+" DESC", created+" DESC NULLS LAST"), ", "))
	if len(keys) == 0 {
		// An entity-less view has one "entity": its single latest row.
		sb.WriteString("\nLIMIT 1")
	}
	return &Plan{
		Dialect: Dialect,
		SQL:     sb.String(),
		Params: []Param{
			{Type: "UNIX_TIMESTAMP", Value: r.Start},
			{Type: "UNIX_TIMESTAMP", Value: r.End},
		},
		ResultSchema: schema,
	}, nil
}

// sourceFrom returns the table expression of a PostgreSQLSource: its table as a quoted
// (possibly schema-qualified) name, or its query as a subquery.
func sourceFrom(field string, src *Source) (string, error) {
	switch {
	case src.Path != "":
		return "", bad("%s.path %q: this plugin reads PostgreSQL tables and queries, not files (use a postgres source with table or query)", field, src.Path)
	case src.Table != "":
		// Feast's PostgreSQLSource reads its table when both table and query are set.
		return qualifiedName(field+".table", src.Table)
	case src.Query != "":
		return "(\n" + trimQuery(src.Query) + "\n)", nil
	}
	return "", bad("%s (%s): neither table nor query is set", field, src.Name)
}

// qualifiedName quotes a table name written as Feast users write it: "table",
// "schema.table" or "database.schema.table", each part an identifier as stored (so no
// case folding: quoting keeps the name exactly as given, which is what the catalog holds
// for the usual lower-case names).
func qualifiedName(field, name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 3 {
		return "", bad("%s %q has more than three dot-separated parts", field, name)
	}
	for i, p := range parts {
		if err := checkName(field, p); err != nil {
			return "", err
		}
		parts[i] = quoteIdent(p)
	}
	return strings.Join(parts, "."), nil
}

// trimQuery drops what would stop a query from being a subquery: surrounding space and
// trailing semicolons.
func trimQuery(q string) string { return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n") }

// mappedColumns returns the function that resolves a (mapped) name to its quoted source
// column: field_mapping maps source column -> name, so it is looked up in reverse.
func mappedColumns(m map[string]string) (func(field, name string) (string, error), error) {
	toSource, err := reverseMapping(m)
	if err != nil {
		return nil, err
	}
	return func(field, name string) (string, error) {
		if err := checkName(field, name); err != nil {
			return "", err
		}
		if s, ok := toSource[name]; ok {
			name = s
		}
		return "src." + quoteIdent(name), nil
	}, nil
}

// timestamps returns the event and created timestamp expressions of a source as
// timestamptz (the host runs plans with TimeZone UTC, so a timestamp without time zone
// is read as UTC, as Feast does).
func timestamps(field string, src *Source, column func(field, name string) (string, error)) (event, created string, err error) {
	e, err := column(field+".timestamp_field", src.TimestampField)
	if err != nil {
		return "", "", err
	}
	event = "CAST(" + e + " AS timestamptz)"
	created = "CAST(NULL AS timestamptz)"
	if src.CreatedTimestampColumn != "" {
		c, err := column(field+".created_timestamp_column", src.CreatedTimestampColumn)
		if err != nil {
			return "", "", err
		}
		created = "CAST(" + c + " AS timestamptz)"
	}
	return event, created, nil
}

// pgTypes maps ABI type names to the PostgreSQL types whose values the host reads as them.
var pgTypes = map[string]string{
	"BYTES": "bytea", "STRING": "text", "INT32": "integer", "INT64": "bigint",
	"DOUBLE": "double precision", "FLOAT": "real", "BOOL": "boolean", "UNIX_TIMESTAMP": "timestamptz",
}

// pgType returns the PostgreSQL type of an ABI type name, and its canonical name.
func pgType(field, name, typ string) (string, string, error) {
	t, ok := abi.ParseType(typ)
	if !ok {
		return "", "", bad("%s (%q): unknown type %q", field, name, typ)
	}
	var pt string
	if t.IsList() {
		if et := pgTypes[t.Elem().String()]; et != "" {
			pt = et + "[]"
		}
	} else {
		pt = pgTypes[t.String()]
	}
	if pt == "" {
		return "", "", bad("%s (%q): type %s cannot be read from PostgreSQL", field, name, typ)
	}
	return pt, t.String(), nil
}

// typedColumn returns the cast expression reading c from the source, and its type name.
func typedColumn(field string, c Column, column func(field, name string) (string, error)) (string, string, error) {
	src, err := column(field+".name", c.Name)
	if err != nil {
		return "", "", err
	}
	pt, typ, err := pgType(field, c.Name, c.Type)
	if err != nil {
		return "", "", err
	}
	return "CAST(" + src + " AS " + pt + ")", typ, nil
}

// reverseMapping inverts field_mapping (source column -> name) to name -> source column.
func reverseMapping(m map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for from, to := range m {
		if err := checkName("source.field_mapping key", from); err != nil {
			return nil, err
		}
		if err := checkName("source.field_mapping["+from+"]", to); err != nil {
			return nil, err
		}
		if prev, dup := out[to]; dup {
			a, b := prev, from
			if b < a {
				a, b = b, a
			}
			return nil, bad("source.field_mapping maps both %q and %q to %q", a, b, to)
		}
		out[to] = from
	}
	return out, nil
}

// checkName rejects names no quoting can make safe or meaningful. PostgreSQL truncates
// identifiers to 63 bytes, so a longer one would silently name another column.
func checkName(field, name string) error {
	switch {
	case name == "":
		return bad("%s is empty", field)
	case !utf8.ValidString(name):
		return bad("%s %q is not valid UTF-8", field, name)
	case strings.ContainsRune(name, 0):
		return bad("%s %q contains a NUL character", field, name)
	case len(name) > 63:
		return bad("%s %q is %d bytes long; PostgreSQL identifiers are at most 63", field, name, len(name))
	}
	return nil
}

// quoteIdent quotes a SQL identifier: "a""b" for a"b.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// bad reports a request the planner cannot plan: BAD_ARGUMENT for the host.
func bad(format string, args ...any) error {
	return sdk.Errorf(abi.ErrBadArgument, format, args...)
}
